//! Fetching bounded by bytes, and filing handled messages.
//!
//! A fetch asks `UID SEARCH UNDELETED`, then the sizes (`UID FETCH (UID RFC822.SIZE)`), and
//! then the bodies of the oldest messages whose sizes add up to at most `batch_bytes` (always
//! at least one: a message larger than the budget comes alone). A message larger than
//! `max_message_bytes` is never held whole: the first [`HEADER_FETCH_BYTES`] of its header
//! (`BODY.PEEK[HEADER]<0.N>`) for the pipeline, and the whole message copied piece by piece
//! (`BODY.PEEK[]<offset.length>`) into a spool file for the archive, so one absurd mail
//! cannot take the process's memory. What is left is reported by
//! [`MailSource::more_pending`](crate::ports::MailSource::more_pending), so the daemon
//! fetches again at once.

use chrono::Utc;

use super::protocol::{self, CmdError};
use super::{ImapSource, connect, parse_source_key, uid_set};
use crate::ports::{Fetched, HEADER_FETCH_BYTES, SourceError};

/// Where a handled message goes.
#[derive(Debug, Clone, Copy)]
enum Dest {
    Processed,
    Quarantine,
}

/// How many of the leading `sizes` (oldest first) fit in one batch: at most `max`, their
/// sum at most `budget`, but never zero when there is a message.
pub fn plan_batch(sizes: &[u64], budget: u64, max: usize) -> usize {
    let mut total: u64 = 0;
    let mut n = 0;
    for &s in sizes.iter().take(max) {
        if n > 0 && total.saturating_add(s) > budget {
            break;
        }
        total = total.saturating_add(s);
        n += 1;
    }
    n
}

/// The Message-ID header of a raw message, with its angle brackets.
fn message_id_of(raw: &[u8]) -> Option<String> {
    let m = mail_parser::MessageParser::default().parse_headers(raw)?;
    m.message_id().map(|id| format!("<{id}>"))
}

impl ImapSource {
    pub(super) async fn fetch_inner(&mut self, max: usize) -> Result<Vec<Fetched>, SourceError> {
        self.more = false;
        self.ready().await?;
        let t = self.cfg.command_timeout;
        let budget = self.cfg.batch_bytes;
        let conn = self.conn.as_mut().expect("connected");
        // EXISTS seen up to here is covered by the search result.
        conn.counter.grew = false;
        conn.pending_new = false;
        let r = protocol::timed(
            t,
            protocol::uid_search(&mut conn.session, &mut conn.counter, "UNDELETED"),
        )
        .await;
        let mut uids = self.check("UID SEARCH", r)?;
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        uids.truncate(max.saturating_add(1));
        let candidates: Vec<u32> = uids.iter().copied().take(max).collect();
        let conn = self.conn.as_mut().expect("connected");
        let mut sizes: Vec<(u32, u64)> = Vec::with_capacity(candidates.len());
        let r = protocol::timed(
            t,
            protocol::uid_fetch(
                &mut conn.session,
                &mut conn.counter,
                &uid_set(&candidates),
                "(UID RFC822.SIZE)",
                |it| {
                    // A size the server does not tell counts as "too large": fetched alone.
                    if let Some(u) = it.uid {
                        sizes.push((u, it.size.map(u64::from).unwrap_or(u64::MAX)));
                    }
                },
            ),
        )
        .await;
        self.check("UID FETCH (sizes)", r)?;
        sizes.sort_unstable();
        sizes.dedup_by_key(|(u, _)| *u);
        sizes.retain(|(u, _)| candidates.binary_search(u).is_ok());
        let limit = self.cfg.max_message_bytes;
        let just: Vec<u64> = sizes
            .iter()
            .map(|&(_, s)| Fetched::planned_size(s, limit))
            .collect();
        let n = plan_batch(&just, budget, max);
        let (heads, wholes): (Vec<_>, Vec<_>) = sizes[..n]
            .iter()
            .copied()
            .partition(|&(_, s)| Fetched::header_only(s, limit));
        self.more = uids.len() > n;
        if n == 0 {
            // Expunged between SEARCH and FETCH: look again soon.
            return Ok(Vec::new());
        }
        let mut out: Vec<Fetched> = Vec::with_capacity(n);
        let whole: Vec<u32> = wholes.iter().map(|(u, _)| *u).collect();
        self.fetch_group(&whole, "BODY.PEEK[]", |_| None, &mut out)
            .await?;
        let head: Vec<u32> = heads.iter().map(|(u, _)| *u).collect();
        let items = format!("BODY.PEEK[HEADER]<0.{HEADER_FETCH_BYTES}>");
        let size_of = |uid: u32| heads.iter().find(|(u, _)| *u == uid).map(|(_, s)| *s);
        self.fetch_group(&head, &items, size_of, &mut out).await?;
        if let Some(dir) = self.cfg.spool_dir.clone() {
            for f in out.iter_mut() {
                if let (Some(size), Ok(uid)) = (f.only_header_of, f.handle.parse::<u32>()) {
                    f.whole_file = self.spool(uid, size, &dir).await?;
                }
            }
        }
        out.sort_by_key(|f| f.handle.parse::<u32>().unwrap_or(u32::MAX));
        out.dedup_by(|a, b| a.handle == b.handle);
        if self.more
            && let Some(c) = self.conn.as_mut()
        {
            c.pending_new = true;
        }
        Ok(out)
    }

