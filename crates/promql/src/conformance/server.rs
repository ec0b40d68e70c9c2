//! Starting a real Prometheus on a store's samples, and asking it queries.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::compare::Query;
use super::{ConformanceError, io};
use crate::export::write_openmetrics;
use crate::store::{Labels, SeriesStore};
use crate::value::{InstantSample, QueryValue, RangeSeries, format_timestamp};

/// A running Prometheus 2.x, loaded from a store; killed when dropped.
#[derive(Debug)]
pub struct PrometheusServer {
    child: Child,
    port: u16,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// Panics with the install hint when `binary` cannot be run.
fn require_binary(binary: &str) {
    let ok = Command::new(binary)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "`{binary}` is not installed or not runnable; install it with `apt-get install -y prometheus`"
    );
}

impl PrometheusServer {
    /// Backfills every sample of `store` into a fresh TSDB with promtool, starts
    /// `prometheus` on it with an empty scrape config and waits for `/-/ready`.
    ///
    /// # Panics
    /// When `prometheus` or `promtool` is missing (install: `apt-get install -y prometheus`).
    pub async fn start(store: &SeriesStore) -> Result<Self, ConformanceError> {
        require_binary("promtool");
        require_binary("prometheus");
        let dir = tempfile::tempdir().map_err(io("creating a temporary directory"))?;
        let om_path = dir.path().join("samples.om");
        let data_dir = dir.path().join("data");
        {
            let file = std::fs::File::create(&om_path).map_err(io("creating samples.om"))?;
            let mut w = std::io::BufWriter::new(file);
            write_openmetrics(store, &mut w).map_err(io("writing samples.om"))?;
            w.flush().map_err(io("writing samples.om"))?;
        }
        backfill(&om_path, &data_dir)?;
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, "global: {}\nscrape_configs: []\n")
            .map_err(io("writing prometheus.yml"))?;
        let port = free_port()?;
        let log_path = dir.path().join("prometheus.log");
        let log = std::fs::File::create(&log_path).map_err(io("creating prometheus.log"))?;
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data_dir.display()))
            .arg("--storage.tsdb.retention.time=10y")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(io("spawning prometheus"))?;
        let mut server = Self {
            child,
            port,
            client: reqwest::Client::new(),
            _dir: dir,
        };
        server.wait_ready(&log_path).await?;
        Ok(server)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn wait_ready(&mut self, log_path: &Path) -> Result<(), ConformanceError> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = format!("{}/-/ready", self.base_url());
        loop {
            if let Ok(r) = self.client.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            let exited = matches!(self.child.try_wait(), Ok(Some(_)));
            if exited || Instant::now() > deadline {
                let log = std::fs::read_to_string(log_path).unwrap_or_default();
                let tail: String = log.lines().rev().take(20).collect::<Vec<_>>().join("\n");
                return Err(ConformanceError::NotReady {
                    port: self.port,
                    log: tail,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Prometheus' answer to an instant or range query: `Ok(value)`, or `Err`
    /// with its error text when it answered with an error.
    pub async fn query(
        &self,
        query: &Query,
    ) -> Result<Result<QueryValue, String>, ConformanceError> {
        let (path, params) = match query {
            Query::Instant { query, t_ms } => (
                "query",
                vec![("query", query.clone()), ("time", format_timestamp(*t_ms))],
            ),
            Query::Range {
                query,
                start_ms,
                end_ms,
                step_ms,
            } => (
                "query_range",
                vec![
                    ("query", query.clone()),
                    ("start", format_timestamp(*start_ms)),
                    ("end", format_timestamp(*end_ms)),
                    ("step", format_timestamp(*step_ms)),
                ],
            ),
        };
        let url = format!("{}/api/v1/{path}", self.base_url());
        let body: serde_json::Value = self
            .client
            .get(url)
            .query(&params)
            .send()
            .await?
            .json()
            .await?;
        if body["status"] == "error" {
            return Ok(Err(body["error"].as_str().unwrap_or_default().to_string()));
        }
        parse_response(&body["data"]).map(Ok)
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        if let Err(e) = self.child.kill() {
            tracing::warn!(error = %e, "could not kill prometheus");
        }
        let _ = self.child.wait();
    }
}

fn backfill(om_path: &Path, data_dir: &PathBuf) -> Result<(), ConformanceError> {
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(om_path)
        .arg(data_dir)
        .output()
        .map_err(io("running promtool"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ConformanceError::Promtool {
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

fn free_port() -> Result<u16, ConformanceError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port"))?;
    let port = listener
        .local_addr()
        .map_err(io("finding a free port"))?
        .port();
    Ok(port)
}

/// Parses the `data` of a Prometheus query response.
fn parse_response(data: &serde_json::Value) -> Result<QueryValue, ConformanceError> {
    let bad = |what: &str| ConformanceError::BadResponse(format!("{what} in {data}"));
    let result = &data["result"];
    match data["resultType"].as_str() {
        Some("scalar") => {
            let (t_ms, value) = parse_point(result).ok_or_else(|| bad("bad scalar"))?;
            Ok(QueryValue::Scalar { t_ms, value })
        }
        Some("string") => Ok(QueryValue::String {
            t_ms: result[0]
                .as_f64()
                .map_or(0, |t| (t * 1000.0).round() as i64),
            value: result[1].as_str().unwrap_or_default().to_string(),
        }),
        Some("vector") => {
            let items = result
                .as_array()
                .ok_or_else(|| bad("vector is not an array"))?;
            items
                .iter()
                .map(|item| {
                    let (t_ms, value) =
                        parse_point(&item["value"]).ok_or_else(|| bad("bad sample"))?;
                    Ok(InstantSample {
                        labels: parse_labels(&item["metric"]),
                        t_ms,
                        value,
                    })
                })
                .collect::<Result<_, _>>()
                .map(QueryValue::Vector)
        }
        Some("matrix") => {
            let items = result
                .as_array()
                .ok_or_else(|| bad("matrix is not an array"))?;
            items
                .iter()
                .map(|item| {
                    let samples = item["values"]
                        .as_array()
                        .ok_or_else(|| bad("series without values"))?
                        .iter()
                        .map(|p| parse_point(p).ok_or_else(|| bad("bad point")))
                        .collect::<Result<_, _>>()?;
                    Ok(RangeSeries {
                        labels: parse_labels(&item["metric"]),
                        samples,
                    })
                })
                .collect::<Result<_, _>>()
                .map(QueryValue::Matrix)
        }
        _ => Err(bad("unknown resultType")),
    }
}

fn parse_point(p: &serde_json::Value) -> Option<(i64, f64)> {
    let t = p.get(0)?.as_f64()?;
    let v = crate::value::parse_float(p.get(1)?.as_str()?)?;
    Some(((t * 1000.0).round() as i64, v))
}

fn parse_labels(m: &serde_json::Value) -> Labels {
    m.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}
