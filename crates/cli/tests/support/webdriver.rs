//! Real headless Chromium for tests of the web console, driven through
//! chromedriver's W3C WebDriver HTTP API: start a [`Browser`], open pages,
//! find elements, type, click, run JavaScript and take screenshots.
//!
//! No WebDriver crate: the protocol is a handful of JSON requests, sent with
//! `reqwest`. Every helper panics with the page's current URL when it fails,
//! as test helpers do. A missing chromedriver or Chromium fails the test with
//! the packages to install (`scripts/install-test-deps` installs them).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::{Proc, free_port, spawn};

/// The W3C key under which an element reference travels in JSON.
pub const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long [`Browser::find`] waits for an element to appear.
pub const FIND_TIMEOUT: Duration = Duration::from_secs(5);

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const INSTALL_HINT: &str = "apt-get install -y chromium chromium-driver (.ci/run does)";
const POLL: Duration = Duration::from_millis(50);

/// Where tests leave screenshots: `$PAGERLESS_TEST_ARTIFACTS` when set, else
/// `test-artifacts` in the cargo target directory (outside the clone in CI).
pub fn artifacts_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PAGERLESS_TEST_ARTIFACTS") {
        return PathBuf::from(dir);
    }
    // CARGO_BIN_EXE_pagerless is <target>/<profile>/pagerless.
    Path::new(env!("CARGO_BIN_EXE_pagerless"))
        .parent()
        .and_then(Path::parent)
        .expect("the pagerless binary lives in <target>/<profile>/")
        .join("test-artifacts")
}

/// chromedriver at its Debian path or on PATH, or a failed test saying how to
/// install it.
fn chromedriver_path() -> PathBuf {
    let fixed = Path::new(CHROMEDRIVER);
    if fixed.is_file() {
        return fixed.to_owned();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("chromedriver"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("chromedriver is not installed: {INSTALL_HINT}"))
}

/// An error answered by chromedriver (or the failure to reach it).
#[derive(Debug, Clone)]
pub struct WebDriverError {
    /// The W3C error code, such as `no such element`; `transport` when
    /// chromedriver could not be reached or answered something else than JSON.
    pub error: String,
    /// chromedriver's message.
    pub message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // chromedriver's messages end with a long "(Session info: ...)" line
        // and a stack trace; the first line says what went wrong.
        let first = self.message.lines().next().unwrap_or_default();
        if first.starts_with(&self.error) {
            f.write_str(first)
        } else {
            write!(f, "{}: {first}", self.error)
        }
    }
}

/// A cookie as the browser holds it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cookie {
    /// The cookie's name.
    pub name: String,
    /// Its value.
    pub value: String,
    /// The path it is sent for.
    #[serde(default)]
    pub path: Option<String>,
    /// The domain it is sent to.
    #[serde(default)]
    pub domain: Option<String>,
    /// Whether scripts cannot read it.
    #[serde(default)]
    pub http_only: bool,
    /// Whether it is only sent over HTTPS.
    #[serde(default)]
    pub secure: bool,
    /// `Strict`, `Lax` or `None`.
    #[serde(default)]
    pub same_site: Option<String>,
    /// Expiry in seconds since the epoch; none for a session cookie.
    #[serde(default)]
    pub expiry: Option<u64>,
}

