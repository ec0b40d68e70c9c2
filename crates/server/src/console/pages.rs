//! The console's pages and form handlers. Each page is a view model of plain
//! strings filled from the store, rendered by an askama template in
//! `crates/server/templates/`.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use pagerless_guard::Identity;
use pagerless_model::{
    ApprovalStatus, AuditEntry, IncidentFilter, IncidentId, IncidentStatus, Outcome,
};
use serde::Deserialize;
use serde_json::Value;

use super::chart::{Chart, Marker, esc, render, split_threshold};
use super::session::{COOKIE, Console};
use crate::AppState;

/// What every page shows around its content.
pub(crate) struct Chrome {
    nav: &'static str,
    who: String,
    flash: String,
    flash_bad: bool,
}

/// A page's failure, shown as a plain page with its status.
pub(crate) struct PageError(StatusCode, String);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = format!(
            "<!doctype html><meta charset=utf-8><link rel=stylesheet href=/static/console.css><main><h1>{}</h1><div class=card>{}</div><p><a href=/incidents>Incidents</a></p></main>",
            self.0,
            esc(&self.1)
        );
        (self.0, Html(body)).into_response()
    }
}

impl From<pagerless_store::StoreError> for PageError {
    fn from(e: pagerless_store::StoreError) -> Self {
        PageError(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

fn page(t: impl Template) -> Result<Response, PageError> {
    let html = t
        .render()
        .map_err(|e| PageError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let mut resp = Html(html).into_response();
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    Ok(resp)
}

fn console(state: &AppState) -> Result<&Console, PageError> {
    state.console.as_deref().ok_or(PageError(
        StatusCode::NOT_FOUND,
        "this server runs without its console".into(),
    ))
}

/// Who is signed in; with an API token configured, nobody else sees a page.
fn viewer(
    state: &AppState,
    headers: &HeaderMap,
    back: &str,
) -> Result<Option<String>, Box<Response>> {
    let Some(c) = state.console.as_deref() else {
        return Err(Box::new(
            PageError(StatusCode::NOT_FOUND, "no console".into()).into_response(),
        ));
    };
    let who = c.who(headers, Utc::now().timestamp());
    if who.is_none() && state.api_token.is_some() {
        return Err(Box::new(
            Redirect::to(&format!("/login?back={}", enc(back))).into_response(),
        ));
    }
    Ok(who)
}

fn enc(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A local path to go back to; anything else goes to the incidents.
fn local(back: &str) -> String {
    if back.starts_with('/') && !back.starts_with("//") && !back.contains('\\') {
        back.to_owned()
    } else {
        "/incidents".to_owned()
    }
}

fn chrome(nav: &'static str, who: &Option<String>, flash: &FlashParams) -> Chrome {
    Chrome {
        nav,
        who: who
            .clone()
            .map_or_else(|| "not signed in".into(), |w| format!("signed in as {w}")),
        flash: flash.flash.clone().unwrap_or_default(),
        flash_bad: flash.bad.is_some(),
    }
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

#[derive(Deserialize, Default)]
pub(crate) struct FlashParams {
    flash: Option<String>,
    bad: Option<String>,
    status: Option<String>,
}

pub(crate) async fn home() -> Redirect {
    Redirect::to("/incidents")
}

pub(crate) async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("../../static/console.css"),
    )
}

// ---- sign in ----

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    csrf: String,
    back: String,
    need_token: bool,
}

#[derive(Deserialize)]
pub(crate) struct BackParams {
    back: Option<String>,
    flash: Option<String>,
    bad: Option<String>,
}

pub(crate) async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<BackParams>,
) -> Result<Response, PageError> {
    let c = console(&state)?;
    let flash = FlashParams {
        flash: q.flash,
        bad: q.bad,
        status: None,
    };
    page(LoginPage {
        chrome: chrome("", &None, &flash),
        csrf: c.csrf(&headers),
        back: local(q.back.as_deref().unwrap_or("/incidents")),
        need_token: state.api_token.is_some(),
    })
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    csrf: String,
    back: String,
    name: String,
    #[serde(default)]
    token: String,
}

pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, PageError> {
    let c = console(&state)?;
    if !c.csrf_ok(&headers, &f.csrf) {
        return Err(PageError(
            StatusCode::FORBIDDEN,
            "stale form: reload the page and sign in again".into(),
        ));
    }
    if let Some(expected) = state.api_token.as_deref() {
        use subtle::ConstantTimeEq;
        if !bool::from(f.token.as_bytes().ct_eq(expected.as_bytes())) {
            return Ok(Redirect::to(&format!(
                "/login?back={}&flash={}&bad=1",
                enc(&local(&f.back)),
                enc("wrong token")
            ))
            .into_response());
        }
    }
    let name = f.name.trim();
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(PageError(
            StatusCode::BAD_REQUEST,
            "a name of 1 to 64 printable characters, please".into(),
        ));
    }
    let value = c.session_for(name, Utc::now().timestamp());
    let mut resp = Redirect::to(&local(&f.back)).into_response();
    let cookie = format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

pub(crate) async fn logout() -> Response {
    let mut resp = Redirect::to("/incidents").into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "pagerless_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    resp
}

// ---- incidents ----

struct IncidentRow {
    id: i64,
    status: String,
    severity: String,
    environment: String,
    service: String,
    title: String,
    detected: String,
}

struct FilterLink {
    href: String,
    label: String,
    here: bool,
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct IncidentsPage {
    chrome: Chrome,
    filters: Vec<FilterLink>,
    filter_label: String,
    rows: Vec<IncidentRow>,
}

pub(crate) async fn incidents(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<FlashParams>,
) -> Result<Response, PageError> {
    let who = match viewer(&state, &headers, "/incidents") {
        Ok(w) => w,
        Err(r) => return Ok(*r),
    };
    let status = q
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::parse::<IncidentStatus>)
        .transpose()
        .map_err(|e| PageError(StatusCode::BAD_REQUEST, e))?;
    let list = state
        .store
        .incidents(&IncidentFilter {
            status,
            environment: None,
            service: None,
            limit: Some(500),
        })
        .await?;
    let mut filters = vec![FilterLink {
        href: "/incidents".into(),
        label: "all".into(),
        here: status.is_none(),
    }];
    for s in IncidentStatus::ALL {
        filters.push(FilterLink {
            href: format!("/incidents?status={s}"),
            label: s.to_string(),
            here: status == Some(s),
        });
    }
    page(IncidentsPage {
        chrome: chrome("incidents", &who, &q),
        filters,
        filter_label: status.map(|s| s.to_string()).unwrap_or_default(),
        rows: list
            .into_iter()
            .map(|i| IncidentRow {
                id: i.id.0,
                status: i.status.to_string(),
                severity: i.severity.to_string(),
                environment: i.environment.to_string(),
                service: i.service.clone().unwrap_or_else(|| "-".into()),
                title: i.title.clone(),
                detected: when(i.detected_at),
            })
            .collect(),
    })
}

struct ApprovalRow {
    id: i64,
    incident: String,
    action: String,
    why: String,
    deadline: String,
}

struct PrLink {
    href: String,
    number: u64,
    title: String,
    fate: String,
}

struct TimelineRow {
    when: String,
    kind: String,
    class: String,
    text: String,
}

struct StepRow {
    index: u32,
    thought: String,
    action: String,
    observation: String,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    chrome: Chrome,
    id: i64,
    status: String,
    title: String,
    summary: String,
    service: String,
    environment: String,
    severity: String,
    started: String,
    detected: String,
    alerts: Vec<String>,
    prs: Vec<PrLink>,
    diagnosis: String,
    diagnosis_meta: String,
    culprit: String,
    evidence: Vec<String>,
    chart: String,
    chart_expr: String,
    chart_note: String,
    approvals: Vec<ApprovalRow>,
    csrf: String,
    back: String,
    timeline: Vec<TimelineRow>,
    steps: Vec<StepRow>,
    trace_meta: String,
}

fn action_text(req: &Value) -> String {
    let kind = req["kind"].as_str().unwrap_or("?");
    let t = &req["target"];
    let target = match (t["namespace"].as_str(), t["name"].as_str()) {
        (Some(ns), Some(n)) => format!("{ns}/{n}"),
        (None, Some(n)) => n.to_owned(),
        _ => String::new(),
    };
    let kind_t = t["kind"].as_str().unwrap_or_default();
    format!("{kind} {kind_t} {target}")
        .replace("  ", " ")
        .trim()
        .to_owned()
}

/// One line for people per audit entry.
fn describe(e: &AuditEntry) -> (String, String) {
    let b = &e.body;
    match e.kind.as_str() {
        "decision" => (
            b["decision"].as_str().unwrap_or("decided").to_owned(),
            format!(
                "{}: {}",
                action_text(&b["request"]),
                b["why"].as_str().unwrap_or_default()
            ),
        ),
        "action_start" => ("started".into(), action_text(&b["request"])),
        "action_outcome" => {
            let outcome = b["outcome"].as_str().unwrap_or("?").to_owned();
            let text = b["summary"]
                .as_str()
                .or(b["error"].as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| action_text(&b["request"]));
            (outcome, format!("{text} (by {})", e.identity))
        }
        "verification" => {
            let ok = b["recovered"].as_bool().unwrap_or(false);
            let reads: Vec<String> = b["symptom"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|p| {
                            let v = p[1].as_f64().map_or("clear".into(), |v| format!("{v:.3}"));
                            format!("{}s {v}", p[0])
                        })
                        .collect()
                })
                .unwrap_or_default();
            (
                if ok { "ok" } else { "failed" }.into(),
                format!(
                    "verification: {} ({})",
                    if ok { "recovered" } else { "not recovered" },
                    reads.join(", ")
                ),
            )
        }
        "response" => {
            let r = &b["response"];
            let kind = r["kind"].as_str().unwrap_or("?").to_owned();
            let text = r["verified"]
                .as_str()
                .or(r["reason"].as_str())
                .map(str::to_owned)
                .or_else(|| {
                    r["approvals"]
                        .as_array()
                        .map(|a| format!("{} approval(s) asked", a.len()))
                })
                .or_else(|| {
                    r["would"].as_array().map(|a| {
                        format!(
                            "would: {}",
                            a.iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join("; ")
                        )
                    })
                })
                .unwrap_or_default();
            (kind, text)
        }
        "approval" => (
            b["decision"].as_str().unwrap_or("?").to_owned(),
            format!(
                "approval {} of {} by {}: {}",
                b["approval"],
                action_text(&b["request"]),
                e.identity,
                b["why"].as_str().unwrap_or_default()
            ),
        ),
        "pull_request" => (
            b["fate"].as_str().unwrap_or("pull request").to_owned(),
            format!(
                "pull request #{}: {}{}",
                b["number"],
                b["event"].as_str().unwrap_or_default(),
                b["reconciled"]
                    .as_str()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
        ),
        "escalation" => (
            "escalated".into(),
            b["reason"].as_str().unwrap_or_default().to_owned(),
        ),
        other => (other.to_owned(), b.to_string()),
    }
}

/// The alert's expression, from its generator URL (`…/graph?g0.expr=…`).
fn expr_of(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "g0.expr")
        .map(|(_, v)| v.into_owned())
}

