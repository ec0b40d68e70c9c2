//! Durability: deliveries acknowledged before `pagerless serve` is killed with
//! SIGKILL mid-stream are all in the store after a restart.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use support::Pagerless;

fn delivery(i: usize) -> Value {
    json!({
        "version": "4",
        "status": "firing",
        "receiver": "pagerless",
        "groupKey": format!("{{}}:{{alertname=\"Crash\", n=\"{i}\"}}"),
        "groupLabels": {"alertname": "Crash"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://am",
        "truncatedAlerts": 0,
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "Crash", "n": i.to_string(), "service": "orders"},
            "annotations": {},
            "startsAt": "2026-11-27T20:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "",
            "fingerprint": format!("{i:016x}"),
        }]
    })
}

#[tokio::test]
async fn acknowledged_alerts_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut server = Pagerless::start(&data, None).await;
    let url = format!("{}/api/v1/alerts/alertmanager", server.url);

    // (delivery number, incident id) of every 200 received.
    let acked: Arc<Mutex<Vec<(usize, i64)>>> = Arc::default();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (http, url, acked, next) = (http.clone(), url.clone(), acked.clone(), next.clone());
        senders.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Ok(resp) = http.post(&url).json(&delivery(i)).send().await else {
                    return; // the server is gone
                };
                if resp.status().is_success() {
                    let body: Value = resp.json().await.unwrap_or_default();
                    if let Some(id) = body["incidents"][0].as_i64() {
                        acked.lock().expect("lock").push((i, id));
                    }
                }
            }
        }));
    }
    // Let a few hundred land, then kill the server while requests are in flight.
    while acked.lock().expect("lock").len() < 300 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.proc.kill();
    for s in senders {
        let _ = tokio::time::timeout(Duration::from_secs(10), s).await;
    }
    let acked = acked.lock().expect("lock").clone();
    let attempted = next.load(std::sync::atomic::Ordering::Relaxed);
    assert!(acked.len() >= 300);
    assert!(
        attempted > acked.len(),
        "some requests were in flight at the kill"
    );

    let server = Pagerless::start(&data, None).await;
    let http = reqwest::Client::new();
    for (i, id) in &acked {
        let resp = http
            .get(format!("{}/api/v1/incidents/{id}", server.url))
            .send()
            .await
            .expect("answer");
        assert!(
            resp.status().is_success(),
            "acknowledged delivery {i} (incident {id}) lost"
        );
        let detail: Value = resp.json().await.expect("JSON");
        assert_eq!(detail["alerts"][0]["fingerprint"], format!("{i:016x}"));
        assert_eq!(detail["alerts"][0]["labels"]["n"], i.to_string());
    }
    // And the store still takes writes after the crash.
    let resp = http
        .post(format!("{}/api/v1/alerts/alertmanager", server.url))
        .json(&delivery(usize::MAX / 2))
        .send()
        .await
        .expect("answer");
    assert!(resp.status().is_success());
}
