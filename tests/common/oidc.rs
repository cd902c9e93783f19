//! A real OpenID provider for the sign-in tests: `tests/oidc/provider.mjs` (the npm package
//! oidc-provider) started on loopback, and the browser's side of talking to it (a cookie jar
//! and redirects, over plain HTTP/1.1).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The desk's callback address registered with the provider (the tests never listen on it:
/// the browser's last hop is handed to the in-process router).
pub const REDIRECT: &str = "http://127.0.0.1:8080/oidc/callback";

#[derive(Debug, Deserialize)]
struct Ready {
    port: u16,
    issuer: String,
    client_id: String,
    client_secret: String,
}

/// A running provider; stopped when dropped.
pub struct Provider {
    child: Child,
    _stdin: ChildStdin,
    pub port: u16,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start the provider. `issuer_host` is the host its issuer names (127.0.0.1, or localhost
/// for a provider that is not the configured issuer); `auth` the client's token endpoint
/// authentication (client_secret_post or client_secret_basic); `now` the time its clock
/// starts at (the test's injected clock).
pub fn start(issuer_host: &str, auth: &str, now: chrono::DateTime<chrono::Utc>) -> Provider {
    start_with(REDIRECT, issuer_host, auth, now)
}

/// The same with another callback address (a desk served on a real port).
pub fn start_with(
    redirect: &str,
    issuer_host: &str,
    auth: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Provider {
    let dir = super::root().join("tests/oidc");
    assert!(
        dir.join("node_modules/oidc-provider").is_dir(),
        "oidc-provider is not installed: run `npm ci --prefix tests/oidc` (tests/run.sh does)"
    );
    // The provider prints one line when it listens. Rarely (seen once in CI-like runs under
    // load) a node process never gets that far and waits on its stdin for ever: then it is
    // stopped and started again, so the test fails or passes instead of hanging.
    let mut attempts = 0;
    let (child, stdin, line) = loop {
        attempts += 1;
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .args([
                "--redirect",
                redirect,
                "--issuer-host",
                issuer_host,
                "--auth",
                auth,
            ])
            .args(["--now", &now.timestamp().to_string()])
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // VARDVAL_OIDC_DEBUG=1 shows the provider's own log.
            .stderr(if std::env::var_os("VARDVAL_OIDC_DEBUG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("start node tests/oidc/provider.mjs (is Node.js installed?)");
        let stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = out.read_line(&mut line);
            let _ = tx.send(line);
            // Keep reading whatever else it prints, so it never writes into a closed pipe.
            let _ = std::io::copy(&mut out, &mut std::io::sink());
        });
        match rx.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(line) => break (child, stdin, line),
            Err(_) if attempts < 3 => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Err(_) => panic!("the provider did not start in 30 s, three times"),
        }
    };
    let r: Ready = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("the provider did not start ({e}): {line:?}"));
    Provider {
        child,
        _stdin: stdin,
        port: r.port,
        issuer: r.issuer,
        client_id: r.client_id,
        client_secret: r.client_secret,
    }
}

/// One answer of the provider.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

/// The browser's side towards the provider: its cookies there.
#[derive(Default)]
pub struct Browser {
    cookies: BTreeMap<String, String>,
}

impl Browser {
    /// One request to the provider (`url` absolute, on loopback).
    pub async fn request(&mut self, method: &str, url: &str) -> Answer {
        let u = url::Url::parse(url).unwrap();
        let host = u.host_str().unwrap();
        let port = u.port().unwrap();
        let path = match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        };
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let cookies: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\
             Content-Length: 0\r\n"
        );
        if !cookies.is_empty() {
            req.push_str(&format!("Cookie: {}\r\n", cookies.join("; ")));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let mut location = None;
        for l in lines {
            let Some((k, v)) = l.split_once(':') else {
                continue;
            };
            let v = v.trim();
            if k.eq_ignore_ascii_case("location") {
                location = Some(u.join(v).unwrap().to_string());
            } else if k.eq_ignore_ascii_case("set-cookie") {
                let (kv, attrs) = v.split_once(';').unwrap_or((v, ""));
                let (name, val) = kv.split_once('=').unwrap_or((kv, ""));
                let attrs = attrs.to_ascii_lowercase();
                if attrs.contains("expires=thu, 01 jan 1970") || attrs.contains("max-age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_string(), val.to_string());
                }
            }
        }
        Answer {
            status,
            location,
            body: body.to_string(),
        }
    }

    /// Follow the provider's redirects from `url` until one leads back to the desk; returns
    /// that address (the callback with `code` and `state`).
    pub async fn until_back_at_desk(&mut self, url: &str) -> String {
        let mut at = url.to_string();
        for _ in 0..10 {
            let a = self.request("GET", &at).await;
            let next = a.location.unwrap_or_else(|| {
                panic!(
                    "the provider answered {} without a redirect: {}",
                    a.status, a.body
                )
            });
            if next.starts_with(REDIRECT) {
                return next;
            }
            at = next;
        }
        panic!("more than ten redirects at the provider");
    }
}

/// Move the provider's clock forward (its authorization codes then expire).
pub async fn advance_clock(p: &Provider, seconds: u64) {
    let a = Browser::default()
        .request(
            "POST",
            &format!("http://127.0.0.1:{}/test/clock?advance={seconds}", p.port),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
}

/// The path and query of a desk address (what the in-process router is given).
pub fn desk_path(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    }
}
