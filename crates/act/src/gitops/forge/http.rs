//! Request plumbing the REST forges share: one `reqwest` client per forge with
//! a 30-second timeout and no redirects, the token sent in a header that never
//! reaches `Debug` or an error, a forge's error body turned into a message,
//! and lenient JSON decoding whose errors name the path that did not fit.
//!
//! Redirects are not followed because a redirect to another host would carry
//! GitLab's `PRIVATE-TOKEN` header along (reqwest strips only
//! `Authorization`); a 3xx becomes a [`ForgeError::Status`] naming where the
//! forge pointed.

use std::fmt::{self, Write as _};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ForgeError;

/// How long one request may take, connecting included.
pub(super) const TIMEOUT: Duration = Duration::from_secs(30);

/// Sent with every request (GitHub refuses requests without one).
const USER_AGENT: &str = concat!("pagerless/", env!("CARGO_PKG_VERSION"));

/// The longest forge message or body excerpt an error carries, in characters.
const MESSAGE_MAX_CHARS: usize = 500;

/// What replaces the token wherever a forge echoed it back.
const REDACTED: &str = "[redacted]";

/// One forge's REST API: its base URL, its credential and an HTTP client
/// that sends the credential with every request.
pub(super) struct Api {
    forge: &'static str,
    base: String,
    token: String,
    http: reqwest::Client,
}

impl fmt::Debug for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Api")
            .field("forge", &self.forge)
            .field("base", &self.base)
            .field("token", &REDACTED)
            .finish()
    }
}

/// How a forge wants its token: the header, and what goes before the token.
pub(super) struct Auth {
    /// The header's name, lower case (`authorization`, `private-token`).
    pub header: &'static str,
    /// Written before the token (`Bearer `, `token `, or nothing).
    pub scheme: &'static str,
}

impl Api {
    /// A client for the API at `api_base` (`https://host/api/v4`), sending
    /// `token` as `auth` says, and `headers` with every request.
    pub(super) fn new(
        forge: &'static str,
        api_base: &str,
        token: String,
        auth: Auth,
        headers: &[(&'static str, &'static str)],
    ) -> Result<Api, ForgeError> {
        let base = checked_base(forge, api_base)?;
        let token = token.trim().to_owned();
        if token.is_empty() {
            return Err(ForgeError::Other(format!(
                "{forge}: the API token is empty; give a token that may open pull requests"
            )));
        }
        let mut defaults = HeaderMap::new();
        let mut secret = HeaderValue::from_str(&format!("{}{token}", auth.scheme)).map_err(|_| {
            ForgeError::Other(format!(
                "{forge}: the API token has characters an HTTP header cannot carry (a line break?)"
            ))
        })?;
        secret.set_sensitive(true);
        defaults.insert(HeaderName::from_static(auth.header), secret);
        for (name, value) in headers {
            defaults.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(defaults)
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ForgeError::Other(format!("{forge}: cannot build an HTTP client: {e}")))?;
        Ok(Api {
            forge,
            base,
            token,
            http,
        })
    }

    /// The API's base URL, without a trailing slash.
    pub(super) fn base(&self) -> &str {
        &self.base
    }

    /// Sends one request to `path` (below the base URL, starting with `/`)
    /// and returns the answer when its status is 2xx.
    pub(super) async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Answer<'_>, ForgeError> {
        let mut builder = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if !query.is_empty() {
            builder = builder.query(query);
        }
        if let Some(body) = body {
            builder = builder.json(body);
        }
        let request = builder.build().map_err(|e| {
            ForgeError::Other(format!(
                "{}: cannot build the request for {}{path}: {}",
                self.forge,
                self.base,
                self.scrub(chain(&e))
            ))
        })?;
        let url = request.url().to_string();
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| self.unreachable(&url, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.unreachable(&url, &e))?
            .to_vec();
        if !status.is_success() {
            return Err(ForgeError::Status {
                forge: self.forge,
                method: method.to_string(),
                url,
                status: status.as_u16(),
                message: self.scrub(error_message(status, &headers, &body)),
            });
        }
        Ok(Answer {
            api: self,
            url,
            headers,
            body,
        })
    }

    /// Sends one request and decodes its 2xx answer as `T`.
    pub(super) async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<T, ForgeError> {
        self.send(method, path, query, body).await?.json()
    }

    /// A decode error for an answer from `url`.
    pub(super) fn decode_error(&self, url: &str, message: String) -> ForgeError {
        ForgeError::Decode {
            forge: self.forge,
            url: url.to_owned(),
            message: self.scrub(message),
        }
    }

    fn unreachable(&self, url: &str, error: &reqwest::Error) -> ForgeError {
        let what = if error.is_timeout() {
            format!("no answer within {} s", TIMEOUT.as_secs())
        } else if error.is_connect() {
            "cannot connect".to_owned()
        } else {
            "the exchange failed".to_owned()
        };
        let detail = chain(error);
        let message = if detail.is_empty() {
            what
        } else {
            format!("{what}: {detail}")
        };
        ForgeError::Unreachable {
            forge: self.forge,
            url: url.to_owned(),
            message: self.scrub(message),
        }
    }

    /// Removes the token from text a forge (or a proxy) may have echoed.
    fn scrub(&self, text: String) -> String {
        if text.contains(&self.token) {
            text.replace(&self.token, REDACTED)
        } else {
            text
        }
    }
}

