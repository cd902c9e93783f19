//! A small HTTP/1.1 client over hyper's connection API, as a [`crate::ports::HttpFetch`]: for
//! the OpenID provider's discovery document, its signing keys and its token endpoint.
//!
//! One connection per request (sign-ins are rare; discovery and keys are cached by the
//! caller). https with rustls (ring, webpki roots plus an optional extra CA file); plain http
//! only towards a loopback host. Each request is bounded in time (`timeout`) and its answer's
//! body in size (`max_body`); redirects are not followed.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;

use super::tls;
use crate::ports::{HttpFetch, HttpReply};

/// The hyper client.
#[derive(Clone)]
pub struct HyperHttp {
    tls: Arc<ClientConfig>,
    timeout: Duration,
    max_body: usize,
}

impl std::fmt::Debug for HyperHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperHttp")
            .field("timeout", &self.timeout)
            .field("max_body", &self.max_body)
            .finish()
    }
}

impl HyperHttp {
    /// A client trusting the webpki roots plus `ca_file` (PEM) when given.
    pub fn new(ca_file: Option<&std::path::Path>, timeout: Duration) -> anyhow::Result<HyperHttp> {
        Ok(HyperHttp {
            tls: tls::client_config(ca_file)?,
            timeout,
            max_body: 1 << 20,
        })
    }

    async fn send(&self, uri: hyper::Uri, req: Request<Full<Bytes>>) -> Result<HttpReply, String> {
        let scheme = uri.scheme_str().unwrap_or("");
        let host = uri.host().ok_or("the address has no host")?.to_string();
        let https = match scheme {
            "https" => true,
            "http" if tls::is_loopback_host(&host) => false,
            "http" => return Err(format!("refusing plain http to {host}: use https")),
            _ => return Err(format!("unsupported address scheme {scheme:?}")),
        };
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let tcp = TcpStream::connect((bare.as_str(), port))
            .await
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        if https {
            let name = tls::server_name(&host).map_err(|e| e.to_string())?;
            let stream = TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {host}: {e}"))?;
            self.exchange(TokioIo::new(stream), req).await
        } else {
            self.exchange(TokioIo::new(tcp), req).await
        }
    }

    async fn exchange<T>(&self, io: T, req: Request<Full<Bytes>>) -> Result<HttpReply, String>
    where
        T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let res = sender
            .send_request(req)
            .await
            .map_err(|e| format!("HTTP request: {e}"));
        let out = match res {
            Ok(res) => {
                let status = res.status().as_u16();
                let body = Limited::new(res.into_body(), self.max_body)
                    .collect()
                    .await
                    .map_err(|e| format!("reading the answer: {e}"))?
                    .to_bytes();
                Ok(HttpReply {
                    status,
                    body: body.to_vec(),
                })
            }
            Err(e) => Err(e),
        };
        driver.abort();
        out
    }

    async fn timed(
        &self,
        (uri, req): (hyper::Uri, Request<Full<Bytes>>),
    ) -> Result<HttpReply, String> {
        let url = uri.to_string();
        match tokio::time::timeout(self.timeout, self.send(uri, req)).await {
            Ok(r) => r,
            Err(_) => Err(format!("{url} did not answer within {:?}", self.timeout)),
        }
    }
}

fn host_header(uri: &hyper::Uri) -> String {
    match (uri.host(), uri.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    }
}

fn request(
    method: &str,
    url: &str,
    content_type: Option<&str>,
    auth: Option<String>,
    body: Vec<u8>,
) -> Result<(hyper::Uri, Request<Full<Bytes>>), String> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| format!("bad address {url:?}: {e}"))?;
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, host_header(&uri))
        .header(hyper::header::ACCEPT, "application/json")
        .header(hyper::header::USER_AGENT, "vardval-agent");
    if let Some(ct) = content_type {
        b = b.header(hyper::header::CONTENT_TYPE, ct);
    }
    if let Some(a) = auth {
        b = b.header(hyper::header::AUTHORIZATION, a);
    }
    // The request carries the origin form (path and query); the full address is kept for the
    // connection, TLS and errors.
    let req = b
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    Ok((uri, req))
}

impl HttpFetch for HyperHttp {
    fn get<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<HttpReply, String>> {
        Box::pin(async move {
            self.timed(request("GET", url, None, None, Vec::new())?)
                .await
        })
    }

    fn post_form<'a>(
        &'a self,
        url: &'a str,
        form: &'a [(&'a str, &'a str)],
        basic: Option<(&'a str, &'a str)>,
    ) -> BoxFuture<'a, Result<HttpReply, String>> {
        Box::pin(async move {
            let body = serde_urlencoded::to_string(form)
                .map_err(|e| format!("cannot encode the form: {e}"))?;
            // RFC 6749 §2.3.1: the client id and secret are form-encoded before Basic.
            let auth = basic.map(|(user, pass)| {
                let enc = |s: &str| {
                    serde_urlencoded::to_string([("", s)]).unwrap_or_default()[1..].to_string()
                };
                let pair = format!("{}:{}", enc(user), enc(pass));
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )
            });
            self.timed(request(
                "POST",
                url,
                Some("application/x-www-form-urlencoded"),
                auth,
                body.into_bytes(),
            )?)
            .await
        })
    }
}
