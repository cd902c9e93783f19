//! Mail-intake benchmark helper for `bench/intake.sh` (see there for the whole procedure).
//!
//! Talks to the local mail lab (`tests/maillab/maillab.sh`) with the library's own adapters
//! (`ImapSource`, `SmtpTransport`) and prints wall-clock timestamps (Unix seconds, µs), so
//! they can be lined up with the daemon's log (tracing, UTC, µs).
//!
//! ```text
//! bench_intake latency --imap-port P --smtp-port P --agent A --first N --count 50
//!                      --docs a.docx,b.pdf --tag T --observe poll|idle --out F.tsv
//!     For each mail i (sequential): connect an observer to bench-clinic-<N+i>@vc.test INBOX
//!     (drained first), send the plan over the lab's plain SMTP port (no AUTH, like a clinic),
//!     take t_accept when Postfix has answered 250 to the DATA, then wait for the receipt in
//!     the clinic's INBOX: `poll` = UID SEARCH UNDELETED every 20 ms (resolution ~20 ms + one
//!     round trip), `idle` = IMAP IDLE (adds Dovecot's 500 ms notification floor). The receipt
//!     must quote the mail's Message-ID. One TSV row per mail:
//!     i clinic doc t_send t_accept t_seen latency_ms
//! bench_intake inject --imap-port P --agent A --first N --count 1000 --docs ... --tag T
//!     IMAP APPEND of `count` plans (one per clinic N..N+count-1) into the agent's INBOX.
//! bench_intake count --imap-port P --user U [--folder F]
//!     Prints the number of messages in the folder (EXAMINE).
//! bench_intake stats --log daemon.log[,daemon2.log...] F.tsv...
//!     Latency percentiles over all rows, and per mail the components from the daemon's log:
//!     accept→fetched (Postfix→LMTP→agent INBOX, Dovecot's IDLE floor, the daemon's
//!     UID SEARCH + FETCH; "fetched" = the daemon's first ledger write after a fetch, logged
//!     by sqlx), fetched→recorded (archive, classify, extract, analyse, one transaction),
//!     recorded→sent (outbox wake-up, SMTP submission), sent→seen (Postfix→LMTP→clinic
//!     INBOX + the observer's resolution).
//! ```
//! Every clinic logs in with the lab's shared clinic password `clinic-pass`.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use tokio_util::sync::CancellationToken;
use vardval::adapters::imap::{ImapAuth, ImapConfig, ImapSource};
use vardval::adapters::smtp::{SmtpConfig, SmtpTransport};
use vardval::adapters::tls::TlsMode;
use vardval::ports::{MailSource, Transport, Wait};

const CLINIC_PASS: &str = "clinic-pass";

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

struct Args(HashMap<String, String>, Vec<String>);

impl Args {
    fn parse(it: impl Iterator<Item = String>) -> Args {
        let mut m = HashMap::new();
        let mut rest = Vec::new();
        let mut it = it.peekable();
        while let Some(a) = it.next() {
            if let Some(k) = a.strip_prefix("--") {
                let v = it.next().unwrap_or_else(|| panic!("--{k} needs a value"));
                m.insert(k.to_string(), v);
            } else {
                rest.push(a);
            }
        }
        Args(m, rest)
    }
    fn get(&self, k: &str) -> String {
        self.0
            .get(k)
            .cloned()
            .unwrap_or_else(|| panic!("missing --{k}"))
    }
    fn get_or(&self, k: &str, d: &str) -> String {
        self.0.get(k).cloned().unwrap_or_else(|| d.to_string())
    }
    fn num(&self, k: &str) -> u32 {
        self.get(k)
            .parse()
            .unwrap_or_else(|_| panic!("--{k}: number"))
    }
}

fn clinic(n: u32) -> String {
    format!("bench-clinic-{n}@vc.test")
}

struct Doc {
    name: String,
    mime: &'static str,
    bytes: Vec<u8>,
}

fn load_docs(list: &str) -> Vec<Doc> {
    list.split(',')
        .map(|p| {
            let mime = match p.rsplit('.').next() {
                Some("pdf") => "application/pdf",
                Some("docx") => {
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
                }
                Some("odt") => "application/vnd.oasis.opendocument.text",
                _ => "application/octet-stream",
            };
            Doc {
                name: format!("Projektplan 2026.{}", p.rsplit('.').next().unwrap_or("bin")),
                mime,
                bytes: std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e}")),
            }
        })
        .collect()
}

