//! A bounded zip reader for DOCX and ODT: the zip-bomb defence.
//!
//! Owns every decompression from a zip container. Rules (zip 8 trusts the archive, so we check):
//! - the entry count (from the end-of-central-directory record, read *before* the zip crate
//!   builds its index) must not exceed [`Limits::max_zip_entries`];
//! - a needed entry's *declared* size must fit in what is left of
//!   [`Limits::max_decompressed_bytes`], and entries over 1 MiB must not declare a compression
//!   ratio above [`Limits::max_zip_ratio`];
//! - every read goes through `.take(limit + 1)` and fails with [`ExtractError::TooLarge`] when
//!   more bytes arrive than declared or than the budget allows (zip 8 does not enforce the
//!   declared size: a lying header inflates without error);
//! - only the entries a reader asks for are decompressed, and a part read with
//!   [`SafeZip::stream`] only as far as its reader asks ([`PartStream`]).

use super::{ExtractError, Limits};
use std::io::{Cursor, Read};
use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

mod stream;
pub use stream::PartStream;

/// Entries at or below this declared size skip the ratio check (small XML compresses well).
const RATIO_CHECK_FLOOR: u64 = 1024 * 1024;

/// A zip archive opened under [`Limits`], with a running decompression budget.
pub struct SafeZip<'a> {
    bytes: &'a [u8],
    archive: ZipArchive<Cursor<&'a [u8]>>,
    remaining: u64,
    max_ratio: u64,
}

impl std::fmt::Debug for SafeZip<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafeZip")
            .field("entries", &self.archive.len())
            .field("remaining", &self.remaining)
            .finish()
    }
}

impl<'a> SafeZip<'a> {
    /// Open an archive; checks the entry count before indexing it.
    pub fn open(bytes: &'a [u8], limits: &Limits) -> Result<Self, ExtractError> {
        if let Some(n) = eocd_entry_count(bytes)
            && n > limits.max_zip_entries as u64
        {
            return Err(ExtractError::TooLarge(format!(
                "zip has {n} entries, limit {}",
                limits.max_zip_entries
            )));
        }
        let archive = ZipArchive::new(Cursor::new(bytes)).map_err(map_zip_err)?;
        if archive.len() > limits.max_zip_entries {
            return Err(ExtractError::TooLarge(format!(
                "zip has {} entries, limit {}",
                archive.len(),
                limits.max_zip_entries
            )));
        }
        Ok(SafeZip {
            bytes,
            archive,
            remaining: limits.max_decompressed_bytes,
            max_ratio: limits.max_zip_ratio.max(1),
        })
    }

    /// Entry names (from the central directory; nothing is decompressed).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.archive.file_names()
    }

    /// Whether an entry exists.
    pub fn has(&self, name: &str) -> bool {
        self.archive.index_for_name(name).is_some()
    }

    /// Decompress one entry under the limits; `Ok(None)` when it does not exist.
    pub fn read(&mut self, name: &str) -> Result<Option<Vec<u8>>, ExtractError> {
        self.read_at_most(name, u64::MAX)
    }

    /// Like [`SafeZip::read`], with an extra per-entry cap (e.g. 256 bytes for `mimetype`).
    pub fn read_at_most(&mut self, name: &str, cap: u64) -> Result<Option<Vec<u8>>, ExtractError> {
        let entry = match self.archive.by_name(name) {
            Ok(e) => e,
            Err(ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(map_zip_err(e)),
        };
        if entry.encrypted() {
            return Err(ExtractError::Encrypted);
        }
        let declared = entry.size();
        admit(
            name,
            declared,
            entry.compressed_size(),
            cap,
            self.remaining,
            self.max_ratio,
        )?;
        let limit = declared.min(self.remaining).min(cap);
        let buf = read_to_end_zeroed(entry.take(limit + 1), limit.min(16 * 1024 * 1024) + 1)
            .map_err(|e| ExtractError::Corrupt(format!("zip entry {name}: {e}")))?;
        if buf.len() as u64 > limit {
            return Err(ExtractError::TooLarge(format!(
                "zip entry {name} inflates beyond its declared {declared} bytes or the budget"
            )));
        }
        self.remaining -= buf.len() as u64;
        Ok(Some(buf))
    }

    /// One entry, to be inflated only as far as its reader asks: the same checks as
    /// [`SafeZip::read`] up front, and the entry's declared size is charged to the budget at
    /// once. An entry that is neither stored nor deflated is read whole with
    /// [`SafeZip::read`] (and its errors). What goes wrong while inflating (a broken
    /// stream, more bytes than declared) ends the part where it happens, and the checksum is
    /// not compared: a part read this way is best effort.
    pub fn stream(&mut self, name: &str) -> Result<Option<PartStream>, ExtractError> {
        let Some(index) = self.archive.index_for_name(name) else {
            return Ok(None);
        };
        let entry = self.archive.by_index_raw(index).map_err(map_zip_err)?;
        if entry.encrypted() {
            return Err(ExtractError::Encrypted);
        }
        let (declared, compressed) = (entry.size(), entry.compressed_size());
        let (method, start) = (entry.compression(), entry.data_start());
        drop(entry);
        let deflated = match method {
            CompressionMethod::Stored => false,
            CompressionMethod::Deflated => true,
            _ => return Ok(self.read(name)?.map(PartStream::whole)),
        };
        admit(
            name,
            declared,
            compressed,
            u64::MAX,
            self.remaining,
            self.max_ratio,
        )?;
        let input = start
            .and_then(|s| {
                let s = usize::try_from(s).ok()?;
                self.bytes
                    .get(s..s.checked_add(usize::try_from(compressed).ok()?)?)
            })
            .ok_or_else(|| {
                ExtractError::Corrupt(format!("zip entry {name}: data out of bounds"))
            })?;
        self.remaining -= declared;
        Ok(Some(PartStream::new(input.to_vec(), deflated, declared)))
    }
}

