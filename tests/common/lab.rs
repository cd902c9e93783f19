//! The mail lab (`tests/maillab/maillab.sh`: Dovecot + Postfix on 127.0.0.1) for the test
//! binaries that talk to real mail servers.
//!
//! - With `VARDVAL_MAILLAB_DIR` set, the lab in that directory must already run (the project's
//!   test script starts it); its ports are read with `maillab.sh env DIR`, so any ports work.
//! - Otherwise the first test of a binary starts a private lab ONCE in a temporary directory,
//!   on ports BASE+143/993/24/25/587, where BASE is `VARDVAL_MAILLAB_PORT_BASE` or a default
//!   per test binary (imap_smtp 12000, e2e 14000, crash 15000, others 16000), and a watchdog
//!   process brings it down and removes the directory when the test binary exits. (One
//!   private lab per process: under cargo-nextest, which runs every test in its own process,
//!   set `VARDVAL_MAILLAB_DIR`, as `tests/run.sh` does.)
//! - A second profile, [`Profile::InboxPrefix`] (personal folders under `INBOX.` with `.` as
//!   separator, no MOVE), is found through `VARDVAL_MAILLAB_PREFIX_DIR` or started privately
//!   on BASE+500+143/993/24/25/587; [`lab_for`] gives either profile.
//! - The script is found at `VARDVAL_MAILLAB_SCRIPT`, else `tests/maillab/maillab.sh`.
//! - `VARDVAL_SKIP_MAIL=1` (or the older `VARDVAL_SKIP_MAILLAB=1`) skips every lab test and
//!   says SKIPPED; otherwise a lab that cannot be found or started fails the test.
//!
//! Tests isolate themselves by mailbox: every `<name>@vc.test` logs in with `clinic-pass`, so
//! each test uses names made unique with [`unique`]. Tests that disrupt the lab for everyone
//! (Dovecot restart, Postfix stop) take [`Lab::exclusive`], the others [`Lab::shared`]: a file
//! lock in the lab directory, so the gate also holds across test processes and binaries.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use vardval::adapters::imap::{ImapAuth, ImapConfig, ImapSource};
use vardval::adapters::smtp::{SmtpConfig, SmtpTransport};
use vardval::adapters::tls::TlsMode;
use vardval::ports::{Fetched, MailSource};

/// The password of every `*@vc.test` mailbox in the lab.
pub const CLINIC_PASS: &str = "clinic-pass";

/// Which Dovecot setup a lab runs (`MAILLAB_PROFILE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// No namespace prefix, `/` separator, MOVE offered.
    Default,
    /// Personal folders under `INBOX.`, `.` separator, no MOVE.
    InboxPrefix,
}

impl Profile {
    fn script_name(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::InboxPrefix => "inbox-prefix",
        }
    }
    fn dir_var(self) -> &'static str {
        match self {
            Profile::Default => "VARDVAL_MAILLAB_DIR",
            Profile::InboxPrefix => "VARDVAL_MAILLAB_PREFIX_DIR",
        }
    }
}

pub struct Lab {
    pub profile: Profile,
    pub script: PathBuf,
    pub dir: PathBuf,
    pub env: HashMap<String, String>,
}

