//! The bundle's files as types: `bundle.json` ([`Bundle`]), `topology.json`
//! ([`Topology`]) and `label.json` ([`Label`]), with reading (validated),
//! writing, and the label-free copy an investigation runs on.

use std::fmt;
use std::fs;
use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};
use pagerless_model::{Environment, IncomingAlert, Labels, Severity};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::BundleError;

/// The name of the file that describes a bundle.
pub const BUNDLE_FILE: &str = "bundle.json";
/// The name of the file that holds a bundle's right answer.
pub const LABEL_FILE: &str = "label.json";
/// The bundle format version this crate reads and writes.
pub const VERSION: u32 = 1;

/// `bundle.json`: what an investigation may know about a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// The format version; always 1.
    pub version: u32,
    /// The case's name, also its directory's name.
    pub name: String,
    /// The system the case comes from, e.g. `online-boutique`.
    pub system: String,
    /// Where the case comes from, in words (dataset, day, fault time).
    pub source: String,
    /// The time span the metrics cover.
    pub window: Window,
    /// The alert the investigation starts from.
    pub alert: BundleAlert,
    /// The OpenMetrics file, relative to the bundle (`metrics.om`).
    pub metrics: String,
    /// Log files, relative to the bundle (`logs/<pod>.log`); may be empty.
    #[serde(default)]
    pub logs: Vec<String>,
    /// The call graph file, relative to the bundle, when known.
    #[serde(default)]
    pub topology: Option<String>,
}

/// A closed span of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// The first instant covered.
    pub start: DateTime<Utc>,
    /// The last instant covered; after `start`.
    pub end: DateTime<Utc>,
}

/// The alert of a case, as Alertmanager would have sent it, plus the rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleAlert {
    /// The alert's name, also found as the `alertname` label of an [`IncomingAlert`].
    pub alertname: String,
    /// The alert's labels (`service`, `namespace`, `severity`), without `alertname`.
    pub labels: Labels,
    /// The alert's annotations (`summary`, ...).
    pub annotations: Labels,
    /// When the alert fired; the investigation's clock. Inside the window.
    pub starts_at: DateTime<Utc>,
    /// The rule that fired, as PromQL over the bundle's own series.
    pub expr: String,
    /// False when the symptom never crossed the rule and the alert was placed
    /// at a fixed offset after the fault instead.
    pub fired: bool,
}

impl BundleAlert {
    /// The alert as intake would have received it from Alertmanager.
    pub fn to_incoming(&self) -> IncomingAlert {
        let mut labels = self.labels.clone();
        labels.insert("alertname".to_owned(), self.alertname.clone());
        let fingerprint = labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        IncomingAlert {
            fingerprint,
            status: pagerless_model::AlertStatus::Firing,
            annotations: self.annotations.clone(),
            starts_at: self.starts_at,
            ends_at: None,
            generator_url: None,
            environment: Environment::new("production"),
            cluster: labels.get("cluster").cloned(),
            namespace: labels.get("namespace").cloned(),
            service: labels.get("service").cloned(),
            severity: labels
                .get("severity")
                .map_or(Severity::Unknown, |s| Severity::from_label(s)),
            labels,
        }
    }
}

/// `topology.json`: who calls whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// The calls, caller to callee.
    pub edges: Vec<Edge>,
}

/// One call relation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    /// The calling service.
    pub source: String,
    /// The called service.
    pub target: String,
    /// The relation's weight as the source data gives it (1 when unknown).
    pub weight: f64,
}

/// The kind of fault that was injected, as scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultType {
    /// CPU contention or consumption.
    Cpu,
    /// Memory pressure or leak.
    Memory,
    /// Added network latency.
    NetworkDelay,
    /// Wrong return values or exceptions: requests fail.
    Error,
}

impl FaultType {
    /// The snake_case name used in `label.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultType::Cpu => "cpu",
            FaultType::Memory => "memory",
            FaultType::NetworkDelay => "network_delay",
            FaultType::Error => "error",
        }
    }
}

impl fmt::Display for FaultType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `label.json`: the right answer of a case; read only to score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    /// The service the fault was injected into.
    pub service: String,
    /// The pod the fault was injected into.
    pub pod: String,
    /// The kind of fault.
    pub fault_type: FaultType,
    /// When the fault was injected.
    pub inject_time: DateTime<Utc>,
    /// The dataset's own name for the fault, e.g. `cpu_contention`.
    pub detail: String,
}

