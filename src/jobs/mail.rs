//! Rendering of the scheduler's mails (reminders, digest) from `templates/`, as complete
//! RFC 5322 messages with `Auto-Submitted: auto-generated` and a stable Message-ID.

use chrono::{DateTime, Utc};
use lettre::message::Mailbox;
use minijinja::{Environment, Value};

use crate::reply::automatic_message;

const TEMPLATES: &[(&str, &str)] = &[
    (
        "reminder.subject.j2",
        include_str!("../../templates/reminder.subject.j2"),
    ),
    (
        "reminder.txt.j2",
        include_str!("../../templates/reminder.txt.j2"),
    ),
    (
        "digest.subject.j2",
        include_str!("../../templates/digest.subject.j2"),
    ),
    (
        "digest.txt.j2",
        include_str!("../../templates/digest.txt.j2"),
    ),
    (
        "payouts.subject.j2",
        include_str!("../../templates/payouts.subject.j2"),
    ),
    (
        "payouts.txt.j2",
        include_str!("../../templates/payouts.txt.j2"),
    ),
    (
        "payouts_empty.subject.j2",
        include_str!("../../templates/payouts_empty.subject.j2"),
    ),
    (
        "payouts_empty.txt.j2",
        include_str!("../../templates/payouts_empty.txt.j2"),
    ),
];

/// A file attached to a mail: name, bytes, MIME type.
pub type Attachment = (String, Vec<u8>, &'static str);

/// A rendered mail ready for the outbox.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Every recipient (all in `To`), in order.
    pub to: Vec<String>,
    pub subject: String,
    pub message_id: String,
    pub raw: Vec<u8>,
}

/// The scheduler's template set and sender identity.
pub struct JobMail {
    env: Environment<'static>,
    pub from: Mailbox,
}

impl std::fmt::Debug for JobMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JobMail({})", self.from)
    }
}

impl JobMail {
    /// The embedded templates, or those in `dir` when given (same file names).
    pub fn load(dir: Option<&std::path::Path>, from: Mailbox) -> anyhow::Result<JobMail> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(true);
        for (name, text) in TEMPLATES {
            let body = match dir.map(|d| d.join(name)) {
                Some(p) if p.exists() => std::fs::read_to_string(&p)?,
                _ => text.to_string(),
            };
            env.add_template_owned(name.to_string(), body)?;
        }
        Ok(JobMail { env, from })
    }

    /// The subject (one line) and the body of template `kind` for `ctx`.
    fn render(&self, kind: &str, ctx: &Value) -> anyhow::Result<(String, String)> {
        let subject = self
            .env
            .get_template(&format!("{kind}.subject.j2"))?
            .render(ctx)?
            .trim()
            .to_string();
        let body = self
            .env
            .get_template(&format!("{kind}.txt.j2"))?
            .render(ctx)?;
        Ok((subject, body))
    }

    /// Render `<kind>.subject.j2` and `<kind>.txt.j2` and build the message to all of `to`
    /// (at least one). `reference` becomes the Message-ID's local part.
    pub fn build(
        &self,
        kind: &str,
        ctx: &Value,
        to: &[String],
        reference: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Rendered> {
        let (subject, body) = self.render(kind, ctx)?;
        let message_id = format!("{reference}@{}", self.from.email.domain());
        let mut rcpts = to.iter().map(|a| {
            a.parse::<Mailbox>()
                .map_err(|e| anyhow::anyhow!("recipient {a}: {e}"))
        });
        let first = rcpts
            .next()
            .ok_or_else(|| anyhow::anyhow!("a mail needs a recipient"))??;
        let mut builder = automatic_message(
            &self.from,
            first,
            &subject,
            &message_id,
            now,
            "auto-generated",
        );
        for r in rcpts {
            builder = builder.to(r?);
        }
        let msg = builder.body(body)?;
        Ok(Rendered {
            to: to.to_vec(),
            subject,
            message_id,
            raw: msg.formatted(),
        })
    }

    /// Like [`JobMail::build`], with files attached (multipart/mixed: the text, then each
    /// file as an attachment).
    pub fn build_with_attachments(
        &self,
        kind: &str,
        ctx: &Value,
        to: &str,
        reference: &str,
        now: DateTime<Utc>,
        files: &[Attachment],
    ) -> anyhow::Result<Rendered> {
        use lettre::message::header::ContentType;
        use lettre::message::{MultiPart, SinglePart};
        let (subject, body) = self.render(kind, ctx)?;
        let message_id = format!("{reference}@{}", self.from.email.domain());
        let rcpt: Mailbox = to
            .parse()
            .map_err(|e| anyhow::anyhow!("recipient {to}: {e}"))?;
        let mut mixed = MultiPart::mixed().singlepart(SinglePart::plain(body));
        for (name, bytes, mime) in files {
            let ct = ContentType::parse(mime).map_err(|e| anyhow::anyhow!("{mime}: {e}"))?;
            mixed = mixed
                .singlepart(lettre::message::Attachment::new(name.clone()).body(bytes.clone(), ct));
        }
        let msg = automatic_message(
            &self.from,
            rcpt,
            &subject,
            &message_id,
            now,
            "auto-generated",
        )
        .multipart(mixed)?;
        Ok(Rendered {
            to: vec![to.to_string()],
            subject,
            message_id,
            raw: msg.formatted(),
        })
    }
}

/// A Message-ID local part from free text: lower-case ASCII letters, digits, `.` and `-`.
pub fn reference(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| {
            p.chars()
                .map(|c| match c {
                    'a'..='z' | '0'..='9' | '-' => c,
                    'A'..='Z' => c.to_ascii_lowercase(),
                    _ => '-',
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(".")
}
