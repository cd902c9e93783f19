//! SMTP AUTH for [`super::smtp::SmtpTransport`]: OAuth2 bearer tokens (XOAUTH2, or
//! OAUTHBEARER where XOAUTH2 is not offered), the token command run for every connection,
//! and which server replies mean "our credentials were refused".
//!
//! Exchange Online turns basic SMTP AUTH (PLAIN/LOGIN with a password) off; a token must go
//! through an OAuth mechanism. With a token command configured, a password mechanism is never
//! used: a server that offers no OAuth mechanism is a credentials problem, not a reason to
//! send the token as a password.

use std::time::Duration;

use base64::Engine;
use lettre::transport::smtp::authentication::Mechanism;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::Ehlo;
use lettre::transport::smtp::extension::ClientId;

use crate::ports::SendError;

/// Enhanced status codes (RFC 3463 and Microsoft's own) that mean the login or the
/// credentials were refused: 5.7.0 authentication required, 5.7.3 / 5.7.8 / 5.7.139
/// authentication unsuccessful, 5.7.30 basic authentication not supported, 5.7.57 client not
/// authenticated, 4.7.0 temporary authentication failure.
const AUTH_ENHANCED: &[&str] = &[
    "5.7.0", "5.7.3", "5.7.8", "5.7.30", "5.7.57", "5.7.139", "4.7.0",
];

/// Basic reply codes of AUTH refusals (RFC 4954): 530 required, 534 mechanism too weak,
/// 535 credentials invalid, 538 encryption required, 454 temporary failure.
const AUTH_CODES: &[&str] = &["530", "534", "535", "538", "454"];

/// Does this negative reply (basic `code`, text starting with the enhanced code) say that our
/// credentials were refused?
pub fn is_auth_refusal(code: &str, text: &str) -> bool {
    if AUTH_CODES.contains(&code) {
        return true;
    }
    let enhanced = text.split_whitespace().next().unwrap_or("");
    AUTH_ENHANCED.contains(&enhanced)
}

/// The reply text of a lettre error (`permanent error (535): 5.7.3 Authentication …`).
fn reply_text(e: &lettre::transport::smtp::Error) -> String {
    let msg = e.to_string();
    match msg.split_once("): ") {
        Some((_, text)) => text.to_string(),
        None => msg,
    }
}

/// Map a negative reply to AUTH: every refusal is a credentials problem; trouble with the
/// connection itself stays transient.
pub fn auth_error(host: &str, user: &str, e: lettre::transport::smtp::Error) -> SendError {
    if e.status().is_some() {
        return SendError::Credentials(format!(
            "{host} refused the login of {user}: {}",
            e.to_string().trim()
        ));
    }
    SendError::Transient(format!("AUTH: {e}"))
}

/// Map an error after the login (MAIL, RCPT, DATA): 4xx, connection, timeout and TLS trouble
/// are transient; a refusal of our credentials (see [`is_auth_refusal`]) is a credentials
/// problem; other 5xx replies are permanent.
pub fn send_error(e: lettre::transport::smtp::Error) -> SendError {
    let msg = e.to_string();
    if let Some(code) = e.status() {
        let code = code.to_string();
        if is_auth_refusal(&code, &reply_text(&e)) {
            return SendError::Credentials(format!("authentication failed: {msg}"));
        }
        if e.is_permanent() {
            return SendError::Permanent(msg);
        }
    }
    SendError::Transient(msg)
}

