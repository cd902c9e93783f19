//! Maildir as a mail source: the embedded default, used by the demo and by tests that need
//! no server. Messages in `new/` and `cur/` are pending; processing moves them into the
//! Maildir++ subfolder named by `processed_folder` (e.g. `.Behandlat/cur/`). The time of
//! record is the file's modification time, which delivery agents set to the delivery time.
//! A fetch reads at most `batch_bytes` of message files (file sizes first; a single larger
//! file comes alone), like the IMAP source.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::ports::{Fetched, HEADER_FETCH_BYTES, MailSource, SourceError, Wait, WholeFile};

#[derive(Debug, Clone)]
pub struct MaildirSource {
    root: PathBuf,
    processed: PathBuf,
    quarantine: PathBuf,
    poll: Duration,
    batch_bytes: u64,
    max_message_bytes: u64,
    more: bool,
}

/// A Maildir++ subfolder of `root`: a directory whose name starts with a dot.
fn subfolder(root: &Path, folder: &str) -> PathBuf {
    let name = folder.trim_start_matches('.').replace('/', ".");
    root.join(format!(".{name}"))
}

impl MaildirSource {
    pub fn new(root: impl Into<PathBuf>, processed_folder: &str, poll: Duration) -> MaildirSource {
        let root = root.into();
        let processed = subfolder(&root, processed_folder);
        let quarantine = subfolder(&root, "Karantan");
        MaildirSource {
            root,
            processed,
            quarantine,
            poll,
            batch_bytes: crate::adapters::imap::DEFAULT_BATCH_BYTES,
            max_message_bytes: u64::MAX,
            more: false,
        }
    }

    /// Use this subfolder for quarantined (poison) mail instead of `.Karantan`.
    pub fn with_quarantine(mut self, folder: &str) -> MaildirSource {
        self.quarantine = subfolder(&self.root, folder);
        self
    }

    /// Read only the header of a message file larger than `bytes` (see
    /// [`Fetched::only_header_of`]); default: every file whole.
    pub fn with_max_message_bytes(mut self, bytes: u64) -> MaildirSource {
        self.max_message_bytes = bytes.max(1);
        self
    }

    /// Where quarantined mail goes (`cur/` of the quarantine subfolder).
    pub fn quarantine_dir(&self) -> PathBuf {
        self.quarantine.join("cur")
    }

    /// Bound the bytes one fetch reads (default 64 MiB).
    pub fn with_batch_bytes(mut self, bytes: u64) -> MaildirSource {
        self.batch_bytes = bytes.max(1);
        self
    }

    /// Create `cur/ new/ tmp/` (and the processed folder's) if missing.
    pub fn create_dirs(&self) -> std::io::Result<()> {
        for base in [&self.root, &self.processed, &self.quarantine] {
            for sub in ["cur", "new", "tmp"] {
                std::fs::create_dir_all(base.join(sub))?;
            }
        }
        Ok(())
    }

    /// Deliver bytes into `new/` the way an MDA does (tmp, then rename). For the demo/tests.
    pub fn deliver(
        &self,
        name: &str,
        bytes: &[u8],
        mtime: Option<DateTime<Utc>>,
    ) -> std::io::Result<PathBuf> {
        self.create_dirs()?;
        let tmp = self.root.join("tmp").join(name);
        std::fs::write(&tmp, bytes)?;
        if let Some(t) = mtime {
            let f = std::fs::File::options().write(true).open(&tmp)?;
            f.set_modified(std::time::SystemTime::from(t))?;
        }
        let dst = self.root.join("new").join(name);
        std::fs::rename(&tmp, &dst)?;
        Ok(dst)
    }

    /// Every pending message (tests and tools).
    pub async fn fetch_all(&mut self) -> Vec<Fetched> {
        self.fetch(usize::MAX).await.unwrap_or_default()
    }

    pub fn processed_dir(&self) -> PathBuf {
        self.processed.join("cur")
    }

