//! IMAP commands with their tagged status checked.
//!
//! async-imap's `uid_search` and `uid_fetch` read up to the tagged response and drop it: a
//! `BAD` (for instance because a failed `EXAMINE` left no folder selected) came back as an
//! empty result, so the source went deaf. Here every command is sent with `run_command` and
//! its responses are read to the tagged `OK`/`NO`/`BAD`; anything but `OK` is an error, with
//! the server's text and response code in plain words. Unsolicited `EXISTS`/`EXPUNGE` seen
//! on the way keep the message count (new mail while a command ran).

use std::fmt;
use std::time::Duration;

use async_imap::imap_proto::{self, AttributeValue, MailboxDatum, ResponseCode, Status};
use chrono::{DateTime, FixedOffset};

use super::Session;

/// Why a command did not end with a tagged OK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    /// Tagged `NO`: the server refused; the connection lives. `trycreate` is the
    /// `[TRYCREATE]` code (the target folder does not exist).
    No { text: String, trycreate: bool },
    /// Tagged `BAD`: the server did not accept the command here (e.g. no folder selected).
    Bad { text: String },
    /// The connection is unusable: I/O error, unparsable data, BYE, timeout.
    Lost(String),
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdError::No { text, .. } => write!(f, "the server refused it: {text}"),
            CmdError::Bad { text } => write!(f, "the server rejected the command: {text}"),
            CmdError::Lost(m) => write!(f, "{m}"),
        }
    }
}

/// Turns an async-imap error into plain words (no `Debug` output of the crate's types).
pub fn plain(e: async_imap::error::Error) -> CmdError {
    use async_imap::error::Error as E;
    // The crate formats NO/BAD as `code: Some(..), info: Some("text")`: keep only the text.
    fn text_of(m: &str) -> String {
        if let Some(i) = m.find("info: Some(\"") {
            let rest = &m[i + 12..];
            return rest
                .rsplit_once("\")")
                .map(|(t, _)| t)
                .unwrap_or(rest)
                .replace("\\\"", "\"");
        }
        if m.contains("info: None") || m.starts_with("outcome:") {
            return "no reason given".into();
        }
        m.to_string()
    }
    match e {
        E::No(m) => CmdError::No {
            trycreate: m.contains("TryCreate"),
            text: text_of(&m),
        },
        E::Bad(m) => CmdError::Bad { text: text_of(&m) },
        E::Validate(v) => CmdError::No {
            text: format!("a name contains a character IMAP cannot send ({v})"),
            trycreate: false,
        },
        E::ConnectionLost => CmdError::Lost("the server closed the connection".into()),
        E::Io(io) => CmdError::Lost(format!("connection error: {io}")),
        other => CmdError::Lost(format!("protocol error: {other}")),
    }
}

fn code_text(code: &ResponseCode<'_>) -> Option<&'static str> {
    Some(match code {
        ResponseCode::TryCreate => "TRYCREATE",
        ResponseCode::ReadOnly => "READ-ONLY",
        ResponseCode::Alert => "ALERT",
        ResponseCode::Parse => "PARSE",
        _ => return None,
    })
}

/// The message count of the selected folder as the server reports it.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counter {
    pub exists: u32,
    /// The count grew since this was last cleared.
    pub grew: bool,
}

impl Counter {
    fn see(&mut self, r: &imap_proto::Response<'_>) {
        match r {
            imap_proto::Response::MailboxData(MailboxDatum::Exists(n)) => {
                if *n > self.exists {
                    self.grew = true;
                }
                self.exists = *n;
            }
            imap_proto::Response::Expunge(_) => self.exists = self.exists.saturating_sub(1),
            _ => {}
        }
    }
}

