//! Conformance against the real thing: start a Prometheus loaded with a store's
//! samples and compare its answers with this crate's evaluator.
//!
//! Key decision: the real Prometheus gets the very same samples through
//! `promtool tsdb create-blocks-from openmetrics` (backfilled blocks are visible
//! as soon as it starts), so any disagreement is the evaluator's. Missing
//! `prometheus` or `promtool` binaries are a panic, never a silent pass.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::PromqlError;
use crate::eval::{instant_query, range_query};
use crate::export::write_openmetrics;
use crate::store::{Labels, SeriesStore};
use crate::value::{InstantSample, QueryValue, RangeSeries, format_float, format_timestamp};

/// Why a real Prometheus could not be started or asked.
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    /// Writing the OpenMetrics file, the config or spawning a process failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `promtool tsdb create-blocks-from openmetrics` failed.
    #[error("promtool failed ({status}): {stderr}")]
    Promtool {
        /// Its exit status.
        status: String,
        /// What it wrote to stderr.
        stderr: String,
    },
    /// Prometheus exited or did not become ready in time.
    #[error("prometheus did not become ready on port {port}: {log}")]
    NotReady {
        /// The port it was told to listen on.
        port: u16,
        /// The tail of its log.
        log: String,
    },
    /// The HTTP request to Prometheus failed.
    #[error("request to prometheus failed: {0}")]
    Http(#[from] reqwest::Error),
    /// Prometheus answered with something that is not its API's JSON shape.
    #[error("unexpected response from prometheus: {0}")]
    BadResponse(String),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ConformanceError {
    let context = context.into();
    move |source| ConformanceError::Io { context, source }
}

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

/// One query to compare.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// An instant query at `t_ms`.
    Instant {
        /// The PromQL text.
        query: String,
        /// Evaluation time in ms.
        t_ms: i64,
    },
    /// A range query.
    Range {
        /// The PromQL text.
        query: String,
        /// First step, ms.
        start_ms: i64,
        /// Last step bound, ms.
        end_ms: i64,
        /// Step, ms.
        step_ms: i64,
    },
}

impl Query {
    /// An instant query.
    pub fn instant(query: &str, t_ms: i64) -> Self {
        Self::Instant {
            query: query.to_string(),
            t_ms,
        }
    }

    /// A range query.
    pub fn range(query: &str, start_ms: i64, end_ms: i64, step_ms: i64) -> Self {
        Self::Range {
            query: query.to_string(),
            start_ms,
            end_ms,
            step_ms,
        }
    }

    /// This crate's answer.
    pub fn evaluate(&self, store: &SeriesStore) -> Result<QueryValue, PromqlError> {
        match self {
            Self::Instant { query, t_ms } => instant_query(store, query, *t_ms),
            Self::Range {
                query,
                start_ms,
                end_ms,
                step_ms,
            } => range_query(store, query, *start_ms, *end_ms, *step_ms),
        }
    }
}

/// The outcome of comparing one query.
#[derive(Debug)]
pub struct Comparison {
    /// The query.
    pub query: Query,
    /// `None` when both agree (both errors count as agreement), else what differs.
    pub disagreement: Option<String>,
    /// Prometheus' answer, or its error text.
    pub prometheus: Result<QueryValue, String>,
}

impl Comparison {
    /// How many series (or 1 for a scalar or string) Prometheus answered with;
    /// 0 for an error. Lets a test make sure it compared more than empty sets.
    pub fn prometheus_series(&self) -> usize {
        match &self.prometheus {
            Ok(QueryValue::Vector(v)) => v.len(),
            Ok(QueryValue::Matrix(m)) => m.len(),
            Ok(_) => 1,
            Err(_) => 0,
        }
    }
}

