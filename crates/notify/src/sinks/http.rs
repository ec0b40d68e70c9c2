//! The one HTTP exchange every sink makes: POST a JSON body with optional
//! bearer token and headers, and turn the answer into success or a typed
//! [`NotifyError`] (with `Retry-After` read), secrets scrubbed from any text.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use serde_json::Value;

use crate::NotifyError;
use crate::secret::{Secret, scrub};

/// How much of an error answer's body is kept.
const BODY_CHARS: usize = 300;

/// One POST to make.
pub(crate) struct Post<'a> {
    /// The sink's name, for errors.
    pub sink: &'a str,
    /// Where to.
    pub url: &'a str,
    /// `Authorization: Bearer …`, if any.
    pub bearer: Option<&'a Secret>,
    /// Extra headers.
    pub headers: &'a [(String, String)],
    /// Values to scrub from any text that ends up in an error.
    pub secrets: &'a [&'a Secret],
}

impl Post<'_> {
    /// Sends `body`; the answer's body on 2xx, else the error.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        body: &Value,
    ) -> Result<String, NotifyError> {
        let headers = self.headers()?;
        let answer = client
            .post(self.url)
            .headers(headers)
            .json(body)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = answer.status();
        let retry_after = answer
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let text = answer.text().await.map_err(|e| self.transport(e))?;
        if status.is_success() {
            return Ok(text);
        }
        Err(NotifyError::Status {
            sink: self.sink.to_owned(),
            status: status.as_u16(),
            body: self.clean(&text),
            retry_after,
        })
    }

    fn headers(&self) -> Result<HeaderMap, NotifyError> {
        let mut map = HeaderMap::new();
        if let Some(token) = self.bearer {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                    self.request(
                        "the token has characters an HTTP header cannot carry (a line break?)",
                    )
                })?;
            value.set_sensitive(true);
            map.insert(AUTHORIZATION, value);
        }
        for (name, value) in self.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| self.request(&format!("`{name}` is not an HTTP header name")))?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                self.request(&format!(
                    "the value of header `{name}` has characters a header cannot carry"
                ))
            })?;
            map.insert(name, value);
        }
        Ok(map)
    }

    /// Scrubs secrets from `text` and keeps its start.
    pub fn clean(&self, text: &str) -> String {
        crate::notice::truncate(scrub(text.trim(), self.secrets).as_str(), BODY_CHARS)
    }

    fn request(&self, detail: &str) -> NotifyError {
        NotifyError::Request {
            sink: self.sink.to_owned(),
            detail: detail.to_owned(),
        }
    }

    fn transport(&self, e: reqwest::Error) -> NotifyError {
        if e.is_timeout() {
            return NotifyError::Timeout {
                sink: self.sink.to_owned(),
            };
        }
        let e = e.without_url();
        // reqwest's own text is generic ("error sending request"); the cause
        // chain says what happened ("Connection refused").
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            detail.push_str(": ");
            detail.push_str(&cause.to_string());
            source = cause.source();
        }
        let detail = self.clean(&detail);
        NotifyError::Transport {
            sink: self.sink.to_owned(),
            detail,
        }
    }
}

/// Reads `Retry-After`: delta-seconds or an HTTP date.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}