/// A forge's 2xx answer.
pub(super) struct Answer<'a> {
    api: &'a Api,
    url: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer<'_> {
    /// The body decoded as `T`; a mismatch names its JSON path.
    pub(super) fn json<T: DeserializeOwned>(&self) -> Result<T, ForgeError> {
        decode(&self.body).map_err(|message| self.api.decode_error(&self.url, message))
    }

    /// A response header's value, when it is text.
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The URL that answered (for error messages).
    pub(super) fn url(&self) -> &str {
        &self.url
    }
}

/// Checks an API base URL: http or https, a host, no credentials, query or
/// fragment; returns it without a trailing slash.
fn checked_base(forge: &'static str, api_base: &str) -> Result<String, ForgeError> {
    let trimmed = api_base.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(trimmed).map_err(|e| {
        ForgeError::Other(format!(
            "{forge}: the API base `{trimmed}` is not a URL ({e}); write it like https://host/api"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ForgeError::Other(format!(
            "{forge}: the API base `{trimmed}` must be an http or https URL with a host"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Not echoed: it holds a credential.
        return Err(ForgeError::Other(format!(
            "{forge}: the API base must not carry a user or password; give the token instead"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ForgeError::Other(format!(
            "{forge}: the API base `{trimmed}` must not have a query or fragment"
        )));
    }
    Ok(trimmed.to_owned())
}

/// Splits `owner/name` (GitHub, Gitea), refusing anything else.
pub(super) fn owner_and_name(
    forge: &'static str,
    repo: &str,
) -> Result<(String, String), ForgeError> {
    let repo = repo.trim();
    match repo.split_once('/') {
        Some((owner, name))
            if plain_segment(owner) && plain_segment(name) && !name.contains('/') =>
        {
            Ok((owner.to_owned(), name.to_owned()))
        }
        _ => Err(ForgeError::Other(format!(
            "{forge}: the repository `{repo}` is not written `owner/name`"
        ))),
    }
}

/// Checks a GitLab project path (`group/sub/name`) or numeric id.
pub(super) fn project_path(forge: &'static str, repo: &str) -> Result<String, ForgeError> {
    let repo = repo.trim();
    if !repo.is_empty() && repo.split('/').all(plain_segment) {
        Ok(repo.to_owned())
    } else {
        Err(ForgeError::Other(format!(
            "{forge}: the project `{repo}` is not a project path like `group/sub/name`"
        )))
    }
}

/// A non-empty path segment that URL parsing will not treat as `.` or `..`.
fn plain_segment(segment: &str) -> bool {
    !segment.is_empty() && segment != "." && segment != ".."
}

/// Percent-encodes `text` for one URL path segment (a `/` becomes `%2F`).
pub(super) fn segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// An error and its sources, joined with `: `, repeated links dropped.
fn chain(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = error.source();
    while let Some(link) = current {
        let text = link.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        current = link.source();
    }
    if parts.is_empty() {
        parts.push(error.to_string());
    }
    parts.join(": ")
}

/// The forge's own words for a non-2xx answer: its JSON `message`,
/// `errors` or `error`, else the body's text, else the status's name.
fn error_message(status: reqwest::StatusCode, headers: &HeaderMap, body: &[u8]) -> String {
    let from_json = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|value| message_of(&value));
    let mut message = match from_json {
        Some(message) => message,
        None => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                status.canonical_reason().unwrap_or("no message").to_owned()
            } else {
                text.to_owned()
            }
        }
    };
    if status.is_redirection()
        && let Some(location) = headers.get(header::LOCATION).and_then(|v| v.to_str().ok())
    {
        message = format!(
            "redirected to {location}; redirects are not followed, so point the API base there"
        );
    }
    truncated(message)
}

/// Reads the error shapes the forges document: GitHub's `message` plus
/// `errors` (objects or strings), GitLab's `message` (a string, a list, or
/// an object of field → messages) or `error`, Gitea's `message`.
fn message_of(value: &Value) -> Option<String> {
    let object = value.as_object()?;
    let mut head: Vec<String> = Vec::new();
    if let Some(message) = object.get("message") {
        head.extend(flatten(message));
    }
    if let Some(error) = object.get("error") {
        head.extend(flatten(error));
    }
    if let Some(description) = object.get("error_description") {
        head.extend(flatten(description));
    }
    let details: Vec<String> = match object.get("errors") {
        Some(Value::Array(items)) => items.iter().flat_map(error_detail).collect(),
        Some(other) => flatten(other),
        None => Vec::new(),
    };
    let head = head.join("; ");
    let details = details.join("; ");
    match (head.is_empty(), details.is_empty()) {
        (true, true) => None,
        (false, true) => Some(head),
        (true, false) => Some(details),
        (false, false) => Some(format!("{head}: {details}")),
    }
}

/// One entry of GitHub's `errors`: its `message`, else `resource.field code`.
fn error_detail(item: &Value) -> Vec<String> {
    let Some(object) = item.as_object() else {
        return flatten(item);
    };
    if let Some(message) = object.get("message") {
        return flatten(message);
    }
    let text = |key: &str| object.get(key).and_then(Value::as_str).unwrap_or_default();
    let subject = match (text("resource"), text("field")) {
        ("", field) => field.to_owned(),
        (resource, "") => resource.to_owned(),
        (resource, field) => format!("{resource}.{field}"),
    };
    let detail = format!("{subject} {}", text("code")).trim().to_owned();
    if detail.is_empty() {
        vec![item.to_string()]
    } else {
        vec![detail]
    }
}

/// Message texts in a JSON value; an object's keys prefix their messages.
fn flatten(value: &Value) -> Vec<String> {
    match value {
        Value::Null => Vec::new(),
        Value::String(text) => vec![text.clone()],
        Value::Bool(_) | Value::Number(_) => vec![value.to_string()],
        Value::Array(items) => items.iter().flat_map(flatten).collect(),
        Value::Object(fields) => fields
            .iter()
            .flat_map(|(key, value)| {
                flatten(value)
                    .into_iter()
                    .map(move |message| format!("{key} {message}"))
            })
            .collect(),
    }
}

/// `text` cut to [`MESSAGE_MAX_CHARS`] characters.
fn truncated(text: String) -> String {
    match text.char_indices().nth(MESSAGE_MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// Decodes JSON `body` as `T`; an error says where (`head.sha`, `labels[1]`).
pub(super) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "not JSON ({e}): {}",
            truncated(String::from_utf8_lossy(body).trim().to_owned())
        )
    })?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            format!("at the top level: {inner}")
        } else {
            format!("at `{path}`: {inner}")
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Pull {
        number: u64,
        head: Head,
        #[serde(default)]
        labels: Vec<Label>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Head {
        sha: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Label {
        id: u64,
    }

    #[test]
    fn decode_names_the_path_of_a_wrong_type() {
        let err = decode::<Pull>(br#"{"number": 1, "head": {"sha": 7}}"#).unwrap_err();
        assert!(err.starts_with("at `head.sha`: invalid type"), "{err}");
    }

    #[test]
    fn decode_names_the_object_missing_a_field() {
        let err =
            decode::<Pull>(br#"{"number": 1, "head": {"sha": null}, "labels": [{"id": 1}, {}]}"#)
                .unwrap_err();
        assert!(
            err.starts_with("at `labels[1]`: missing field `id`"),
            "{err}"
        );
    }

    #[test]
    fn decode_reports_the_top_level() {
        let err = decode::<Pull>(br#"{"head": {}}"#).unwrap_err();
        assert_eq!(err, "at the top level: missing field `number`");
        let err = decode::<Pull>(b"<html>502</html>").unwrap_err();
        assert!(err.starts_with("not JSON"), "{err}");
    }

    #[test]
    fn decode_accepts_null_options_and_ignores_unknown_fields() {
        let pull =
            decode::<Pull>(br#"{"number": 9, "extra": [1, {"a": 2}], "head": {"sha": null}}"#)
                .unwrap();
        assert_eq!(pull.number, 9);
        assert!(pull.head.sha.is_none());
    }

    #[test]
    fn segment_encodes_slashes_and_spaces() {
        assert_eq!(segment("group/sub/name"), "group%2Fsub%2Fname");
        assert_eq!(segment("a b_c-1.~"), "a%20b_c-1.~");
    }

    #[test]
    fn messages_read_each_forge_shape() {
        let github = serde_json::json!({
            "message": "Validation Failed",
            "errors": [{"resource": "PullRequest", "code": "custom", "message": "A pull request already exists for o:b."},
                       {"resource": "PullRequest", "field": "head", "code": "invalid"}],
        });
        assert_eq!(
            message_of(&github).unwrap(),
            "Validation Failed: A pull request already exists for o:b.; PullRequest.head invalid"
        );
        let gitlab = serde_json::json!({"message": {"source_branch": ["is invalid", "is empty"]}});
        assert_eq!(
            message_of(&gitlab).unwrap(),
            "source_branch is invalid; source_branch is empty"
        );
        assert_eq!(
            message_of(&serde_json::json!({"error": "title is missing"})).unwrap(),
            "title is missing"
        );
        assert_eq!(message_of(&serde_json::json!({"other": 1})), None);
    }
}
