//! The Prometheus HTTP API (`/api/v1/...`) over a shared [`SeriesStore`].
//!
//! Key decision: "now" comes from the caller's clock, because the lab's clock is
//! virtual. Responses are written by hand rather than through serde so that
//! numbers keep 2.42's exact spelling: vector and matrix timestamps with three
//! decimals (`1700000000.120`), scalar and string ones as shortest floats
//! (`1700000000.12`), values as Go-formatted strings.

mod params;
mod render;

use std::sync::{Arc, RwLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::PromqlError;
use crate::eval::{check_range, instant_query, range_query};
use crate::store::SeriesStore;
use params::Params;

/// What the API serves: a store to read and a clock saying what "now" is.
#[derive(Clone)]
pub struct PromApi {
    store: Arc<RwLock<SeriesStore>>,
    now_ms: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl PromApi {
    /// An API over `store`, with `now_ms` giving the current time in ms since the epoch.
    pub fn new(
        store: Arc<RwLock<SeriesStore>>,
        now_ms: Arc<dyn Fn() -> i64 + Send + Sync>,
    ) -> Self {
        Self { store, now_ms }
    }
}

impl std::fmt::Debug for PromApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromApi").finish_non_exhaustive()
    }
}

/// The router serving `/api/v1/query`, `/api/v1/query_range`, `/api/v1/series`,
/// `/api/v1/labels`, `/api/v1/label/{name}/values` and `/api/v1/status/buildinfo`,
/// each for GET and form-encoded POST.
pub fn router(api: PromApi) -> Router {
    Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .with_state(api)
}

/// An API failure in Prometheus' error shape.
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    fn bad_data(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "bad_data",
            message: message.into(),
        }
    }
}

impl From<PromqlError> for ApiError {
    fn from(e: PromqlError) -> Self {
        match e {
            PromqlError::Parse(m) => Self::bad_data(format!("invalid parameter \"query\": {m}")),
            PromqlError::BadParameter(m) => Self::bad_data(m),
            e @ (PromqlError::Execution(_) | PromqlError::Unsupported(_)) => Self {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                kind: "execution",
                message: e.to_string(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = format!(
            r#"{{"status":"error","errorType":"{}","error":{}}}"#,
            self.kind,
            render::json_string(&self.message)
        );
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

fn success(data: String) -> Response {
    let body = format!(r#"{{"status":"success","data":{data}}}"#);
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Runs a store read off the async runtime (queries can be CPU-heavy).
async fn with_store<T: Send + 'static>(
    api: &PromApi,
    f: impl FnOnce(&SeriesStore) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = Arc::clone(&api.store);
    tokio::task::spawn_blocking(move || {
        let guard = store.read().map_err(|_| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "internal",
            message: "series store lock poisoned".to_string(),
        })?;
        f(&guard)
    })
    .await
    .map_err(|e| ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        kind: "internal",
        message: format!("query task failed: {e}"),
    })?
}

async fn query(State(api): State<PromApi>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    respond(async {
        let p = Params::from_request(q.as_deref(), &body);
        let query = p.required("query")?.to_string();
        let t = match p.get("time") {
            Some(s) => params::parse_time(s).map_err(|e| invalid("time", &e))?,
            None => (api.now_ms)(),
        };
        let value = with_store(&api, move |s| Ok(instant_query(s, &query, t)?)).await?;
        Ok(render::query_value(&value))
    })
    .await
}

async fn query_range(State(api): State<PromApi>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    respond(async {
        let p = Params::from_request(q.as_deref(), &body);
        let start = params::parse_time(p.required("start")?).map_err(|e| invalid("start", &e))?;
        let end = params::parse_time(p.required("end")?).map_err(|e| invalid("end", &e))?;
        let step = params::parse_duration(p.required("step")?).map_err(|e| invalid("step", &e))?;
        check_range(start, end, step)?;
        let query = p.required("query")?.to_string();
        let value =
            with_store(&api, move |s| Ok(range_query(s, &query, start, end, step)?)).await?;
        Ok(render::query_value(&value))
    })
    .await
}

async fn series(State(api): State<PromApi>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    respond(async {
        let p = Params::from_request(q.as_deref(), &body);
        let selectors = p.selectors()?;
        if selectors.is_empty() {
            return Err(ApiError::bad_data("no match[] parameter provided"));
        }
        let (start, end) = p.time_window()?;
        with_store(&api, move |s| {
            let mut found = std::collections::BTreeSet::new();
            for m in &selectors {
                for series in s.select(m, start, end) {
                    found.insert(series.labels());
                }
            }
            let items: Vec<String> = found.iter().map(render::labels_json).collect();
            Ok(format!("[{}]", items.join(",")))
        })
        .await
    })
    .await
}

async fn labels(State(api): State<PromApi>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    respond(async {
        let p = Params::from_request(q.as_deref(), &body);
        let selectors = p.selectors()?;
        let (start, end) = p.time_window()?;
        with_store(&api, move |s| {
            let names: Vec<String> = if selectors.is_empty() {
                s.label_names(start, end)
            } else {
                let mut set = std::collections::BTreeSet::new();
                for m in &selectors {
                    for series in s.select(m, start, end) {
                        set.extend(series.label_pairs().map(|(k, _)| k.to_string()));
                    }
                }
                set.into_iter().collect()
            };
            Ok(render::string_array(&names))
        })
        .await
    })
    .await
}

async fn label_values(
    State(api): State<PromApi>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    respond(async {
        if !crate::eval::is_label_name(&name) {
            return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
        }
        let p = Params::from_request(q.as_deref(), &[]);
        let selectors = p.selectors()?;
        let (start, end) = p.time_window()?;
        with_store(&api, move |s| {
            let values: Vec<String> = if selectors.is_empty() {
                s.label_values(&name, start, end)
            } else {
                let mut set = std::collections::BTreeSet::new();
                for m in &selectors {
                    for series in s.select(m, start, end) {
                        if let Some(v) = series.label(&name) {
                            set.insert(v.to_string());
                        }
                    }
                }
                set.into_iter().collect()
            };
            Ok(render::string_array(&values))
        })
        .await
    })
    .await
}

async fn buildinfo() -> Response {
    success(
        r#"{"version":"2.42.0","revision":"pagerless-promql","branch":"HEAD","buildUser":"pagerless","buildDate":"20230131-00:00:00","goVersion":"go1.19.5"}"#
            .to_string(),
    )
}

fn invalid(param: &str, message: &str) -> ApiError {
    ApiError::bad_data(format!("invalid parameter {param:?}: {message}"))
}

async fn respond(f: impl Future<Output = Result<String, ApiError>>) -> Response {
    match f.await {
        Ok(data) => success(data),
        Err(e) => e.into_response(),
    }
}
