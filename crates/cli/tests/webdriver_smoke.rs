//! The browser harness itself, against real headless Chromium: a page served
//! by a tiny HTTP server inside the test is opened, read, typed into and
//! submitted, its SVG measured and a screenshot saved as a test artifact.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::webdriver::{Browser, artifacts_dir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const FORM_PAGE: &str = r##"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Smoke test</title></head>
<body>
  <h1 id="heading">Hello from pagerless</h1>
  <form method="post" action="/submit">
    <label for="value">Value</label>
    <input type="text" id="value" name="value">
    <button type="submit" id="send">Send</button>
  </form>
  <svg id="chart" width="240" height="120" viewBox="0 0 240 120" xmlns="http://www.w3.org/2000/svg">
    <rect x="10" y="10" width="100" height="100" fill="#c0392b"/>
    <circle cx="180" cy="60" r="50" fill="#2c7be5"/>
  </svg>
</body>
</html>
"##;

/// Serves `GET /` (the form), `POST /submit` (echoes `value`) and 404s on
/// loopback; returns its base URL.
async fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream));
        }
    });
    url
}

/// Answers one HTTP/1.1 request and closes the connection.
async fn answer(mut stream: TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = &buf[head_end..head_end + length];
    let request_line = head.lines().next().unwrap_or_default();
    let (status, page) = match request_line.split(' ').take(2).collect::<Vec<_>>()[..] {
        ["GET", "/"] => ("200 OK", FORM_PAGE.to_owned()),
        ["POST", "/submit"] => {
            let value = form_value(body, "value").unwrap_or_default();
            let page = format!(
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>Submitted</title></head>\
                 <body><p id=\"echo\">You sent: {}</p></body></html>",
                escape_html(&value)
            );
            ("200 OK", page)
        }
        _ => ("404 Not Found", "not found".to_owned()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{page}",
        page.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The value of `name` in an `application/x-www-form-urlencoded` body.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    body.split(|&b| b == b'&').find_map(|pair| {
        let mut parts = pair.splitn(2, |&b| b == b'=');
        let key = percent_decode(parts.next()?);
        (key == name).then(|| percent_decode(parts.next().unwrap_or_default()))
    })
}

fn percent_decode(text: &[u8]) -> String {
    let hex = |i: usize| text.get(i).and_then(|&b| (b as char).to_digit(16));
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match (text[i], hex(i + 1), hex(i + 2)) {
            (b'+', _, _) => out.push(b' '),
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 2;
            }
            (b, _, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[tokio::test]
async fn chromium_opens_types_submits_and_screenshots() {
    let started = Instant::now();
    let url = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let browser = Browser::start(dir.path()).await;

    browser.goto(&url).await;
    assert_eq!(browser.title().await, "Smoke test");
    assert_eq!(
        browser.find("#heading").await.text().await,
        "Hello from pagerless"
    );

    // Cookies live with the site shown.
    browser.set_cookie("pagerless_smoke", "1").await;
    let cookies = browser.cookies().await;
    assert!(
        cookies
            .iter()
            .any(|c| c.name == "pagerless_smoke" && c.value == "1"),
        "{cookies:?}"
    );

    // The SVG is laid out with a real size.
    let chart = browser.find("#chart").await;
    assert!(chart.is_displayed().await, "the SVG is not displayed");
    let rect = browser
        .execute(
            "const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];",
            &[chart.reference()],
        )
        .await;
    let (width, height) = (rect[0].as_f64().unwrap(), rect[1].as_f64().unwrap());
    assert!(width > 0.0 && height > 0.0, "SVG size {rect}");

    let screenshot = artifacts_dir().join("webdriver-smoke.png");
    browser.screenshot(&screenshot).await;
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        screenshot.display()
    );
    assert!(png.len() > 1024, "a {}-byte screenshot", png.len());

    // Typing, then submitting by clicking the submit button.
    let typed = "smoke & <tags> ünïcode";
    let input = browser.find("input[name=value]").await;
    input.send_keys(typed).await;
    assert_eq!(input.property("value").await, json!(typed));
    assert_eq!(input.attribute("type").await.as_deref(), Some("text"));
    browser.find("#send").await.click().await;
    browser
        .wait_for_text(
            "#echo",
            &format!("You sent: {typed}"),
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(browser.current_url().await, format!("{url}/submit"));
    assert_eq!(browser.title().await, "Submitted");
    assert!(browser.page_source().await.contains("&lt;tags&gt;"));
    assert!(browser.find_all("#heading").await.is_empty());

    browser.back().await;
    browser.refresh().await;
    browser
        .wait_for_text("h1", "Hello from pagerless", Duration::from_secs(5))
        .await;
    assert_eq!(browser.find_all("form").await.len(), 1);

    drop(browser);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the smoke test took {:?}",
        started.elapsed()
    );
}