/// A headless Chromium session behind its own chromedriver; both are gone,
/// with every Chromium process, when it is dropped.
pub struct Browser {
    http: reqwest::Client,
    driver: Proc,
    port: u16,
    session: String,
    profile: PathBuf,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a headless Chromium
    /// session whose profile and logs live in `dir`.
    pub async fn start(dir: &Path) -> Browser {
        let chromedriver = chromedriver_path();
        assert!(
            Path::new(CHROMIUM).is_file(),
            "chromium is not installed: {INSTALL_HINT}"
        );
        std::fs::create_dir_all(dir).expect("browser dir");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        let (driver, port) = start_chromedriver(&chromedriver, dir, &http).await;
        let profile = dir.join(format!("chromium-profile-{port}"));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).expect("chromium profile dir");

        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "timeouts": { "implicit": 0, "pageLoad": 30_000, "script": 30_000 },
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--disable-quic",
                            "--no-first-run",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--window-size=1366,900",
                            format!("--user-data-dir={}", profile.display()),
                        ],
                    },
                },
            },
        });
        let url = format!("http://127.0.0.1:{port}/session");
        let answer = request(&http, Method::POST, &url, Some(capabilities)).await;
        let session = match answer {
            Ok(v) => v["sessionId"]
                .as_str()
                .unwrap_or_else(|| panic!("chromedriver answered no session id: {v}"))
                .to_owned(),
            Err(e) => panic!(
                "chromedriver could not start Chromium: {e}\n{}\nchromedriver's log:\n{}",
                e.message,
                driver.output()
            ),
        };
        Browser {
            http,
            driver,
            port,
            session,
            profile,
        }
    }

    /// Sends one command of this session; `path` is relative to the session.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        let url = format!(
            "http://127.0.0.1:{}/session/{}{path}",
            self.port, self.session
        );
        // W3C wants a JSON body on every POST, `{}` when there is nothing to say.
        let body = body.or_else(|| (method == Method::POST).then(|| json!({})));
        request(&self.http, method, &url, body).await
    }

    /// Like [`Browser::send`], but a failure fails the test, naming `what` and
    /// the page the browser is on.
    async fn call(&self, method: Method, path: &str, body: Option<Value>, what: &str) -> Value {
        match self.send(method, path, body).await {
            Ok(v) => v,
            Err(e) => {
                let page = self.page_for_errors().await;
                panic!("browser: {what} failed: {e} (page: {page})")
            }
        }
    }

    /// The current URL for error messages; never fails.
    async fn page_for_errors(&self) -> String {
        match self.send(Method::GET, "/url", None).await {
            Ok(Value::String(url)) => url,
            Ok(other) => other.to_string(),
            Err(e) => format!("<unknown: {e}>"),
        }
    }

    /// Opens `url` and waits until it has loaded.
    pub async fn goto(&self, url: &str) {
        self.call(
            Method::POST,
            "/url",
            Some(json!({ "url": url })),
            &format!("opening {url}"),
        )
        .await;
    }

    /// The URL of the page shown.
    pub async fn current_url(&self) -> String {
        let v = self
            .call(Method::GET, "/url", None, "reading the URL")
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// The page's `<title>`.
    pub async fn title(&self) -> String {
        let v = self
            .call(Method::GET, "/title", None, "reading the title")
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// The page's DOM serialized as HTML.
    pub async fn page_source(&self) -> String {
        let v = self
            .call(Method::GET, "/source", None, "reading the page source")
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// The first element matching `css`, waiting up to [`FIND_TIMEOUT`] for
    /// one to appear.
    pub async fn find(&self, css: &str) -> Element<'_> {
        let deadline = Instant::now() + FIND_TIMEOUT;
        let body = json!({ "using": "css selector", "value": css });
        loop {
            match self
                .send(Method::POST, "/element", Some(body.clone()))
                .await
            {
                Ok(v) => return self.element(&v, css),
                Err(e) if e.error == "no such element" && Instant::now() < deadline => {
                    tokio::time::sleep(POLL).await;
                }
                Err(e) if e.error == "no such element" => {
                    let page = self.page_for_errors().await;
                    panic!(
                        "browser: no element matches `{css}` after {FIND_TIMEOUT:?} (page: {page})"
                    )
                }
                Err(e) => {
                    let page = self.page_for_errors().await;
                    panic!("browser: finding `{css}` failed: {e} (page: {page})")
                }
            }
        }
    }

    /// Every element matching `css` now (none is not an error).
    pub async fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let body = json!({ "using": "css selector", "value": css });
        let v = self
            .call(
                Method::POST,
                "/elements",
                Some(body),
                &format!("finding `{css}`"),
            )
            .await;
        v.as_array()
            .map(|all| all.iter().map(|e| self.element(e, css)).collect())
            .unwrap_or_default()
    }

    /// Waits until an element matching `css` has `text` in its rendered text.
    pub async fn wait_for_text(&self, css: &str, text: &str, timeout: Duration) -> Element<'_> {
        let deadline = Instant::now() + timeout;
        let body = json!({ "using": "css selector", "value": css });
        let mut seen: Vec<String> = Vec::new();
        loop {
            // Elements go stale while a page navigates: retry on any error.
            if let Ok(Value::Array(all)) = self
                .send(Method::POST, "/elements", Some(body.clone()))
                .await
            {
                seen.clear();
                for e in &all {
                    let element = self.element(e, css);
                    if let Ok(Value::String(t)) = element.send(Method::GET, "/text", None).await {
                        if t.contains(text) {
                            return element;
                        }
                        seen.push(t);
                    }
                }
            }
            if Instant::now() > deadline {
                let page = self.page_for_errors().await;
                panic!(
                    "browser: no `{css}` shows {text:?} after {timeout:?} (page: {page}); \
                     matching elements' texts: {seen:?}"
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Runs `js` as the body of a function called with `args` (pass elements
    /// with [`Element::reference`]) and returns what it returns.
    pub async fn execute(&self, js: &str, args: &[Value]) -> Value {
        let body = json!({ "script": js, "args": args });
        self.call(
            Method::POST,
            "/execute/sync",
            Some(body),
            "running a script",
        )
        .await
    }

    /// Saves a PNG of the viewport to `path`, creating its directory.
    pub async fn screenshot(&self, path: &Path) {
        let v = self
            .call(Method::GET, "/screenshot", None, "taking a screenshot")
            .await;
        let png = decode_base64(v.as_str().unwrap_or_default())
            .unwrap_or_else(|| panic!("browser: the screenshot is not base64"));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
        }
        std::fs::write(path, png)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Sets a cookie for the current page's site.
    pub async fn set_cookie(&self, name: &str, value: &str) {
        let body = json!({ "cookie": { "name": name, "value": value } });
        self.call(
            Method::POST,
            "/cookie",
            Some(body),
            &format!("setting cookie {name}"),
        )
        .await;
    }

    /// The cookies visible to the current page.
    pub async fn cookies(&self) -> Vec<Cookie> {
        let v = self
            .call(Method::GET, "/cookie", None, "reading cookies")
            .await;
        serde_json::from_value(v).expect("chromedriver's cookies")
    }

    /// Goes back in history.
    pub async fn back(&self) {
        self.call(Method::POST, "/back", None, "going back").await;
    }

    /// Reloads the page.
    pub async fn refresh(&self) {
        self.call(Method::POST, "/refresh", None, "reloading").await;
    }

    fn element(&self, reference: &Value, css: &str) -> Element<'_> {
        let id = reference[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| {
                panic!("browser: `{css}` answered no element reference: {reference}")
            })
            .to_owned();
        Element {
            browser: self,
            id,
            css: css.to_owned(),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the session so chromedriver quits Chromium cleanly, then kills
        // chromedriver's process group and anything still using the profile.
        delete_session(self.port, &self.session);
        let pgid = self.driver.child.id();
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!("kill -KILL -{pgid} 2>/dev/null"))
            .status();
        self.driver.kill();
        kill_users_of(&self.profile);
    }
}

/// An element of the page a [`Browser`] shows.
pub struct Element<'b> {
    browser: &'b Browser,
    id: String,
    css: String,
}

impl Element<'_> {
    /// The element as a script argument for [`Browser::execute`].
    pub fn reference(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        let path = format!("/element/{}{path}", self.id);
        self.browser.send(method, &path, body).await
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>, what: &str) -> Value {
        let path = format!("/element/{}{path}", self.id);
        let what = format!("{what} `{}`", self.css);
        self.browser.call(method, &path, body, &what).await
    }

    /// Clicks it (a submit button submits its form).
    pub async fn click(&self) {
        self.call(Method::POST, "/click", None, "clicking").await;
    }

    /// Its rendered text.
    pub async fn text(&self) -> String {
        let v = self.call(Method::GET, "/text", None, "reading").await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// An HTML attribute, none when it is absent.
    pub async fn attribute(&self, name: &str) -> Option<String> {
        let path = format!("/attribute/{name}");
        let v = self
            .call(
                Method::GET,
                &path,
                None,
                &format!("reading attribute {name} of"),
            )
            .await;
        v.as_str().map(str::to_owned)
    }

    /// A DOM property, such as `value` or `checked`.
    pub async fn property(&self, name: &str) -> Value {
        let path = format!("/property/{name}");
        self.call(
            Method::GET,
            &path,
            None,
            &format!("reading property {name} of"),
        )
        .await
    }

    /// Types `text` into it.
    pub async fn send_keys(&self, text: &str) {
        let body = json!({ "text": text });
        self.call(Method::POST, "/value", Some(body), "typing into")
            .await;
    }

    /// Whether it is rendered visibly.
    pub async fn is_displayed(&self) -> bool {
        let v = self
            .call(Method::GET, "/displayed", None, "checking visibility of")
            .await;
        v.as_bool().unwrap_or(false)
    }
}

/// One WebDriver request: the answer's `value`, or the error it carries.
async fn request(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value, WebDriverError> {
    let transport = |message: String| WebDriverError {
        error: "transport".to_owned(),
        message,
    };
    let mut req = http.request(method.clone(), url);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| transport(format!("{method} {url}: {e}")))?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .map_err(|e| transport(format!("{method} {url}: {e}")))?;
    let mut answer: Value = serde_json::from_str(&text).map_err(|e| {
        transport(format!(
            "{method} {url} answered {status}, not JSON ({e}): {text}"
        ))
    })?;
    let value = answer["value"].take();
    if status.is_success() {
        return Ok(value);
    }
    Err(WebDriverError {
        error: value["error"]
            .as_str()
            .unwrap_or("unknown error")
            .to_owned(),
        message: value["message"].as_str().unwrap_or(&text).to_owned(),
    })
}

/// Starts chromedriver in its own process group on a free port and waits for
/// `GET /status` to say it is ready; retries on another port if it dies (the
/// port may have been taken between choosing and binding it).
async fn start_chromedriver(bin: &Path, dir: &Path, http: &reqwest::Client) -> (Proc, u16) {
    const ATTEMPTS: usize = 3;
    for attempt in 1..=ATTEMPTS {
        let port = free_port();
        let mut cmd = Command::new(bin);
        // Chromium keeps crash reports and caches under the XDG directories:
        // in `dir`, not the home of whoever runs the tests.
        cmd.arg(format!("--port={port}"))
            .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
            .env("XDG_CACHE_HOME", dir.join("xdg-cache"))
            .process_group(0);
        let log = dir.join(format!("chromedriver-{port}.log"));
        let mut proc = spawn(cmd, log);
        let status_url = format!("http://127.0.0.1:{port}/status");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(v) = request(http, Method::GET, &status_url, None).await
                && v["ready"] == json!(true)
            {
                return (proc, port);
            }
            if let Ok(Some(status)) = proc.child.try_wait() {
                if attempt < ATTEMPTS {
                    break;
                }
                panic!(
                    "chromedriver exited ({status}) before it was ready; its log:\n{}",
                    proc.output()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "chromedriver not ready at {status_url} after 10s; its log:\n{}",
                    proc.output()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
    unreachable!("the last attempt panics or returns")
}

/// `DELETE /session/{id}` with plain blocking I/O: `Drop` cannot await, and
/// it may run outside any runtime.
fn delete_session(port: u16, session: &str) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(15)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let request = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return;
    }
    // Chromium has quit once chromedriver answers. chromedriver says
    // `Connection: close` but keeps the connection open: read the answer's
    // length, not to the end.
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    while !http_answer_complete(&answer) {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Whether `answer` holds a whole HTTP/1.1 answer with a `Content-Length`.
fn http_answer_complete(answer: &[u8]) -> bool {
    let Some(head_end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&answer[..head_end]);
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    answer.len() >= head_end + 4 + length
}

/// Kills every process whose command line names `profile` (a Chromium that
/// left chromedriver's process group).
fn kill_users_of(profile: &Path) {
    let needle = profile.as_os_str().as_encoded_bytes();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in procs.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline.windows(needle.len()).any(|w| w == needle) {
            let _ = Command::new("sh")
                .arg("-c")
                .arg(format!("kill -KILL {pid} 2>/dev/null"))
                .status();
        }
    }
}

/// Decodes standard base64 (with or without padding, whitespace ignored).
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let digits = digits
        .strip_suffix(b"==")
        .or_else(|| digits.strip_suffix(b"="))
        .unwrap_or(&digits);
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            acc = (acc << 6) | sextet(c)?;
        }
        match chunk.len() {
            4 => out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]),
            3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
            2 => out.push((acc >> 4) as u8),
            _ => return None,
        }
    }
    Some(out)
}