    fn pending(&self) -> std::io::Result<Vec<(std::time::SystemTime, PathBuf, u64)>> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let dir = self.root.join(sub);
            let rd = match std::fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for e in rd {
                let e = e?;
                let name = e.file_name();
                if name.to_string_lossy().starts_with('.') {
                    continue;
                }
                let md = e.metadata()?;
                if md.is_file() {
                    out.push((md.modified()?, e.path(), md.len()));
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// The unique part of a Maildir file name (before the ":2," info suffix).
fn unique_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.split(':').next().unwrap_or(&name).to_string()
}

/// The header block of a message file, read from its first [`HEADER_FETCH_BYTES`] only.
pub fn read_header(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::new();
    std::fs::File::open(path)?
        .take(HEADER_FETCH_BYTES)
        .read_to_end(&mut head)?;
    let end = crate::mail::identity::header_block(&head).len();
    head.truncate(end);
    Ok(head)
}

fn io(e: std::io::Error) -> SourceError {
    SourceError::Other(e.to_string())
}

impl MailSource for MaildirSource {
    async fn fetch(&mut self, max: usize) -> Result<Vec<Fetched>, SourceError> {
        if !self.root.is_dir() {
            return Err(SourceError::Connection(format!(
                "Maildir {} does not exist",
                self.root.display()
            )));
        }
        let pending = self.pending().map_err(io)?;
        let sizes: Vec<u64> = pending
            .iter()
            .map(|(_, _, len)| Fetched::planned_size(*len, self.max_message_bytes))
            .collect();
        let n = crate::adapters::imap::plan_batch(&sizes, self.batch_bytes, max);
        self.more = pending.len() > n;
        let mut out = Vec::with_capacity(n);
        for (mtime, path, len) in pending.into_iter().take(n) {
            let only_header_of = Fetched::header_only(len, self.max_message_bytes).then_some(len);
            let read = match only_header_of {
                None => std::fs::read(&path),
                Some(_) => read_header(&path),
            };
            let bytes = match read {
                Ok(b) => b,
                // Moved away between listing and reading: someone else has it.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(e)),
            };
            out.push(Fetched {
                source_key: format!("maildir:{}", unique_name(&path)),
                bytes,
                received_at: DateTime::<Utc>::from(mtime),
                whole_file: only_header_of.map(|_| WholeFile {
                    path: path.clone(),
                    temporary: false,
                }),
                handle: path.display().to_string(),
                only_header_of,
            });
        }
        Ok(out)
    }

    fn more_pending(&self) -> bool {
        self.more
    }

    async fn mark_processed(&mut self, msg: &Fetched) -> Result<(), SourceError> {
        move_to(msg, &self.processed)
    }

    async fn quarantine(&mut self, msg: &Fetched) -> Result<(), SourceError> {
        move_to(msg, &self.quarantine)
    }

    async fn wait(
        &mut self,
        max: Duration,
        shutdown: &CancellationToken,
    ) -> Result<Wait, SourceError> {
        let d = max.min(self.poll);
        tokio::select! {
            _ = shutdown.cancelled() => Ok(Wait::Shutdown),
            _ = tokio::time::sleep(d) => Ok(Wait::Timeout),
        }
    }

    fn describe(&self) -> String {
        format!("maildir:{}", self.root.display())
    }
}

/// Move a message into `folder/cur` (a rename: atomic, and idempotent when it is gone).
fn move_to(msg: &Fetched, folder: &Path) -> Result<(), SourceError> {
    {
        let src = PathBuf::from(&msg.handle);
        let dst_dir = folder.join("cur");
        std::fs::create_dir_all(&dst_dir).map_err(io)?;
        let name = src
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let base = name.split(':').next().unwrap_or(&name).to_string();
        let dst = dst_dir.join(format!("{base}:2,S"));
        match std::fs::rename(&src, &dst) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && dst.exists() => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fetch_uses_delivery_time_and_moves_after_processing() {
        let d = tempfile::tempdir().unwrap();
        let mut m = MaildirSource::new(d.path(), ".Behandlat", Duration::from_secs(1));
        let t1: DateTime<Utc> = "2026-02-15T22:59:30Z".parse().unwrap();
        let t0: DateTime<Utc> = "2026-02-14T08:00:00Z".parse().unwrap();
        m.deliver("b.eml", b"Subject: b\r\n\r\nb", Some(t1))
            .unwrap();
        m.deliver("a.eml", b"Subject: a\r\n\r\na", Some(t0))
            .unwrap();
        let got = m.fetch(10).await.unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].source_key, "maildir:a.eml", "oldest first");
        assert_eq!(got[0].received_at, t0);
        assert_eq!(got[1].received_at, t1);
        m.mark_processed(&got[0]).await.unwrap();
        // idempotent
        m.mark_processed(&got[0]).await.unwrap();
        let left = m.fetch(10).await.unwrap();
        assert_eq!(left.len(), 1);
        assert!(m.processed_dir().join("a.eml:2,S").exists());
    }

    #[tokio::test]
    async fn quarantine_moves_to_its_own_folder() {
        let d = tempfile::tempdir().unwrap();
        let mut m = MaildirSource::new(d.path(), ".Behandlat", Duration::from_secs(1))
            .with_quarantine("Karantan");
        m.deliver("p.eml", b"Subject: p\r\n\r\np", None).unwrap();
        let got = m.fetch(10).await.unwrap();
        m.quarantine(&got[0]).await.unwrap();
        m.quarantine(&got[0]).await.unwrap();
        assert!(m.fetch(10).await.unwrap().is_empty());
        assert!(m.quarantine_dir().join("p.eml:2,S").exists());
        assert!(d.path().join(".Karantan/cur/p.eml:2,S").exists());
        assert_eq!(
            std::fs::read_dir(m.processed_dir())
                .map(|r| r.count())
                .unwrap_or(0),
            0
        );
    }

    #[tokio::test]
    async fn a_file_over_the_limit_is_read_by_its_header_only() {
        let d = tempfile::tempdir().unwrap();
        let mut m = MaildirSource::new(d.path(), ".Behandlat", Duration::from_secs(1))
            .with_batch_bytes(3 * HEADER_FETCH_BYTES)
            .with_max_message_bytes(1000);
        let mut big = b"Subject: big\r\nFrom: a@vc.test\r\n\r\n".to_vec();
        big.resize(5 * HEADER_FETCH_BYTES as usize, b'x');
        m.deliver("a-big.eml", &big, None).unwrap();
        m.deliver("b-small.eml", b"Subject: small\r\n\r\nhej", None)
            .unwrap();
        // A header without its end: no more than HEADER_FETCH_BYTES are read.
        m.deliver(
            "c-endless.eml",
            &vec![b'X'; 2 * HEADER_FETCH_BYTES as usize],
            None,
        )
        .unwrap();
        let mut got = m.fetch(10).await.unwrap();
        got.sort_by(|a, b| a.source_key.cmp(&b.source_key));
        assert_eq!(
            got.len(),
            3,
            "a 5 MiB file counts as its header in the batch"
        );
        assert_eq!(got[0].bytes, b"Subject: big\r\nFrom: a@vc.test\r\n");
        assert_eq!(got[0].only_header_of, Some(big.len() as u64));
        let whole = got[0]
            .whole_file
            .as_ref()
            .expect("the file itself, for the archive");
        assert_eq!(std::fs::read(&whole.path).unwrap(), big);
        assert!(
            !whole.temporary,
            "the Maildir file is never removed by the archive"
        );
        assert_eq!(got[1].bytes, b"Subject: small\r\n\r\nhej");
        assert_eq!(got[1].only_header_of, None);
        assert_eq!(got[1].whole_file, None);
        assert_eq!(got[2].bytes.len() as u64, HEADER_FETCH_BYTES);
        assert_eq!(got[2].only_header_of, Some(2 * HEADER_FETCH_BYTES));
    }

    #[tokio::test]
    async fn fetch_is_bounded_by_bytes() {
        let d = tempfile::tempdir().unwrap();
        let mut m = MaildirSource::new(d.path(), ".Behandlat", Duration::from_secs(1))
            .with_batch_bytes(250);
        let t0: DateTime<Utc> = "2026-02-14T08:00:00Z".parse().unwrap();
        for (i, len) in [100usize, 100, 100, 400, 10].iter().enumerate() {
            let t = t0 + chrono::Duration::minutes(i as i64);
            m.deliver(&format!("m{i}.eml"), &vec![b'x'; *len], Some(t))
                .unwrap();
        }
        let sizes = |v: &[Fetched]| v.iter().map(|f| f.bytes.len()).collect::<Vec<_>>();
        let got = m.fetch(50).await.unwrap();
        assert_eq!(sizes(&got), [100, 100], "two fit in 250 bytes");
        assert!(m.more_pending());
        for f in &got {
            m.mark_processed(f).await.unwrap();
        }
        let got = m.fetch(50).await.unwrap();
        assert_eq!(sizes(&got), [100]);
        m.mark_processed(&got[0]).await.unwrap();
        let got = m.fetch(50).await.unwrap();
        assert_eq!(sizes(&got), [400], "larger than the budget: alone");
        assert!(m.more_pending());
        m.mark_processed(&got[0]).await.unwrap();
        let got = m.fetch(50).await.unwrap();
        assert_eq!(sizes(&got), [10]);
        assert!(!m.more_pending(), "drained");
        // The count bound still holds.
        let mut m = m.with_batch_bytes(1 << 20);
        for i in 0..3 {
            m.deliver(&format!("n{i}.eml"), b"y", None).unwrap();
        }
        assert_eq!(m.fetch(2).await.unwrap().len(), 2);
        assert!(m.more_pending());
    }
}
