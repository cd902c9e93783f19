//! A scripted SMTP server on a loopback port for SMTP AUTH tests: it announces the AUTH
//! mechanisms it is given, accepts XOAUTH2/OAUTHBEARER with the listed bearer tokens, refuses
//! everything else with the given reply, and records every command (AUTH payloads decoded,
//! ^A for \x01) so a test can see which mechanism and which secret were sent.

use std::sync::{Arc, Mutex};

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// What the scripted server does with AUTH.
#[derive(Clone)]
pub struct Script {
    /// The mechanisms announced in EHLO (`""`: no AUTH line).
    pub mechanisms: &'static str,
    /// Tokens accepted for XOAUTH2/OAUTHBEARER.
    pub tokens: Arc<Mutex<Vec<String>>>,
    /// The reply to a refused AUTH.
    pub refusal: &'static str,
}

/// The scripted server: each element is one line the client sent (AUTH payloads decoded).
pub struct Fake {
    pub port: u16,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    pub fn lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
    pub fn auth_lines(&self) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| l.starts_with("AUTH"))
            .collect()
    }
}

pub async fn fake_smtp(script: Script) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l2 = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(session(sock, script.clone(), l2.clone()));
        }
    });
    Fake { port, log }
}

fn b64(s: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).replace('\x01', "^A")
}

/// The bearer token inside an XOAUTH2 or OAUTHBEARER payload (`auth=Bearer TOKEN^A`).
fn bearer(decoded: &str) -> Option<String> {
    let i = decoded.find("auth=Bearer ")?;
    let rest = &decoded[i + "auth=Bearer ".len()..];
    Some(rest.split("^A").next().unwrap_or("").to_string())
}

async fn session(sock: tokio::net::TcpStream, script: Script, log: Arc<Mutex<Vec<String>>>) {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    let _ = w.write_all(b"220 fake.rjl.test ESMTP\r\n").await;
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            log.lock().unwrap().push("EHLO".into());
            if script.mechanisms.is_empty() {
                "250-fake.rjl.test\r\n250 8BITMIME\r\n".into()
            } else {
                format!(
                    "250-fake.rjl.test\r\n250-AUTH {}\r\n250 8BITMIME\r\n",
                    script.mechanisms
                )
            }
        } else if upper.starts_with("AUTH ") {
            let mut parts = cmd.splitn(3, ' ');
            parts.next();
            let mech = parts.next().unwrap_or("").to_ascii_uppercase();
            let payload = parts.next().map(b64).unwrap_or_default();
            log.lock().unwrap().push(format!("AUTH {mech} {payload}"));
            let ok = matches!(mech.as_str(), "XOAUTH2" | "OAUTHBEARER")
                && bearer(&payload).is_some_and(|t| script.tokens.lock().unwrap().contains(&t));
            if ok {
                "235 2.7.0 Authentication successful\r\n".into()
            } else {
                format!("{}\r\n", script.refusal)
            }
        } else if upper == "DATA" {
            log.lock().unwrap().push("DATA".into());
            let _ = w.write_all(b"354 go ahead\r\n").await;
            loop {
                line.clear();
                if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if line == ".\r\n" {
                    break;
                }
            }
            log.lock().unwrap().push("MESSAGE".into());
            "250 2.0.0 queued\r\n".into()
        } else if upper == "QUIT" {
            log.lock().unwrap().push("QUIT".into());
            let _ = w.write_all(b"221 2.0.0 bye\r\n").await;
            return;
        } else {
            log.lock().unwrap().push(cmd.clone());
            "250 2.0.0 ok\r\n".into()
        };
        if w.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}
