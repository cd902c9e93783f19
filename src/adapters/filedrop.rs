//! A directory as a [`FileDrop`]: each file is written to a hidden temporary file in the same
//! directory, flushed to disk, and renamed into place, then the directory is synced; a crash
//! leaves at most a `.*.tmp` file, never a partial payout file. A file that is already there
//! with the same bytes is left alone; with other bytes it is refused.

use std::io::Write;
use std::path::PathBuf;

use crate::ports::FileDrop;

#[derive(Debug, Clone)]
pub struct DirDrop {
    pub dir: PathBuf,
}

impl FileDrop for DirDrop {
    fn put(&self, name: &str, bytes: &[u8]) -> std::io::Result<bool> {
        if name.contains('/') || name.starts_with('.') || name.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("bad file name {name:?}"),
            ));
        }
        std::fs::create_dir_all(&self.dir)?;
        let target = self.dir.join(name);
        match std::fs::read(&target) {
            Ok(existing) if existing == bytes => return Ok(false),
            Ok(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    format!(
                        "{} exists with other content; not replaced",
                        target.display()
                    ),
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let tmp = self.dir.join(format!(".{name}.{}.tmp", std::process::id()));
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &target)?;
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(true)
    }

    fn describe(&self) -> String {
        self.dir.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_once_keeps_identical_and_refuses_different() {
        let d = tempfile::tempdir().unwrap();
        let drop = DirDrop {
            dir: d.path().join("ut"),
        };
        assert!(drop.put("a.csv", b"x;y\r\n").unwrap());
        assert!(!drop.put("a.csv", b"x;y\r\n").unwrap());
        assert!(drop.put("a.csv", b"other").is_err());
        assert_eq!(
            std::fs::read(d.path().join("ut/a.csv")).unwrap(),
            b"x;y\r\n"
        );
        let names: Vec<_> = std::fs::read_dir(d.path().join("ut"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
        assert!(drop.put("../x", b"").is_err());
    }
}