/// The declared-size and ratio checks of an entry about to be read.
fn admit(
    name: &str,
    declared: u64,
    compressed: u64,
    cap: u64,
    remaining: u64,
    max_ratio: u64,
) -> Result<(), ExtractError> {
    if declared > remaining.min(cap) {
        return Err(ExtractError::TooLarge(format!(
            "zip entry {name} declares {declared} bytes, {remaining} left in the budget"
        )));
    }
    let ratio = declared / compressed.max(1);
    if declared > RATIO_CHECK_FLOOR && ratio > max_ratio {
        return Err(ExtractError::TooLarge(format!(
            "zip entry {name} declares compression ratio {ratio}, limit {max_ratio}"
        )));
    }
    Ok(())
}

/// `read_to_end` into a buffer allocated zeroed (`calloc`: for a large part, fresh pages the
/// kernel zeroes, where `read_to_end` would write zeros over its spare capacity before every
/// read, ≈ 0.45 M instructions for a 349 KB part). `first` is the first allocation; the
/// buffer grows by doubling past it.
fn read_to_end_zeroed(mut r: impl Read, first: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; first as usize];
    populate(&mut buf);
    let mut n = 0;
    loop {
        if n == buf.len() {
            buf.resize((2 * n).max(4096), 0);
        }
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(n);
    Ok(buf)
}

