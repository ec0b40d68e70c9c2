//! The web console: server-rendered pages of incidents (with their trace,
//! symptom chart, actions and pull requests), approvals with Approve/Deny,
//! pull requests, the audit log and the KPIs. Plain HTML forms: it works
//! without JavaScript.
//!
//! Key decision: a signed session cookie names the human (approvals run as
//! them); when the server has an API token, signing in needs it. Every form
//! carries a CSRF token derived from the session, and the cookie is
//! `SameSite=Strict`, so another site cannot post an approval.

pub mod chart;
mod pages;
mod session;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;

pub use session::Console;

/// The console's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/static/console.css", get(pages::css))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/incidents", get(pages::incidents))
        .route("/incidents/{id}", get(pages::incident))
        .route("/approvals", get(pages::approvals))
        .route("/approvals/{id}/approve", post(pages::approve))
        .route("/approvals/{id}/deny", post(pages::deny))
        .route("/prs", get(pages::prs))
        .route("/prs/{id}", get(pages::pr))
        .route("/audit", get(pages::audit))
        .route("/kpis", get(pages::kpis))
}

/// The console's settings, for [`AppState`].
pub fn console(prometheus: Option<String>) -> Arc<Console> {
    Arc::new(Console::new(prometheus))
}
