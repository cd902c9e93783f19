//! A small W3C WebDriver client over HTTP/1.1 JSON (no extra crates), driving Debian's
//! `chromium` through `chromedriver` started per test binary, plus axe-core injected into
//! the page (installed by `tests/run.sh` under `tests/web/node_modules`).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The W3C key codes used by the keyboard tests.
pub const TAB: &str = "\u{E004}";
pub const ENTER: &str = "\u{E007}";

/// `chromedriver` on a free loopback port; killed on drop.
pub struct Driver {
    child: Child,
    pub port: u16,
    profile: tempfile::TempDir,
    /// Sessions still open: ended on drop (also when a test panics), so no browser is left.
    sessions: std::sync::Mutex<Vec<String>>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        use std::io::{Read, Write};
        for id in self.sessions.lock().unwrap().drain(..) {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = write!(
                    s,
                    "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
                );
                let _ = s.read(&mut [0u8; 1024]);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP request to the driver; returns the JSON `value`.
async fn call(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect to chromedriver: {e}"))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    // chromedriver keeps the connection open: read the head, then Content-Length bytes.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let (head_end, length) = loop {
        let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("chromedriver closed the connection".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| format!("no Content-Length in {head}"))?;
            break (i + 4, length);
        }
    };
    while buf.len() < head_end + length {
        let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let payload = String::from_utf8_lossy(&buf[head_end..]).into_owned();
    let v: Value = serde_json::from_str(&payload).map_err(|e| format!("{e}: {payload}"))?;
    let value = v.get("value").cloned().unwrap_or(Value::Null);
    if let Some(err) = value.get("error").and_then(Value::as_str) {
        return Err(format!(
            "{method} {path}: {err}: {}",
            value.get("message").and_then(Value::as_str).unwrap_or("")
        ));
    }
    Ok(value)
}

impl Driver {
    /// Start chromedriver and wait until it reports ready.
    pub async fn start() -> Driver {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver (apt install chromium-driver)");
        let d = Driver {
            child,
            port,
            profile: tempfile::tempdir().unwrap(),
            sessions: std::sync::Mutex::new(Vec::new()),
        };
        super::lab::poll_until("chromedriver ready", Duration::from_secs(30), || async {
            match call(port, "GET", "/status", None).await {
                Ok(v) if v["ready"] == json!(true) => Ok(()),
                Ok(v) => Err(v.to_string()),
                Err(e) => Err(e),
            }
        })
        .await;
        d
    }

    /// A headless Chromium session with a fresh profile.
    pub async fn session(&self) -> Browser {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1280,1000", "--lang=sv-SE",
                    format!("--user-data-dir={}", self.profile.path().display()),
                ]
            }
        }}});
        let v = call(self.port, "POST", "/session", Some(&caps))
            .await
            .expect("new browser session");
        let id = v["sessionId"].as_str().unwrap().to_string();
        self.sessions.lock().unwrap().push(id.clone());
        Browser {
            port: self.port,
            id,
        }
    }
}

/// One browser session.
pub struct Browser {
    port: u16,
    id: String,
}

impl Browser {
    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let p = format!("/session/{}{path}", self.id);
        call(self.port, method, &p, body.as_ref())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url }))).await;
    }

    pub async fn url(&self) -> String {
        self.cmd("GET", "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn source(&self) -> String {
        self.cmd("GET", "/source", None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_string()
    }

    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.cmd("POST", &format!("/element/{e}/click"), Some(json!({})))
            .await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.cmd("POST", &format!("/element/{e}/clear"), Some(json!({})))
            .await;
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Choose an option of a `<select>` by its value.
    pub async fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value=\"{value}\"]"))
            .await;
    }

    /// Press one key (W3C key code) where the focus is.
    pub async fn press(&self, key: &str) {
        let actions = json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
            {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}
        ]}]});
        self.cmd("POST", "/actions", Some(actions)).await;
    }

    pub async fn script(&self, js: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": js, "args": [] })),
        )
        .await
    }

    /// The text of the focused element.
    pub async fn focused_text(&self) -> String {
        self.script(
            "const e = document.activeElement; return e ? (e.textContent || '').trim() : '';",
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Press Tab until the focused element's text is `text` (at most 100 presses).
    pub async fn tab_to(&self, text: &str) {
        for _ in 0..100 {
            self.press(TAB).await;
            if self.focused_text().await == text {
                return;
            }
        }
        panic!("Tab never reached {text:?}");
    }

    /// Wait until the page source contains `text` (a key press returns before the page it
    /// submits has loaded).
    pub async fn wait_for(&self, text: &str) {
        super::lab::poll_until(
            &format!("page with {text:?}"),
            Duration::from_secs(15),
            || async {
                let s = self.source().await;
                if s.contains(text) {
                    Ok(())
                } else {
                    Err(self.url().await)
                }
            },
        )
        .await;
    }

    pub async fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine;
        let v = self.cmd("GET", "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// Run axe-core in the page; the serious and critical violations as "id: help (n nodes)".
    pub async fn axe_serious(&self, axe_source: &str) -> Vec<String> {
        self.script(&format!("{axe_source}\n;return true;")).await;
        let v = self
            .cmd(
                "POST",
                "/execute/async",
                Some(json!({"script": "const done = arguments[arguments.length - 1]; \
                    axe.run(document, {resultTypes: ['violations']}) \
                      .then(r => done(JSON.stringify(r.violations))) \
                      .catch(e => done(JSON.stringify([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}])));",
                    "args": []})),
            )
            .await;
        let list: Vec<Value> = serde_json::from_str(v.as_str().unwrap()).unwrap();
        list.iter()
            .filter(|x| matches!(x["impact"].as_str(), Some("serious" | "critical")))
            .map(|x| {
                format!(
                    "{}: {} ({} nodes: {})",
                    x["id"].as_str().unwrap_or(""),
                    x["help"].as_str().unwrap_or(""),
                    x["nodes"].as_array().map_or(0, Vec::len),
                    x["nodes"]
                        .as_array()
                        .map(|n| n
                            .iter()
                            .filter_map(|n| n["html"].as_str())
                            .take(3)
                            .collect::<Vec<_>>()
                            .join(" | "))
                        .unwrap_or_default()
                )
            })
            .collect()
    }

    pub async fn quit(self) {
        let p = format!("/session/{}", self.id);
        let _ = call(self.port, "DELETE", &p, None).await;
    }
}
