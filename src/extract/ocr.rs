//! OCR for scans: an image-only PDF, or a JPEG/PNG photo of pages, read with Tesseract.
//!
//! Owns the subprocesses and their bounds. Page images come from Poppler's `pdftoppm` (one
//! grey-scale PGM per page at [`OcrLimits::dpi`], written to a pipe; chosen over pulling the
//! embedded image streams out with lopdf because scanners write JBIG2, CCITT, JPEG 2000 and
//! multi-image pages that we would have to decode ourselves). Each page is a pipeline
//! `pdftoppm -f N -l N scan.pdf | tesseract - stdout -l swe`; the scan is written once to a
//! private scratch folder (mode 0700, removed afterwards). Every process gets an address-space limit ([`OcrLimits::max_memory_bytes`], set with
//! `setrlimit` between fork and exec) and `OMP_THREAD_LIMIT=1`; a page that runs past
//! [`OcrLimits::page_timeout_ms`] is killed. Pages run in parallel on at most
//! [`OcrLimits::parallel`] workers (0 = the number of cores). The whole scan has its own time
//! budget, [`OcrLimits::max_millis`], beyond which the answer is `too_large`.
//!
//! When the programs are missing, the scratch folder cannot be written, or OCR is switched
//! off, the caller keeps the `no_text` answer. A page whose process fails or hits its memory limit counts as an empty page.
//! The text of every page becomes lines, and lines become blocks like a PDF's text layer
//! ([`super::pdf::lines_to_blocks`]: running headers to furniture, page numbers dropped).

use super::ExtractError;
use crate::domain::document::{Document, Format, TextSource};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// OCR settings (`[limits.ocr]` in the config); the defaults suit a 20-page scan on 2 cores.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OcrLimits {
    /// Read image-only PDFs and photos with OCR. Off: they are `no_text`, as without Tesseract.
    pub enabled: bool,
    /// The Tesseract program (a name looked up in PATH, or a path).
    pub tesseract: String,
    /// Poppler's `pdftoppm` program.
    pub pdftoppm: String,
    /// Tesseract language(s), e.g. "swe" or "swe+eng".
    pub language: String,
    /// Resolution of the page images made from a PDF.
    pub dpi: u32,
    /// More pages than this in a scanned PDF is `too_large`.
    pub max_pages: u32,
    /// Wall-clock limit of one page's processes, in milliseconds; then they are killed.
    pub page_timeout_ms: u64,
    /// Wall-clock budget of the whole scan, in milliseconds; beyond it the answer is `too_large`.
    pub max_millis: u64,
    /// Address-space limit of each OCR process, in bytes.
    pub max_memory_bytes: u64,
    /// Pages read at the same time; 0 = the number of cores.
    pub parallel: usize,
}

impl Default for OcrLimits {
    fn default() -> Self {
        OcrLimits {
            enabled: true,
            tesseract: "tesseract".into(),
            pdftoppm: "pdftoppm".into(),
            language: "swe".into(),
            dpi: 200,
            max_pages: 40,
            page_timeout_ms: 60_000,
            max_millis: 180_000,
            max_memory_bytes: 512 * 1024 * 1024,
            parallel: 0,
        }
    }
}

/// What one page's processes gave.
#[derive(Debug)]
enum PageText {
    Text(String),
    /// A program could not be started (not installed, not executable).
    Missing,
    /// It ran and failed (bad image, memory limit, killed at the page timeout).
    Failed,
    TimedOut,
}

