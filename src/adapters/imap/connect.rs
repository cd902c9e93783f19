//! Opening a session: TCP, TLS or STARTTLS, greeting, login (password, XOAUTH2, or a secret
//! command run at every connect), capabilities, the personal NAMESPACE, the processed folder
//! (created when missing) and the SELECT of the watched folder.

use std::fmt;
use std::sync::Arc;

use async_imap::imap_proto;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;

use super::config::{ImapAuth, ImapConfig};
use super::folders::{self, FolderCase, Namespace};
use super::protocol::{self, CmdError, Counter};
use super::{Caps, Connected, ImapIo, Names, Session};
use crate::adapters::tls::{self, TlsMode};
use crate::ports::SourceError;

/// XOAUTH2 initial response; answers any further challenge (the server's JSON error) with an
/// empty line so the server finishes with a tagged NO.
struct XOAuth2 {
    user: String,
    token: String,
    sent: bool,
}

impl async_imap::Authenticator for XOAuth2 {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> String {
        if self.sent {
            return String::new();
        }
        self.sent = true;
        format!("user={}\x01auth=Bearer {}\x01\x01", self.user, self.token)
    }
}

/// Run a secret command (`sh -c`) and take the first line of its output.
async fn run_secret_command(command: &str) -> Result<String, SourceError> {
    let out = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| SourceError::Auth(format!("cannot run the secret command: {e}")))?;
    if !out.status.success() {
        return Err(SourceError::Auth(format!(
            "the secret command exited with {}",
            out.status
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or("").trim().to_string();
    if line.is_empty() {
        return Err(SourceError::Auth(
            "the secret command printed nothing".into(),
        ));
    }
    Ok(line)
}

/// Reads the greeting; returns its text (used to recognise the server).
async fn read_greeting<T>(client: &mut async_imap::Client<T>) -> Result<String, SourceError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug,
{
    match client.read_response().await {
        Ok(Some(r)) => match r.parsed() {
            imap_proto::Response::Data { status, outcome } => {
                let text = outcome.information.as_deref().unwrap_or("").to_string();
                if *status == imap_proto::Status::Bye {
                    return Err(SourceError::Connection(format!("server said BYE: {text}")));
                }
                Ok(text)
            }
            _ => Ok(String::new()),
        },
        Ok(None) => Err(SourceError::Connection(
            "connection closed before the greeting".into(),
        )),
        Err(e) => Err(SourceError::Connection(format!(
            "reading the greeting: {e}"
        ))),
    }
}

async fn tls_wrap(
    cfg: &ImapConfig,
    tls_cfg: &Arc<ClientConfig>,
    tcp: TcpStream,
) -> Result<Box<dyn ImapIo>, SourceError> {
    let name = tls::server_name(&cfg.host).map_err(|e| SourceError::Connection(e.to_string()))?;
    let tls = TlsConnector::from(tls_cfg.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| SourceError::Connection(format!("TLS handshake with {}: {e}", cfg.host)))?;
    Ok(Box::new(tls))
}

/// Asks NAMESPACE (RFC 2342). imap-proto cannot parse the answer (the stream would stall on
/// it), so the command goes to the raw stream between two library commands, when the
/// library's read buffer is empty, and its answer is read here up to our tag.
pub(super) async fn namespace(session: &mut Session) -> Result<Option<Namespace>, CmdError> {
    const TAG: &str = "vvns1";
    let io: &mut Box<dyn ImapIo> = session.as_mut();
    let lost = |e: std::io::Error| CmdError::Lost(format!("connection error: {e}"));
    io.write_all(format!("{TAG} NAMESPACE\r\n").as_bytes())
        .await
        .map_err(lost)?;
    io.flush().await.map_err(lost)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let mut found = None;
    loop {
        let n = io.read(&mut chunk).await.map_err(lost)?;
        if n == 0 {
            return Err(CmdError::Lost("the server closed the connection".into()));
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some(pos) = buf.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = buf.drain(..pos + 2).collect();
            let line = String::from_utf8_lossy(&line[..pos]).to_string();
            if let Some(ns) = folders::parse_namespace(&line) {
                found = Some(ns);
            } else if let Some(rest) = line.strip_prefix(TAG) {
                if !buf.is_empty() {
                    return Err(CmdError::Lost(
                        "unexpected data after the NAMESPACE answer".into(),
                    ));
                }
                let ok = rest.trim_start().to_ascii_uppercase().starts_with("OK");
                return Ok(if ok { found } else { None });
            }
        }
        if buf.len() > 64 * 1024 {
            return Err(CmdError::Lost("NAMESPACE answer too long".into()));
        }
    }
}

fn source_err(what: &str, e: CmdError) -> SourceError {
    match e {
        CmdError::Lost(m) => SourceError::Connection(format!("{what}: {m}")),
        other => SourceError::Other(format!("{what}: {other}")),
    }
}

/// Connects, logs in, finds the folders and selects the watched one.
pub(super) async fn connect(
    cfg: &ImapConfig,
    tls_cfg: &Arc<ClientConfig>,
) -> Result<Connected, SourceError> {
    let tcp = TcpStream::connect((cfg.host.as_str(), cfg.port))
        .await
        .map_err(|e| {
            SourceError::Connection(format!("connect to {}:{}: {e}", cfg.host, cfg.port))
        })?;
    let _ = tcp.set_nodelay(true);
    let mut greeting = String::new();
    let stream: Box<dyn ImapIo> = match cfg.tls {
        TlsMode::None => Box::new(tcp),
        TlsMode::Tls => tls_wrap(cfg, tls_cfg, tcp).await?,
        TlsMode::Starttls => {
            let mut plain = async_imap::Client::new(tcp);
            greeting = read_greeting(&mut plain).await?;
            plain
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| {
                    SourceError::Connection(format!("STARTTLS refused: {}", protocol::plain(e)))
                })?;
            tls_wrap(cfg, tls_cfg, plain.into_inner()).await?
        }
    };
    let mut client = async_imap::Client::new(stream);
    if cfg.tls != TlsMode::Starttls {
        greeting = read_greeting(&mut client).await?;
    }
    let auth = match &cfg.auth {
        ImapAuth::Command { command, oauth2 } => {
            let secret = run_secret_command(command).await?;
            if *oauth2 {
                ImapAuth::OAuth2Token(secret)
            } else {
                ImapAuth::Password(secret)
            }
        }
        other => other.clone(),
    };
    let login = match &auth {
        ImapAuth::Command { .. } => unreachable!("resolved above"),
        ImapAuth::Password(p) => client.login(&cfg.username, p).await,
        ImapAuth::OAuth2Token(t) => {
            let auth = XOAuth2 {
                user: cfg.username.clone(),
                token: t.clone(),
                sent: false,
            };
            client.authenticate("XOAUTH2", auth).await
        }
    };
    let mut session = login.map_err(|(e, _)| match protocol::plain(e) {
        CmdError::No { text, .. } | CmdError::Bad { text } => SourceError::Auth(format!(
            "{} refused the login of {}: {text}",
            cfg.host, cfg.username
        )),
        CmdError::Lost(m) => SourceError::Connection(format!("login: {m}")),
    })?;
    let mut counter = Counter::default();
    let mut atoms: Vec<String> = Vec::new();
    protocol::run(&mut session, &mut counter, "CAPABILITY", |r| {
        if let imap_proto::Response::Capabilities(list) = r {
            for c in list {
                if let imap_proto::Capability::Atom(a) = c {
                    atoms.push(a.to_ascii_uppercase());
                }
            }
        }
    })
    .await
    .map_err(|e| source_err("CAPABILITY", e))?;
    let has = |name: &str| atoms.iter().any(|a| a == name);
    let has_namespace = has("NAMESPACE");
    let caps = Caps {
        idle: cfg.use_idle && has("IDLE"),
        mv: cfg.use_move && has("MOVE"),
        uidplus: has("UIDPLUS"),
    };
    let ns = if has_namespace {
        namespace(&mut session)
            .await
            .map_err(|e| source_err("NAMESPACE", e))?
            .unwrap_or_default()
    } else {
        Namespace::default()
    };
    let case = cfg.folder_case.resolve(&greeting);
    let names = Names {
        watched: folders::server_name(&cfg.folder, &ns, case),
        processed: folders::server_name(&cfg.processed_folder, &ns, case),
        quarantine: folders::server_name(&cfg.quarantine_folder, &ns, case),
        case,
        ns: ns.clone(),
    };
    let mut conn = Connected {
        session,
        uidvalidity: 0,
        caps,
        pending_new: false,
        counter,
        selected: false,
        names,
    };
    ensure_folder(&mut conn, cfg.command_timeout).await?;
    let sel = conn.select_watched(cfg.command_timeout).await?;
    conn.uidvalidity = sel;
    tracing::debug!(prefix = %ns.prefix, watched = %conn.names.watched,
        processed = %conn.names.processed, "IMAP folders");
    Ok(conn)
}

/// Creates the processed folder when `LIST` does not show it (compared as the server
/// compares names).
pub(super) async fn ensure_folder(
    conn: &mut Connected,
    t: std::time::Duration,
) -> Result<(), SourceError> {
    let want = conn.names.processed.clone();
    let case = conn.names.case;
    let listed = protocol::timed(
        t,
        protocol::list(&mut conn.session, &mut conn.counter, &want),
    )
    .await;
    let listed = match listed {
        Ok(l) => l,
        Err(e) => return Err(source_err("LIST", e)),
    };
    if listed
        .iter()
        .any(|l| folders::same_folder(&l.name, &want, case))
    {
        return Ok(());
    }
    // Exchange matches LIST patterns case-insensitively already; a case-sensitive server may
    // still hold the name in another case, which is a different folder there.
    if case == FolderCase::Insensitive {
        let all = protocol::timed(t, protocol::list(&mut conn.session, &mut conn.counter, "*"))
            .await
            .map_err(|e| source_err("LIST", e))?;
        if let Some(found) = all
            .iter()
            .find(|l| folders::same_folder(&l.name, &want, case))
        {
            conn.names.processed = found.name.clone();
            return Ok(());
        }
    }
    create(conn, &want, t).await
}

/// `CREATE` a folder (server name); "already exists" (a race with another client) is fine.
pub(super) async fn create(
    conn: &mut Connected,
    want: &str,
    t: std::time::Duration,
) -> Result<(), SourceError> {
    let r = protocol::timed(
        t,
        protocol::simple(
            &mut conn.session,
            &mut conn.counter,
            &format!("CREATE {}", protocol::quote(want)),
        ),
    )
    .await;
    match r {
        Ok(()) => {
            tracing::info!(folder = %want, "created a folder");
            Ok(())
        }
        Err(CmdError::No { text, .. }) if text.to_ascii_lowercase().contains("exists") => Ok(()),
        Err(e) => Err(source_err(&format!("CREATE {want}"), e)),
    }
}
