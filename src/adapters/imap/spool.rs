//! The whole of an oversize message, copied piece by piece into a spool file for the
//! archive (see [`crate::ports::Fetched::whole_file`]): `BODY.PEEK[]<offset.length>` in pieces
//! of [`SPOOL_PIECE`], one piece in memory at a time.

use std::io::Write;
use std::path::Path;

use tracing::warn;

use super::{ImapSource, protocol};
use crate::ports::{SourceError, WholeFile};

/// How much of an oversize message one spool command asks for.
pub const SPOOL_PIECE: u64 = 8 * 1024 * 1024;

/// Spool files older than this are left from a process that died: removed.
const STALE_SPOOL: std::time::Duration = std::time::Duration::from_secs(3600);

fn remove_stale(dir: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)?.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age > STALE_SPOOL);
        if old && e.file_name().to_string_lossy().ends_with(".part") {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(())
}

impl ImapSource {
    /// The whole message `uid` (of about `size` bytes) into a new file under `dir`, fetched
    /// in pieces of [`SPOOL_PIECE`] (`BODY.PEEK[]<offset.length>`), one piece in memory at a
    /// time. A file that cannot be written, a message gone from the server, or a server that
    /// sends far more than it said leave `None` (only the header is archived then); a failed
    /// command is the connection's error, as for any fetch.
    pub(super) async fn spool(
        &mut self,
        uid: u32,
        size: u64,
        dir: &Path,
    ) -> Result<Option<WholeFile>, SourceError> {
        let t = self.cfg.command_timeout;
        let uidvalidity = self.conn.as_ref().expect("connected").uidvalidity;
        let path = dir.join(format!(
            "imap-{uidvalidity}-{uid}-{}.part",
            std::process::id()
        ));
        let created = std::fs::create_dir_all(dir)
            .and_then(|()| remove_stale(dir))
            .and_then(|()| std::fs::File::create(&path));
        let outcome: Result<(), String> = match created {
            Err(e) => Err(e.to_string()),
            Ok(mut file) => {
                let mut offset: u64 = 0;
                loop {
                    let conn = self.conn.as_mut().expect("connected");
                    let mut piece: Option<Vec<u8>> = None;
                    let items = format!("(UID BODY.PEEK[]<{offset}.{SPOOL_PIECE}>)");
                    let r = protocol::timed(
                        t,
                        protocol::uid_fetch(
                            &mut conn.session,
                            &mut conn.counter,
                            &uid.to_string(),
                            &items,
                            |it| {
                                if it.uid == Some(uid) && it.body.is_some() {
                                    piece = it.body;
                                }
                            },
                        ),
                    )
                    .await;
                    if let Err(e) = self.check("UID FETCH (spool)", r) {
                        let _ = std::fs::remove_file(&path);
                        return Err(e);
                    }
                    let piece = match piece {
                        Some(p) => p,
                        // NIL past the end (a size of whole pieces): done.
                        None if offset > 0 => break file.sync_all().map_err(|e| e.to_string()),
                        None => break Err("the message is gone from the server".into()),
                    };
                    if let Err(e) = file.write_all(&piece) {
                        break Err(e.to_string());
                    }
                    offset += piece.len() as u64;
                    if (piece.len() as u64) < SPOOL_PIECE {
                        break file.sync_all().map_err(|e| e.to_string());
                    }
                    if offset > size.saturating_mul(2).saturating_add(SPOOL_PIECE) {
                        break Err(format!("the server sent more than twice its {size} bytes"));
                    }
                }
            }
        };
        match outcome {
            Ok(()) => Ok(Some(WholeFile {
                path,
                temporary: true,
            })),
            Err(why) => {
                warn!(
                    uid,
                    "cannot copy a large message whole ({}): {why}; only its header is archived",
                    path.display()
                );
                let _ = std::fs::remove_file(&path);
                Ok(None)
            }
        }
    }
}
