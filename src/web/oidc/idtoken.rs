//! The ID token: a JWS in compact form, signed RS256 (what Entra ID and most providers use),
//! verified with ring against the provider's published keys, then its claims checked as
//! OpenID Connect Core §3.1.3.7 says: issuer, audience, authorized party, expiry, issue time
//! and the nonce of this sign-in.
//!
//! Only RS256 is accepted: `none`, HMAC (`HS*`, which would make the client secret a signing
//! key) and every other algorithm are refused before any key is looked at.

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

/// Why an ID token was not accepted. The text is for the log and the audit row, never shown to
/// the person signing in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the ID token is malformed: {0}")]
    Malformed(&'static str),
    #[error("the ID token is signed with {0:?}; only RS256 is accepted")]
    Algorithm(String),
    #[error("no signing key {0:?} among the provider's keys")]
    UnknownKey(String),
    #[error("the ID token's signature does not verify")]
    Signature,
    #[error("the ID token's issuer is {got:?}, not {want:?}")]
    Issuer { got: String, want: String },
    #[error("the ID token is not for this application (aud {0})")]
    Audience(String),
    #[error("the ID token's authorized party is {0:?}, not this application")]
    AuthorizedParty(String),
    #[error("the ID token expired at {exp} (now {now})")]
    Expired { exp: i64, now: i64 },
    #[error("the ID token was issued in the future ({iat}, now {now})")]
    IssuedInFuture { iat: i64, now: i64 },
    #[error("the ID token's nonce does not match this sign-in")]
    Nonce,
}

/// One RSA signing key from the provider's JWKS.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Jwk {
    pub kty: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    #[serde(default)]
    pub n: Option<String>,
    #[serde(default)]
    pub e: Option<String>,
}

/// The JWKS document.
#[derive(Debug, Clone, Deserialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// A token split into its parts, signature not yet checked.
#[derive(Debug, Clone)]
pub struct Jws {
    pub alg: String,
    pub kid: Option<String>,
    pub claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

fn b64(s: &str) -> Result<Vec<u8>, TokenError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| TokenError::Malformed("a part is not base64url"))
}

/// Split and decode a compact JWS (`header.payload.signature`).
pub fn parse(token: &str) -> Result<Jws, TokenError> {
    if token.len() > 64 * 1024 {
        return Err(TokenError::Malformed("longer than 64 KB"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed("not three parts"));
    };
    let header: Value = serde_json::from_slice(&b64(h)?)
        .map_err(|_| TokenError::Malformed("the header is not JSON"))?;
    let claims: Value = serde_json::from_slice(&b64(p)?)
        .map_err(|_| TokenError::Malformed("the payload is not JSON"))?;
    if !claims.is_object() {
        return Err(TokenError::Malformed("the payload is not an object"));
    }
    Ok(Jws {
        alg: header
            .get("alg")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        kid: header
            .get("kid")
            .and_then(Value::as_str)
            .map(str::to_string),
        claims,
        signing_input: format!("{h}.{p}"),
        signature: b64(s)?,
    })
}

/// The key the token names (by `kid`; without one, the only RSA signing key), or `None`.
pub fn select_key<'k>(jws: &Jws, keys: &'k [Jwk]) -> Option<&'k Jwk> {
    let usable = |k: &&Jwk| {
        k.kty == "RSA"
            && k.use_.as_deref().is_none_or(|u| u == "sig")
            && k.alg.as_deref().is_none_or(|a| a == "RS256")
    };
    match &jws.kid {
        Some(kid) => keys
            .iter()
            .filter(usable)
            .find(|k| k.kid.as_deref() == Some(kid)),
        None => {
            let mut rsa = keys.iter().filter(usable);
            match (rsa.next(), rsa.next()) {
                (Some(k), None) => Some(k),
                _ => None,
            }
        }
    }
}

/// Check the algorithm and the signature with `key`.
pub fn verify_signature(jws: &Jws, key: &Jwk) -> Result<(), TokenError> {
    if jws.alg != "RS256" {
        return Err(TokenError::Algorithm(jws.alg.clone()));
    }
    let (Some(n), Some(e)) = (&key.n, &key.e) else {
        return Err(TokenError::Malformed("the key has no modulus or exponent"));
    };
    let n = b64(n)?;
    let e = b64(e)?;
    ring::signature::RsaPublicKeyComponents { n: &n, e: &e }
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            jws.signing_input.as_bytes(),
            &jws.signature,
        )
        .map_err(|_| TokenError::Signature)
}

/// What this sign-in expects of the token.
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// Unix seconds.
    pub now: i64,
    /// Clock difference allowed between us and the provider, seconds.
    pub leeway: i64,
}

