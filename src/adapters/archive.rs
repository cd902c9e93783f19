//! The raw-message archive: every message is written here, content-addressed by SHA-256,
//! before anything else happens to it. Writes are atomic (temp file, fsync, rename), and
//! writing the same bytes twice is a no-op, so a crash at any point leaves either nothing or
//! the complete message.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub struct Archive {
    dir: PathBuf,
}

impl Archive {
    pub fn new(dir: impl Into<PathBuf>) -> Archive {
        Archive { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where a message with this hash lives.
    pub fn path_of(&self, sha256: &str) -> PathBuf {
        self.dir.join(&sha256[..2]).join(format!("{sha256}.eml"))
    }

    /// Store the bytes; returns the SHA-256 (hex) and the path.
    pub fn put(&self, bytes: &[u8]) -> std::io::Result<(String, PathBuf)> {
        let sha = sha256_hex(bytes);
        let path = self.path_of(&sha);
        if path.exists() {
            return Ok((sha, path));
        }
        let parent = path.parent().expect("archive path has a parent");
        std::fs::create_dir_all(parent)?;
        let tmp = parent.join(format!(".{sha}.{}.tmp", std::process::id()));
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(parent)?.sync_all()?;
        Ok((sha, path))
    }

    /// Store a file's bytes, read in pieces (hashed first, so a message already archived
    /// costs no write); returns what [`Archive::put`] would for the same bytes. `move_in`: the
    /// file is the caller's to give away (a spool file): it is renamed into place instead of
    /// copied, and removed when the archive has the bytes already.
    pub fn put_file(&self, src: &Path, move_in: bool) -> std::io::Result<(String, PathBuf)> {
        let sha = hash_file(src, None)?;
        let path = self.path_of(&sha);
        let parent = path.parent().expect("archive path has a parent");
        if path.exists() {
            if move_in {
                std::fs::remove_file(src)?;
            }
            return Ok((sha, path));
        }
        std::fs::create_dir_all(parent)?;
        // A spool file under the archive directory moves in; elsewhere (another file system)
        // or for a file that is not ours, the bytes are copied and checked against the hash.
        if !(move_in && std::fs::rename(src, &path).is_ok()) {
            static SEQ: AtomicU64 = AtomicU64::new(0);
            let n = SEQ.fetch_add(1, Ordering::Relaxed);
            let tmp = parent.join(format!(".copy.{}.{n}.tmp", std::process::id()));
            match hash_file(src, Some(&tmp)) {
                Ok(again) if again == sha => {}
                other => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(other.err().unwrap_or_else(|| {
                        std::io::Error::other(format!("{} changed while archived", src.display()))
                    }));
                }
            }
            std::fs::rename(&tmp, &path)?;
            if move_in {
                std::fs::remove_file(src)?;
            }
        }
        std::fs::File::open(parent)?.sync_all()?;
        Ok((sha, path))
    }

    pub fn get(&self, sha256: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.path_of(sha256))
    }
}

/// The SHA-256 (hex) of a file, read in 256 KiB pieces; with `copy_to`, the pieces are also
/// written there (and synced).
fn hash_file(src: &Path, copy_to: Option<&Path>) -> std::io::Result<String> {
    let mut from = std::fs::File::open(src)?;
    let mut to = copy_to.map(std::fs::File::create).transpose()?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let got = from.read(&mut buf)?;
        if got == 0 {
            break;
        }
        hash.update(&buf[..got]);
        if let Some(to) = to.as_mut() {
            to.write_all(&buf[..got])?;
        }
    }
    if let Some(to) = to {
        to.sync_all()?;
    }
    Ok(hex::encode(hash.finalize()))
}

impl crate::ports::RawArchive for Archive {
    fn put(&self, bytes: &[u8]) -> std::io::Result<(String, String)> {
        Archive::put(self, bytes).map(|(sha, p)| (sha, p.display().to_string()))
    }
    fn put_file(&self, path: &Path, move_in: bool) -> std::io::Result<(String, String)> {
        Archive::put_file(self, path, move_in).map(|(sha, p)| (sha, p.display().to_string()))
    }
    fn get(&self, sha256: &str) -> std::io::Result<Vec<u8>> {
        Archive::get(self, sha256)
    }
    fn get_prefix(&self, sha256: &str, max: u64) -> std::io::Result<(Vec<u8>, u64)> {
        use std::io::Read;
        let f = std::fs::File::open(self.path_of(sha256))?;
        let len = f.metadata()?.len();
        let mut head = Vec::new();
        f.take(max).read_to_end(&mut head)?;
        Ok((head, len))
    }
}

pub use crate::util::sha256_hex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_is_content_addressed_and_idempotent() {
        let d = tempfile::tempdir().unwrap();
        let a = Archive::new(d.path());
        let (h1, p1) = a.put(b"Subject: x\r\n\r\nhej").unwrap();
        let (h2, p2) = a.put(b"Subject: x\r\n\r\nhej").unwrap();
        assert_eq!((h1.clone(), p1.clone()), (h2, p2));
        assert_eq!(a.get(&h1).unwrap(), b"Subject: x\r\n\r\nhej");
        assert_eq!(h1.len(), 64);
        let (h3, _) = a.put(b"other").unwrap();
        assert_ne!(h1, h3);
    }

    #[test]
    fn put_file_copies_in_pieces_to_the_same_place_as_put() {
        let d = tempfile::tempdir().unwrap();
        let a = Archive::new(d.path().join("archive"));
        let bytes: Vec<u8> = (0..3_000_001u32).map(|i| (i % 251) as u8).collect();
        let src = d.path().join("big.eml");
        std::fs::write(&src, &bytes).unwrap();
        let (h1, p1) = a.put_file(&src, false).unwrap();
        assert_eq!(h1, sha256_hex(&bytes));
        assert_eq!(std::fs::read(&p1).unwrap(), bytes);
        // Again, and through put: the same place, nothing new, no temp file left.
        assert_eq!(a.put_file(&src, false).unwrap(), (h1.clone(), p1.clone()));
        assert_eq!(a.put(&bytes).unwrap(), (h1, p1));
        let left: Vec<_> = std::fs::read_dir(a.dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        assert!(std::fs::read(&src).is_ok(), "the source file is left alone");
        assert!(a.put_file(&d.path().join("missing"), false).is_err());
        use crate::ports::RawArchive;
        let (head, len) = a.get_prefix(&sha256_hex(&bytes), 1000).unwrap();
        assert_eq!((head.as_slice(), len), (&bytes[..1000], bytes.len() as u64));
    }

    #[test]
    fn put_file_moves_a_spool_file_in_without_copying() {
        let d = tempfile::tempdir().unwrap();
        let a = Archive::new(d.path().join("archive"));
        std::fs::create_dir_all(a.dir().join(".spool")).unwrap();
        let spool = a.dir().join(".spool/m.part");
        std::fs::write(&spool, b"Subject: stor\r\n\r\nhej").unwrap();
        let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&spool).unwrap());
        let (sha, path) = a.put_file(&spool, true).unwrap();
        assert_eq!(sha, sha256_hex(b"Subject: stor\r\n\r\nhej"));
        assert!(!spool.exists(), "moved, not copied");
        let moved = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap());
        assert_eq!(moved, ino, "the same file, renamed");
        // The same bytes spooled again: the archive has them, the spool file goes.
        std::fs::write(&spool, b"Subject: stor\r\n\r\nhej").unwrap();
        assert_eq!(a.put_file(&spool, true).unwrap(), (sha, path));
        assert!(!spool.exists());
    }
}