fn message_id(tag: &str, n: u32) -> String {
    format!("bench-{tag}-{n}@vc.test")
}

/// A clinic's plan mail, the way a mail client would write it.
fn plan_mail(n: u32, agent: &str, tag: &str, doc: &Doc) -> Vec<u8> {
    let from: Mailbox = format!("Bench Klinik {n} <{}>", clinic(n)).parse().unwrap();
    let to: Mailbox = agent.parse().unwrap();
    lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(format!("Projektplan Vårdcentralen Bench {n} 2026"))
        .message_id(Some(format!("<{}>", message_id(tag, n))))
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(format!(
                    "Hej!\n\nHär kommer vår projektplan (riktmärke 1).\n\nMvh\nBench Klinik {n}\n"
                )))
                .singlepart(
                    Attachment::new(doc.name.clone())
                        .body(doc.bytes.clone(), ContentType::parse(doc.mime).unwrap()),
                ),
        )
        .expect("valid message")
        .formatted()
}

fn imap(port: u16, user: &str, pass: &str, processed: &str) -> ImapSource {
    let mut c = ImapConfig::new(
        "127.0.0.1",
        port,
        TlsMode::None,
        user,
        ImapAuth::Password(pass.into()),
    );
    c.processed_folder = processed.into();
    c.poll_interval = Duration::from_millis(20);
    ImapSource::new(c).expect("imap config")
}

/// Empties the observer's INBOX (left-overs of an aborted run) into BenchSeen.
async fn drain(src: &mut ImapSource) {
    loop {
        let got = src.fetch(100).await.expect("observer fetch");
        if got.is_empty() {
            return;
        }
        for f in &got {
            src.mark_processed(f).await.expect("observer move");
        }
    }
}