impl Label {
    /// Reads `DIR/label.json`: `Ok(None)` when the bundle has no label (an
    /// investigation's copy). The only function that opens the label.
    pub fn read(dir: &Path) -> Result<Option<Label>, BundleError> {
        let path = dir.join(LABEL_FILE);
        if !path.exists() {
            return Ok(None);
        }
        read_json(&path).map(Some)
    }

    /// Writes `DIR/label.json`.
    pub fn write(&self, dir: &Path) -> Result<(), BundleError> {
        write_json(&dir.join(LABEL_FILE), self)
    }
}

impl Topology {
    /// Reads a topology file.
    pub fn read(path: &Path) -> Result<Topology, BundleError> {
        read_json(path)
    }

    /// Writes a topology file.
    pub fn write(&self, path: &Path) -> Result<(), BundleError> {
        write_json(path, self)
    }
}

impl Bundle {
    /// Reads and validates `DIR/bundle.json`: version 1, every referenced
    /// file present inside the bundle, a non-empty window that contains the
    /// alert. Errors name the file and the field.
    pub fn read(dir: &Path) -> Result<Bundle, BundleError> {
        let path = dir.join(BUNDLE_FILE);
        let bundle: Bundle = read_json(&path)?;
        bundle.validate(dir)?;
        Ok(bundle)
    }

    /// Checks the bundle against the format's rules, with `dir` as its directory.
    pub fn validate(&self, dir: &Path) -> Result<(), BundleError> {
        let path = dir.join(BUNDLE_FILE);
        if self.version != VERSION {
            return Err(BundleError::invalid(
                &path,
                "version",
                format!(
                    "is {}, this pagerless reads version {VERSION}",
                    self.version
                ),
            ));
        }
        if self.name.trim().is_empty() {
            return Err(BundleError::invalid(&path, "name", "is empty"));
        }
        if self.window.start >= self.window.end {
            return Err(BundleError::invalid(
                &path,
                "window",
                format!(
                    "start {} is not before end {}",
                    self.window.start, self.window.end
                ),
            ));
        }
        let t = self.alert.starts_at;
        if t < self.window.start || t > self.window.end {
            return Err(BundleError::invalid(
                &path,
                "alert.starts_at",
                format!(
                    "{t} is outside the window {} .. {}",
                    self.window.start, self.window.end
                ),
            ));
        }
        if self.alert.alertname.trim().is_empty() {
            return Err(BundleError::invalid(&path, "alert.alertname", "is empty"));
        }
        check_file(dir, &path, "metrics", &self.metrics)?;
        for (i, log) in self.logs.iter().enumerate() {
            check_file(dir, &path, &format!("logs[{i}]"), log)?;
        }
        if let Some(topology) = &self.topology {
            check_file(dir, &path, "topology", topology)?;
            Topology::read(&dir.join(topology))?;
        }
        Ok(())
    }

    /// Writes `DIR/bundle.json` (creating `DIR`); the files it names are
    /// written by the caller.
    pub fn write(&self, dir: &Path) -> Result<(), BundleError> {
        fs::create_dir_all(dir).map_err(|e| BundleError::io(dir, e))?;
        write_json(&dir.join(BUNDLE_FILE), self)
    }
}

/// A referenced file must be a relative path inside the bundle, and exist.
fn check_file(dir: &Path, json: &Path, field: &str, rel: &str) -> Result<(), BundleError> {
    let relative = Path::new(rel);
    let inside = !rel.is_empty()
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !inside {
        return Err(BundleError::invalid(
            json,
            field,
            format!("`{rel}` is not a relative path inside the bundle"),
        ));
    }
    if !dir.join(relative).is_file() {
        return Err(BundleError::invalid(
            json,
            field,
            format!("`{rel}` does not exist in {}", dir.display()),
        ));
    }
    Ok(())
}

/// Copies the bundle at `src` to `dst` without its `label.json`: what an
/// investigation runs on. `dst` must not exist or be empty.
pub fn copy_without_label(src: &Path, dst: &Path) -> Result<(), BundleError> {
    if dst.exists() && !is_empty_dir(dst)? {
        return Err(BundleError::Exists {
            path: dst.to_path_buf(),
        });
    }
    copy_dir(src, dst, true)
}

fn copy_dir(src: &Path, dst: &Path, top: bool) -> Result<(), BundleError> {
    fs::create_dir_all(dst).map_err(|e| BundleError::io(dst, e))?;
    let entries = fs::read_dir(src).map_err(|e| BundleError::io(src, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| BundleError::io(src, e))?;
        let from = entry.path();
        let name = entry.file_name();
        if top && name == LABEL_FILE {
            continue;
        }
        let to = dst.join(&name);
        let kind = entry.file_type().map_err(|e| BundleError::io(&from, e))?;
        if kind.is_dir() {
            copy_dir(&from, &to, false)?;
        } else {
            fs::copy(&from, &to).map_err(|e| BundleError::io(&from, e))?;
        }
    }
    Ok(())
}

