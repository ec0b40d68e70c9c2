//! The pagerless HTTP server: alert intake webhooks, the REST API and health probes.
//!
//! Key decision: intake answers 2xx only after the store has made the delivery
//! durable, and answers 4xx with a JSON body naming what was wrong for input
//! that can never succeed, so that Alertmanager retries exactly the deliveries
//! worth retrying (its webhook retries 5xx, not 4xx).

mod api;
pub mod approvals;
mod auth;
mod config;
pub mod console;
mod error;
mod health;
pub mod intake;
mod metrics;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use pagerless_model::LabelMapping;
use pagerless_store::Store;

pub use api::IncidentList;
pub use config::{ExposureError, ServerConfig, check_exposure};
pub use error::ApiError;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// Where incidents are kept.
    pub store: Arc<dyn Store>,
    /// The bearer token that intake and API require; `None` leaves them open
    /// (allowed on loopback only, see [`check_exposure`]).
    pub api_token: Option<Arc<str>>,
    /// Which labels carry environment, cluster, namespace, service and severity.
    pub labels: Arc<LabelMapping>,
    /// Where newly opened incidents are announced for investigation, if anywhere.
    /// Intake never waits on it: a full queue is logged and the incident stays open.
    pub investigate: Option<tokio::sync::mpsc::Sender<pagerless_model::IncidentId>>,
    /// The guard, for approvals over HTTP; `None` disables those routes.
    pub guard: Option<Arc<pagerless_guard::Guard>>,
    /// Slack's signing secret, for its interactive buttons; `None` disables that route.
    pub slack_signing_secret: Option<Arc<str>>,
    /// Where writes a human approved go to be carried out; `None` when this
    /// server has no executors (the approval is recorded, nothing runs).
    pub approved: Option<tokio::sync::mpsc::Sender<ApprovedWrite>>,
    /// What the KPIs at `/metrics` need beyond the store; `None` answers 404 there.
    pub kpis: Option<Arc<pagerless_report::KpiSettings>>,
    /// The web console's settings; `None` serves no console.
    pub console: Option<Arc<console::Console>>,
}

/// A write a human approved over HTTP, authorized under their identity, for
/// the part of the process that carries writes out.
pub struct ApprovedWrite {
    /// The approval's id.
    pub approval: i64,
    /// The write.
    pub authorized: pagerless_guard::Authorized<pagerless_model::ActionRequest>,
}

/// The whole HTTP surface.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let protected = Router::new()
        .route(
            "/api/v1/alerts/alertmanager",
            post(intake::alertmanager::receive),
        )
        .route("/api/v1/incidents", get(api::list_incidents))
        .route("/api/v1/incidents/{id}", get(api::show_incident))
        .route(
            "/api/v1/incidents/{id}/investigations",
            get(api::incident_investigations),
        )
        .route("/api/v1/approvals", get(approvals::list))
        .route("/api/v1/approvals/{id}/approve", post(approvals::approve))
        .route("/api/v1/approvals/{id}/deny", post(approvals::deny))
        .route("/metrics", get(metrics::metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .merge(protected)
        .merge(console::router())
        .route("/api/v1/slack/interactions", post(approvals::slack))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(api::not_found)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` completes, then lets requests
/// in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
