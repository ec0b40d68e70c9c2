//! The read API: incidents and their alerts.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use pagerless_model::{
    Environment, Incident, IncidentDetail, IncidentFilter, IncidentId, IncidentStatus,
};
use serde::{Deserialize, Serialize};

use crate::{ApiError, AppState};

/// Query parameters of `GET /api/v1/incidents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    status: Option<String>,
    environment: Option<String>,
    service: Option<String>,
    limit: Option<u32>,
}

/// The body of `GET /api/v1/incidents`.
#[derive(Debug, Serialize, Deserialize)]
pub struct IncidentList {
    /// Matching incidents, newest first.
    pub incidents: Vec<Incident>,
}

/// The most incidents one listing returns.
const MAX_LIMIT: u32 = 1000;

pub(crate) async fn list_incidents(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<IncidentList>, ApiError> {
    let Query(params) = params.map_err(|e| {
        ApiError::bad_request(format!(
            "{}; known parameters: status, environment, service, limit",
            e.body_text()
        ))
    })?;
    let status = params
        .status
        .as_deref()
        .map(str::parse::<IncidentStatus>)
        .transpose()
        .map_err(ApiError::bad_request)?;
    if params.limit.is_some_and(|l| l == 0 || l > MAX_LIMIT) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let filter = IncidentFilter {
        status,
        environment: params.environment.as_deref().map(Environment::new),
        service: params.service,
        limit: params.limit,
    };
    Ok(Json(IncidentList {
        incidents: state.store.incidents(&filter).await?,
    }))
}

pub(crate) async fn show_incident(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<IncidentDetail>, ApiError> {
    let id: IncidentId = id
        .parse()
        .map_err(|e: pagerless_model::ParseIdError| ApiError::bad_request(e.to_string()))?;
    state
        .store
        .incident(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no incident {id}")))
}

pub(crate) async fn incident_investigations(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id: IncidentId = id
        .parse()
        .map_err(|e: pagerless_model::ParseIdError| ApiError::bad_request(e.to_string()))?;
    if state.store.incident(id).await?.is_none() {
        return Err(ApiError::not_found(format!("no incident {id}")));
    }
    let list = state.store.investigations(id).await?;
    Ok(Json(serde_json::json!({ "investigations": list })))
}

pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("nothing at {}", uri.path()))
}
