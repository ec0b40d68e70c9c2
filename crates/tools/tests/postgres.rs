//! `postgres.activity` against a real PostgreSQL 15, started by the test, with
//! sessions left idle in transaction the way a leaky worker leaves them.

#![allow(clippy::unwrap_used)]

use pagerless_tools::postgres::{Activity, PostgresConfig};
use serde_json::json;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

#[path = "support/pg.rs"]
mod pg;

use pg::Server;

#[tokio::test]
async fn idle_in_transaction_sessions_are_listed() {
    let server = Server::start();
    let mut leaky = Vec::new();
    for _ in 0..3 {
        let opts: PgConnectOptions = server.url().parse().unwrap();
        let mut conn = PgConnection::connect_with(&opts.application_name("leaky-worker"))
            .await
            .unwrap();
        sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
        sqlx::query("SELECT 1").execute(&mut conn).await.unwrap();
        leaky.push(conn);
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let tools = pagerless_tools::postgres::tools(&PostgresConfig::new(server.url()))
        .await
        .unwrap();
    assert_eq!(tools[0].name(), "postgres.activity");
    let obs = tools[0].call(&json!({})).await.unwrap();
    println!("{}", obs.summary);
    let a: Activity = serde_json::from_value(obs.data).unwrap();
    assert_eq!(a.max_connections, 20);
    assert!(a.by_state["idle in transaction"] >= 3, "{a:#?}");
    let leaks: Vec<_> = a
        .idle_in_transaction
        .iter()
        .filter(|s| s.application == "leaky-worker")
        .collect();
    assert_eq!(leaks.len(), 3, "{a:#?}");
    assert!(
        leaks
            .iter()
            .all(|s| s.role == "postgres" && s.pid > 0 && s.state_secs >= 1.0)
    );
    assert!(
        a.idle_in_transaction
            .windows(2)
            .all(|w| w[0].state_secs >= w[1].state_secs),
        "oldest first"
    );
    assert!(a.oldest_xact_secs.unwrap() >= 1.0);
    assert_eq!(a.waiting, 0);
    assert!(obs.summary.contains("leaky-worker x3"), "{}", obs.summary);
    assert!(obs.query.starts_with("SHOW max_connections"));
    drop(leaky);
}

#[tokio::test]
async fn an_unreachable_database_is_retriable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = PostgresConfig::new(format!("postgres://postgres@127.0.0.1:{port}/postgres"));
    config.timeout_secs = 2;
    let tools = pagerless_tools::postgres::tools(&config).await.unwrap();
    let err = tools[0].call(&json!({})).await.unwrap_err();
    assert!(err.is_retriable(), "{err:?}");

    let config = PostgresConfig {
        url: None,
        url_env: Some("PAGERLESS_TEST_NO_SUCH_URL_VAR".into()),
        timeout_secs: 1,
    };
    assert!(pagerless_tools::postgres::tools(&config).await.is_err());
}
