//! `GET /metrics`: the KPIs (MTTR, autonomous resolution, toil saved, pull
//! request correctness, ...) over a window ending now, in Prometheus text
//! exposition, for a Prometheus to scrape. Computed from the store at each
//! scrape (crate `pagerless-report`; definitions in docs/kpis.md), so every
//! replica serving the same store answers the same. Behind the API token,
//! like `/api/v1`.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::{ApiError, AppState};

/// The window when a scrape does not name one.
const DEFAULT_SINCE: &str = "7d";

/// Query parameters of `GET /metrics`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetricsParams {
    /// How far back: `7d`, `24h`, `30m`, `90s`.
    since: Option<String>,
}

pub(crate) async fn metrics(
    State(state): State<AppState>,
    params: Result<Query<MetricsParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| {
        ApiError::bad_request(format!(
            "{}; known parameters: since (such as 7d)",
            e.body_text()
        ))
    })?;
    let Some(settings) = state.kpis.clone() else {
        return Err(ApiError::not_found(
            "KPI metrics are not enabled on this server: `pagerless serve` serves them at /metrics",
        ));
    };
    let window = pagerless_report::parse_since(params.since.as_deref().unwrap_or(DEFAULT_SINCE))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let until = chrono::Utc::now();
    let kpis = pagerless_report::compute(state.store.as_ref(), &settings, until - window, until)
        .await
        .map_err(|e| match e {
            pagerless_report::ReportError::Store(e) => ApiError::from(e),
            other => ApiError::bad_request(other.to_string()),
        })?;
    Ok((
        [(header::CONTENT_TYPE, pagerless_report::CONTENT_TYPE)],
        pagerless_report::openmetrics(&kpis),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use pagerless_model::LabelMapping;
    use pagerless_store::SqliteStore;
    use tower::ServiceExt;

    use crate::{AppState, router};

    async fn get(
        kpis: bool,
        token: Option<&str>,
        uri: &str,
        bearer: Option<&str>,
    ) -> (StatusCode, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("p.db")).await.unwrap());
        let app = router(
            AppState {
                store,
                api_token: token.map(Arc::from),
                labels: Arc::new(LabelMapping::default()),
                investigate: None,
                guard: None,
                slack_signing_secret: None,
                approved: None,
                kpis: kpis.then(|| Arc::new(pagerless_report::KpiSettings::default())),
                console: None,
            },
            1 << 20,
        );
        let mut req = Request::get(uri);
        if let Some(b) = bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {b}"));
        }
        let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let status = resp.status();
        let ctype = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, ctype, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn serves_the_kpis_as_prometheus_text() {
        let (status, ctype, body) = get(true, None, "/metrics", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(ctype, pagerless_report::CONTENT_TYPE);
        assert!(
            body.contains("# TYPE pagerless_incidents gauge\npagerless_incidents 0\n"),
            "{body}"
        );
        assert!(
            body.contains("pagerless_kpi_window_seconds 604800\n"),
            "{body}"
        );
        // Nothing to divide by: no ratio at all, rather than a false 0.
        assert!(
            !body.contains("pagerless_autonomous_resolution_ratio"),
            "{body}"
        );

        let (status, _, body) = get(true, None, "/metrics?since=1h", None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.contains("pagerless_kpi_window_seconds 3600\n"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn bad_windows_and_parameters_are_400() {
        let (status, _, body) = get(true, None, "/metrics?since=7w", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("such as 7d"), "{body}");
        let (status, _, body) = get(true, None, "/metrics?window=7d", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("known parameters: since"), "{body}");
    }

    #[tokio::test]
    async fn without_kpi_settings_it_is_404_with_a_json_error() {
        let (status, _, body) = get(false, None, "/metrics", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], "not_found");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not enabled")
        );
    }

    #[tokio::test]
    async fn it_needs_the_api_token_when_there_is_one() {
        let (status, _, _) = get(true, Some("s3cret"), "/metrics", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _, _) = get(true, Some("s3cret"), "/metrics", Some("s3cret")).await;
        assert_eq!(status, StatusCode::OK);
    }
}