    /// `UID FETCH uids (UID INTERNALDATE part)` into `out`; `only_header_of` tells the whole
    /// size of a message of which only the header is fetched.
    async fn fetch_group(
        &mut self,
        uids: &[u32],
        part: &str,
        only_header_of: impl Fn(u32) -> Option<u64>,
        out: &mut Vec<Fetched>,
    ) -> Result<(), SourceError> {
        if uids.is_empty() {
            return Ok(());
        }
        let t = self.cfg.command_timeout;
        let conn = self.conn.as_mut().expect("connected");
        let uidvalidity = conn.uidvalidity;
        let mut missing_date = None;
        let r = protocol::timed(
            t,
            protocol::uid_fetch(
                &mut conn.session,
                &mut conn.counter,
                &uid_set(uids),
                &format!("(UID INTERNALDATE {part})"),
                |it| {
                    let (Some(uid), Some(body)) = (it.uid, it.body) else {
                        return;
                    };
                    if uids.binary_search(&uid).is_err() {
                        return;
                    }
                    let Some(date) = it.internal_date else {
                        missing_date = Some(uid);
                        return;
                    };
                    out.push(Fetched {
                        source_key: format!("imap:{uidvalidity}:{uid}"),
                        bytes: body,
                        received_at: date.with_timezone(&Utc),
                        handle: uid.to_string(),
                        only_header_of: only_header_of(uid),
                        whole_file: None,
                    });
                },
            ),
        )
        .await;
        self.check("UID FETCH", r)?;
        if let Some(uid) = missing_date {
            return Err(self.fail(
                SourceError::Other(format!("no INTERNALDATE for UID {uid}")),
                false,
            ));
        }
        Ok(())
    }

    /// `UID MOVE`/`UID COPY` to `dest`; on `[TRYCREATE]` (the folder was renamed or deleted,
    /// or was never made) create it and try once more.
    async fn file_into(&mut self, verb: &str, set: &str, dest: Dest) -> Result<(), SourceError> {
        let t = self.cfg.command_timeout;
        for attempt in 0..2 {
            let conn = self.conn.as_mut().expect("connected");
            let folder = match dest {
                Dest::Processed => conn.names.processed.clone(),
                Dest::Quarantine => conn.names.quarantine.clone(),
            };
            let cmd = format!("{verb} {set} {}", protocol::quote(&folder));
            let r = protocol::timed(
                t,
                protocol::simple(&mut conn.session, &mut conn.counter, &cmd),
            )
            .await;
            match r {
                Err(CmdError::No {
                    trycreate: true, ..
                }) if attempt == 0 => {
                    tracing::warn!(%folder,
                        "the target folder is missing (renamed or deleted?): creating it");
                    let r = connect::create(conn, &folder, t).await;
                    if let Err(e) = r {
                        let drop = matches!(e, SourceError::Connection(_));
                        return Err(self.fail(e, drop));
                    }
                }
                r => return self.check(verb, r),
            }
        }
        unreachable!("the loop returns")
    }

    pub(super) async fn mark_inner(&mut self, msg: &Fetched) -> Result<(), SourceError> {
        self.move_to(msg, Dest::Processed).await
    }

    /// Moves a poison message (its attempts used up, recorded with a triage item) to
    /// `quarantine_folder`, created on first use: the IMAP side of `MailSource::quarantine`.
    pub async fn move_to_quarantine(&mut self, msg: &Fetched) -> Result<(), SourceError> {
        self.move_to(msg, Dest::Quarantine).await
    }

    async fn move_to(&mut self, msg: &Fetched, dest: Dest) -> Result<(), SourceError> {
        let uid: u32 = msg
            .handle
            .parse()
            .map_err(|_| SourceError::Other(format!("not an IMAP UID: {:?}", msg.handle)))?;
        self.ready().await?;
        let conn = self.conn.as_mut().expect("connected");
        let current = conn.uidvalidity;
        if let Some((v, _)) = parse_source_key(&msg.source_key)
            && v != current
        {
            return Err(self.fail(
                SourceError::Other(format!(
                    "{}: UIDVALIDITY is now {current}, not moving UID {uid} (it may be another message)",
                    msg.source_key
                )),
                false,
            ));
        }
        let set = uid.to_string();
        if conn.caps.mv {
            // A UID that is gone already matches nothing: the server answers OK.
            return self.file_into("UID MOVE", &set, dest).await;
        }
        self.file_into("UID COPY", &set, dest).await?;
        self.remove_original(&set).await
    }

