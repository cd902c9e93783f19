//! The raw-message archive: every message is written here, content-addressed by SHA-256,
//! before anything else happens to it. Writes are atomic (temp file, fsync, rename), and
//! writing the same bytes twice is a no-op, so a crash at any point leaves either nothing or
//! the complete message.

use std::io::Write;
use std::path::{Path, PathBuf};

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

    pub fn get(&self, sha256: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.path_of(sha256))
    }
}

impl crate::ports::RawArchive for Archive {
    fn put(&self, bytes: &[u8]) -> std::io::Result<(String, String)> {
        Archive::put(self, bytes).map(|(sha, p)| (sha, p.display().to_string()))
    }
    fn get(&self, sha256: &str) -> std::io::Result<Vec<u8>> {
        Archive::get(self, sha256)
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
}
