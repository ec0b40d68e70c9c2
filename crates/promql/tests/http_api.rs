//! The HTTP API answers like a real Prometheus 2.42: same JSON (byte for byte
//! where order is fixed), same status codes and error types.
//!
//! Needs `prometheus` and `promtool` (`apt-get install -y prometheus`).
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, RwLock};

use pagerless_promql::conformance::PrometheusServer;
use pagerless_promql::{Labels, PromApi, SeriesStore, router};
use serde_json::Value;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn store(start: i64) -> SeriesStore {
    let mut s = SeriesStore::new();
    for i in 0..240_i64 {
        let t = start + i * 15_000 + 120;
        for pod in ["a", "b"] {
            let l = labels(&[
                ("__name__", "requests_total"),
                ("pod", pod),
                ("path", "/x\"y"),
            ]);
            s.append(&l, t, (i * 3) as f64 + 0.25);
        }
        s.append(
            &labels(&[("__name__", "temperature"), ("room", "lab")]),
            t,
            20.0 + (i % 7) as f64 / 3.0,
        );
    }
    s
}

/// Serves our router on a free port; returns its base URL.
async fn serve_ours(store: SeriesStore, now_ms: i64) -> String {
    let api = PromApi::new(Arc::new(RwLock::new(store)), Arc::new(move || now_ms));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(api)).await.unwrap() });
    format!("http://{addr}")
}

/// Sorts arrays of results so that set order does not matter.
fn normalize(mut v: Value) -> Value {
    fn sort(a: &mut Value) {
        if let Some(items) = a.as_array_mut() {
            items.sort_by_key(|x| x.to_string());
        }
    }
    if v["data"].is_array() {
        sort(&mut v["data"]);
    } else if v["data"].is_object() {
        sort(&mut v["data"]["result"]);
    }
    v
}

async fn get(client: &reqwest::Client, url: String) -> (u16, String) {
    let r = client.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn api_responses_match_prometheus() {
    let now = chrono::Utc::now().timestamp_millis();
    let start = (now / 3_600_000) * 3_600_000 - 2 * 3_600_000;
    let prom = PrometheusServer::start(&store(start)).await.unwrap();
    let ours = serve_ours(store(start), now).await;
    let client = reqwest::Client::new();
    let s = |ms: i64| format!("{}.{:03}", ms / 1000, ms % 1000);
    let t = s(start + 30 * 60_000 + 120);
    let end = s(start + 50 * 60_000);
    let begin = s(start + 20 * 60_000 + 5);
    let enc = |q: &str| {
        q.replace('{', "%7B")
            .replace('}', "%7D")
            .replace('"', "%22")
            .replace('+', "%2B")
            .replace(' ', "%20")
            .replace('[', "%5B")
            .replace(']', "%5D")
    };
    let paths = [
        format!("/api/v1/query?query=requests_total&time={t}"),
        format!("/api/v1/query?query=sum(rate(requests_total%5B5m%5D))&time={t}"),
        format!("/api/v1/query?query=1.5&time={t}"),
        format!("/api/v1/query?query=%22hello%22&time={t}"),
        format!("/api/v1/query?query=temperature%5B1m%5D&time={t}"),
        format!("/api/v1/query?query={}&time={t}", enc("1/0")),
        format!(
            "/api/v1/query?query={}&time={t}",
            enc("-1/0 + temperature * 0")
        ),
        format!("/api/v1/query?query={}&time={t}", enc("0/0")),
        format!("/api/v1/query?query={}&time={t}", enc("temperature / 3")),
        format!("/api/v1/query_range?query=temperature&start={begin}&end={end}&step=60"),
        format!(
            "/api/v1/query_range?query=rate(requests_total%5B2m%5D)&start={begin}&end={end}&step=1m30s"
        ),
        format!("/api/v1/query_range?query=time()&start={begin}&end={end}&step=300"),
        format!(
            "/api/v1/series?match[]={}",
            enc("requests_total{pod=\"a\"}")
        ),
        format!(
            "/api/v1/series?match[]=temperature&match[]={}",
            enc("requests_total")
        ),
        "/api/v1/labels".to_string(),
        "/api/v1/label/pod/values".to_string(),
        "/api/v1/label/__name__/values".to_string(),
        // Errors: status and errorType must match (texts differ between parsers).
        format!("/api/v1/query?query={}&time={t}", enc("sum(")),
        format!(
            "/api/v1/query?query={}&time={t}",
            enc("requests_total + on() requests_total")
        ),
        "/api/v1/query?query=up&time=yesterday".to_string(),
        format!("/api/v1/query_range?query=up&start={end}&end={begin}&step=60"),
        "/api/v1/query_range?query=up&start=0&end=100000&step=1".to_string(),
        "/api/v1/query_range?query=up&start=0&end=100&step=0".to_string(),
        format!(
            "/api/v1/query_range?query={}&start={begin}&end={end}&step=60",
            enc("temperature[5m]")
        ),
        "/api/v1/series".to_string(),
    ];
    let mut problems = Vec::new();
    for path in &paths {
        let (ps, pbody) = get(&client, format!("{}{path}", prom.base_url())).await;
        let (os, obody) = get(&client, format!("{ours}{path}")).await;
        let pv: Value = serde_json::from_str(&pbody).unwrap();
        let ov: Value = serde_json::from_str(&obody).unwrap();
        let same = if pv["status"] == "error" {
            ps == os && pv["errorType"] == ov["errorType"] && ov["status"] == "error"
        } else {
            ps == os && normalize(pv.clone()) == normalize(ov.clone())
        };
        if !same {
            problems.push(format!(
                "{path}\n  prometheus {ps} {pbody}\n  ours       {os} {obody}"
            ));
        }
    }
    // Byte-for-byte where there is a single result (timestamp and value spelling).
    for path in [
        format!("/api/v1/query?query=1.5&time={t}"),
        format!(
            "/api/v1/query?query={}&time={t}",
            enc("requests_total{pod=\"a\"}")
        ),
        format!("/api/v1/query_range?query=temperature&start={begin}&end={end}&step=60"),
        format!("/api/v1/query_range?query=temperature&start={t}&end={end}&step=60"),
        format!("/api/v1/query?query=%22s%22&time={t}"),
    ] {
        let (_, pbody) = get(&client, format!("{}{path}", prom.base_url())).await;
        let (_, obody) = get(&client, format!("{ours}{path}")).await;
        if pbody.trim_end() != obody.trim_end() {
            problems.push(format!(
                "{path} bytes differ\n  prometheus {pbody}\n  ours       {obody}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn post_form_and_default_time_from_the_callers_clock() {
    let store = store(0);
    let ours = serve_ours(store, 10 * 60_000).await;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{ours}/api/v1/query"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("query=time%28%29")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"status":"success","data":{"resultType":"scalar","result":[600,"600"]}}"#
    );
    let r = client
        .get(format!("{ours}/api/v1/status/buildinfo"))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"]["version"], "2.42.0");
    let r = client
        .get(format!(
            "{ours}/api/v1/query?query=deriv(temperature%5B5m%5D)"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errorType"], "execution");
    assert!(v["error"].as_str().unwrap().contains("deriv"), "{v}");
}