/// True when `dir` is a directory with no entries.
pub(crate) fn is_empty_dir(dir: &Path) -> Result<bool, BundleError> {
    let mut entries = fs::read_dir(dir).map_err(|e| BundleError::io(dir, e))?;
    Ok(entries.next().is_none())
}

pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, BundleError> {
    let text = fs::read_to_string(path).map_err(|e| BundleError::io(path, e))?;
    serde_json::from_str(&text).map_err(|source| BundleError::Json {
        path: path.to_path_buf(),
        source,
    })
}

pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), BundleError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|source| BundleError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    text.push('\n');
    fs::write(path, text).map_err(|e| BundleError::io(PathBuf::from(path), e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn sample(dir: &Path) -> Bundle {
        fs::write(dir.join("metrics.om"), "# EOF\n").unwrap();
        Bundle {
            version: 1,
            name: "case".into(),
            system: "online-boutique".into(),
            source: "test".into(),
            window: Window {
                start: t("2022-08-22T02:53:00Z"),
                end: t("2022-08-22T04:03:00Z"),
            },
            alert: BundleAlert {
                alertname: "EntryLatencyHigh".into(),
                labels: [("service".to_owned(), "frontend".to_owned())].into(),
                annotations: Labels::new(),
                starts_at: t("2022-08-22T03:55:00Z"),
                expr: "x > 1".into(),
                fired: true,
            },
            metrics: "metrics.om".into(),
            logs: vec![],
            topology: None,
        }
    }

    fn err(dir: &Path, b: &Bundle) -> String {
        b.write(dir).unwrap();
        Bundle::read(dir).unwrap_err().to_string()
    }

    #[test]
    fn a_valid_bundle_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let b = sample(dir.path());
        b.write(dir.path()).unwrap();
        assert_eq!(Bundle::read(dir.path()).unwrap(), b);
        let incoming = b.alert.to_incoming();
        assert_eq!(incoming.name(), "EntryLatencyHigh");
        assert_eq!(incoming.service.as_deref(), Some("frontend"));
    }

    #[test]
    fn validation_names_the_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let good = sample(dir.path());

        let mut b = good.clone();
        b.version = 2;
        let e = err(dir.path(), &b);
        assert!(e.contains("bundle.json: field `version`: is 2"), "{e}");

        let mut b = good.clone();
        b.window.end = b.window.start;
        let e = err(dir.path(), &b);
        assert!(e.contains("field `window`: start"), "{e}");

        let mut b = good.clone();
        b.alert.starts_at = t("2022-08-22T05:00:00Z");
        let e = err(dir.path(), &b);
        assert!(e.contains("field `alert.starts_at`"), "{e}");
        assert!(e.contains("outside the window"), "{e}");

        let mut b = good.clone();
        b.logs = vec!["logs/missing.log".into()];
        let e = err(dir.path(), &b);
        assert!(
            e.contains("field `logs[0]`: `logs/missing.log` does not exist"),
            "{e}"
        );

        let mut b = good.clone();
        b.metrics = "../metrics.om".into();
        let e = err(dir.path(), &b);
        assert!(e.contains("not a relative path inside the bundle"), "{e}");

        fs::write(dir.path().join(BUNDLE_FILE), "{\"version\": 1}").unwrap();
        let e = Bundle::read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("bundle.json: missing field"), "{e}");
    }

    #[test]
    fn the_investigation_copy_has_no_label() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::create_dir_all(src.join("logs")).unwrap();
        let b = sample(&src);
        b.write(&src).unwrap();
        fs::write(src.join("logs/a.log"), "x\n").unwrap();
        let label = Label {
            service: "frontend".into(),
            pod: "frontend-1-a".into(),
            fault_type: FaultType::Cpu,
            inject_time: t("2022-08-22T03:53:54Z"),
            detail: "cpu_contention".into(),
        };
        label.write(&src).unwrap();
        assert_eq!(Label::read(&src).unwrap(), Some(label));
        let dst = dir.path().join("dst");
        copy_without_label(&src, &dst).unwrap();
        assert!(dst.join("logs/a.log").is_file());
        assert_eq!(Label::read(&dst).unwrap(), None);
        assert!(Bundle::read(&dst).is_ok());
        assert!(matches!(
            copy_without_label(&src, &dst),
            Err(BundleError::Exists { .. })
        ));
    }
}
