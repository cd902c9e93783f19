//! `vardval doctor --config F`: checks the configuration, rulebook, clinic registry, payouts,
//! templates, database, mailbox login, SMTP login and the sign-in provider, and says in plain words what is wrong.

use std::path::Path;

use chrono::Datelike;

use super::app;
use crate::config::{MailboxKind, Settings, SmtpKind};
use crate::ports::MailSource;
use crate::reply::Templates;

struct Report {
    bad: usize,
}

impl Report {
    fn line(&mut self, what: &str, res: Result<String, String>) {
        match res {
            Ok(detail) => println!("  ok    {what}: {detail}"),
            Err(e) => {
                self.bad += 1;
                println!("  FEL   {what}: {e}");
            }
        }
    }
}

/// Returns the number of problems found.
pub async fn doctor(config: &Path) -> usize {
    let mut r = Report { bad: 0 };
    println!("vardval doctor: {}", config.display());
    let s = match Settings::load(config) {
        Ok(s) => {
            r.line("configuration", Ok("readable and valid".into()));
            s
        }
        Err(e) => {
            r.line("configuration", Err(e.to_string()));
            return r.bad;
        }
    };
    r.line(
        "rulebook",
        app::load_rulebook(&s)
            .map(|rb| format!("cycle {} with {} milestones", rb.year, rb.milestones.len()))
            .map_err(|e| format!("{e:#}")),
    );
    let store = app::open_store(&s).await;
    let year = app::load_rulebook(&s).map_or(
        crate::ports::Clock::now(&crate::ports::SystemClock).year(),
        |rb| rb.year,
    );
    r.line(
        "clinic registry",
        match &store {
            Ok(st) => super::clinics::check_registry(&s, st, year)
                .await
                .map_err(|e| format!("{e:#}")),
            Err(e) => Err(format!("needs the database: {e:#}")),
        },
    );
    r.line(
        "templates",
        Templates::load(None)
            .map(|_| "all templates parse".into())
            .map_err(|e| e.to_string()),
    );
    r.line(
        "database",
        match &store {
            Ok(st) => Ok(format!(
                "{} reachable, migrations applied",
                st.backend().as_str()
            )),
            Err(e) => Err(format!("{e:#}")),
        },
    );
    r.line(
        "audit log",
        match &store {
            Ok(st) => match st.audit_verify().await {
                Ok(c) if c.ok() => Ok(format!("hash chain intact, {} rows", c.rows)),
                Ok(c) => Err(format!(
                    "hash chain broken at row {}: {} (see vardval audit verify)",
                    c.first_bad.unwrap_or_default(),
                    c.reason.unwrap_or_default()
                )),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(format!("needs the database: {e:#}")),
        },
    );
    let archive = s.resolve(&s.archive.dir);
    r.line(
        "raw archive",
        std::fs::create_dir_all(&archive)
            .and_then(|_| tempfile_in(&archive))
            .map(|_| format!("{} is writable", archive.display()))
            .map_err(|e| format!("{} is not writable: {e}", archive.display())),
    );
    r.line(
        "mailbox",
        match app::build_source(&s) {
            Err(e) => Err(format!("{e:#}")),
            Ok(mut src) => match src.fetch(0).await {
                Ok(_) => Ok(match s.mailbox.kind {
                    MailboxKind::Imap => format!("logged in to {}", src.describe()),
                    MailboxKind::Maildir => format!("{} is readable", src.describe()),
                }),
                Err(e) => Err(e.to_string()),
            },
        },
    );
    r.line(
        "smtp",
        match app::build_transport(&s) {
            Err(e) => Err(format!("{e:#}")),
            Ok(app::AnyTransport::File(f)) => Ok(crate::ports::Transport::describe(&f)),
            Ok(app::AnyTransport::Smtp(t)) => match t.test_connection().await {
                Ok(()) => Ok(format!(
                    "connected and logged in: {}",
                    crate::ports::Transport::describe(t.as_ref())
                )),
                Err(crate::ports::SendError::Credentials(e)) => Err(format!(
                    "credentials problem: the server refused the login ({e}). Check the \
                     password or the token command; for Microsoft 365 check that the app has \
                     SMTP.Send and that SMTP AUTH is enabled for the mailbox. Replies stay \
                     queued until the login works."
                )),
                Err(e) => Err(e.to_string()),
            },
        },
    );
    if let Some(o) = &s.web.oidc {
        r.line("sign-in provider ([web.oidc])", check_oidc(&s, o).await);
    }
    if s.payouts.debtor.name.trim().is_empty() {
        println!("  note  payouts are not configured ([payouts.debtor] name is empty)");
    } else {
        r.line(
            "payouts",
            s.payouts.check_debtor().and_then(|()| {
                let mut years = vec![year];
                for path in &s.payouts.rulebooks {
                    let p = s.resolve(path);
                    let rb = std::fs::read_to_string(&p)
                        .map_err(|e| format!("cannot read rulebook {}: {e}", p.display()))
                        .and_then(|t| {
                            crate::domain::rulebook::Rulebook::from_toml(&t)
                                .map_err(|e| format!("invalid rulebook {}: {e}", p.display()))
                        })?;
                    years.push(rb.year);
                }
                let dir = match &s.payouts.dir {
                    Some(d) => {
                        let d = s.resolve(d);
                        std::fs::create_dir_all(&d)
                            .and_then(|_| tempfile_in(&d))
                            .map_err(|e| format!("{} is not writable: {e}", d.display()))?;
                        format!("files to {}", d.display())
                    }
                    None => "no [payouts] dir: files only by mail".to_string(),
                };
                if s.finance.emails.is_empty() && s.payouts.dir.is_none() {
                    return Err(
                        "neither [payouts] dir nor [finance] emails: the files would go nowhere"
                            .into(),
                    );
                }
                Ok(format!(
                    "payer {}, cycle years {years:?}, {dir}, {} finance recipients",
                    s.payouts.debtor.name,
                    s.finance.emails.len()
                ))
            }),
        );
    }
    if s.smtp.kind == SmtpKind::File {
        println!("  note  replies are written to a directory, not sent (smtp kind = \"file\")");
    }
    if r.bad == 0 {
        println!("Allt ser bra ut.");
    } else {
        println!("{} problem hittades.", r.bad);
    }
    r.bad
}

/// The identity provider answers: the secret's variable is set, discovery names the
/// configured issuer, and the signing keys can be read.
async fn check_oidc(s: &Settings, o: &crate::config::OidcSettings) -> Result<String, String> {
    let p = app::oidc_provider(s, o).map_err(|e| format!("{e:#}"))?;
    let meta = p.metadata().await.map_err(|e| e.to_string())?;
    let keys = p.keys(&meta, true).await.map_err(|e| e.to_string())?;
    let rsa = keys.iter().filter(|k| k.kty == "RSA").count();
    if rsa == 0 {
        return Err("the provider publishes no RSA signing key (RS256 is required)".into());
    }
    Ok(format!(
        "issuer {} answers, {rsa} signing keys, callback {}",
        meta.issuer, p.redirect_url
    ))
}

fn tempfile_in(dir: &Path) -> std::io::Result<()> {
    let p = dir.join(format!(".doctor-{}", std::process::id()));
    std::fs::write(&p, b"ok")?;
    std::fs::remove_file(p)
}
