//! The web console in real headless Chromium (Debian's `chromium` driven
//! through `chromedriver`): the seed runs in the lab with prod in
//! `approve-all` mode, so the scale-out waits for a human. The incident page
//! shows the trace and the symptom chart; a human signs in, approves on the
//! page, and watches the scale-out run as them. Screenshots go to the test
//! artifacts folder. A form posted without its CSRF token is refused.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::webdriver::{Browser, artifacts_dir};
use support::{Proc, free_port};

fn start_lab(dir: &Path, webhook: &str) -> Proc {
    std::fs::create_dir_all(dir).unwrap();
    let mut cmd = Command::new(support::PAGERLESS);
    cmd.args(["lab", "run", "order-service-oom", "--state-dir"])
        .arg(dir)
        .args(["--speed", "200", "--webhook", webhook])
        .env("PAGERLESS_LOG", "info");
    let proc = support::spawn(cmd, dir.join("lab.log"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while pagerless_lab::serve::read_endpoints(dir).is_none() {
        assert!(Instant::now() < deadline, "lab: {}", proc.output());
        std::thread::sleep(Duration::from_millis(50));
    }
    proc
}

#[tokio::test]
async fn a_human_approves_on_the_incident_page_and_watches_it_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let lab = start_lab(
        &d.join("lab"),
        &format!("{base}/api/v1/alerts/alertmanager"),
    );
    let policy = d.join("guardrails.yaml");
    std::fs::write(
        &policy,
        pagerless_guard::policy::DEFAULT.replacen("mode: shadow", "mode: approve-all", 1),
    )
    .unwrap();
    let config = d.join("pagerless.yaml");
    std::fs::write(
        &config,
        format!(
            "guard:\n  policy: {}\nact:\n  verify_window_secs: 30\n  verify_interval_secs: 1\n",
            policy.display()
        ),
    )
    .unwrap();
    let data = d.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut cmd = Command::new(support::PAGERLESS);
    cmd.arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--lab"])
        .arg(d.join("lab"))
        .env_remove("PAGERLESS_API_TOKEN")
        .env("PAGERLESS_LOG", "info");
    let serve = support::spawn(cmd, data.join("serve.log"));

    // Wait for the scale-out to wait for a human.
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    let approval = loop {
        if let Ok(r) = http.get(format!("{base}/api/v1/approvals")).send().await
            && let Ok(v) = r.json::<serde_json::Value>().await
            && let Some(a) = v["approvals"]
                .as_array()
                .and_then(|a| a.iter().find(|a| a["request"]["kind"] == "scale"))
        {
            break a["id"].as_i64().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "no approval; serve:\n{}\nlab:\n{}",
            serve.output(),
            lab.output()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };

    // A form posted from elsewhere, without the page's CSRF token, is refused.
    let forged = http
        .post(format!("{base}/approvals/{approval}/approve"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("csrf=x&back=%2Fincidents%2F1")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    let browser = Browser::start(&d.join("browser")).await;
    let shots = artifacts_dir();
    browser.goto(&format!("{base}/incidents/1")).await;
    browser
        .wait_for_text(
            "#trace",
            "OrderServiceHighLatency fired",
            Duration::from_secs(10),
        )
        .await;
    let trace = browser.find_all("#trace li").await;
    assert!(trace.len() >= 5, "{} steps", trace.len());
    assert!(
        browser
            .find("#diagnosis")
            .await
            .text()
            .await
            .contains("memory limit too low"),
    );
    // The chart: a drawn series with the onset marked.
    let chart = browser.find("#chart").await.text().await;
    assert!(!chart.contains("Prometheus"), "no chart: {chart}");
    let series = browser.find("#chart svg path.series").await;
    assert!(series.is_displayed().await);
    let d_attr = series.attribute("d").await.unwrap_or_default();
    assert!(
        d_attr.matches('L').count() >= 5,
        "a line, not a dot: {d_attr}"
    );
    let size = browser
        .execute(
            "const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];",
            &[series.reference()],
        )
        .await;
    assert!(size[0].as_f64().unwrap() > 100.0, "{size}");
    assert!(
        !browser
            .find_all("#chart svg line.marker.onset")
            .await
            .is_empty(),
        "no onset marker"
    );
    let pending = browser.find("#pending").await.text().await;
    assert!(pending.contains("scale"), "{pending}");
    browser
        .screenshot(&shots.join("console-incident-pending.png"))
        .await;

    // Approving needs a name: the console asks for one, then comes back.
    browser
        .find(&format!("#approve-{approval}"))
        .await
        .click()
        .await;
    browser
        .wait_for_text("h1", "Sign in", Duration::from_secs(5))
        .await;
    browser
        .find("input[name=name]")
        .await
        .send_keys("alice")
        .await;
    browser.find("#sign-in").await.click().await;
    browser
        .wait_for_text(".who", "signed in as alice", Duration::from_secs(5))
        .await;
    assert!(browser.current_url().await.ends_with("/incidents/1"));
    browser
        .find(&format!("#approve-{approval}"))
        .await
        .click()
        .await;
    let flash = browser
        .wait_for_text("#flash", "queued", Duration::from_secs(10))
        .await
        .text()
        .await;
    assert!(flash.contains(&format!("Approval {approval}")), "{flash}");

    // It runs, as alice, and the page shows it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        browser.goto(&format!("{base}/incidents/1")).await;
        let timeline = browser.find("#timeline").await.text().await;
        if timeline.contains("scaled deployment shop/order-service 3 → 5 (by alice)") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not executed; timeline:\n{timeline}\nserve:\n{}",
            serve.output()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The scale-out is no longer waiting (the pull request, in approve-all
    // mode, is).
    for row in browser.find_all("#pending tbody tr").await {
        assert!(
            !row.text().await.contains("scale"),
            "the scale-out still waits"
        );
    }
    browser
        .screenshot(&shots.join("console-incident-approved.png"))
        .await;

    // The other pages render for a signed-in human.
    for (path, needle) in [
        ("/approvals", "alice"),
        ("/audit", "intact"),
        ("/kpis", "incidents"),
        ("/incidents", "order-service"),
    ] {
        browser.goto(&format!("{base}{path}")).await;
        let text = browser.find("main").await.text().await;
        assert!(text.contains(needle), "{path}: {text}");
    }
    browser.screenshot(&shots.join("console-kpis.png")).await;
    let png = std::fs::read(shots.join("console-incident-approved.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000);
}
