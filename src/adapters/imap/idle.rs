//! Waiting for new mail: IDLE (RFC 2177) when the server offers it, otherwise a sleep of
//! `poll_interval`.

use std::time::Duration;

use async_imap::imap_proto;
use tokio_util::sync::CancellationToken;

use super::protocol::{self, Counter};
use super::{Connected, ImapSource};
use crate::ports::{SourceError, Wait};

/// What a response pushed during IDLE means for the watched folder.
enum IdleEvent {
    NewMail,
    /// Flag changes, RECENT, expunges: keep idling.
    Ignore,
}

fn idle_event(resp: &imap_proto::Response<'_>, exists: &mut u32) -> IdleEvent {
    use imap_proto::{MailboxDatum, Response};
    match resp {
        Response::MailboxData(MailboxDatum::Exists(n)) => {
            let grew = *n > *exists;
            *exists = *n;
            if grew {
                IdleEvent::NewMail
            } else {
                IdleEvent::Ignore
            }
        }
        Response::MailboxData(MailboxDatum::Recent(_)) | Response::Fetch(..) => IdleEvent::Ignore,
        Response::Expunge(_) => {
            *exists = exists.saturating_sub(1);
            IdleEvent::Ignore
        }
        Response::Vanished { uids, .. } => {
            let n: usize = uids.iter().map(|r| r.clone().count()).sum();
            *exists = exists.saturating_sub(u32::try_from(n).unwrap_or(u32::MAX));
            IdleEvent::Ignore
        }
        // BYE and anything unknown: end the IDLE; DONE then shows whether the session lives.
        _ => IdleEvent::NewMail,
    }
}

/// Empties the unsolicited-response channel (it silently drops responses once 100 are
/// queued) and keeps the message count; true when the count grew (new mail).
fn drain(session: &mut super::Session, exists: &mut u32) -> bool {
    use async_imap::types::UnsolicitedResponse;
    let mut new_mail = false;
    while let Ok(r) = session.unsolicited_responses.try_recv() {
        match r {
            UnsolicitedResponse::Exists(n) => {
                if n > *exists {
                    new_mail = true;
                }
                *exists = n;
            }
            UnsolicitedResponse::Expunge(_) => *exists = exists.saturating_sub(1),
            _ => {}
        }
    }
    new_mail
}

impl ImapSource {
    pub(super) async fn wait_inner(
        &mut self,
        max: Duration,
        shutdown: &CancellationToken,
    ) -> Result<Wait, SourceError> {
        if shutdown.is_cancelled() {
            return Ok(Wait::Shutdown);
        }
        let idle = self.conn.as_ref().map(|c| c.caps.idle).unwrap_or(false);
        if idle && !self.conn.as_ref().is_some_and(|c| c.selected) {
            // IDLE on no folder would hear nothing: select the watched folder first.
            self.ready().await?;
        }
        if !idle {
            let d = max.min(self.cfg.poll_interval);
            return Ok(tokio::select! {
                _ = tokio::time::sleep(d) => Wait::Timeout,
                _ = shutdown.cancelled() => Wait::Shutdown,
            });
        }
        let mut conn = self.conn.take().expect("connected");
        if std::mem::take(&mut conn.pending_new) {
            self.conn = Some(conn);
            return Ok(Wait::NewMail);
        }
        let t = self.cfg.command_timeout;
        let d = max.min(self.cfg.idle_refresh);
        let Connected {
            session,
            uidvalidity,
            caps,
            counter,
            names,
            ..
        } = conn;
        let mut exists = counter.exists;
        let mut handle = session.idle();
        if let Err(e) =
            protocol::timed(t, async { handle.init().await.map_err(protocol::plain) }).await
        {
            return Err(self.fail(SourceError::Connection(format!("IDLE: {e}")), true));
        }
        use async_imap::extensions::idle::IdleResponse;
        let deadline = tokio::time::Instant::now() + d;
        let result = loop {
            enum Out {
                Idle(Result<IdleResponse, async_imap::error::Error>),
                Timeout,
                Shutdown,
            }
            let out = {
                // The crate's own timeout restarts on every keepalive, so bound it here too.
                let (fut, _stop) = handle.wait_with_timeout(d);
                tokio::select! {
                    r = fut => Out::Idle(r),
                    _ = tokio::time::sleep_until(deadline) => Out::Timeout,
                    _ = shutdown.cancelled() => Out::Shutdown,
                }
                // `_stop` and the wait future drop here; the handle is free again.
            };
            match out {
                Out::Idle(Ok(IdleResponse::NewData(resp))) => {
                    match idle_event(resp.parsed(), &mut exists) {
                        IdleEvent::NewMail => break Wait::NewMail,
                        IdleEvent::Ignore => continue,
                    }
                }
                Out::Idle(Ok(IdleResponse::Timeout)) | Out::Timeout => break Wait::Timeout,
                // The stream ended without our stop: the server went away; DONE below tells.
                Out::Idle(Ok(IdleResponse::ManualInterrupt)) => break Wait::NewMail,
                Out::Idle(Err(e)) => {
                    let e = protocol::plain(e);
                    return Err(self.fail(SourceError::Connection(format!("IDLE: {e}")), true));
                }
                Out::Shutdown => break Wait::Shutdown,
            }
        };
        let done_timeout = if result == Wait::Shutdown {
            Duration::from_secs(2).min(t)
        } else {
            t
        };
        match protocol::timed(done_timeout, async {
            handle.done().await.map_err(protocol::plain)
        })
        .await
        {
            Ok(mut session) => {
                let new_mail = drain(&mut session, &mut exists);
                self.conn = Some(Connected {
                    session,
                    uidvalidity,
                    caps,
                    pending_new: false,
                    counter: Counter {
                        exists,
                        grew: false,
                    },
                    selected: true,
                    names,
                });
                if new_mail && result == Wait::Timeout {
                    return Ok(Wait::NewMail);
                }
                Ok(result)
            }
            Err(e) => {
                let e = self.fail(SourceError::Connection(format!("IDLE DONE: {e}")), true);
                if result == Wait::Shutdown {
                    Ok(Wait::Shutdown)
                } else {
                    Err(e)
                }
            }
        }
    }
}