/// Run the token command (`sh -c`) and take the first line of its output as the bearer token.
/// Runs for every new connection: tokens expire (Entra ID access tokens after about an hour).
pub async fn run_token_command(command: &str, timeout: Duration) -> Result<String, SendError> {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(timeout, child)
        .await
        .map_err(|_| {
            SendError::Credentials(format!(
                "the token command did not finish within {timeout:?}"
            ))
        })?
        .map_err(|e| SendError::Credentials(format!("cannot run the token command: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let err: String = err.lines().next().unwrap_or("").chars().take(200).collect();
        return Err(SendError::Credentials(format!(
            "the token command exited with {}{}",
            out.status,
            if err.is_empty() {
                String::new()
            } else {
                format!(": {err}")
            }
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.is_empty() {
        return Err(SendError::Credentials(
            "the token command printed nothing".into(),
        ));
    }
    Ok(token)
}

/// Which OAuth mechanism to use on this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthMechanism {
    Xoauth2,
    OAuthBearer,
}

/// The mechanisms the server's EHLO reply announces (`AUTH PLAIN LOGIN XOAUTH2 …`).
fn announced(lines: &[&str]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            match w.next() {
                Some(k) if k.eq_ignore_ascii_case("AUTH") => {
                    Some(w.map(|m| m.to_ascii_uppercase()).collect::<Vec<_>>())
                }
                _ => None,
            }
        })
        .flatten()
        .collect()
}

/// Log in with a bearer token: XOAUTH2 when offered, else OAUTHBEARER, else refuse (never a
/// password mechanism).
pub async fn oauth_login(
    conn: &mut AsyncSmtpConnection,
    hello: &ClientId,
    host: &str,
    port: u16,
    user: &str,
    token: &str,
) -> Result<OAuthMechanism, SendError> {
    let mech = if conn
        .server_info()
        .supports_auth_mechanism(Mechanism::Xoauth2)
    {
        OAuthMechanism::Xoauth2
    } else {
        // lettre keeps only the mechanisms it implements; ask again for the full list.
        let ehlo = conn
            .command(Ehlo::new(hello.clone()))
            .await
            .map_err(send_error)?;
        let lines: Vec<&str> = ehlo.message().collect();
        let offered = announced(&lines);
        if offered.iter().any(|m| m == "OAUTHBEARER") {
            OAuthMechanism::OAuthBearer
        } else {
            return Err(SendError::Credentials(format!(
                "{host} offers no OAuth login (XOAUTH2 or OAUTHBEARER), only [{}]; \
                 the token is never sent as a password",
                offered.join(" ")
            )));
        }
    };
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    let (name, initial) = match mech {
        OAuthMechanism::Xoauth2 => (
            "XOAUTH2",
            b64(format!("user={user}\x01auth=Bearer {token}\x01\x01")),
        ),
        OAuthMechanism::OAuthBearer => (
            "OAUTHBEARER",
            b64(format!(
                "n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01"
            )),
        ),
    };
    let refused = |e| auth_error(host, user, e);
    let reply = conn
        .command(format!("AUTH {name} {initial}\r\n"))
        .await
        .map_err(refused)?;
    if reply.has_code(334) {
        // The server's error details (JSON) as a challenge: answer with the empty response
        // (XOAUTH2) or ^A (OAUTHBEARER, RFC 7628) and read the final refusal.
        let answer = match mech {
            OAuthMechanism::Xoauth2 => "\r\n",
            OAuthMechanism::OAuthBearer => "AQ==\r\n",
        };
        conn.command(answer).await.map_err(refused)?;
        return Err(SendError::Credentials(format!(
            "{host} refused the {name} login of {user}"
        )));
    }
    Ok(mech)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_refusals() {
        assert!(is_auth_refusal("535", "5.7.3 Authentication unsuccessful"));
        assert!(is_auth_refusal(
            "550",
            "5.7.30 Basic authentication is not supported for Client Submission"
        ));
        assert!(is_auth_refusal(
            "535",
            "5.7.139 Authentication unsuccessful"
        ));
        assert!(is_auth_refusal(
            "530",
            "5.7.57 Client was not authenticated"
        ));
        assert!(!is_auth_refusal("550", "5.1.1 User unknown"));
        assert!(!is_auth_refusal("554", "5.7.1 Relay access denied"));
    }

    #[test]
    fn announced_mechanisms() {
        let l = [
            "mail.rjl.test",
            "PIPELINING",
            "AUTH PLAIN oauthbearer",
            "8BITMIME",
        ];
        assert_eq!(announced(&l), vec!["PLAIN", "OAUTHBEARER"]);
    }
}