impl Lab {
    pub fn port(&self, key: &str) -> u16 {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("maillab env lacks {key}"))
            .parse()
            .expect("port")
    }
    pub fn imap_port(&self) -> u16 {
        self.port("MAILLAB_IMAP_PORT")
    }
    pub fn imaps_port(&self) -> u16 {
        self.port("MAILLAB_IMAPS_PORT")
    }
    pub fn lmtp_port(&self) -> u16 {
        self.port("MAILLAB_LMTP_PORT")
    }
    pub fn smtp_port(&self) -> u16 {
        self.port("MAILLAB_SMTP_PORT")
    }
    pub fn submission_port(&self) -> u16 {
        self.port("MAILLAB_SUBMISSION_PORT")
    }
    pub fn ca(&self) -> PathBuf {
        self.env
            .get("MAILLAB_CA_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.dir.join("certs/ca.crt"))
    }

    /// Runs `maillab.sh CMD DIR ARGS...`; panics with its output on failure.
    pub fn run_with<S: AsRef<OsStr>>(&self, cmd: &str, args: &[S]) -> String {
        let out = Command::new("bash")
            .arg(&self.script)
            .arg(cmd)
            .arg(&self.dir)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run maillab.sh");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "maillab.sh {cmd} failed: {text}");
        text
    }

    /// Runs `maillab.sh CMD DIR`; panics with its output on failure.
    pub fn run(&self, cmd: &str) -> String {
        self.run_with::<&str>(cmd, &[])
    }

    /// Delivers raw bytes straight into `rcpt`'s INBOX with `doveadm save` (`maillab.sh
    /// deliver`): no Postfix involved, INTERNALDATE = now.
    pub fn deliver_raw(&self, raw: &[u8], rcpt: &str) {
        let f = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(f.path(), raw).expect("write message");
        self.run_with("deliver", &[f.path().as_os_str(), OsStr::new(rcpt)]);
    }

    /// The Maildir of `folder` ("" = INBOX) of a `*@vc.test` user, on disk.
    pub fn maildir(&self, user: &str, folder: &str) -> PathBuf {
        let (local, domain) = user.split_once('@').expect("address");
        let mut md = self
            .dir
            .join("mail")
            .join(domain)
            .join(local.to_lowercase())
            .join("Maildir");
        if !folder.is_empty() {
            md = md.join(format!(".{folder}"));
        }
        md
    }

    /// Maildir flag letters of every message file in `folder` ("" = INBOX) of a vc.test user.
    pub fn maildir_flags(&self, user: &str, folder: &str) -> Vec<String> {
        let md = self.maildir(user, folder);
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(rd) = std::fs::read_dir(md.join(sub)) else {
                continue;
            };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                out.push(
                    name.split_once(":2,")
                        .map(|(_, f)| f.to_string())
                        .unwrap_or_default(),
                );
            }
        }
        out
    }

    /// Messages in Postfix's queue (maildrop, incoming, active, deferred, hold): 0 when
    /// everything handed to Postfix has been delivered or bounced.
    pub fn postfix_queue_len(&self) -> usize {
        let spool = self.dir.join("spool/postfix");
        ["maildrop", "incoming", "active", "deferred", "hold"]
            .iter()
            .map(|q| count_files(&spool.join(q)))
            .sum()
    }

    /// Take the gate for a test that leaves the lab as it found it.
    pub async fn shared(&self) -> Gate {
        self.gate(false).await
    }

    /// Take the gate for a test that restarts or stops a lab daemon.
    pub async fn exclusive(&self) -> Gate {
        self.gate(true).await
    }

    async fn gate(&self, exclusive: bool) -> Gate {
        let path = self.dir.join("vardval-test-gate.lock");
        let file = tokio::task::spawn_blocking(move || {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("open the lab gate {}: {e}", path.display()));
            if exclusive {
                f.lock().expect("lock the lab gate");
            } else {
                f.lock_shared().expect("lock the lab gate");
            }
            f
        })
        .await
        .expect("gate task");
        Gate { _file: file }
    }
}

fn count_files(dir: &std::path::Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => count_files(&e.path()),
            Ok(_) => 1,
            Err(_) => 0,
        })
        .sum()
}

/// Held for the duration of a lab test; dropping it releases the lock.
pub struct Gate {
    _file: std::fs::File,
}

/// Restarts Postfix even when the test fails half-way.
pub struct StartSmtpOnDrop(pub &'static Lab);

impl Drop for StartSmtpOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(&self.0.script)
            .arg("start-smtp")
            .arg(&self.0.dir)
            .stdin(Stdio::null())
            .output();
    }
}

fn script_path() -> PathBuf {
    if let Ok(p) = std::env::var("VARDVAL_MAILLAB_SCRIPT") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/maillab/maillab.sh")
}

