//! The `pagerless` binary as a user runs it: init, config errors, serve's
//! exposure rule, and reading incidents from the store and from a server.

mod support;

use serde_json::Value;
use support::{Pagerless, run_cli};

const FIRING: &str = include_str!("../../../fixtures/alertmanager/firing.json");

#[test]
fn init_writes_a_config_that_loads_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("pagerless.yaml");
    let p = path.to_str().expect("utf-8 path");
    let (ok, out, err) = run_cli(&["init", p], &[]);
    assert!(ok, "{err}");
    assert!(out.contains("wrote"), "{out}");
    let text = std::fs::read_to_string(&path).expect("written");
    assert!(text.contains("# "), "commented");

    let (ok, _, err) = run_cli(&["init", p], &[]);
    assert!(!ok);
    assert!(err.contains("exists already; pass --force"), "{err}");
    let (ok, _, err) = run_cli(&["init", p, "--force"], &[]);
    assert!(ok, "{err}");

    // The written file is accepted by a command that loads it.
    let data = dir.path().join("data");
    let (ok, out, err) = run_cli(
        &[
            "--config",
            p,
            "--data-dir",
            data.to_str().expect("utf-8"),
            "bench",
            "intake",
            "-n",
            "50",
            "-c",
            "4",
        ],
        &[],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("store holds    50 alerts"), "{out}");
}

#[test]
fn config_errors_name_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "server:\n  listen: 127.0.0.1:9797\n  max_body_byte: 10\n",
    )
    .expect("write");
    let (ok, _, err) = run_cli(
        &[
            "--config",
            path.to_str().expect("utf-8"),
            "incidents",
            "list",
        ],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("bad.yaml:3:"), "{err}");
    assert!(
        err.contains("server: unknown field `max_body_byte`"),
        "{err}"
    );

    let (ok, _, err) = run_cli(
        &["--config", "/nonexistent/p.yaml", "incidents", "list"],
        &[],
    );
    assert!(!ok);
    assert!(
        err.contains("cannot read config file /nonexistent/p.yaml"),
        "{err}"
    );
}

#[test]
fn serve_refuses_to_expose_an_unauthenticated_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, _, err) = run_cli(
        &[
            "--data-dir",
            dir.path().to_str().expect("utf-8"),
            "serve",
            "--listen",
            "0.0.0.0:0",
        ],
        &[],
    );
    assert!(!ok);
    assert!(
        err.contains("refusing to listen on 0.0.0.0:0 without an API token"),
        "{err}"
    );
}

#[test]
fn reading_a_missing_store_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, _, err) = run_cli(
        &[
            "--data-dir",
            dir.path().to_str().expect("utf-8"),
            "incidents",
            "list",
        ],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("no pagerless store at"), "{err}");
    assert!(!dir.path().join("pagerless.db").exists(), "nothing created");
}

