//! The PostgreSQL executor against a real PostgreSQL 15 started by the test:
//! an application role saturated by sessions left idle in a transaction is
//! freed (new logins succeed again), while a superuser's idle transaction and
//! a young one are left alone. The executor runs as a role holding only
//! `pg_signal_backend`.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use pagerless_act::ActError;
use pagerless_act::executors::{Executor, PostgresExecutor};
use pagerless_model::{ActionKind, ActionRequest, Target, TargetKind};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

#[path = "../../tools/tests/support/pg.rs"]
mod pg;

async fn connect(server: &pg::Server, user: &str, app: &str) -> Result<PgConnection, sqlx::Error> {
    let opts: PgConnectOptions = format!("postgres://{user}@127.0.0.1:{}/postgres", server.port)
        .parse()
        .unwrap();
    PgConnection::connect_with(&opts.application_name(app)).await
}

async fn idle_in_transaction(conn: &mut PgConnection) {
    sqlx::query("BEGIN").execute(&mut *conn).await.unwrap();
    sqlx::query("SELECT 1").execute(&mut *conn).await.unwrap();
}

fn request(params: serde_json::Value) -> ActionRequest {
    ActionRequest {
        kind: ActionKind::TerminateIdleSessions,
        target: Target {
            kind: TargetKind::Database,
            namespace: None,
            name: "orders-db".into(),
        },
        params: serde_json::from_value::<BTreeMap<_, _>>(params).unwrap(),
        rationale: "leaked transactions hold every connection of the app role".into(),
    }
}

/// What the guard hands an executor: here a human's approval in staging,
/// where the built-in policy asks for one before sessions are ended.
fn authorize(req: ActionRequest) -> pagerless_guard::Authorized<ActionRequest> {
    support::authorize(req, pagerless_guard::policy::DEFAULT)
}

#[tokio::test]
async fn idle_in_transaction_sessions_are_ended_and_superusers_spared() {
    let server = pg::Server::start();
    let mut admin = connect(&server, "postgres", "psql").await.unwrap();
    for sql in [
        "CREATE ROLE app LOGIN CONNECTION LIMIT 6",
        "CREATE ROLE ops LOGIN",
    ] {
        sqlx::query(sql).execute(&mut admin).await.unwrap();
    }
    // Five leaked transactions and a superuser's, all with the worker's name.
    let mut leaked = Vec::new();
    for _ in 0..5 {
        let mut c = connect(&server, "app", "leaky-worker").await.unwrap();
        idle_in_transaction(&mut c).await;
        leaked.push(c);
    }
    let mut superuser = connect(&server, "postgres", "leaky-worker").await.unwrap();
    idle_in_transaction(&mut superuser).await;
    // The guard's floor is 30 s idle; let them age past it.
    tokio::time::sleep(Duration::from_secs(31)).await;
    // A young transaction takes the role's last slot: the app is saturated.
    let mut young = connect(&server, "app", "leaky-worker").await.unwrap();
    idle_in_transaction(&mut young).await;
    let refused = connect(&server, "app", "web").await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("too many connections for role"),
        "{refused}"
    );

    let executor = PostgresExecutor::new(
        &format!("postgres://ops@127.0.0.1:{}/postgres", server.port),
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(executor.kinds(), [ActionKind::TerminateIdleSessions]);
    // Without the right to see other sessions, a clear refusal, not "0 ended".
    let err = executor
        .execute(authorize(request(
            serde_json::json!({"role": "app", "idle_secs": 30}),
        )))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("GRANT pg_read_all_stats"), "{err}");
    sqlx::query("GRANT pg_signal_backend, pg_read_all_stats TO ops")
        .execute(&mut admin)
        .await
        .unwrap();
    let done = executor
        .execute(authorize(request(serde_json::json!({
            "application": "leaky-worker",
            "idle_secs": 30
        }))))
        .await
        .unwrap();
    assert_eq!(
        done.summary,
        "ended 5 session(s) of application leaky-worker idle in transaction over 30 s on database orders-db"
    );
    assert!(done.undo.is_none());

    // New logins succeed again; the superuser's and the young sessions live on.
    let mut fresh = connect(&server, "app", "web").await.unwrap();
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut fresh)
        .await
        .unwrap();
    assert_eq!(one, 1);
    for survivor in [&mut superuser, &mut young] {
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut *survivor)
            .await
            .unwrap();
        assert_eq!(one, 1);
    }
    for mut c in leaked {
        assert!(sqlx::query("SELECT 1").execute(&mut c).await.is_err());
    }
    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction' AND application_name = 'leaky-worker'",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(left, 2, "the superuser's and the young one");

    // Run again: nothing left to end, nothing else touched.
    let again = executor
        .execute(authorize(request(
            serde_json::json!({"role": "app", "idle_secs": 30}),
        )))
        .await
        .unwrap();
    assert!(
        again.summary.starts_with("ended 0 session(s) of role app"),
        "{}",
        again.summary
    );
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut young)
        .await
        .unwrap();
    assert_eq!(one, 1);
}

#[tokio::test]
async fn a_request_without_a_role_or_application_is_refused() {
    // No server is needed: the request is refused before any connection.
    let executor = PostgresExecutor::new(
        "postgres://ops@127.0.0.1:1/postgres",
        Duration::from_secs(1),
    )
    .unwrap();
    let err = executor
        .execute(authorize(request(serde_json::json!({"idle_secs": 60}))))
        .await
        .unwrap_err();
    assert!(matches!(err, ActError::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("never ended wholesale"), "{err}");
    assert!(PostgresExecutor::new("mysql:/nope", Duration::from_secs(1)).is_err());
}