fn parse_env(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.starts_with("MAILLAB_"))
        .map(|(k, v)| {
            (
                k.to_string(),
                v.trim().trim_matches(['"', '\'']).to_string(),
            )
        })
        .collect()
}

/// The private lab's port base for this test binary (so that binaries run one after another
/// never fight over the ports of a lab that is still being taken down).
fn default_port_base() -> u16 {
    match env!("CARGO_CRATE_NAME") {
        "imap_smtp" => 12000,
        "e2e" => 14000,
        "crash" => 15000,
        _ => 16000,
    }
}

fn start_lab(profile: Profile) -> Lab {
    let original = script_path();
    assert!(
        original.is_file(),
        "maillab script not found at {} (set VARDVAL_MAILLAB_SCRIPT)",
        original.display()
    );
    // bash reads a script while running it: run a private snapshot, so that an edit of the
    // script during the tests cannot break a command half-way.
    let snap = tempfile::Builder::new()
        .prefix("vardval-maillab-script-")
        .tempdir()
        .expect("tempdir")
        .keep();
    let script = snap.join("maillab.sh");
    std::fs::copy(&original, &script).expect("snapshot maillab.sh");
    let shared = std::env::var(profile.dir_var()).ok();
    let dir = match &shared {
        Some(d) => PathBuf::from(d),
        None => {
            // A private lab: a fresh directory that dovenull/vmail/postfix can traverse.
            let dir = tempfile::Builder::new()
                .prefix("vardval-maillab-")
                .tempdir()
                .expect("tempdir")
                .keep();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            dir
        }
    };
    // Watchdog: when this test process ends, remove the snapshot and, for a private lab, stop
    // the lab and remove its directory.
    let mut watchdog = format!("tail --pid={} -f /dev/null; ", std::process::id());
    if shared.is_none() {
        watchdog += &format!(
            "bash '{s}' down '{d}' >/dev/null 2>&1; rm -rf -- '{d}'; ",
            s = script.display(),
            d = dir.display()
        );
    }
    watchdog += &format!("rm -rf -- '{}'", snap.display());
    // `setsid -f` forks the watchdog into its own session and returns at once.
    Command::new("setsid")
        .arg("-f")
        .arg("bash")
        .arg("-c")
        .arg(watchdog)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("spawn the lab watchdog");
    let lab = Lab {
        profile,
        script,
        dir,
        env: HashMap::new(),
    };
    if shared.is_none() {
        let base: u16 = std::env::var("VARDVAL_MAILLAB_PORT_BASE")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(default_port_base)
            + match profile {
                Profile::Default => 0,
                Profile::InboxPrefix => 500,
            };
        let ports = [
            ("MAILLAB_IMAP_PORT", 143),
            ("MAILLAB_IMAPS_PORT", 993),
            ("MAILLAB_LMTP_PORT", 24),
            ("MAILLAB_SMTP_PORT", 25),
            ("MAILLAB_SUBMISSION_PORT", 587),
        ];
        let mut up = Command::new("bash");
        up.arg(&lab.script)
            .arg("up")
            .arg(&lab.dir)
            .env("MAILLAB_PROFILE", profile.script_name())
            .stdin(Stdio::null());
        for (k, off) in ports {
            up.env(k, (base + off).to_string());
        }
        // The daemons keep inherited descriptors open (see the lab notes): log to a file.
        let log_path = snap.join("up.log");
        let log = std::fs::File::create(&log_path).expect("log");
        let status = up
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .status()
            .expect("run maillab.sh up");
        assert!(
            status.success(),
            "maillab.sh up failed (set VARDVAL_SKIP_MAIL=1 to skip the mail-server tests): {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
    }
    let env = parse_env(&lab.run("env"));
    Lab { env, ..lab }
}

/// The lab, found or started once per test process; `None` (and a SKIPPED line) when the
/// mail tests are switched off.
pub fn lab() -> Option<&'static Lab> {
    lab_for(Profile::Default)
}