    /// After the copy is safely in the processed folder: flag the original \Deleted and, with
    /// UIDPLUS, expunge exactly that UID (never a plain EXPUNGE). Without UIDPLUS the flag
    /// stays; fetches skip \Deleted messages.
    async fn remove_original(&mut self, set: &str) -> Result<(), SourceError> {
        let t = self.cfg.command_timeout;
        let conn = self.conn.as_mut().expect("connected");
        let uidplus = conn.caps.uidplus;
        let r = protocol::timed(
            t,
            protocol::simple(
                &mut conn.session,
                &mut conn.counter,
                &format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"),
            ),
        )
        .await;
        self.check("UID STORE", r)?;
        if uidplus {
            let conn = self.conn.as_mut().expect("connected");
            let r = protocol::timed(
                t,
                protocol::simple(
                    &mut conn.session,
                    &mut conn.counter,
                    &format!("UID EXPUNGE {set}"),
                ),
            )
            .await;
            self.check("UID EXPUNGE", r)?;
        }
        Ok(())
    }

    /// For a message the ledger already had: if an identical copy (same Message-ID, size and
    /// INTERNALDATE) is already in the processed folder, a move was interrupted after the copy
    /// (Dovecot copies, then expunges): remove only the original. Otherwise move it. When the
    /// processed folder cannot be examined (renamed, deleted), there is no copy to find: the
    /// watched folder is selected again and the message moved (which recreates the folder).
    pub(super) async fn mark_again_inner(&mut self, msg: &Fetched) -> Result<(), SourceError> {
        let Some(mid) = message_id_of(&msg.bytes) else {
            return self.mark_inner(msg).await;
        };
        self.ready().await?;
        let t = self.cfg.command_timeout;
        let conn = self.conn.as_mut().expect("connected");
        let processed = conn.names.processed.clone();
        conn.selected = false;
        let r = protocol::timed(
            t,
            protocol::select(&mut conn.session, &mut conn.counter, &processed, true),
        )
        .await;
        match r {
            Ok(_) => {}
            Err(CmdError::Lost(m)) => {
                return Err(self.fail(SourceError::Connection(format!("EXAMINE: {m}")), true));
            }
            Err(e) => {
                tracing::warn!(folder = %processed, "cannot examine the processed folder: {e}");
                return self.mark_inner(msg).await;
            }
        }
        let conn = self.conn.as_mut().expect("connected");
        let query = format!("HEADER Message-ID {}", protocol::quote(&mid));
        let r = protocol::timed(
            t,
            protocol::uid_search(&mut conn.session, &mut conn.counter, &query),
        )
        .await;
        let found = self.check("UID SEARCH (processed folder)", r)?;
        let mut copies = Vec::new();
        if !found.is_empty() {
            let conn = self.conn.as_mut().expect("connected");
            let r = protocol::timed(
                t,
                protocol::uid_fetch(
                    &mut conn.session,
                    &mut conn.counter,
                    &uid_set(&found),
                    "(UID INTERNALDATE RFC822.SIZE)",
                    |it| copies.push((it.size, it.internal_date.map(|d| d.with_timezone(&Utc)))),
                ),
            )
            .await;
            self.check("UID FETCH (processed folder)", r)?;
        }
        // Back to the watched folder, where the original is.
        let before = self.conn.as_ref().expect("connected").uidvalidity;
        self.ready().await?;
        if self.conn.as_ref().map(|c| c.uidvalidity) != Some(before) {
            return Err(self.fail(
                SourceError::Connection(
                    "UIDVALIDITY changed while checking the processed folder".into(),
                ),
                true,
            ));
        }
        let size = u32::try_from(msg.bytes.len()).ok();
        let same = copies
            .iter()
            .any(|(s, d)| *s == size && *d == Some(msg.received_at));
        if !same {
            return self.mark_inner(msg).await;
        }
        tracing::info!(key = %msg.source_key, "already filed by an interrupted move: removing the original only");
        self.remove_original(&msg.handle).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_bounded_by_bytes_and_count() {
        const MB: u64 = 1 << 20;
        assert_eq!(plan_batch(&[], 64 * MB, 50), 0);
        // 39 MB messages with a 64 MiB budget: one at a time.
        assert_eq!(plan_batch(&[39 * MB; 50], 64 * MB, 50), 1);
        // Small ones fill the budget up to the count bound.
        assert_eq!(plan_batch(&[MB; 100], 64 * MB, 50), 50);
        assert_eq!(plan_batch(&[MB; 100], 10 * MB, 50), 10);
        // Exactly at the budget still fits; one byte more does not.
        assert_eq!(plan_batch(&[5, 5, 1], 10, 50), 2);
        assert_eq!(plan_batch(&[5, 6], 10, 50), 1);
        // A message larger than the budget comes alone, also after smaller ones.
        assert_eq!(plan_batch(&[100 * MB, MB], 64 * MB, 50), 1);
        assert_eq!(plan_batch(&[MB, 100 * MB], 64 * MB, 50), 1);
        assert_eq!(plan_batch(&[7], 1, 0), 0, "max 0 takes nothing");
        // An unknown size (u64::MAX) is fetched alone.
        assert_eq!(plan_batch(&[u64::MAX, 1], 64 * MB, 50), 1);
        assert_eq!(plan_batch(&[1, u64::MAX], 64 * MB, 50), 1);
    }
}
