//! `pagerless incidents list` and `pagerless incident show`: read from the store
//! directly, or from a running server with `--server`; print tables or JSON.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use comfy_table::{Table, presets::NOTHING};
use pagerless_model::{Incident, IncidentDetail, IncidentFilter, IncidentId};
use pagerless_store::{SqliteStore, Store};
use serde::de::DeserializeOwned;

use crate::cli::Source;
use crate::settings::Settings;

/// Where incidents are read from.
enum Reader {
    Store(SqliteStore),
    Server {
        base: String,
        token: Option<String>,
        http: reqwest::Client,
    },
}

impl Reader {
    async fn open(settings: &Settings, source: &Source) -> Result<Reader> {
        match &source.server {
            Some(url) => Ok(Reader::Server {
                base: url.trim_end_matches('/').to_owned(),
                token: source.token.clone().filter(|t| !t.is_empty()),
                http: reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(30))
                    .build()?,
            }),
            None => Ok(Reader::Store(
                SqliteStore::open_existing(&settings.store_path()).await?,
            )),
        }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Option<T>> {
        let Reader::Server { base, token, http } = self else {
            bail!("not a server reader");
        };
        let url = format!("{base}{path}");
        let mut req = http.get(&url).query(query);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND && path.starts_with("/api/v1/incidents/") {
            return Ok(None);
        }
        let body = resp.bytes().await?;
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            bail!("{url} answered {status}: {message}");
        }
        serde_json::from_slice(&body)
            .map(Some)
            .with_context(|| format!("{url} answered with unexpected JSON"))
    }

    async fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>> {
        match self {
            Reader::Store(store) => Ok(store.incidents(filter).await?),
            Reader::Server { .. } => {
                let mut q = Vec::new();
                if let Some(s) = filter.status {
                    q.push(("status", s.to_string()));
                }
                if let Some(e) = &filter.environment {
                    q.push(("environment", e.to_string()));
                }
                if let Some(s) = &filter.service {
                    q.push(("service", s.clone()));
                }
                if let Some(l) = filter.limit {
                    q.push(("limit", l.to_string()));
                }
                let list: Option<pagerless_server::IncidentList> =
                    self.get("/api/v1/incidents", &q).await?;
                Ok(list.map(|l| l.incidents).unwrap_or_default())
            }
        }
    }

    async fn investigations(&self, id: IncidentId) -> Result<Vec<pagerless_model::Investigation>> {
        match self {
            Reader::Store(store) => Ok(store.investigations(id).await?),
            Reader::Server { .. } => {
                #[derive(serde::Deserialize)]
                struct List {
                    investigations: Vec<pagerless_model::Investigation>,
                }
                let list: Option<List> = self
                    .get(&format!("/api/v1/incidents/{id}/investigations"), &[])
                    .await?;
                Ok(list.map(|l| l.investigations).unwrap_or_default())
            }
        }
    }

    async fn incident(&self, id: IncidentId) -> Result<Option<IncidentDetail>> {
        match self {
            Reader::Store(store) => Ok(store.incident(id).await?),
            Reader::Server { .. } => self.get(&format!("/api/v1/incidents/{id}"), &[]).await,
        }
    }
}

pub async fn list(
    settings: &Settings,
    source: &Source,
    filter: &IncidentFilter,
) -> Result<ExitCode> {
    let reader = Reader::open(settings, source).await?;
    let incidents = reader.incidents(filter).await?;
    if source.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "incidents": incidents }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if incidents.is_empty() {
        println!("no incidents");
        return Ok(ExitCode::SUCCESS);
    }
    let now = Utc::now();
    let mut table = Table::new();
    table.load_style(NOTHING).set_header([
        "ID", "STATUS", "SEVERITY", "ENV", "SERVICE", "FIRING", "DETECTED", "TITLE",
    ]);
    for i in &incidents {
        table.add_row([
            i.id.to_string(),
            i.status.to_string(),
            i.severity.to_string(),
            i.environment.to_string(),
            i.service.clone().unwrap_or_else(|| "-".into()),
            format!("{}/{}", i.firing_count, i.alert_count),
            ago(now, i.detected_at),
            i.title.clone(),
        ]);
    }
    println!("{}", table.trim_fmt());
    Ok(ExitCode::SUCCESS)
}