/// Read a scan. `Ok(None)` when OCR is off or its programs are missing (the caller answers
/// `no_text`); `pages` is the PDF's page count (ignored for images).
pub fn read(
    format: Format,
    bytes: &[u8],
    pages: Option<u32>,
    o: &OcrLimits,
) -> Result<Option<Document>, ExtractError> {
    if !o.enabled {
        return Ok(None);
    }
    let start = Instant::now();
    if format == Format::Pdf && pages.unwrap_or(0) > o.max_pages {
        return Err(ExtractError::TooLarge(format!(
            "scanned PDF has {} pages, OCR limit {}",
            pages.unwrap_or(0),
            o.max_pages
        )));
    }
    let ext = match format {
        Format::Pdf => "pdf",
        Format::Png => "png",
        Format::Jpeg => "jpg",
        _ => return Ok(None),
    };
    // A full or read-only temp folder is our problem, not the clinic's file: no OCR, as if
    // Tesseract were missing (`no_text`), and a warning for the operator.
    let scratch = match Scratch::new() {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("OCR skipped: cannot make a scratch folder: {e}");
            return Ok(None);
        }
    };
    let file = scratch.0.join(format!("scan.{ext}"));
    if let Err(e) = std::fs::write(&file, bytes) {
        tracing::warn!(
            "OCR skipped: cannot write the scan to {}: {e}",
            file.display()
        );
        return Ok(None);
    }
    let page_texts: Vec<PageText> = match format {
        Format::Pdf => in_parallel(pages.unwrap_or(0) as usize, o, start, |i| {
            pdf_page(&file, i as u32 + 1, o)
        }),
        _ => vec![image(&file, o)],
    };
    drop(scratch);
    if page_texts.iter().any(|p| matches!(p, PageText::Missing)) {
        return Ok(None);
    }
    if page_texts.iter().any(|p| matches!(p, PageText::TimedOut))
        || start.elapsed() > Duration::from_millis(o.max_millis)
    {
        return Err(ExtractError::TooLarge(format!(
            "OCR time budget of {} ms exceeded",
            o.max_millis
        )));
    }
    let lines: Vec<Vec<String>> = page_texts
        .iter()
        .map(|p| match p {
            PageText::Text(t) => t
                .lines()
                .map(super::collapse_spaces)
                .filter(|l| !l.is_empty())
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    let (blocks, furniture) = super::pdf::lines_to_blocks(&lines);
    Ok(Some(Document {
        format: Some(format),
        blocks,
        furniture,
        pages: Some(u32::try_from(lines.len()).unwrap_or(u32::MAX)),
        source: TextSource::Ocr,
        ..Document::default()
    }))
}

/// Run `f(0..n)` on at most `o.parallel` threads (0 = cores); pages not started before the
/// scan's budget ran out count as timed out.
fn in_parallel(
    n: usize,
    o: &OcrLimits,
    start: Instant,
    f: impl Fn(usize) -> PageText + Sync,
) -> Vec<PageText> {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let workers = if o.parallel == 0 { cores } else { o.parallel }.clamp(1, n.max(1));
    let next = AtomicUsize::new(0);
    let out: Vec<Mutex<Option<PageText>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let budget = Duration::from_millis(o.max_millis);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let r = if start.elapsed() > budget {
                        PageText::TimedOut
                    } else {
                        f(i)
                    };
                    let missing = matches!(r, PageText::Missing);
                    *out[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
                    if missing {
                        // No point in starting the other pages.
                        next.store(n, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    out.into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or(PageText::Missing)
        })
        .collect()
}

fn tesseract(o: &OcrLimits) -> Command {
    let mut c = Command::new(&o.tesseract);
    c.args(["-", "stdout", "-l", &o.language, "--psm", "3"])
        .env("OMP_THREAD_LIMIT", "1");
    c
}

/// One PDF page: `pdftoppm` renders it to a PGM that is piped straight into Tesseract.
fn pdf_page(pdf: &std::path::Path, page: u32, o: &OcrLimits) -> PageText {
    let mut render = Command::new(&o.pdftoppm);
    let (dpi, page) = (o.dpi.to_string(), page.to_string());
    render
        .args(["-r", &dpi, "-gray", "-f", &page, "-l", &page, "-singlefile"])
        .arg(pdf);
    pipeline(render, Some(tesseract(o)), o)
}

/// A photo: Tesseract reads the JPEG or PNG file itself.
fn image(path: &std::path::Path, o: &OcrLimits) -> PageText {
    let mut t = Command::new(&o.tesseract);
    t.arg(path)
        .args(["stdout", "-l", &o.language, "--psm", "3"])
        .env("OMP_THREAD_LIMIT", "1");
    pipeline(t, None, o)
}

/// Run `first`, optionally piped into `second` (Tesseract reading the image from stdin); the
/// last one's stdout is the text. Both are bounded in memory and killed at the page timeout.
/// Input comes from a file, never from a pipe we write: a program that dies early must not be
/// able to SIGPIPE the `check` process (which keeps the default SIGPIPE disposition).
fn pipeline(mut first: Command, second: Option<Command>, o: &OcrLimits) -> PageText {
    limit_memory(&mut first, o.max_memory_bytes);
    first
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut children: Vec<Child> = Vec::new();
    let mut a = match first.spawn() {
        Ok(c) => c,
        Err(_) => return PageText::Missing,
    };
    let mut out = a.stdout.take();
    children.push(a);
    if let Some(mut b) = second {
        limit_memory(&mut b, o.max_memory_bytes);
        let Some(piped) = out.take() else {
            kill_all(&mut children);
            return PageText::Failed;
        };
        b.stdin(Stdio::from(piped))
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        match b.spawn() {
            Ok(mut c) => {
                out = c.stdout.take();
                children.push(c);
            }
            Err(_) => {
                kill_all(&mut children);
                return PageText::Missing;
            }
        }
    }
    let Some(mut out) = out else {
        kill_all(&mut children);
        return PageText::Failed;
    };
    let deadline = Instant::now() + Duration::from_millis(o.page_timeout_ms);
    std::thread::scope(|s| {
        let reader = s.spawn(move || {
            let mut text = Vec::new();
            let _ = out.read_to_end(&mut text);
            text
        });
        let status = wait_all(&mut children, deadline);
        // Killed or exited: the pipe is closed either way, so the reader ends.
        let text = reader.join().unwrap_or_default();
        match status {
            None => PageText::TimedOut,
            Some(true) => PageText::Text(String::from_utf8_lossy(&text).into_owned()),
            Some(false) => PageText::Failed,
        }
    })
}

/// Wait for every child; `Some(all succeeded)`, or `None` after killing them at the deadline.
fn wait_all(children: &mut [Child], deadline: Instant) -> Option<bool> {
    let mut status: Vec<Option<bool>> = vec![None; children.len()];
    loop {
        for (c, st) in children.iter_mut().zip(status.iter_mut()) {
            if st.is_none() {
                match c.try_wait() {
                    Ok(Some(s)) => *st = Some(s.success()),
                    Ok(None) => {}
                    Err(_) => *st = Some(false),
                }
            }
        }
        if status.iter().all(Option::is_some) {
            return Some(status.iter().all(|s| *s == Some(true)));
        }
        if Instant::now() >= deadline {
            kill_all(children);
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn kill_all(children: &mut [Child]) {
    for c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// Limit the child's address space (Linux `setrlimit(RLIMIT_AS)` between fork and exec), so a
/// hostile page image cannot take the machine's memory.
#[cfg(target_os = "linux")]
fn limit_memory(c: &mut Command, bytes: u64) {
    use std::os::unix::process::CommandExt;
    #[repr(C)]
    struct Rlimit {
        cur: u64,
        max: u64,
    }
    unsafe extern "C" {
        fn setrlimit(resource: i32, rlim: *const Rlimit) -> i32;
    }
    const RLIMIT_AS: i32 = 9;
    let lim = Rlimit {
        cur: bytes,
        max: bytes,
    };
    // SAFETY: setrlimit is async-signal-safe and only reads `lim`, which the closure owns; the
    // closure allocates nothing, as required between fork and exec.
    unsafe {
        c.pre_exec(move || {
            if setrlimit(RLIMIT_AS, &lim) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn limit_memory(_c: &mut Command, _bytes: u64) {}

/// A private folder for the scan's bytes, removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> std::io::Result<Scratch> {
        use std::os::unix::fs::DirBuilderExt;
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "vardval-ocr-{}-{}-{nanos}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        // create (not create_all): fails if the name exists, so nobody else owns it.
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_programs_mean_no_ocr() {
        let o = OcrLimits {
            tesseract: "/nonexistent/tesseract".into(),
            pdftoppm: "/nonexistent/pdftoppm".into(),
            ..OcrLimits::default()
        };
        assert!(
            read(Format::Png, b"\x89PNG....", None, &o)
                .unwrap()
                .is_none()
        );
        assert!(
            read(Format::Pdf, b"%PDF-1.4", Some(2), &o)
                .unwrap()
                .is_none()
        );
        let off = OcrLimits {
            enabled: false,
            ..OcrLimits::default()
        };
        assert!(read(Format::Png, b"\x89PNG", None, &off).unwrap().is_none());
    }

    #[test]
    fn too_many_pages_is_too_large() {
        let o = OcrLimits {
            max_pages: 3,
            ..OcrLimits::default()
        };
        let err = read(Format::Pdf, b"%PDF-1.4", Some(4), &o).unwrap_err();
        assert_eq!(err.kind(), "too_large");
    }

    #[test]
    fn a_page_past_its_timeout_is_killed() {
        // `sleep` stands in for a hung OCR program: killed at the deadline, not waited for.
        let o = OcrLimits {
            page_timeout_ms: 50,
            ..OcrLimits::default()
        };
        let mut c = Command::new("sleep");
        c.arg("30");
        let t = Instant::now();
        assert!(matches!(pipeline(c, None, &o), PageText::TimedOut));
        assert!(t.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn the_memory_limit_applies_to_the_child() {
        let o = OcrLimits {
            max_memory_bytes: 64 * 1024 * 1024,
            ..OcrLimits::default()
        };
        let mut c = Command::new("sh");
        c.args(["-c", "ulimit -v"]);
        match pipeline(c, None, &o) {
            PageText::Text(t) => assert_eq!(t.trim(), (64 * 1024).to_string()),
            other => panic!("{other:?}"),
        }
    }
}
