//! The layering rules, checked on the source text:
//!
//! 1. Only the composition root (`src/app.rs`, and `src/app/` should it grow) names concrete
//!    adapters: no other file under `src/` may reach `crate::adapters` (or
//!    `vardval::adapters`), directly, through a `use crate::{adapters, …}` group, or through
//!    `super::` paths that climb to the crate root and then into `adapters`. Everything else
//!    talks to the traits in `src/ports.rs`.
//! 2. The domain core (`src/domain/`) does no I/O and reads no clock: no `tokio`, `sqlx`,
//!    `std::fs`, `std::net`, `Utc::now`, `SystemTime::now`, `Instant::now`, `Local::now`.
//!
//! Comments are ignored (doc comments may talk about adapters). A violation names the file
//! and the line. The checker's own unit tests below show that each kind of violation is
//! caught.

use std::path::{Path, PathBuf};

/// One broken rule: file, line (1-based), what.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Violation {
    file: String,
    line: usize,
    what: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.what)
    }
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file under `src/` (`src/pipeline/ingest.rs` → `pipeline::ingest`,
/// `src/store/mod.rs` → `store`, `src/lib.rs` → the crate root).
fn module_path(rel: &str) -> Vec<String> {
    let rel = rel.trim_end_matches(".rs");
    let mut parts: Vec<String> = rel.split('/').map(str::to_string).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The source with comments blanked out (line structure kept). String literals are kept
/// as they are, except that `//` inside one does not start a comment.
fn strip_comments(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let mut in_str = false;
    let mut block = 0usize;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if block > 0 {
            if c == b'*' && next == Some(b'/') {
                block -= 1;
                i += 2;
            } else if c == b'/' && next == Some(b'*') {
                block += 1;
                i += 2;
            } else {
                if c == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            continue;
        }
        if in_str {
            if c == b'\\' {
                out.push_str(&src[i..(i + 2).min(src.len())]);
                i += 2;
                continue;
            }
            if c == b'"' {
                in_str = false;
            }
        } else if c == b'"' {
            in_str = true;
        } else if c == b'\'' && (next == Some(b'\\') || b.get(i + 2) == Some(&b'\'')) {
            // A char literal (`'"'`, `'\''`): copied whole, so its quote starts no string.
            let end = (i + 2..b.len().min(i + 12))
                .find(|&j| b[j] == b'\'' && (j > i + 2 || next != Some(b'\\')))
                .unwrap_or(i + 2);
            out.push_str(&src[i..=end]);
            i = end + 1;
            continue;
        } else if c == b'r'
            && (next == Some(b'#') || next == Some(b'"'))
            && !out.chars().next_back().is_some_and(is_ident)
        {
            // A raw string `r#"…"#`: copied whole.
            let hashes = b[i + 1..].iter().take_while(|&&x| x == b'#').count();
            if b.get(i + 1 + hashes) == Some(&b'"') {
                let close = format!("\"{}", "#".repeat(hashes));
                let body = i + 2 + hashes;
                let end = src[body..]
                    .find(&close)
                    .map_or(src.len(), |k| body + k + close.len());
                out.push_str(&src[i..end]);
                i = end;
                continue;
            }
        } else if c == b'/' && next == Some(b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        } else if c == b'/' && next == Some(b'*') {
            block = 1;
            i += 2;
            continue;
        }
        let ch = src[i..].chars().next().expect("a char");
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The paths starting at every `crate::`, `vardval::`, `super::` or `self::` in a line,
/// resolved to a path from the crate root (each `super` climbs one module up from `module`).
/// Grouped imports (`crate::{a, b::c}`) yield each member.
fn crate_paths(line: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    for (k, &(pos, _)) in chars.iter().enumerate() {
        if k > 0 && (is_ident(chars[k - 1].1) || chars[k - 1].1 == ':') {
            continue;
        }
        let rest = &line[pos..];
        let (mut base, mut tail): (Vec<String>, &str) =
            if let Some(t) = rest.strip_prefix("crate::") {
                (vec![], t)
            } else if let Some(t) = rest.strip_prefix("vardval::") {
                (vec![], t)
            } else if rest.starts_with("self::") || rest.starts_with("super::") {
                (module.to_vec(), rest)
            } else {
                continue;
            };
        loop {
            if let Some(t) = tail.strip_prefix("super::") {
                base.pop();
                tail = t;
            } else if let Some(t) = tail.strip_prefix("self::") {
                tail = t;
            } else {
                break;
            }
        }
        for member in expand(tail) {
            let mut p = base.clone();
            p.extend(member);
            out.push(p);
        }
    }
    out
}

/// `a::b::{c, d::e}` → `[a, b, c]`, `[a, b, d, e]` (one level of braces is enough here;
/// deeper groups are expanded recursively).
fn expand(tail: &str) -> Vec<Vec<String>> {
    let mut segs = Vec::new();
    let mut rest = tail.trim_start();
    loop {
        if let Some(inner) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut end = inner.len();
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let body = &inner[..end];
            let mut members = Vec::new();
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in body.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        members.push(&body[start..i]);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            members.push(&body[start..]);
            let mut out = Vec::new();
            for m in members.into_iter().filter(|m| !m.trim().is_empty()) {
                for sub in expand(m) {
                    let mut p: Vec<String> = segs.clone();
                    p.extend(sub);
                    out.push(p);
                }
            }
            return out;
        }
        let len = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        if len == 0 {
            break;
        }
        segs.push(rest[..len].to_string());
        rest = &rest[len..];
        match rest.strip_prefix("::") {
            Some(r) => rest = r.trim_start(),
            None => break,
        }
    }
    vec![segs]
}

/// The lines of the comment-free source, with a grouped path (`crate::{`, `super::{` …)
/// that spans lines joined onto its first line: (first line index, text).
fn logical_lines(src: &str) -> Vec<(usize, String)> {
    let stripped = strip_comments(src);
    let lines: Vec<&str> = stripped.lines().collect();
    let mut out = Vec::new();
    let mut n = 0;
    while n < lines.len() {
        let mut text = lines[n].to_string();
        let first = n;
        if let Some(i) = text.find("::{") {
            let depth = |t: &str| {
                t.chars().fold(0i32, |d, c| match c {
                    '{' => d + 1,
                    '}' => d - 1,
                    _ => d,
                })
            };
            while depth(&text[i..]) > 0 && n + 1 < lines.len() {
                n += 1;
                text.push(' ');
                text.push_str(lines[n].trim());
            }
        }
        out.push((first, text));
        n += 1;
    }
    out
}

/// Rule 1 on one file's source.
fn adapter_imports(rel: &str, src: &str) -> Vec<Violation> {
    let module = module_path(rel);
    let mut out = Vec::new();
    for (n, line) in logical_lines(src) {
        let line = line.as_str();
        for p in crate_paths(line, &module) {
            if p.first().map(String::as_str) == Some("adapters") {
                out.push(Violation {
                    file: format!("src/{rel}"),
                    line: n + 1,
                    what: format!(
                        "names `crate::{}` (only src/app.rs may name concrete adapters; use a trait from src/ports.rs): {}",
                        p.join("::"),
                        line.trim()
                    ),
                });
            }
        }
    }
    out
}

const DOMAIN_FORBIDDEN: &[(&str, &str)] = &[
    ("tokio", "async runtime"),
    ("sqlx", "database"),
    ("std::fs", "file system"),
    ("std::net", "network"),
    ("Utc::now", "clock read"),
    ("SystemTime::now", "clock read"),
    ("Instant::now", "clock read"),
    ("Local::now", "clock read"),
];

/// Rule 2 on one file's source.
fn domain_impurities(rel: &str, src: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    for (n, line) in logical_lines(src) {
        let line = line.as_str();
        // `use std::{fs, …}` groups too.
        let mut paths: Vec<String> = crate_paths(line, &[])
            .into_iter()
            .map(|p| p.join("::"))
            .collect();
        if let Some(i) = line.find("std::{") {
            for m in expand(&line[i + 5..]) {
                paths.push(format!("std::{}", m.join("::")));
            }
        }
        for (word, why) in DOMAIN_FORBIDDEN {
            let hit = line.match_indices(word).any(|(i, _)| {
                let before = line[..i].chars().next_back();
                let after = line[i + word.len()..].chars().next();
                !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
            }) || paths
                .iter()
                .any(|p| p == word || p.starts_with(&format!("{word}::")));
            if hit {
                out.push(Violation {
                    file: format!("src/{rel}"),
                    line: n + 1,
                    what: format!("the pure domain uses `{word}` ({why}): {}", line.trim()),
                });
            }
        }
    }
    out
}

fn src_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn relative(p: &Path) -> String {
    p.strip_prefix(src_dir())
        .expect("under src/")
        .to_string_lossy()
        .replace('\\', "/")
}

#[test]
fn only_the_composition_root_names_concrete_adapters() {
    let mut files = Vec::new();
    rs_files(&src_dir(), &mut files);
    files.sort();
    let checked: Vec<String> = files
        .iter()
        .map(|p| relative(p))
        .filter(|r| !r.starts_with("adapters/") && r != "app.rs" && !r.starts_with("app/"))
        .collect();
    // The layers the rule is about are really there and really read.
    for must in [
        "pipeline/ingest.rs",
        "pipeline/daemon.rs",
        "jobs/scheduler.rs",
        "config.rs",
        "domain/rulebook.rs",
        "store/mod.rs",
        "mail/parse.rs",
        "extract/mod.rs",
    ] {
        assert!(checked.iter().any(|c| c == must), "{must} is checked");
    }
    let mut bad = Vec::new();
    for rel in &checked {
        let src = std::fs::read_to_string(src_dir().join(rel)).expect("read source");
        bad.extend(adapter_imports(rel, &src));
    }
    assert!(
        bad.is_empty(),
        "{} file(s) name concrete adapters outside src/app.rs:\n{}",
        bad.len(),
        bad.iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_domain_does_no_io_and_reads_no_clock() {
    let mut files = Vec::new();
    rs_files(&src_dir().join("domain"), &mut files);
    files.sort();
    assert!(files.len() >= 5, "the domain's files are found");
    let mut bad = Vec::new();
    for p in &files {
        let src = std::fs::read_to_string(p).expect("read source");
        bad.extend(domain_impurities(&relative(p), &src));
    }
    assert!(
        bad.is_empty(),
        "the pure domain does I/O or reads the clock:\n{}",
        bad.iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// --- the checker catches what it should (and nothing in comments) ---------------------------

fn lines_of(v: &[Violation]) -> Vec<usize> {
    v.iter().map(|v| v.line).collect()
}

#[test]
fn checker_catches_each_form_of_adapter_import() {
    let src = "//! Talks to adapters only through ports; see crate::adapters::archive.\n\
               use crate::adapters::archive::Archive;\n\
               use crate::{config, adapters::sdnotify};\n\
               use super::super::adapters::imap::FolderCase;\n\
               use super::outbox::Bell;\n\
               let x = vardval::adapters::maildir::MaildirSource::new(p);\n\
               /* crate::adapters::smtp in a block comment */ let y = 1;\n\
               let s = \"http://x\"; let z = crate::adapters::tls::TlsMode::None;\n\
               let c = '\"'; let d = \"// not a comment\"; use crate::adapters::smtp;\n\
               let r = r#\"a \"quoted\" // word\"#; use crate::adapters::smtp::X;\n\
               use crate::{\n    config::Settings,\n    adapters::maildir::MaildirSource,\n};\n";
    let v = adapter_imports("pipeline/ingest.rs", src);
    assert_eq!(lines_of(&v), vec![2, 3, 4, 6, 8, 9, 10, 11], "{v:#?}");
    assert!(v[0].to_string().starts_with("src/pipeline/ingest.rs:2: "));
    // `super::` from a module one level down reaches `pipeline::…`, not the adapters.
    assert!(adapter_imports("pipeline/ingest.rs", "use super::adapters::x;\n").is_empty());
    // …but from a top-level file it is the crate root.
    assert_eq!(
        lines_of(&adapter_imports(
            "config.rs",
            "use super::adapters::tls::TlsMode;\n"
        )),
        vec![1]
    );
    // From a mod.rs, `super` is the crate root already.
    assert_eq!(
        lines_of(&adapter_imports(
            "store/mod.rs",
            "use super::adapters::archive::Archive;\n"
        )),
        vec![1]
    );
}

#[test]
fn checker_catches_io_and_clock_reads_in_the_domain() {
    let src = "//! Pure: never tokio, never std::fs.\n\
               use std::fs;\n\
               use std::{collections::BTreeMap, net::TcpStream};\n\
               let t = chrono::Utc::now();\n\
               let u = std::time::SystemTime::now();\n\
               async fn f() { tokio::time::sleep(d).await }\n\
               let q = sqlx::query(\"x\");\n\
               let ok = my_tokio_like::x(); let now = clock.now();\n";
    let v = domain_impurities("domain/x.rs", src);
    assert_eq!(lines_of(&v), vec![2, 3, 4, 5, 6, 7], "{v:#?}");
}