pub async fn show(settings: &Settings, source: &Source, id: IncidentId) -> Result<ExitCode> {
    let reader = Reader::open(settings, source).await?;
    let Some(detail) = reader.incident(id).await? else {
        bail!("no incident {id}: `pagerless incidents list` shows the ids there are");
    };
    let investigations = reader.investigations(id).await?;
    if source.json {
        let mut v = serde_json::to_value(&detail)?;
        v["investigations"] = serde_json::to_value(&investigations)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&detail, Utc::now()));
    if let Some(inv) = investigations.last() {
        println!(
            "\ninvestigation ({} of {}, {} reasoner, {})",
            investigations.len(),
            investigations.len(),
            inv.reasoner,
            inv.started_at.format("%Y-%m-%d %H:%M:%S UTC")
        );
        let mut printer = super::trace::Printer { evidence: false };
        for step in &inv.steps {
            pagerless_agent::TraceSink::step(&mut printer, step);
        }
        print!("{}", super::trace::outcome(inv));
    } else {
        println!("\nno investigation yet");
    }
    Ok(ExitCode::SUCCESS)
}

/// The human view of one incident.
fn render(d: &IncidentDetail, now: DateTime<Utc>) -> String {
    use std::fmt::Write;
    let i = &d.incident;
    let mut out = String::new();
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let _ = writeln!(out, "incident {}  {}  [{}]", i.id, i.title, i.status);
    let _ = writeln!(out, "  severity     {}", i.severity);
    let _ = writeln!(
        out,
        "  scope        env={} cluster={} namespace={} service={}",
        i.environment,
        dash(&i.cluster),
        dash(&i.namespace),
        dash(&i.service)
    );
    let _ = writeln!(
        out,
        "  started      {} ({})",
        i.started_at.to_rfc3339(),
        ago(now, i.started_at)
    );
    let _ = writeln!(
        out,
        "  detected     {} ({})",
        i.detected_at.to_rfc3339(),
        ago(now, i.detected_at)
    );
    if let Some(r) = i.resolved_at {
        let _ = writeln!(out, "  resolved     {} ({})", r.to_rfc3339(), ago(now, r));
    }
    let _ = writeln!(out, "  source       {} group {}", i.source, i.group_key);
    let labels: Vec<String> = i.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let _ = writeln!(out, "  labels       {}", labels.join(" "));
    let _ = writeln!(
        out,
        "\nalerts ({} firing of {})",
        i.firing_count, i.alert_count
    );
    let mut table = Table::new();
    table.load_style(NOTHING).set_header([
        "ID", "STATUS", "ALERT", "STARTED", "ENDED", "SEEN", "SUMMARY",
    ]);
    for a in &d.alerts {
        table.add_row([
            a.id.to_string(),
            a.status.to_string(),
            a.labels.get("alertname").cloned().unwrap_or_default(),
            a.starts_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            a.ends_at
                .map(|e| e.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_else(|| "-".into()),
            format!("{}x", a.deliveries),
            a.annotations.get("summary").cloned().unwrap_or_default(),
        ]);
    }
    let _ = writeln!(out, "{}", table.trim_fmt());
    out
}

/// "3m ago", "2h ago", "in 5s".
fn ago(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    let secs = (now - then).num_seconds();
    let (n, future) = (secs.unsigned_abs(), secs < 0);
    let span = match n {
        0..=59 => format!("{n}s"),
        60..=3599 => format!("{}m", n / 60),
        3600..=86_399 => format!("{}h", n / 3600),
        _ => format!("{}d", n / 86_400),
    };
    if future {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ages_read_naturally() {
        let now = Utc.timestamp_opt(1_000_000, 0).unwrap();
        let at = |s: i64| Utc.timestamp_opt(1_000_000 - s, 0).unwrap();
        assert_eq!(ago(now, at(5)), "5s ago");
        assert_eq!(ago(now, at(600)), "10m ago");
        assert_eq!(ago(now, at(7200)), "2h ago");
        assert_eq!(ago(now, at(-3)), "in 3s");
    }
}