/// Runs `query` on both and compares: same label sets, values equal within 1e-9
/// (relative or absolute), NaN equal to NaN, both-error as agreement.
pub async fn compare(
    server: &PrometheusServer,
    store: &SeriesStore,
    query: Query,
) -> Result<Comparison, ConformanceError> {
    let theirs = server.query(&query).await?;
    let ours = query.evaluate(store);
    let disagreement = match (&ours, &theirs) {
        (Err(_), Err(_)) => None,
        (Ok(o), Ok(t)) => values_agree(o, t).err(),
        (Ok(o), Err(t)) => Some(format!("prometheus failed ({t}) but we answered {o:?}")),
        (Err(o), Ok(t)) => Some(format!("we failed ({o}) but prometheus answered {t:?}")),
    };
    Ok(Comparison {
        query,
        disagreement,
        prometheus: theirs,
    })
}

/// Whether two floats agree: within 1e-9 absolute or relative, NaN equal to NaN.
pub fn floats_agree(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    diff <= 1e-9 || diff <= 1e-9 * a.abs().max(b.abs())
}

/// `Ok` when two results agree as sets of series, else what differs.
pub fn values_agree(ours: &QueryValue, theirs: &QueryValue) -> Result<(), String> {
    match (ours, theirs) {
        (QueryValue::Scalar { t_ms: a, value: x }, QueryValue::Scalar { t_ms: b, value: y }) => {
            if a == b && floats_agree(*x, *y) {
                Ok(())
            } else {
                Err(format!("scalar ours {a}:{x} theirs {b}:{y}"))
            }
        }
        (QueryValue::String { value: x, .. }, QueryValue::String { value: y, .. }) if x == y => {
            Ok(())
        }
        (QueryValue::Vector(a), QueryValue::Vector(b)) => {
            let index = |v: &[InstantSample]| -> BTreeMap<Labels, f64> {
                v.iter().map(|s| (s.labels.clone(), s.value)).collect()
            };
            let (a, b) = (index(a), index(b));
            compare_maps(&a, &b, |x, y| {
                if floats_agree(*x, *y) {
                    None
                } else {
                    Some(format!(
                        "ours {} theirs {}",
                        format_float(*x),
                        format_float(*y)
                    ))
                }
            })
        }
        (QueryValue::Matrix(a), QueryValue::Matrix(b)) => {
            let index = |v: &[RangeSeries]| -> BTreeMap<Labels, Vec<(i64, f64)>> {
                v.iter()
                    .map(|s| (s.labels.clone(), s.samples.clone()))
                    .collect()
            };
            let (a, b) = (index(a), index(b));
            compare_maps(&a, &b, |x, y| {
                let same = x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|(p, q)| p.0 == q.0 && floats_agree(p.1, q.1));
                if same {
                    None
                } else {
                    let first = x
                        .iter()
                        .zip(y)
                        .find(|(p, q)| p.0 != q.0 || !floats_agree(p.1, q.1));
                    Some(format!(
                        "{} points ours, {} theirs; first difference {first:?}",
                        x.len(),
                        y.len()
                    ))
                }
            })
        }
        (a, b) => Err(format!(
            "result types differ: ours {} theirs {}",
            a.result_type(),
            b.result_type()
        )),
    }
}

fn compare_maps<V>(
    ours: &BTreeMap<Labels, V>,
    theirs: &BTreeMap<Labels, V>,
    differ: impl Fn(&V, &V) -> Option<String>,
) -> Result<(), String> {
    let mut problems = Vec::new();
    for (labels, x) in ours {
        match theirs.get(labels) {
            None => problems.push(format!("only ours: {labels:?}")),
            Some(y) => {
                if let Some(d) = differ(x, y) {
                    problems.push(format!("{labels:?}: {d}"));
                }
            }
        }
    }
    for labels in theirs.keys().filter(|l| !ours.contains_key(*l)) {
        problems.push(format!("only prometheus: {labels:?}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        problems.truncate(5);
        Err(format!(
            "{} series ours, {} theirs; {}",
            ours.len(),
            theirs.len(),
            problems.join("; ")
        ))
    }
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
