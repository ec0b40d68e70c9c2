//! `?watch=1`: newline-delimited watch events from a resourceVersion (or, without one, the
//! current objects as ADDED first), filtered by namespace and selectors, as objects or Tables.
//! A version older than the retained history gets a 410 `Expired` ERROR event, so clients relist.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::resources::{selected, selectors};
use super::table::{Printable, table, wants_table};
use super::{ApiState, Req, channel_body};
use crate::error::ApiError;
use crate::selector::{FieldSelector, LabelSelectorExpr};
use crate::store::Cluster;

struct Filter {
    namespace: Option<String>,
    labels: LabelSelectorExpr,
    fields: FieldSelector,
    table: bool,
    include: String,
}

impl Filter {
    fn keeps<K: Printable>(&self, obj: &K) -> bool {
        let ns_ok = self.namespace.is_none() || obj.metadata().namespace == self.namespace;
        ns_ok && selected(obj, &self.labels, &self.fields)
    }

    fn line<K: Printable>(&self, type_: &str, obj: &K, rv: u64, now: DateTime<Utc>) -> Bytes {
        let object = if self.table {
            table([obj], rv, &self.include, now)
        } else {
            serde_json::to_value(obj).unwrap_or(Value::Null)
        };
        let mut line = json!({"type": type_, "object": object}).to_string();
        line.push('\n');
        Bytes::from(line)
    }
}

fn error_line(e: &ApiError) -> Bytes {
    Bytes::from(format!(
        "{}\n",
        json!({"type": "ERROR", "object": e.to_status()})
    ))
}

/// Lines for the changes after `since`, and the version they reach.
fn changes<K: Printable>(
    cluster: &Cluster,
    filter: &Filter,
    since: u64,
    now: DateTime<Utc>,
) -> Result<(Vec<Bytes>, u64), ApiError> {
    let mut last = since;
    let mut lines = Vec::new();
    for record in cluster.changes_since(K::RESOURCE, since)? {
        last = record.resource_version;
        if let Some(obj) = K::from_any(&record.object)
            && filter.keeps(obj)
        {
            lines.push(filter.line(record.event.as_str(), obj, record.resource_version, now));
        }
    }
    Ok((lines, last.max(since)))
}

/// Starts a watch stream.
pub fn serve<K: Printable>(state: &ApiState, req: &Req) -> Result<Response, ApiError> {
    let (labels, fields) = selectors::<K>(req)?;
    let filter = Filter {
        namespace: req.namespace.clone(),
        labels,
        fields,
        table: wants_table(&req.accept),
        include: req.param("includeObject").unwrap_or("Metadata").to_string(),
    };
    let requested = req
        .param("resourceVersion")
        .filter(|v| !v.is_empty() && *v != "0");
    let send_initial = req.flag("sendInitialEvents");
    let timeout = req
        .param("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let now = (state.now)();
    let (mut initial, mut since, mut subscription) = {
        let cluster = state.read();
        let subscription = cluster.subscribe();
        let current = cluster.resource_version();
        match requested {
            Some(rv) if !send_initial => {
                let rv: u64 = rv
                    .parse()
                    .map_err(|_| ApiError::BadRequest(format!("invalid resource version: {rv}")))?;
                match changes::<K>(&cluster, &filter, rv, now) {
                    Ok((lines, last)) => (lines, last, subscription),
                    Err(e) => (vec![error_line(&e)], u64::MAX, subscription),
                }
            }
            _ => {
                let mut lines: Vec<Bytes> = cluster
                    .iter::<K>(req.namespace.as_deref())
                    .filter(|o| filter.keeps(*o))
                    .map(|o| filter.line("ADDED", o, current, now))
                    .collect();
                if send_initial {
                    let bookmark = json!({"type": "BOOKMARK", "object": {
                        "kind": K::KIND, "apiVersion": K::API_VERSION,
                        "metadata": {"resourceVersion": current.to_string(),
                                     "annotations": {"k8s.io/initial-events-end": "true"}}}});
                    lines.push(Bytes::from(format!("{bookmark}\n")));
                }
                (lines, current, subscription)
            }
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let state = state.clone();
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            for line in initial.drain(..) {
                if tx.send(line).await.is_err() {
                    return;
                }
            }
            if since == u64::MAX {
                return;
            }
            match tokio::time::timeout_at(deadline, subscription.changed()).await {
                Ok(Ok(())) => {}
                _ => return,
            }
            let now = (state.now)();
            let cluster = state.read();
            match changes::<K>(&cluster, &filter, since, now) {
                Ok((lines, last)) => {
                    initial = lines;
                    since = last;
                }
                Err(e) => {
                    initial = vec![error_line(&e)];
                    since = u64::MAX;
                }
            }
        }
    });
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        channel_body(rx),
    )
        .into_response())
}