/// The lab of `profile`, found or started once per test process (see [`lab`]).
pub fn lab_for(profile: Profile) -> Option<&'static Lab> {
    for var in ["VARDVAL_SKIP_MAIL", "VARDVAL_SKIP_MAILLAB"] {
        if std::env::var(var).is_ok_and(|v| v == "1") {
            eprintln!("SKIPPED: {var}=1, no mail lab for this test");
            println!("SKIPPED: {var}=1, no mail lab for this test");
            return None;
        }
    }
    static LAB: OnceLock<Lab> = OnceLock::new();
    static PREFIX_LAB: OnceLock<Lab> = OnceLock::new();
    let cell = match profile {
        Profile::Default => &LAB,
        Profile::InboxPrefix => &PREFIX_LAB,
    };
    let lab = cell.get_or_init(|| start_lab(profile));
    if profile == Profile::InboxPrefix {
        assert_eq!(
            lab.env.get("MAILLAB_PROFILE").map(String::as_str),
            Some("inbox-prefix"),
            "{} does not run the inbox-prefix profile",
            lab.dir.display()
        );
    }
    Some(lab)
}

/// The lab when it is known to be there (inside tasks spawned by a lab test).
pub fn lab_static() -> &'static Lab {
    lab().expect("lab")
}

/// The lab of `profile` when it is known to be there.
pub fn lab_static_for(profile: Profile) -> &'static Lab {
    lab_for(profile).expect("lab")
}

/// A token unique to this test process (pid and time), for mailbox names.
pub fn run_id() -> &'static str {
    static RUN: OnceLock<String> = OnceLock::new();
    RUN.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!("{}-{}", std::process::id(), nanos % 1_000_000_000)
    })
}

/// A `*@vc.test` mailbox name unique to this test run.
pub fn unique(test: &str) -> String {
    format!("{test}-{}@vc.test", run_id())
}

/// Plain IMAP (loopback) config for a lab user, with short timeouts.
pub fn imap_cfg(lab: &Lab, user: &str, auth: ImapAuth) -> ImapConfig {
    let mut c = ImapConfig::new("127.0.0.1", lab.imap_port(), TlsMode::None, user, auth);
    c.connect_timeout = Duration::from_secs(10);
    c.command_timeout = Duration::from_secs(20);
    c.poll_interval = Duration::from_millis(500);
    c.processed_folder = "Behandlat".into();
    c
}

/// An IMAP source on a clinic (`*@vc.test`) mailbox.
pub fn clinic_source(lab: &Lab, user: &str) -> ImapSource {
    ImapSource::new(imap_cfg(lab, user, ImapAuth::Password(CLINIC_PASS.into()))).expect("source")
}

/// Everything in `folder` of a `*@vc.test` mailbox, read over IMAP (BODY.PEEK: changes
/// nothing).
pub async fn read_folder(lab: &Lab, user: &str, folder: &str) -> Vec<Fetched> {
    let mut cfg = imap_cfg(lab, user, ImapAuth::Password(CLINIC_PASS.into()));
    cfg.folder = folder.to_string();
    cfg.processed_folder = if folder == "Behandlat" {
        "INBOX".into()
    } else {
        "Behandlat".into()
    };
    let mut src = ImapSource::new(cfg).expect("source");
    let all = src.fetch(100_000).await.expect("read a lab folder");
    src.disconnect().await;
    all
}

/// The Postfix port without AUTH, as a clinic's mail server would use it.
pub fn plain_smtp(lab: &Lab) -> SmtpTransport {
    let mut c = SmtpConfig::new("127.0.0.1", lab.smtp_port(), TlsMode::None);
    c.timeout = Duration::from_secs(10);
    SmtpTransport::new(c).expect("smtp")
}

/// Polls `f` every 100 ms (never a fixed sleep as a deadline) until it returns `Some`, or
/// panics with `what` and the last state after `within`.
pub async fn poll_until<T, F, Fut>(what: &str, within: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + within;
    loop {
        match f().await {
            Ok(v) => return v,
            Err(last) => {
                if Instant::now() > deadline {
                    panic!("{what}: not reached within {within:?}; last state: {last}");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