/// Check the claims of a token whose signature has been verified.
pub fn check_claims(claims: &Value, want: &Expect<'_>) -> Result<(), TokenError> {
    let s = |k: &str| claims.get(k).and_then(Value::as_str);
    let iss = s("iss").unwrap_or("");
    if iss != want.issuer {
        return Err(TokenError::Issuer {
            got: iss.to_string(),
            want: want.issuer.to_string(),
        });
    }
    let aud: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(v)) => v.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !aud.contains(&want.client_id) {
        return Err(TokenError::Audience(format!("{aud:?}")));
    }
    if let Some(azp) = s("azp") {
        if azp != want.client_id {
            return Err(TokenError::AuthorizedParty(azp.to_string()));
        }
    } else if aud.len() > 1 {
        return Err(TokenError::AuthorizedParty(String::new()));
    }
    let num = |k: &str| claims.get(k).and_then(Value::as_i64);
    let exp = num("exp").ok_or(TokenError::Malformed("no exp"))?;
    if exp + want.leeway <= want.now {
        return Err(TokenError::Expired { exp, now: want.now });
    }
    let iat = num("iat").ok_or(TokenError::Malformed("no iat"))?;
    if iat - want.leeway > want.now {
        return Err(TokenError::IssuedInFuture { iat, now: want.now });
    }
    let nonce = s("nonce").unwrap_or("");
    let same = nonce.len() == want.nonce.len()
        && nonce
            .bytes()
            .zip(want.nonce.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same || want.nonce.is_empty() {
        return Err(TokenError::Nonce);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn want() -> Expect<'static> {
        Expect {
            issuer: "https://login.rjl.test/t/v2.0",
            client_id: "app",
            nonce: "n-123",
            now: 1_000_000,
            leeway: 60,
        }
    }

    fn good() -> Value {
        json!({
            "iss": "https://login.rjl.test/t/v2.0", "aud": "app", "sub": "s",
            "exp": 1_000_300, "iat": 999_990, "nonce": "n-123"
        })
    }

    fn with(k: &str, v: Value) -> Value {
        let mut c = good();
        c[k] = v;
        c
    }

    #[test]
    fn a_good_token_passes() {
        assert_eq!(check_claims(&good(), &want()), Ok(()));
        assert_eq!(check_claims(&with("aud", json!(["app"])), &want()), Ok(()));
        assert_eq!(
            check_claims(&with("aud", json!(["app", "other"])), &want()),
            Err(TokenError::AuthorizedParty(String::new())),
            "several audiences need azp"
        );
        let mut c = with("aud", json!(["app", "other"]));
        c["azp"] = json!("app");
        assert_eq!(check_claims(&c, &want()), Ok(()));
    }

    #[test]
    fn each_claim_is_checked() {
        assert!(matches!(
            check_claims(&with("iss", json!("https://evil.test/")), &want()),
            Err(TokenError::Issuer { .. })
        ));
        assert!(matches!(
            check_claims(&with("aud", json!("someone-else")), &want()),
            Err(TokenError::Audience(_))
        ));
        assert!(matches!(
            check_claims(&with("azp", json!("someone-else")), &want()),
            Err(TokenError::AuthorizedParty(_))
        ));
        assert!(matches!(
            check_claims(&with("exp", json!(999_900)), &want()),
            Err(TokenError::Expired { .. })
        ));
        assert_eq!(
            check_claims(&with("exp", json!(999_950)), &want()),
            Ok(()),
            "within the leeway"
        );
        assert!(matches!(
            check_claims(&with("iat", json!(1_000_500)), &want()),
            Err(TokenError::IssuedInFuture { .. })
        ));
        assert_eq!(
            check_claims(&with("nonce", json!("n-124")), &want()),
            Err(TokenError::Nonce)
        );
        let mut c = good();
        c.as_object_mut().unwrap().remove("nonce");
        assert_eq!(check_claims(&c, &want()), Err(TokenError::Nonce));
        c = good();
        c.as_object_mut().unwrap().remove("exp");
        assert!(matches!(
            check_claims(&c, &want()),
            Err(TokenError::Malformed(_))
        ));
    }

    fn token(header: Value, claims: Value, sig: &[u8]) -> String {
        let e = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        format!(
            "{}.{}.{}",
            e(header.to_string().as_bytes()),
            e(claims.to_string().as_bytes()),
            e(sig)
        )
    }

    #[test]
    fn other_algorithms_and_garbage_are_refused() {
        let key = Jwk {
            kty: "RSA".into(),
            kid: Some("k1".into()),
            alg: None,
            use_: None,
            n: Some("AQAB".into()),
            e: Some("AQAB".into()),
        };
        for alg in ["none", "HS256", "ES256", "RS512"] {
            let t = token(json!({"alg": alg, "kid": "k1"}), good(), b"x");
            let jws = parse(&t).unwrap();
            assert_eq!(
                verify_signature(&jws, &key),
                Err(TokenError::Algorithm(alg.into()))
            );
        }
        let t = token(
            json!({"alg": "RS256", "kid": "k1"}),
            good(),
            b"not a signature",
        );
        assert_eq!(
            verify_signature(&parse(&t).unwrap(), &key),
            Err(TokenError::Signature)
        );
        assert!(parse("a.b").is_err());
        assert!(parse("a.b.c.d").is_err());
        assert!(parse("!!.??.**").is_err());
        assert!(parse(&token(json!({"alg": "RS256"}), json!([1, 2]), b"x")).is_err());
    }

    #[test]
    fn keys_are_chosen_by_kid() {
        let k = |kid: &str, kty: &str| Jwk {
            kty: kty.into(),
            kid: Some(kid.into()),
            alg: None,
            use_: None,
            n: None,
            e: None,
        };
        let keys = vec![k("a", "RSA"), k("b", "RSA"), k("c", "EC")];
        let jws = |kid: Option<&str>| {
            let mut h = json!({"alg": "RS256"});
            if let Some(kid) = kid {
                h["kid"] = json!(kid);
            }
            parse(&token(h, good(), b"x")).unwrap()
        };
        assert_eq!(
            select_key(&jws(Some("b")), &keys).unwrap().kid.as_deref(),
            Some("b")
        );
        assert!(
            select_key(&jws(Some("c")), &keys).is_none(),
            "not an RSA key"
        );
        assert!(select_key(&jws(Some("z")), &keys).is_none());
        assert!(
            select_key(&jws(None), &keys).is_none(),
            "ambiguous without kid"
        );
        assert_eq!(
            select_key(&jws(None), &keys[..1]).unwrap().kid.as_deref(),
            Some("a")
        );
    }
}
