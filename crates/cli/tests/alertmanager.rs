//! A real Prometheus Alertmanager delivering to a running `pagerless serve`:
//! alerts posted to Alertmanager's own API become one incident with the right
//! labels, and it resolves when the alerts do.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Alertmanager, Pagerless};

const TOKEN: &str = "am-test-token";

async fn incidents(pagerless: &Pagerless) -> Vec<Value> {
    let body: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/incidents", pagerless.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("pagerless answers")
        .json()
        .await
        .expect("JSON");
    body["incidents"].as_array().cloned().unwrap_or_default()
}

/// Polls until `check` holds for the incident list, or fails with both logs.
async fn wait_for(
    what: &str,
    pagerless: &Pagerless,
    am: &Alertmanager,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = incidents(pagerless).await;
        if check(&list) {
            return list;
        }
        if Instant::now() > deadline {
            panic!(
                "timed out waiting for {what}; incidents: {list:#?}\n--- pagerless ---\n{}\n--- alertmanager ---\n{}",
                pagerless.proc.output(),
                am.proc.output()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn alert(instance: &str, ends_at: Option<&str>) -> Value {
    let mut a = json!({
        "labels": {
            "alertname": "HighLatency",
            "service": "checkout",
            "namespace": "shop",
            "env": "staging",
            "severity": "critical",
            "instance": instance,
        },
        "annotations": {"summary": "p99 latency above 300ms"},
        "generatorURL": "http://prometheus.local/graph?g0.expr=latency",
    });
    if let Some(end) = ends_at {
        a["endsAt"] = end.into();
    }
    a
}

#[tokio::test]
async fn alertmanager_alerts_become_an_incident_that_resolves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pagerless = Pagerless::start(&dir.path().join("pagerless"), Some(TOKEN)).await;
    let webhook = format!("{}/api/v1/alerts/alertmanager", pagerless.url);
    let am = Alertmanager::start(&dir.path().join("am"), &webhook, TOKEN).await;

    am.post_alerts(&json!([
        alert("10.0.0.1:8080", None),
        alert("10.0.0.2:8080", None)
    ]))
    .await;
    let list = wait_for("a firing incident with both alerts", &pagerless, &am, |l| {
        l.len() == 1 && l[0]["alert_count"] == 2
    })
    .await;
    let inc = &list[0];
    assert_eq!(inc["status"], "open");
    assert_eq!(inc["environment"], "staging");
    assert_eq!(inc["service"], "checkout");
    assert_eq!(inc["namespace"], "shop");
    assert_eq!(inc["severity"], "critical");
    assert_eq!(inc["source"], "alertmanager");
    assert_eq!(inc["title"], "HighLatency: p99 latency above 300ms");
    assert_eq!(
        inc["group_key"],
        "{}:{alertname=\"HighLatency\", service=\"checkout\"}"
    );

    let id = inc["id"].as_i64().expect("id");
    let detail: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/incidents/{id}", pagerless.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("detail")
        .json()
        .await
        .expect("JSON");
    let alerts = detail["alerts"].as_array().expect("alerts");
    let mut instances: Vec<&str> = alerts
        .iter()
        .map(|a| a["labels"]["instance"].as_str().unwrap_or_default())
        .collect();
    instances.sort_unstable();
    assert_eq!(instances, ["10.0.0.1:8080", "10.0.0.2:8080"]);
    for a in alerts {
        assert_eq!(a["status"], "firing");
        assert_eq!(a["labels"]["alertname"], "HighLatency");
        assert_eq!(
            a["generator_url"],
            "http://prometheus.local/graph?g0.expr=latency"
        );
        assert_eq!(
            a["fingerprint"].as_str().map(str::len),
            Some(16),
            "Alertmanager's fingerprint"
        );
    }

    // Resolve both: endsAt in the past tells Alertmanager they are over.
    let now = chrono::Utc::now().to_rfc3339();
    am.post_alerts(&json!([
        alert("10.0.0.1:8080", Some(&now)),
        alert("10.0.0.2:8080", Some(&now))
    ]))
    .await;
    let list = wait_for("the incident to resolve", &pagerless, &am, |l| {
        l.len() == 1 && l[0]["status"] == "resolved"
    })
    .await;
    assert_eq!(
        list[0]["id"].as_i64(),
        Some(id),
        "the same incident resolved"
    );
    assert_eq!(list[0]["firing_count"], 0);
    assert!(list[0]["resolved_at"].is_string());
}