/// Sends `cmd` and reads its responses up to the tagged status; `each` sees every untagged
/// response. Ok only for a tagged OK.
pub async fn run(
    session: &mut Session,
    counter: &mut Counter,
    cmd: &str,
    mut each: impl FnMut(&imap_proto::Response<'_>),
) -> Result<(), CmdError> {
    let tag = session.run_command(cmd).await.map_err(plain)?;
    loop {
        let resp = match session.read_response().await {
            Ok(Some(r)) => r,
            Ok(None) => return Err(CmdError::Lost("the server closed the connection".into())),
            Err(e) => return Err(CmdError::Lost(format!("connection error: {e}"))),
        };
        match resp.parsed() {
            imap_proto::Response::Done {
                tag: t,
                status,
                outcome,
            } if *t == tag => {
                let mut text = outcome
                    .information
                    .as_deref()
                    .unwrap_or("no reason given")
                    .trim()
                    .to_string();
                let code = outcome.code.as_ref().and_then(code_text);
                if let Some(c) = code {
                    text = format!("[{c}] {text}");
                }
                return match status {
                    Status::Ok => Ok(()),
                    Status::No => Err(CmdError::No {
                        text,
                        trycreate: matches!(outcome.code, Some(ResponseCode::TryCreate)),
                    }),
                    Status::Bad => Err(CmdError::Bad { text }),
                    _ => Err(CmdError::Lost(format!("unexpected answer: {text}"))),
                };
            }
            imap_proto::Response::Data {
                status: Status::Bye,
                outcome,
            } => {
                return Err(CmdError::Lost(format!(
                    "the server ended the session: {}",
                    outcome.information.as_deref().unwrap_or("no reason given")
                )));
            }
            r => {
                counter.see(r);
                each(r);
            }
        }
    }
}

/// Bounds a command in time; a timeout loses the connection (its answer may still come).
pub async fn timed<T>(
    d: Duration,
    fut: impl Future<Output = Result<T, CmdError>>,
) -> Result<T, CmdError> {
    match tokio::time::timeout(d, fut).await {
        Ok(r) => r,
        Err(_) => Err(CmdError::Lost(format!("no answer within {d:?}"))),
    }
}

/// An IMAP quoted string (folder names are already modified UTF-7, so ASCII).
pub fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// What SELECT/EXAMINE reports.
#[derive(Debug, Default, Clone, Copy)]
pub struct Selected {
    pub uidvalidity: Option<u32>,
    pub exists: u32,
}

/// `SELECT` (or `EXAMINE` when `read_only`) a folder.
pub async fn select(
    session: &mut Session,
    counter: &mut Counter,
    folder: &str,
    read_only: bool,
) -> Result<Selected, CmdError> {
    let verb = if read_only { "EXAMINE" } else { "SELECT" };
    let mut out = Selected::default();
    run(
        session,
        counter,
        &format!("{verb} {}", quote(folder)),
        |r| match r {
            imap_proto::Response::Data {
                status: Status::Ok,
                outcome,
            } => {
                if let Some(ResponseCode::UidValidity(v)) = outcome.code {
                    out.uidvalidity = Some(v);
                }
            }
            imap_proto::Response::MailboxData(MailboxDatum::Exists(n)) => out.exists = *n,
            _ => {}
        },
    )
    .await?;
    counter.exists = out.exists;
    counter.grew = false;
    Ok(out)
}

/// `UID SEARCH query` → the UIDs, ascending.
pub async fn uid_search(
    session: &mut Session,
    counter: &mut Counter,
    query: &str,
) -> Result<Vec<u32>, CmdError> {
    let mut uids = Vec::new();
    run(session, counter, &format!("UID SEARCH {query}"), |r| {
        if let imap_proto::Response::MailboxData(MailboxDatum::Search(found)) = r {
            uids.extend_from_slice(found);
        }
    })
    .await?;
    uids.sort_unstable();
    uids.dedup();
    Ok(uids)
}

/// One message as `UID FETCH` reports it.
#[derive(Debug, Default)]
pub struct Item {
    pub uid: Option<u32>,
    pub size: Option<u32>,
    pub internal_date: Option<DateTime<FixedOffset>>,
    pub body: Option<Vec<u8>>,
}

fn item_of(attrs: &[AttributeValue<'_>]) -> Item {
    let mut it = Item::default();
    for a in attrs {
        match a {
            AttributeValue::Uid(u) => it.uid = Some(*u),
            AttributeValue::Rfc822Size(s) => it.size = Some(*s),
            AttributeValue::InternalDate(d) => {
                it.internal_date = DateTime::parse_from_str(d, "%d-%b-%Y %H:%M:%S %z").ok()
            }
            AttributeValue::BodySection {
                data: Some(data), ..
            }
            | AttributeValue::Rfc822(Some(data)) => it.body = Some(data.to_vec()),
            _ => {}
        }
    }
    it
}

/// `UID FETCH set items`; `each` gets every message as it arrives (so a caller can hand a
/// body on without holding the response too). Unsolicited FETCHes (flag changes) without a
/// UID are skipped.
pub async fn uid_fetch(
    session: &mut Session,
    counter: &mut Counter,
    set: &str,
    items: &str,
    mut each: impl FnMut(Item),
) -> Result<(), CmdError> {
    run(session, counter, &format!("UID FETCH {set} {items}"), |r| {
        if let imap_proto::Response::Fetch(_, attrs) = r {
            let it = item_of(attrs);
            if it.uid.is_some() {
                each(it);
            }
        }
    })
    .await
}

/// A folder as `LIST` reports it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub name: String,
}

/// `LIST "" pattern`.
pub async fn list(
    session: &mut Session,
    counter: &mut Counter,
    pattern: &str,
) -> Result<Vec<Listed>, CmdError> {
    let mut out = Vec::new();
    run(
        session,
        counter,
        &format!("LIST \"\" {}", quote(pattern)),
        |r| {
            if let imap_proto::Response::MailboxData(MailboxDatum::List(l)) = r {
                out.push(Listed {
                    name: l.name.to_string(),
                });
            }
        },
    )
    .await?;
    Ok(out)
}

/// A command that returns nothing but its status (CREATE, UID MOVE, UID COPY, UID STORE,
/// UID EXPUNGE).
pub async fn simple(
    session: &mut Session,
    counter: &mut Counter,
    cmd: &str,
) -> Result<(), CmdError> {
    run(session, counter, cmd, |_| {}).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    /// A scripted server: for each command (matched by its first words after the tag) the
    /// lines to answer, with `TAG` replaced by the command's tag.
    async fn session(script: Vec<(&'static str, &'static str)>) -> Session {
        let (client, server) = tokio::io::duplex(1 << 16);
        tokio::spawn(async move {
            let (r, mut w) = tokio::io::split(server);
            let mut r = BufReader::new(r);
            w.write_all(b"* OK fake ready\r\n").await.unwrap();
            let mut line = String::new();
            while r.read_line(&mut line).await.unwrap_or(0) > 0 {
                let (tag, cmd) = line.trim_end().split_once(' ').unwrap();
                let reply = if cmd.starts_with("LOGIN") {
                    "TAG OK logged in"
                } else {
                    script
                        .iter()
                        .find(|(c, _)| cmd.starts_with(c))
                        .map(|(_, r)| *r)
                        .unwrap_or("TAG BAD unexpected command")
                };
                let reply = reply.replace("TAG", tag).replace('\n', "\r\n");
                w.write_all(format!("{reply}\r\n").as_bytes())
                    .await
                    .unwrap();
                line.clear();
            }
        });
        let io: Box<dyn super::super::ImapIo> = Box::new(client);
        let mut c = async_imap::Client::new(io);
        c.read_response().await.unwrap();
        c.login("u", "p").await.map_err(|(e, _)| e).unwrap()
    }

    #[tokio::test]
    async fn a_bad_search_is_an_error_not_an_empty_result() {
        let mut s = session(vec![(
            "UID SEARCH",
            "TAG BAD Error in IMAP command UID SEARCH: No mailbox selected",
        )])
        .await;
        let mut c = Counter::default();
        let r = uid_search(&mut s, &mut c, "UNDELETED").await;
        assert_eq!(
            r,
            Err(CmdError::Bad {
                text: "Error in IMAP command UID SEARCH: No mailbox selected".into()
            })
        );
        let shown = r.unwrap_err().to_string();
        assert!(
            !shown.contains("Some(") && !shown.contains("code:"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn search_and_fetch_results_and_failures() {
        let mut s = session(vec![
            ("UID SEARCH", "* 4 EXISTS\n* SEARCH 7 3 5\nTAG OK done"),
            (
                "UID FETCH 3:5 (UID RFC822.SIZE)",
                "* 1 FETCH (UID 3 RFC822.SIZE 120)\n* 2 FETCH (FLAGS (\\Seen))\nTAG OK done",
            ),
            ("UID FETCH 9", "TAG NO Some messages could not be FETCHed"),
            ("SELECT", "TAG NO Mailbox doesn't exist: Borta"),
        ])
        .await;
        let mut c = Counter::default();
        assert_eq!(
            uid_search(&mut s, &mut c, "UNDELETED").await,
            Ok(vec![3, 5, 7])
        );
        assert!(c.grew && c.exists == 4, "unsolicited EXISTS is counted");
        let mut items = Vec::new();
        uid_fetch(&mut s, &mut c, "3:5", "(UID RFC822.SIZE)", |i| {
            items.push(i)
        })
        .await
        .unwrap();
        assert_eq!(items.len(), 1, "a FETCH without UID is skipped");
        assert_eq!((items[0].uid, items[0].size), (Some(3), Some(120)));
        let r = uid_fetch(&mut s, &mut c, "9", "(UID)", |_| {}).await;
        assert!(
            matches!(
                r,
                Err(CmdError::No {
                    trycreate: false,
                    ..
                })
            ),
            "{r:?}"
        );
        let r = select(&mut s, &mut c, "Borta", false).await.unwrap_err();
        assert_eq!(
            r.to_string(),
            "the server refused it: Mailbox doesn't exist: Borta"
        );
    }

    #[tokio::test]
    async fn trycreate_and_bye_are_recognised() {
        let mut s = session(vec![
            (
                "UID MOVE",
                "TAG NO [TRYCREATE] Mailbox doesn't exist: Behandlat",
            ),
            ("UID COPY", "* BYE shutting down"),
        ])
        .await;
        let mut c = Counter::default();
        let r = simple(&mut s, &mut c, "UID MOVE 1 \"Behandlat\"").await;
        assert_eq!(
            r,
            Err(CmdError::No {
                text: "[TRYCREATE] Mailbox doesn't exist: Behandlat".into(),
                trycreate: true
            })
        );
        let r = simple(&mut s, &mut c, "UID COPY 1 \"Behandlat\"").await;
        assert!(
            matches!(r, Err(CmdError::Lost(ref m)) if m.contains("shutting down")),
            "{r:?}"
        );
    }

    #[tokio::test]
    async fn namespace_is_read_beside_the_library_and_the_stream_stays_in_step() {
        use super::super::connect::namespace;
        use super::super::folders::Namespace;
        let mut s = session(vec![
            (
                "NAMESPACE",
                "* NAMESPACE ((\"INBOX.\" \".\")) NIL NIL\nTAG OK Namespace completed.",
            ),
            ("UID SEARCH", "* SEARCH 4\nTAG OK done"),
        ])
        .await;
        let ns = namespace(&mut s).await.unwrap();
        assert_eq!(
            ns,
            Some(Namespace {
                prefix: "INBOX.".into(),
                delimiter: Some('.')
            })
        );
        let mut c = Counter::default();
        assert_eq!(uid_search(&mut s, &mut c, "ALL").await, Ok(vec![4]));
        // A server that refuses NAMESPACE: no namespace, the session goes on.
        let mut s = session(vec![
            ("NAMESPACE", "TAG BAD Unknown command"),
            ("UID SEARCH", "* SEARCH\nTAG OK done"),
        ])
        .await;
        assert_eq!(namespace(&mut s).await.unwrap(), None);
        assert_eq!(uid_search(&mut s, &mut c, "ALL").await, Ok(vec![]));
    }

    #[test]
    fn crate_errors_become_plain_words() {
        use async_imap::error::Error as E;
        let e = plain(E::No(
            "code: Some(TryCreate), info: Some(\"Mailbox doesn't exist: X\")".into(),
        ));
        assert_eq!(
            e,
            CmdError::No {
                text: "Mailbox doesn't exist: X".into(),
                trycreate: true
            }
        );
        let e = plain(E::Bad("code: None, info: None".into()));
        assert_eq!(
            e.to_string(),
            "the server rejected the command: no reason given"
        );
        assert!(matches!(plain(E::ConnectionLost), CmdError::Lost(_)));
    }
}