/// Ask the kernel to back a large buffer's pages at once (`MADV_POPULATE_WRITE`, Linux ≥ 5.14)
/// instead of one page fault per 4 KB as inflate writes into it: a 349 KB `word/styles.xml`
/// took 85 faults. Best effort: an older kernel refuses, and the pages fault in as before.
fn populate(buf: &mut [u8]) {
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        const MADV_POPULATE_WRITE: i32 = 23;
        unsafe extern "C" {
            fn madvise(addr: *mut u8, len: usize, advice: i32) -> i32;
        }
        if buf.len() < 16 * PAGE {
            return;
        }
        let start = buf.as_mut_ptr();
        let skip = start.align_offset(PAGE);
        let len = (buf.len() - skip) / PAGE * PAGE;
        // SAFETY: the range is whole pages inside `buf`, which this function borrows mutably;
        // populating writes nothing a Rust reader could see (the pages are zero before and
        // after), and the result is ignored: advice, not a requirement.
        unsafe {
            madvise(start.add(skip), len, MADV_POPULATE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buf;
}

fn map_zip_err(e: ZipError) -> ExtractError {
    match e {
        ZipError::UnsupportedArchive(m) if m == ZipError::PASSWORD_REQUIRED => {
            ExtractError::Encrypted
        }
        ZipError::InvalidPassword => ExtractError::Encrypted,
        ZipError::CompressionMethodNotSupported(m) => {
            ExtractError::Unsupported(format!("zip compression method {m}"))
        }
        ZipError::UnsupportedArchive(m) => ExtractError::Unsupported(format!("zip: {m}")),
        other => ExtractError::Corrupt(format!("zip: {other}")),
    }
}

/// The total entry count from the end-of-central-directory record, if one is found in the last
/// 64 KiB. A ZIP64 marker (0xFFFF) counts as "too many" for an office document.
fn eocd_entry_count(bytes: &[u8]) -> Option<u64> {
    let tail_start = bytes.len().saturating_sub(65_557);
    let tail = &bytes[tail_start..];
    let pos = tail.windows(4).rposition(|w| w == b"PK\x05\x06")?;
    let rec = tail.get(pos..pos + 22)?;
    let total = u16::from_le_bytes([rec[10], rec[11]]);
    if total == 0xFFFF {
        Some(u64::MAX)
    } else {
        Some(u64::from(total))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    #[test]
    fn zeroed_reads_return_exactly_the_bytes_whatever_the_first_allocation() {
        for (len, first) in [
            (0, 1),
            (10, 1),
            (4096, 4097),
            (349_458, 349_459),
            (300_000, 70_000),
            (70_000, 300_000),
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8 + 1).collect();
            let got = read_to_end_zeroed(&data[..], first).unwrap();
            assert_eq!(got, data, "{len} {first}");
        }
    }

    /// Build a zip in memory from (name, content) pairs.
    pub(crate) fn make_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn reads_small_entry_and_reports_missing() {
        let z = make_zip(&[("a.xml", b"<a/>")]);
        let mut sz = SafeZip::open(&z, &Limits::default()).unwrap();
        assert_eq!(sz.read("a.xml").unwrap().unwrap(), b"<a/>");
        assert!(sz.read("b.xml").unwrap().is_none());
        assert!(sz.has("a.xml"));
    }

    #[test]
    fn rejects_too_many_entries() {
        let names: Vec<String> = (0..20).map(|i| format!("f{i}")).collect();
        let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
        let z = make_zip(&entries);
        let limits = Limits {
            max_zip_entries: 10,
            ..Limits::default()
        };
        assert_eq!(SafeZip::open(&z, &limits).unwrap_err().kind(), "too_large");
    }

    #[test]
    fn rejects_high_ratio_and_budget() {
        let zeros = vec![0u8; 4 * 1024 * 1024];
        let z = make_zip(&[("big", &zeros)]);
        let mut sz = SafeZip::open(&z, &Limits::default()).unwrap();
        assert_eq!(sz.read("big").unwrap_err().kind(), "too_large");
        let limits = Limits {
            max_decompressed_bytes: 1000,
            max_zip_ratio: u64::MAX,
            ..Limits::default()
        };
        let mut sz = SafeZip::open(&z, &limits).unwrap();
        assert_eq!(sz.read("big").unwrap_err().kind(), "too_large");
    }

    #[test]
    fn lying_declared_size_is_caught_by_take() {
        // Build an entry of 200 KB, then patch both size fields to claim 100 bytes.
        let data = vec![b'a'; 200_000];
        let mut z = make_zip(&[("lie", &data)]);
        patch_sizes(&mut z, 100);
        let mut sz = SafeZip::open(&z, &Limits::default()).unwrap();
        assert_eq!(sz.read("lie").unwrap_err().kind(), "too_large");
    }

    /// Read a stream to its end in steps of `step` bytes.
    fn drain(mut p: PartStream, step: usize) -> Vec<u8> {
        let mut buf = Vec::new();
        while p.read_more(&mut buf, step) {}
        assert!(p.is_done());
        buf
    }

    #[test]
    fn streams_give_the_entry_in_any_steps_stored_or_deflated() {
        let text: Vec<u8> = (0..300_000u32)
            .flat_map(|i| format!("<w:style n=\"{}\"/>", i % 977).into_bytes())
            .collect();
        for method in [
            zip::CompressionMethod::Deflated,
            zip::CompressionMethod::Stored,
        ] {
            let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
            let opts = SimpleFileOptions::default().compression_method(method);
            for (name, data) in [("big", &text[..]), ("empty", &b""[..]), ("small", b"<a/>")] {
                w.start_file(name, opts).unwrap();
                w.write_all(data).unwrap();
            }
            let z = w.finish().unwrap().into_inner();
            for step in [1, 1000, 32 * 1024, 10_000_000] {
                let mut sz = SafeZip::open(&z, &Limits::default()).unwrap();
                for (name, data) in [("big", &text[..]), ("empty", &b""[..]), ("small", b"<a/>")] {
                    let got = drain(sz.stream(name).unwrap().unwrap(), step);
                    assert!(got == data, "{method:?} {name} {step}");
                }
                assert!(sz.stream("missing").unwrap().is_none());
            }
        }
    }

    #[test]
    fn a_stream_stops_where_it_is_asked_to() {
        let text = vec![b'x'; 1_000_000];
        let z = make_zip(&[("big", &text)]);
        let mut sz = SafeZip::open(&z, &Limits::default()).unwrap();
        let mut p = sz.stream("big").unwrap().unwrap();
        let mut buf = Vec::new();
        assert!(p.read_more(&mut buf, 32 * 1024));
        // At least what was asked, and not the whole entry.
        assert!(
            buf.len() >= 32 * 1024 && buf.len() < 200_000,
            "{}",
            buf.len()
        );
        assert!(!p.is_done());
    }

    #[test]
    fn streams_keep_the_checks_and_the_budget() {
        let zeros = vec![0u8; 4 * 1024 * 1024];
        let z = make_zip(&[("big", &zeros), ("a", b"<a/>")]);
        let mut sz = SafeZip::open(&z, &Limits::default()).unwrap();
        assert_eq!(sz.stream("big").err().unwrap().kind(), "too_large");
        let limits = Limits {
            max_decompressed_bytes: 4 * 1024 * 1024 + 3,
            max_zip_ratio: u64::MAX,
            ..Limits::default()
        };
        // The declared size is charged at once, read or not.
        let mut sz = SafeZip::open(&z, &limits).unwrap();
        assert!(sz.stream("big").unwrap().is_some());
        assert_eq!(sz.read("a").unwrap_err().kind(), "too_large");
    }

    #[test]
    fn a_lying_or_damaged_stream_ends_early_with_what_came_before() {
        let data: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 23) as u8).collect();
        let mut z = make_zip(&[("lie", &data)]);
        patch_sizes(&mut z, 100);
        let mut sz = SafeZip::open(&z, &Limits::default()).unwrap();
        assert_eq!(
            drain(sz.stream("lie").unwrap().unwrap(), 4096),
            &data[..100]
        );

        // Cut the compressed data short: the stream ends where the data does.
        let z = make_zip(&[("cut", &data)]);
        let mut sz = SafeZip::open(&z, &Limits::default()).unwrap();
        let mut p = sz.stream("cut").unwrap().unwrap();
        if let stream::Input::Deflated(d, _) = &mut p.input {
            d.truncate(d.len() / 2);
        }
        let got = drain(p, 4096);
        assert!(!got.is_empty() && got.len() < data.len());
        assert_eq!(got, &data[..got.len()]);

        // Damage in the middle: what is read is the entry's own beginning.
        let z = make_zip(&[("bad", &data)]);
        let mut sz = SafeZip::open(&z, &Limits::default()).unwrap();
        let mut p = sz.stream("bad").unwrap().unwrap();
        if let stream::Input::Deflated(d, _) = &mut p.input {
            let mid = d.len() / 2;
            d[mid..].fill(0xff);
        }
        let got = drain(p, 4096);
        assert!(got.len() < data.len());
        let ok = got.iter().zip(&data).take_while(|(a, b)| a == b).count();
        assert!(ok > 1000, "{ok}");
    }

    /// Overwrite the uncompressed size in every local and central header.
    pub(crate) fn patch_sizes(z: &mut [u8], size: u32) {
        let mut i = 0;
        while i + 4 <= z.len() {
            if &z[i..i + 4] == b"PK\x03\x04" {
                z[i + 22..i + 26].copy_from_slice(&size.to_le_bytes());
            } else if &z[i..i + 4] == b"PK\x01\x02" {
                z[i + 24..i + 28].copy_from_slice(&size.to_le_bytes());
            }
            i += 1;
        }
    }

    #[test]
    fn garbage_is_corrupt() {
        assert_eq!(
            SafeZip::open(b"PK\x03\x04garbage", &Limits::default())
                .unwrap_err()
                .kind(),
            "corrupt"
        );
    }
}