#[tokio::test]
async fn incidents_from_the_store_and_from_the_server_agree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let token = "cli-token";
    let server = Pagerless::start(&data, Some(token)).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/alerts/alertmanager", server.url))
        .bearer_auth(token)
        .body(FIRING)
        .send()
        .await
        .expect("post");
    assert!(resp.status().is_success());
    let d = data.to_str().expect("utf-8").to_owned();

    // Straight from the store, while the server runs (WAL readers).
    let (ok, out, err) = run_cli(&["--data-dir", &d, "incidents", "list"], &[]);
    assert!(ok, "{err}");
    let header = out.lines().next().unwrap_or_default();
    for col in [
        "ID", "STATUS", "SEVERITY", "ENV", "SERVICE", "FIRING", "TITLE",
    ] {
        assert!(header.contains(col), "{header}");
    }
    assert!(
        out.contains("QueueBacklogHigh: Queue orders depth is 500"),
        "{out}"
    );
    assert!(
        out.contains("open") && out.contains("critical") && out.contains("1/1"),
        "{out}"
    );

    let (ok, local, err) = run_cli(&["--data-dir", &d, "incidents", "list", "--json"], &[]);
    assert!(ok, "{err}");
    let local: Value = serde_json::from_str(&local).expect("JSON");

    // Through the server, with the token from the environment.
    let (ok, remote, err) = run_cli(
        &["incidents", "list", "--json", "--server", &server.url],
        &[("PAGERLESS_API_TOKEN", token)],
    );
    assert!(ok, "{err}");
    let remote: Value = serde_json::from_str(&remote).expect("JSON");
    assert_eq!(local, remote, "same JSON from store and server");
    assert_eq!(local["incidents"][0]["service"], "orders");

    // Without the token the server says no, and the CLI says why.
    let (ok, _, err) = run_cli(&["incidents", "list", "--server", &server.url], &[]);
    assert!(!ok);
    assert!(
        err.contains("401") && err.contains("missing bearer token"),
        "{err}"
    );

    // Filters.
    let (ok, out, _) = run_cli(
        &[
            "--data-dir",
            &d,
            "incidents",
            "list",
            "--status",
            "resolved",
        ],
        &[],
    );
    assert!(ok);
    assert_eq!(out.trim(), "no incidents");
    let (ok, _, err) = run_cli(
        &["--data-dir", &d, "incidents", "list", "--status", "closed"],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("unknown incident status `closed`"), "{err}");

    let id = local["incidents"][0]["id"].to_string();
    let (ok, out, err) = run_cli(&["--data-dir", &d, "incident", "show", &id], &[]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with(&format!("incident {id}  QueueBacklogHigh")),
        "{out}"
    );
    assert!(out.contains("service=orders"), "{out}");
    assert!(out.contains("queue=orders"), "{out}");
    assert!(out.contains("alerts (1 firing of 1)"), "{out}");

    let (ok, show_local, _) = run_cli(&["--data-dir", &d, "incident", "show", &id, "--json"], &[]);
    assert!(ok);
    let (ok, show_remote, err) = run_cli(
        &[
            "incident",
            "show",
            &format!("inc-{id}"),
            "--json",
            "--server",
            &server.url,
            "--token",
            token,
        ],
        &[],
    );
    assert!(ok, "{err}");
    let show_local: Value = serde_json::from_str(&show_local).expect("JSON");
    assert_eq!(
        show_local,
        serde_json::from_str::<Value>(&show_remote).expect("JSON")
    );
    assert_eq!(show_local["alerts"][0]["fingerprint"], "1f294f2599d78cd2");

    for source in [
        vec!["--data-dir", &d],
        vec!["--server", &server.url, "--token", token],
    ] {
        let mut args = vec!["incident", "show", "999"];
        args.extend(source.iter().copied());
        let (ok, _, err) = run_cli(&args, &[]);
        assert!(!ok);
        assert!(err.contains("no incident 999"), "{err}");
    }
}

#[test]
fn lab_list_and_check() {
    let (ok, out, err) = run_cli(&["lab", "list"], &[]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 9, "{out}");
    assert!(
        out.starts_with("order-service-oom"),
        "the seed first: {out}"
    );

    let (ok, out, _) = run_cli(&["lab", "check", "order-service-oom"], &[]);
    assert!(ok);
    assert!(
        out.contains("order-service-oom: ok (3 nodes, 3 services"),
        "{out}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.yaml");
    let seed = include_str!("../../../scenarios/order-service-oom.yaml");
    std::fs::write(
        &bad,
        seed.replace(
            "calls: [payment-service, inventory-service]",
            "calls: [payment-service, inventroy-service]",
        ),
    )
    .expect("write");
    let (ok, _, err) = run_cli(&["lab", "check", bad.to_str().expect("utf-8")], &[]);
    assert!(!ok);
    let line = seed
        .lines()
        .position(|l| l.contains("calls: [payment-service, inventory-service]"))
        .expect("line")
        + 1;
    assert!(
        err.contains(&format!(
            "bad.yaml:{line}: services[0].calls[1]: no service `inventroy-service`"
        )),
        "{err}"
    );
}

#[test]
fn bench_logs_reports_percentiles_and_finds_the_throwing_source() {
    let (ok, out, err) = run_cli(
        &[
            "bench",
            "logs",
            "--sources",
            "4",
            "--lines",
            "3000",
            "--runs",
            "3",
        ],
        &[],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("4 sources x 3000 lines"), "{out}");
    let last = out.lines().last().expect("a summary line");
    assert!(
        last.starts_with("p50_ms=") && last.contains(" p99_ms="),
        "{out}"
    );
    assert!(out.contains("peak_rss_mib="), "{out}");
    let (ok, _, err) = run_cli(&["bench", "logs", "--sources", "1"], &[]);
    assert!(!ok);
    assert!(err.contains("--sources must be at least 2"), "{err}");
}