async fn latency(a: &Args) {
    let imap_port = a.num("imap-port") as u16;
    let smtp_port = a.num("smtp-port") as u16;
    let agent = a.get("agent");
    let first = a.num("first");
    let count = a.num("count");
    let tag = a.get("tag");
    let idle = match a.get_or("observe", "poll").as_str() {
        "poll" => false,
        "idle" => true,
        o => panic!("--observe poll|idle, not {o}"),
    };
    let docs = load_docs(&a.get("docs"));
    let timeout = Duration::from_secs(a.get_or("timeout", "60").parse().unwrap());
    let out_path = a.get("out");
    let smtp = SmtpTransport::new(SmtpConfig::new("127.0.0.1", smtp_port, TlsMode::None))
        .expect("smtp config");
    let mut out = String::from("i\tclinic\tdoc\tt_send\tt_accept\tt_seen\tlatency_ms\n");
    let mut lat = Vec::new();
    for i in 0..count {
        let n = first + i;
        let doc = &docs[i as usize % docs.len()];
        let raw = plan_mail(n, &agent, &tag, doc);
        let mid = message_id(&tag, n);
        let mut obs = imap(imap_port, &clinic(n), CLINIC_PASS, "BenchSeen");
        drain(&mut obs).await;
        // The observer is ready (connected, INBOX selected, empty) before the clinic sends.
        let stop = CancellationToken::new();
        let (watcher, polled) = if idle {
            let stop = stop.clone();
            let h = tokio::spawn(async move {
                let r = obs.wait(timeout, &stop).await;
                (obs, r, now())
            });
            (Some(h), None)
        } else {
            (None, Some(obs))
        };
        if idle {
            // Let the IDLE command reach the server before the mail can arrive.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let t_send = now();
        smtp.send(&clinic(n), std::slice::from_ref(&agent), &raw)
            .await
            .unwrap_or_else(|e| panic!("sending mail {n}: {e}"));
        let t_accept = now();
        let mut polled = polled;
        let (mut obs, t_seen) = match watcher {
            Some(h) => {
                let (mut obs, r, t) = tokio::time::timeout(timeout, h)
                    .await
                    .unwrap_or_else(|_| panic!("no receipt for mail {n} within {timeout:?}"))
                    .expect("watcher task");
                assert_eq!(
                    r.expect("IDLE"),
                    Wait::NewMail,
                    "mail {n}: IDLE ended without mail"
                );
                let got = obs.fetch(10).await.expect("fetch receipt");
                check_receipt(&got, &mid, n);
                for f in &got {
                    obs.mark_processed(f).await.expect("move receipt");
                }
                (obs, t)
            }
            None => loop {
                let obs = polled.as_mut().expect("polling observer");
                let got = obs.fetch(10).await.expect("poll");
                if !got.is_empty() {
                    let t = now();
                    check_receipt(&got, &mid, n);
                    for f in &got {
                        obs.mark_processed(f).await.expect("move receipt");
                    }
                    break (polled.take().expect("polling observer"), t);
                }
                assert!(
                    now() - t_accept < timeout.as_secs_f64(),
                    "no receipt for mail {n} within {timeout:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            },
        };
        drop(stop);
        obs.disconnect().await;
        let ms = (t_seen - t_accept) * 1000.0;
        lat.push(ms);
        eprintln!(
            "mail {i:>3} {} {:<5} {ms:8.1} ms",
            clinic(n),
            ext(&doc.name)
        );
        out.push_str(&format!(
            "{i}\t{}\t{}\t{t_send:.6}\t{t_accept:.6}\t{t_seen:.6}\t{ms:.1}\n",
            clinic(n),
            ext(&doc.name)
        ));
    }
    std::fs::write(&out_path, out).expect("write tsv");
    print_pcts("latency (SMTP accept → receipt in clinic INBOX)", &mut lat);
}

fn ext(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or("")
}

fn check_receipt(got: &[vardval::ports::Fetched], mid: &str, n: u32) {
    assert_eq!(got.len(), 1, "mail {n}: expected exactly one receipt");
    let text = String::from_utf8_lossy(&got[0].bytes);
    assert!(
        text.contains(mid),
        "mail {n}: the message in the clinic INBOX does not refer to <{mid}>"
    );
}

async fn inject(a: &Args) {
    let imap_port = a.num("imap-port") as u16;
    let agent = a.get("agent");
    let first = a.num("first");
    let count = a.num("count");
    let tag = a.get("tag");
    let docs = load_docs(&a.get("docs"));
    let pass = a.get_or("password", CLINIC_PASS);
    let mut src = imap(imap_port, &agent, &pass, "Behandlat");
    let t0 = now();
    for i in 0..count {
        let n = first + i;
        let raw = plan_mail(n, &agent, &tag, &docs[i as usize % docs.len()]);
        src.append(None, &raw, None).await.expect("APPEND");
    }
    src.disconnect().await;
    eprintln!(
        "appended {count} mails to {agent} INBOX in {:.1} s",
        now() - t0
    );
}

async fn count(a: &Args) {
    let port = a.num("imap-port") as u16;
    let user = a.get("user");
    let folder = a.get_or("folder", "INBOX");
    let pass = a.get_or("password", CLINIC_PASS);
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.expect("greeting");
    let mut s = client
        .login(&user, &pass)
        .await
        .map_err(|e| e.0)
        .expect("login");
    let mb = s.examine(&folder).await.expect("EXAMINE");
    println!("{}", mb.exists);
    let _ = s.logout().await;
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    // Nearest-rank percentile.
    let k = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[k.clamp(1, sorted.len()) - 1]
}

fn print_pcts(what: &str, v: &mut [f64]) {
    if v.is_empty() {
        println!("{what}: no data");
        return;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{what}: n={} p50={:.0} ms p90={:.0} ms max={:.0} ms min={:.0} ms",
        v.len(),
        pct(v, 50.0),
        pct(v, 90.0),
        v[v.len() - 1],
        v[0]
    );
}

/// `2026-11-23T15:09:24.123456Z` at the start of a tracing line → Unix seconds.
fn log_time(line: &str) -> Option<f64> {
    let ts = line.split_whitespace().next()?;
    let t = chrono::DateTime::parse_from_rfc3339(ts).ok()?;
    Some(t.timestamp_micros() as f64 / 1e6)
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\x1b' {
            for d in it.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn stats(a: &Args) {
    // Several logs (comma-separated) may be given: the clinic addresses differ between runs.
    let log: String = a
        .get("log")
        .split(',')
        .map(|p| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p}: {e}")))
        .collect::<Vec<_>>()
        .join("\n");
    // Per clinic: when its mail was recorded and its receipt sent; and the times of the
    // daemon's "fetched" marker (first daemon_state write after each fetch).
    let mut recorded: HashMap<String, f64> = HashMap::new();
    let mut sent: HashMap<String, f64> = HashMap::new();
    let mut fetched: Vec<f64> = Vec::new();
    let mut last_was_fetch_marker = false;
    for raw in log.lines() {
        let line = strip_ansi(raw);
        let Some(t) = log_time(&line) else { continue };
        let grab = |key: &str| -> Option<String> {
            let i = line.find(key)? + key.len();
            let rest = &line[i..];
            let end = rest.find(['"', ' ', ')']).unwrap_or(rest.len());
            Some(rest[..end].to_string())
        };
        if line.contains(" recorded ") || line.ends_with(" recorded") {
            if let Some(c) = grab("from=Some(\"") {
                recorded.entry(c).or_insert(t);
            }
        } else if (line.contains(" sent ") || line.contains(": sent"))
            && let Some(c) = grab("to=")
        {
            sent.entry(c).or_insert(t);
        }
        // sqlx logs every statement at debug level; the daemon writes connection_state right
        // after each successful fetch.
        // (The daemon's log omits targets; sqlx's statement events carry `summary=`.)
        let is_sqlx = line.contains("summary=") || line.contains("db.statement");
        let marker = is_sqlx && line.contains("daemon_state");
        if marker && !last_was_fetch_marker {
            fetched.push(t);
        }
        if is_sqlx {
            last_was_fetch_marker = marker;
        }
    }
    fetched.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut lat = Vec::new();
    let (mut c_fetch, mut c_proc, mut c_send, mut c_deliver) = (vec![], vec![], vec![], vec![]);
    let mut by_doc: HashMap<String, Vec<f64>> = HashMap::new();
    let mut proc_by_doc: HashMap<String, Vec<f64>> = HashMap::new();
    for f in &a.1 {
        let text = std::fs::read_to_string(f).expect("tsv");
        for row in text.lines().skip(1) {
            let c: Vec<&str> = row.split('\t').collect();
            if c.len() < 7 {
                continue;
            }
            let (clinic, doc) = (c[1].to_string(), c[2].to_string());
            let t_accept: f64 = c[4].parse().unwrap();
            let t_seen: f64 = c[5].parse().unwrap();
            let ms: f64 = c[6].parse().unwrap();
            lat.push(ms);
            by_doc.entry(doc.clone()).or_default().push(ms);
            let (Some(&tr), Some(&ts)) = (recorded.get(&clinic), sent.get(&clinic)) else {
                continue;
            };
            // The last fetch marker between accept and recorded.
            if let Some(&tf) = fetched.iter().rev().find(|&&x| x >= t_accept && x <= tr) {
                c_fetch.push((tf - t_accept) * 1000.0);
                c_proc.push((tr - tf) * 1000.0);
                proc_by_doc
                    .entry(doc.clone())
                    .or_default()
                    .push((tr - tf) * 1000.0);
            }
            c_send.push((ts - tr) * 1000.0);
            c_deliver.push((t_seen - ts) * 1000.0);
        }
    }
    print_pcts("latency (SMTP accept → receipt in clinic INBOX)", &mut lat);
    let mut docs: Vec<_> = by_doc.into_iter().collect();
    docs.sort_by(|a, b| a.0.cmp(&b.0));
    for (d, mut v) in docs {
        print_pcts(&format!("  latency, {d} mails"), &mut v);
    }
    print_pcts(
        "  accept → daemon fetched (Postfix→agent INBOX + IDLE floor + SEARCH/FETCH)",
        &mut c_fetch,
    );
    print_pcts(
        "  fetched → recorded (archive, classify, extract+analyse, commit)",
        &mut c_proc,
    );
    let mut pd: Vec<_> = proc_by_doc.into_iter().collect();
    pd.sort_by(|a, b| a.0.cmp(&b.0));
    for (d, mut v) in pd {
        print_pcts(&format!("    fetched → recorded, {d}"), &mut v);
    }
    print_pcts(
        "  recorded → sent (outbox wake-up + SMTP submission)",
        &mut c_send,
    );
    print_pcts(
        "  sent → seen (Postfix→LMTP→clinic INBOX + observer)",
        &mut c_deliver,
    );
}

#[tokio::main]
async fn main() {
    let mut argv = std::env::args().skip(1);
    let cmd = argv.next().unwrap_or_default();
    let a = Args::parse(argv);
    match cmd.as_str() {
        "latency" => latency(&a).await,
        "inject" => inject(&a).await,
        "count" => count(&a).await,
        "stats" => stats(&a),
        _ => {
            eprintln!("usage: bench_intake latency|inject|count|stats ... (see the file's header)");
            std::process::exit(2);
        }
    }
}