async fn range(c: &Console, expr: &str, start: f64, end: f64) -> Result<Vec<(f64, f64)>, String> {
    let Some(base) = &c.prometheus else {
        return Err("no Prometheus is configured for charts".into());
    };
    let step = ((end - start) / 150.0).max(5.0).round();
    let resp = c
        .http
        .get(format!("{base}/api/v1/query_range"))
        .query(&[
            ("query", expr.to_owned()),
            ("start", format!("{start:.0}")),
            ("end", format!("{end:.0}")),
            ("step", format!("{step:.0}")),
        ])
        .send()
        .await
        .map_err(|e| format!("Prometheus: {e}"))?;
    let v: Value = resp.json().await.map_err(|e| format!("Prometheus: {e}"))?;
    if v["status"] != "success" {
        return Err(format!(
            "Prometheus: {}",
            v["error"].as_str().unwrap_or("error")
        ));
    }
    Ok(v["data"]["result"][0]["values"]
        .as_array()
        .map(|vals| {
            vals.iter()
                .filter_map(|p| Some((p[0].as_f64()?, p[1].as_str()?.parse::<f64>().ok()?)))
                .filter(|(_, v)| v.is_finite())
                .collect()
        })
        .unwrap_or_default())
}

pub(crate) async fn incident(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(q): Query<FlashParams>,
) -> Result<Response, PageError> {
    let back = format!("/incidents/{id}");
    let who = match viewer(&state, &headers, &back) {
        Ok(w) => w,
        Err(r) => return Ok(*r),
    };
    let c = console(&state)?;
    let incident = IncidentId(id);
    let Some(detail) = state.store.incident(incident).await? else {
        return Err(PageError(
            StatusCode::NOT_FOUND,
            format!("no incident {id}"),
        ));
    };
    let i = &detail.incident;
    let audit = state.store.audit(Some(incident)).await?;
    let investigation = state.store.investigations(incident).await?.pop();
    let summary = audit
        .iter()
        .rev()
        .find(|e| e.kind == "summary")
        .and_then(|e| e.body["text"].as_str())
        .unwrap_or_default()
        .to_owned();

    // Diagnosis and trace.
    let (mut diagnosis, mut diagnosis_meta, mut culprit, mut evidence) =
        (String::new(), String::new(), String::new(), Vec::new());
    let mut verify_expr = None;
    if let Some(inv) = &investigation {
        match &inv.outcome {
            Outcome::Diagnosed { diagnosis: d, plan } => {
                diagnosis.clone_from(&d.root_cause);
                diagnosis_meta =
                    format!("{} · confidence {:.0}%", d.category, d.confidence * 100.0);
                if let Some(cu) = &d.culprit {
                    culprit = format!(
                        "commit {} by {}: {} {} → {} in {}",
                        cu.commit.chars().take(7).collect::<String>(),
                        cu.author,
                        cu.key,
                        cu.before,
                        cu.after,
                        cu.file
                    );
                }
                evidence = d.evidence.iter().map(|e| e.summary.clone()).collect();
                verify_expr.clone_from(&plan.verify);
            }
            Outcome::Escalated { reason, .. } => {
                diagnosis = format!("Escalated: {reason}");
            }
        }
    }
    let steps: Vec<StepRow> = investigation
        .as_ref()
        .map(|inv| {
            inv.steps
                .iter()
                .map(|s| StepRow {
                    index: s.index,
                    thought: s.thought.clone(),
                    action: s
                        .call
                        .as_ref()
                        .map(|c| format!("{} {}", c.tool, c.args))
                        .unwrap_or_default(),
                    observation: s
                        .observation
                        .as_ref()
                        .map(|o| o.summary.clone())
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let trace_meta = investigation
        .as_ref()
        .map(|inv| {
            format!(
                "{} steps in {:.0} ms by the {} reasoner, {}",
                inv.steps.len(),
                inv.duration_ms,
                inv.reasoner,
                when(inv.started_at)
            )
        })
        .unwrap_or_default();

    // The chart: the alert's expression around the onset, actions marked.
    let onset = detail
        .alerts
        .iter()
        .map(|a| a.starts_at)
        .min()
        .unwrap_or(i.started_at);
    let alert_expr = detail
        .alerts
        .iter()
        .find_map(|a| a.generator_url.as_deref().and_then(expr_of));
    let expr = alert_expr.or(verify_expr);
    let mut markers = vec![Marker {
        at: onset.timestamp() as f64,
        label: "alert".into(),
        class: "onset",
    }];
    for e in audit
        .iter()
        .filter(|e| e.kind == "action_outcome" && e.body["outcome"] == "done")
    {
        markers.push(Marker {
            at: e.at.timestamp() as f64,
            label: e.body["summary"].as_str().unwrap_or("action").to_owned(),
            class: "action",
        });
    }
    let last = audit.last().map_or(onset, |e| e.at);
    // Not clamped to now: a lab's clock may run ahead of the wall's, and a
    // real Prometheus answers a window reaching past now up to now.
    let end = (last + chrono::Duration::minutes(10)).max(onset + chrono::Duration::minutes(10));
    let start = onset - chrono::Duration::minutes(15);
    let (chart, chart_expr, chart_note) = match &expr {
        None => (
            String::new(),
            String::new(),
            "The alert carries no expression to chart.".to_owned(),
        ),
        Some(expr) => {
            let (series, threshold) = split_threshold(expr);
            match range(c, &series, start.timestamp() as f64, end.timestamp() as f64).await {
                Ok(points) => (
                    render(&Chart {
                        title: format!("{} around the onset", i.title),
                        points,
                        threshold,
                        markers,
                    }),
                    series,
                    String::new(),
                ),
                Err(e) => (String::new(), String::new(), e),
            }
        }
    };

    // Pending approvals, pull requests, the timeline.
    let approvals = state
        .store
        .approvals(Some(ApprovalStatus::Pending))
        .await?
        .into_iter()
        .filter(|a| a.incident_id == Some(incident))
        .map(|a| ApprovalRow {
            id: a.id,
            incident: id.to_string(),
            action: action_text(&serde_json::to_value(&a.request).unwrap_or_default()),
            why: a.why.clone(),
            deadline: when(a.deadline),
        })
        .collect();
    let prs = state
        .store
        .pull_requests()
        .await?
        .into_iter()
        .filter(|p| p.incidents.contains(&incident))
        .map(|p| PrLink {
            href: if p.forge == "local" {
                format!("/prs/{}", p.id)
            } else {
                p.url.clone()
            },
            number: p.number,
            title: p.title.clone(),
            fate: p.fate.to_string(),
        })
        .collect();
    let mut timeline = vec![TimelineRow {
        when: onset.format("%H:%M:%S").to_string(),
        kind: "alert".into(),
        class: "warning".into(),
        text: detail
            .alerts
            .iter()
            .map(|a| {
                let name = a.labels.get("alertname").cloned().unwrap_or_default();
                let s = a.annotations.get("summary").cloned().unwrap_or_default();
                format!("{name}: {s}")
            })
            .collect::<Vec<_>>()
            .join("; "),
    }];
    timeline.extend(audit.iter().filter(|e| e.kind != "summary").map(|e| {
        let (kind, text) = describe(e);
        TimelineRow {
            when: e.at.format("%H:%M:%S").to_string(),
            class: kind.clone(),
            kind,
            text,
        }
    }));
    page(IncidentPage {
        chrome: chrome("incidents", &who, &q),
        id,
        status: i.status.to_string(),
        title: i.title.clone(),
        summary,
        service: i.service.clone().unwrap_or_else(|| "-".into()),
        environment: i.environment.to_string(),
        severity: i.severity.to_string(),
        started: when(i.started_at),
        detected: when(i.detected_at),
        alerts: detail
            .alerts
            .iter()
            .map(|a| a.labels.get("alertname").cloned().unwrap_or_default())
            .collect(),
        prs,
        diagnosis,
        diagnosis_meta,
        culprit,
        evidence,
        chart,
        chart_expr,
        chart_note,
        approvals,
        csrf: c.csrf(&headers),
        back,
        timeline,
        steps,
        trace_meta,
    })
}

// ---- approvals ----

struct DecidedRow {
    id: i64,
    incident: String,
    action: String,
    status: String,
    by: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "approvals.html")]
struct ApprovalsPage {
    chrome: Chrome,
    approvals: Vec<ApprovalRow>,
    decided: Vec<DecidedRow>,
    csrf: String,
    back: String,
}

pub(crate) async fn approvals(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<FlashParams>,
) -> Result<Response, PageError> {
    let who = match viewer(&state, &headers, "/approvals") {
        Ok(w) => w,
        Err(r) => return Ok(*r),
    };
    let c = console(&state)?;
    if let Some(g) = state.guard.as_deref() {
        let _ = g.expire(Utc::now()).await;
    }
    let all = state.store.approvals(None).await?;
    let (pending, decided): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|a| a.status == ApprovalStatus::Pending);
    page(ApprovalsPage {
        chrome: chrome("approvals", &who, &q),
        approvals: pending
            .iter()
            .map(|a| ApprovalRow {
                id: a.id,
                incident: a.incident_id.map(|i| i.to_string()).unwrap_or_default(),
                action: action_text(&serde_json::to_value(&a.request).unwrap_or_default()),
                why: a.why.clone(),
                deadline: when(a.deadline),
            })
            .collect(),
        decided: decided
            .iter()
            .rev()
            .map(|a| DecidedRow {
                id: a.id,
                incident: a.incident_id.map_or("-".into(), |i| i.to_string()),
                action: action_text(&serde_json::to_value(&a.request).unwrap_or_default()),
                status: a.status.as_str().to_owned(),
                by: a.decided_by.clone().unwrap_or_default(),
                reason: a.reason.clone().unwrap_or_default(),
            })
            .collect(),
        csrf: c.csrf(&headers),
        back: "/approvals".into(),
    })
}

#[derive(Deserialize)]
pub(crate) struct DecideForm {
    csrf: String,
    back: String,
    #[serde(default)]
    why: String,
}

/// The approver, or a redirect to sign in; and the form's CSRF checked.
fn decider(
    state: &AppState,
    headers: &HeaderMap,
    f: &DecideForm,
) -> Result<Result<Identity, Box<Response>>, PageError> {
    let c = console(state)?;
    if !c.csrf_ok(headers, &f.csrf) {
        return Err(PageError(
            StatusCode::FORBIDDEN,
            "this form is stale or came from elsewhere: reload the page and try again".into(),
        ));
    }
    Ok(match c.who(headers, Utc::now().timestamp()) {
        Some(name) => Ok(Identity::human(name)),
        None => Err(Box::new(
            Redirect::to(&format!(
                "/login?back={}&flash={}",
                enc(&local(&f.back)),
                enc("sign in to decide: approvals run as you")
            ))
            .into_response(),
        )),
    })
}

fn flash_to(back: &str, text: &str, bad: bool) -> Redirect {
    let back = local(back);
    let sep = if back.contains('?') { '&' } else { '?' };
    Redirect::to(&format!(
        "{back}{sep}flash={}{}",
        enc(text),
        if bad { "&bad=1" } else { "" }
    ))
}

pub(crate) async fn approve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<DecideForm>,
) -> Result<Response, PageError> {
    let who = match decider(&state, &headers, &f)? {
        Ok(w) => w,
        Err(r) => return Ok(*r),
    };
    let Some(g) = state.guard.as_deref() else {
        return Err(PageError(
            StatusCode::SERVICE_UNAVAILABLE,
            "this server runs without a guard".into(),
        ));
    };
    Ok(match g.approve(id, &who, Utc::now()).await {
        Ok(d) => {
            let why = d.record(&who).why;
            let allowed = matches!(d, pagerless_guard::Decision::Allowed(_));
            let execution = crate::approvals::hand_over(&state, id, d).await;
            flash_to(
                &f.back,
                &format!("Approval {id}: {why} ({execution})"),
                !allowed,
            )
        }
        Err(e) => flash_to(&f.back, &format!("Approval {id}: {e}"), true),
    }
    .into_response())
}

pub(crate) async fn deny(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<DecideForm>,
) -> Result<Response, PageError> {
    let who = match decider(&state, &headers, &f)? {
        Ok(w) => w,
        Err(r) => return Ok(*r),
    };
    let Some(g) = state.guard.as_deref() else {
        return Err(PageError(
            StatusCode::SERVICE_UNAVAILABLE,
            "this server runs without a guard".into(),
        ));
    };
    let why = if f.why.trim().is_empty() {
        "denied in the console".to_owned()
    } else {
        f.why.trim().to_owned()
    };
    Ok(match g.deny(id, &who, &why, Utc::now()).await {
        Ok(()) => flash_to(&f.back, &format!("Approval {id}: denied ({why})"), false),
        Err(e) => flash_to(&f.back, &format!("Approval {id}: {e}"), true),
    }
    .into_response())
}

// ---- pull requests ----

struct PrRow {
    id: i64,
    forge: String,
    fate: String,
    incidents: String,
    title: String,
    href: String,
    opened: String,
}

#[derive(Template)]
#[template(path = "prs.html")]
struct PrsPage {
    chrome: Chrome,
    rows: Vec<PrRow>,
}

pub(crate) async fn prs(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<FlashParams>,
) -> Result<Response, PageError> {
    let who = match viewer(&state, &headers, "/prs") {
        Ok(w) => w,
        Err(r) => return Ok(*r),
    };
    let rows = state
        .store
        .pull_requests()
        .await?
        .into_iter()
        .map(|p| PrRow {
            id: p.id,
            forge: p.forge.clone(),
            fate: p.fate.to_string(),
            incidents: p
                .incidents
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            title: p.title.clone(),
            href: format!("/prs/{}", p.id),
            opened: when(p.created_at),
        })
        .collect();
    page(PrsPage {
        chrome: chrome("prs", &who, &q),
        rows,
    })
}

struct DiffLine {
    class: &'static str,
    text: String,
}

#[derive(Template)]
#[template(path = "pr.html")]
struct PrPage {
    chrome: Chrome,
    id: i64,
    title: String,
    fate: String,
    forge: String,
    number: u64,
    branch: String,
    base: String,
    repo: String,
    url: String,
    reconciled: String,
    diff: Vec<DiffLine>,
    body: String,
}

pub(crate) async fn pr(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(q): Query<FlashParams>,
) -> Result<Response, PageError> {
    let who = match viewer(&state, &headers, &format!("/prs/{id}")) {
        Ok(w) => w,
        Err(r) => return Ok(*r),
    };
    // Links from the local forge carry its number; the record's id is the same
    // unless several forges were used, so look both ways.
    let all = state.store.pull_requests().await?;
    let Some(p) = all.iter().find(|p| p.id == id).or_else(|| {
        all.iter()
            .find(|p| p.forge == "local" && p.number as i64 == id)
    }) else {
        return Err(PageError(
            StatusCode::NOT_FOUND,
            format!("no pull request {id}"),
        ));
    };
    page(PrPage {
        chrome: chrome("prs", &who, &q),
        id: p.id,
        title: p.title.clone(),
        fate: p.fate.to_string(),
        forge: p.forge.clone(),
        number: p.number,
        branch: p.branch.clone(),
        base: p.base.clone(),
        repo: p.repo.clone(),
        url: if p.forge == "local" {
            String::new()
        } else {
            p.url.clone()
        },
        reconciled: p.reconciled.clone().unwrap_or_default(),
        diff: p
            .diff
            .lines()
            .map(|l| DiffLine {
                class: if l.starts_with('+') && !l.starts_with("+++") {
                    "add"
                } else if l.starts_with('-') && !l.starts_with("---") {
                    "del"
                } else {
                    ""
                },
                text: l.to_owned(),
            })
            .collect(),
        body: p.body.clone(),
    })
}

// ---- audit ----

struct AuditRow {
    seq: i64,
    when: String,
    who: String,
    incident: String,
    kind: String,
    class: String,
    text: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    verify_class: String,
    verify_word: String,
    verify_text: String,
    entries: Vec<AuditRow>,
}

pub(crate) async fn audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<FlashParams>,
) -> Result<Response, PageError> {
    let who = match viewer(&state, &headers, "/audit") {
        Ok(w) => w,
        Err(r) => return Ok(*r),
    };
    let v = state.store.verify_audit().await?;
    let (verify_class, verify_word, verify_text) = match &v.broken {
        None => (
            "ok".to_owned(),
            "intact".to_owned(),
            format!("The hash chain of all {} entries verifies.", v.entries),
        ),
        Some((seq, why)) => (
            "failed".to_owned(),
            "BROKEN".to_owned(),
            format!("The chain breaks at entry {seq}: {why}"),
        ),
    };
    let mut entries: Vec<AuditRow> = state
        .store
        .audit(None)
        .await?
        .iter()
        .map(|e| {
            let (class, text) = describe(e);
            AuditRow {
                seq: e.seq,
                when: when(e.at),
                who: e.identity.clone(),
                incident: e.incident_id.map(|i| i.to_string()).unwrap_or_default(),
                kind: e.kind.clone(),
                class,
                text: if e.kind == "summary" {
                    e.body["text"].as_str().unwrap_or_default().to_owned()
                } else {
                    text
                },
            }
        })
        .collect();
    entries.reverse();
    entries.truncate(1000);
    page(AuditPage {
        chrome: chrome("audit", &who, &q),
        verify_class,
        verify_word,
        verify_text,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_gone_back_to() {
        assert_eq!(local("/incidents/3"), "/incidents/3");
        assert_eq!(local("//evil.example/x"), "/incidents");
        assert_eq!(local("https://evil.example/"), "/incidents");
        assert_eq!(local("/\\evil"), "/incidents");
    }

    #[test]
    fn the_expression_comes_from_the_generator_url() {
        assert_eq!(
            expr_of("http://prom:9090/graph?g0.expr=up+%3E+0.3&g0.tab=1").as_deref(),
            Some("up > 0.3")
        );
        assert_eq!(expr_of("http://prom:9090/graph"), None);
    }
}

// ---- KPIs ----

struct KpiCard {
    value: String,
    label: &'static str,
    note: String,
}

#[derive(Template)]
#[template(path = "kpis.html")]
struct KpisPage {
    chrome: Chrome,
    windows: Vec<(&'static str, bool)>,
    window: String,
    cards: Vec<KpiCard>,
    actions: Vec<pagerless_report::ActionCount>,
}

#[derive(Deserialize)]
pub(crate) struct KpiParams {
    since: Option<String>,
}

fn pct(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{:.0}%", v * 100.0))
}

fn dur(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(s) if s < 120.0 => format!("{s:.0} s"),
        Some(s) if s < 7200.0 => format!("{:.1} min", s / 60.0),
        Some(s) => format!("{:.1} h", s / 3600.0),
    }
}

pub(crate) async fn kpis(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<KpiParams>,
) -> Result<Response, PageError> {
    let who = match viewer(&state, &headers, "/kpis") {
        Ok(w) => w,
        Err(r) => return Ok(*r),
    };
    let Some(settings) = state.kpis.as_deref() else {
        return Err(PageError(
            StatusCode::NOT_FOUND,
            "this server computes no KPIs".into(),
        ));
    };
    let since_text = q.since.unwrap_or_else(|| "7d".into());
    let span = pagerless_report::parse_since(&since_text)
        .map_err(|e| PageError(StatusCode::BAD_REQUEST, e.to_string()))?;
    let until = Utc::now();
    let k = pagerless_report::compute(state.store.as_ref(), settings, until - span, until)
        .await
        .map_err(|e| PageError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let cards = vec![
        KpiCard {
            value: k.incidents.to_string(),
            label: "incidents",
            note: format!("{} recovered", k.incidents_recovered),
        },
        KpiCard {
            value: dur(k.mttr_secs),
            label: "MTTR",
            note: "detection to recovery".into(),
        },
        KpiCard {
            value: dur(k.mtso_secs),
            label: "MTSO",
            note: format!(
                "detection to fix merged and symptom gone ({} fixed)",
                k.incidents_fixed
            ),
        },
        KpiCard {
            value: pct(k.autonomous_resolution_rate),
            label: "autonomous resolution",
            note: format!("{} with no human paged", k.incidents_autonomous),
        },
        KpiCard {
            value: format!("{:.1} h", k.toil_hours_saved),
            label: "toil saved",
            note: "playbooks' human minutes × runs".into(),
        },
        KpiCard {
            value: pct(k.pr_correctness_rate),
            label: "PR correctness",
            note: format!(
                "{} opened, {} merged unmodified, {} modified, {} closed",
                k.pr_opened, k.pr_merged_unmodified, k.pr_merged_modified, k.pr_closed
            ),
        },
        KpiCard {
            value: dur(k.approval_latency_secs.p50),
            label: "approval latency p50",
            note: format!(
                "p90 {} over {}",
                dur(k.approval_latency_secs.p90),
                k.approval_latency_secs.count
            ),
        },
        KpiCard {
            value: pct(k.harmful_action_rate),
            label: "harmful actions",
            note: "undone by verification".into(),
        },
        KpiCard {
            value: k.nodes_per_human.map_or("–".into(), |v| format!("{v:.0}")),
            label: "nodes per human",
            note: "report.nodes / report.humans".into(),
        },
    ];
    page(KpisPage {
        chrome: chrome("kpis", &who, &FlashParams::default()),
        windows: ["24h", "7d", "30d"]
            .into_iter()
            .map(|w| (w, w == since_text))
            .collect(),
        window: format!("{} to {}", when(k.since), when(k.until)),
        cards,
        actions: k.actions.clone(),
    })
}
