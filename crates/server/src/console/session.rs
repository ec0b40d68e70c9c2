//! Who is using the console: a signed session cookie (name and expiry,
//! HMAC-SHA256 under a secret made at start-up), and the CSRF token every
//! form carries, derived from the session.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The cookie's name.
pub const COOKIE: &str = "pagerless_session";
/// How long a session lasts, seconds.
const TTL: i64 = 12 * 3600;

/// The console's settings and signing secret.
pub struct Console {
    secret: [u8; 32],
    /// The Prometheus the symptom charts read, when there is one.
    pub prometheus: Option<String>,
    /// For the charts' range queries.
    pub http: reqwest::Client,
}

impl Console {
    /// A console with a fresh secret (sessions end when the server restarts).
    pub fn new(prometheus: Option<String>) -> Console {
        let mut secret = [0u8; 32];
        fill_random(&mut secret);
        Console {
            secret,
            prometheus: prometheus.map(|p| p.trim_end_matches('/').to_owned()),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
        }
    }

    fn mac(&self, parts: &[&str]) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) else {
            return String::new();
        };
        for p in parts {
            mac.update(p.as_bytes());
            mac.update(&[0]);
        }
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// A session cookie's value for `name`.
    pub fn session_for(&self, name: &str, now: i64) -> String {
        let expiry = (now + TTL).to_string();
        let name = hex(name.as_bytes());
        let sig = self.mac(&["session", &name, &expiry]);
        format!("{name}.{expiry}.{sig}")
    }

    /// The signed-in name, when the request carries a valid, unexpired session.
    pub fn who(&self, headers: &HeaderMap, now: i64) -> Option<String> {
        let value = cookie(headers, COOKIE)?;
        let mut parts = value.split('.');
        let (name, expiry, sig) = (parts.next()?, parts.next()?, parts.next()?);
        let expected = self.mac(&["session", name, expiry]);
        if !bool::from(expected.as_bytes().ct_eq(sig.as_bytes())) {
            return None;
        }
        if expiry.parse::<i64>().ok()? < now {
            return None;
        }
        String::from_utf8(unhex(name)?).ok()
    }

    /// The CSRF token for forms on this request's pages.
    pub fn csrf(&self, headers: &HeaderMap) -> String {
        let session = cookie(headers, COOKIE).unwrap_or_default();
        self.mac(&["csrf", &session])
    }

    /// Whether a posted CSRF token belongs to this request's session.
    pub fn csrf_ok(&self, headers: &HeaderMap, presented: &str) -> bool {
        let expected = self.csrf(headers);
        bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
    }
}

/// A cookie's value from the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Fills `buf` from the kernel's random source; falls back to the clock and
/// the process id mixed through SHA-256 where `/dev/urandom` is missing.
fn fill_random(buf: &mut [u8; 32]) {
    use std::io::Read;
    if let Ok(mut f) = std::fs::File::open("/dev/urandom")
        && f.read_exact(buf).is_ok()
    {
        return;
    }
    use sha2::Digest;
    let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
    buf.copy_from_slice(&Sha256::digest(seed.as_bytes()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_cookie(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {COOKIE}={v}"))
                .unwrap_or_else(|e| panic!("{e}")),
        );
        h
    }

    #[test]
    fn a_session_names_its_human_until_it_expires() {
        let c = Console::new(None);
        let s = c.session_for("alice", 1000);
        assert_eq!(c.who(&with_cookie(&s), 1000).as_deref(), Some("alice"));
        assert_eq!(c.who(&with_cookie(&s), 1000 + TTL + 1), None);
    }

    #[test]
    fn a_forged_or_foreign_session_is_nobody() {
        let c = Console::new(None);
        let s = c.session_for("alice", 1000);
        let forged = s.replacen(&hex(b"alice"), &hex(b"mallory"), 1);
        assert_eq!(c.who(&with_cookie(&forged), 1000), None);
        let other = Console::new(None);
        assert_eq!(other.who(&with_cookie(&s), 1000), None, "another secret");
    }

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let c = Console::new(None);
        let a = with_cookie(&c.session_for("alice", 1000));
        let b = with_cookie(&c.session_for("bob", 1000));
        let token = c.csrf(&a);
        assert!(c.csrf_ok(&a, &token));
        assert!(!c.csrf_ok(&b, &token));
        assert!(!c.csrf_ok(&a, ""));
    }
}
