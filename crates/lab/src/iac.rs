//! The lab's infrastructure-as-code repository: a real git repository with a
//! Helm-style chart per service (`charts/<service>/values.yaml`, commented the
//! way people write them) plus the scenario's extra files, its history written
//! as real commits with authors and dates in virtual time, and a bare clone
//! that serves as the remote pagerless clones from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::scenario::{Change, Commit, Resources, Scenario, ServiceSpec};
use crate::units::{Bytes, Millicores};

/// Keys a chart's values file has; a key ending in `.` is a prefix (`env.NAME`).
pub const CHART_KEYS: &[&str] = &[
    "image.repository",
    "image.tag",
    "replicaCount",
    "resources.requests.cpu",
    "resources.requests.memory",
    "resources.limits.cpu",
    "resources.limits.memory",
    "env.",
];

/// What a service's chart sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartValues {
    /// Image repository.
    pub repository: String,
    /// Image tag.
    pub tag: String,
    /// Replica count.
    pub replicas: u32,
    /// Resource requests.
    pub requests: Resources,
    /// Resource limits.
    pub limits: Resources,
    /// Container environment.
    pub env: BTreeMap<String, String>,
}

impl ChartValues {
    /// The values a service starts with.
    pub fn of(svc: &ServiceSpec) -> ChartValues {
        ChartValues {
            repository: svc.image.clone(),
            tag: svc.tag.clone(),
            replicas: svc.replicas,
            requests: svc.requests,
            limits: svc.limits,
            env: svc.env.clone(),
        }
    }

    /// Sets one key (see [`CHART_KEYS`]).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "image.repository" => self.repository = value.to_owned(),
            "image.tag" => self.tag = value.to_owned(),
            "replicaCount" => {
                self.replicas = value
                    .parse()
                    .map_err(|_| format!("replicaCount `{value}` is not a number"))?
            }
            "resources.requests.cpu" => self.requests.cpu = Millicores::parse(value)?,
            "resources.requests.memory" => self.requests.memory = Bytes::parse(value)?,
            "resources.limits.cpu" => self.limits.cpu = Millicores::parse(value)?,
            "resources.limits.memory" => self.limits.memory = Bytes::parse(value)?,
            k => match k.strip_prefix("env.") {
                Some(name) if !name.is_empty() => {
                    self.env.insert(name.to_owned(), value.to_owned());
                }
                _ => return Err(format!("a chart has no key `{key}`")),
            },
        }
        Ok(())
    }

    /// The value at one key, as the file spells it.
    pub fn get(&self, key: &str) -> Option<String> {
        Some(match key {
            "image.repository" => self.repository.clone(),
            "image.tag" => self.tag.clone(),
            "replicaCount" => self.replicas.to_string(),
            "resources.requests.cpu" => self.requests.cpu.to_quantity(),
            "resources.requests.memory" => self.requests.memory.to_quantity(),
            "resources.limits.cpu" => self.limits.cpu.to_quantity(),
            "resources.limits.memory" => self.limits.memory.to_quantity(),
            k => self.env.get(k.strip_prefix("env.")?)?.clone(),
        })
    }

    /// The values file, with the comments its owners would have written.
    pub fn render(&self, svc: &ServiceSpec) -> String {
        let mut out = format!(
            "# Helm values for {name}.\n\
             # Owned by the {name} team. Changes roll out on merge to main.\n\
             \n\
             image:\n  repository: {repo}\n  # Pin exact tags; never `latest`.\n  tag: \"{tag}\"\n\
             \n\
             # Scale with traffic; the HPA is off for this service.\n\
             replicaCount: {replicas}\n\
             \n\
             resources:\n  requests:\n    cpu: {rc}\n    memory: {rm}\n  limits:\n    cpu: {lc}\n    \
             # Sized for peak traffic plus headroom; see the capacity review.\n    memory: {lm}\n",
            name = svc.name,
            repo = self.repository,
            tag = self.tag,
            replicas = self.replicas,
            rc = quote_if_number(&self.requests.cpu.to_quantity()),
            rm = self.requests.memory.to_quantity(),
            lc = quote_if_number(&self.limits.cpu.to_quantity()),
            lm = self.limits.memory.to_quantity(),
        );
        if !self.env.is_empty() {
            out.push_str("\n# Container environment.\nenv:\n");
            for (k, v) in &self.env {
                out.push_str(&format!("  {k}: \"{}\"\n", v.replace('"', "\\\"")));
            }
        }
        out
    }

    /// Reads a values file back (after a merge, say).
    pub fn parse(text: &str) -> Result<ChartValues, String> {
        #[derive(Deserialize)]
        struct Image {
            repository: String,
            tag: String,
        }
        #[derive(Deserialize)]
        struct Res {
            requests: Resources,
            limits: Resources,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct File {
            image: Image,
            replica_count: u32,
            resources: Res,
            #[serde(default)]
            env: BTreeMap<String, String>,
        }
        let f: File = yaml_serde::from_str(text).map_err(|e| e.to_string())?;
        Ok(ChartValues {
            repository: f.image.repository,
            tag: f.image.tag,
            replicas: f.replica_count,
            requests: f.resources.requests,
            limits: f.resources.limits,
            env: f.env,
        })
    }
}

fn quote_if_number(q: &str) -> String {
    if q.parse::<f64>().is_ok() {
        format!("\"{q}\"")
    } else {
        q.to_owned()
    }
}

/// Sets a directive in a plain config file, keeping everything else byte for
/// byte: `name value;` (nginx) or `name = value` (PostgreSQL). Errors when the
/// directive is not in the file.
pub fn set_directive(text: &str, name: &str, value: &str) -> Result<String, String> {
    let mut done = false;
    let mut out = String::with_capacity(text.len() + value.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        let rest = body.strip_prefix(name);
        let kind = rest.and_then(|r| {
            let t = r.trim_start();
            if t.starts_with('=') {
                Some(('=', r))
            } else if r.starts_with([' ', '\t']) && !t.is_empty() {
                Some((' ', r))
            } else {
                None
            }
        });
        match kind {
            Some((sep, rest)) if !done => {
                let comment = rest.find('#').map(|i| &rest[i..]).unwrap_or("");
                let comment = comment.trim_end_matches('\n');
                let nl = if line.ends_with('\n') { "\n" } else { "" };
                let tail = if comment.is_empty() {
                    String::new()
                } else {
                    format!("  {comment}")
                };
                if sep == '=' {
                    out.push_str(&format!("{indent}{name} = {value}{tail}{nl}"));
                } else {
                    out.push_str(&format!("{indent}{name} {value};{tail}{nl}"));
                }
                done = true;
            }
            _ => out.push_str(line),
        }
    }
    if done {
        Ok(out)
    } else {
        Err(format!("no `{name}` directive in the file"))
    }
}

/// A failure writing the repository.
#[derive(Debug, thiserror::Error)]
pub enum IacError {
    /// git could not be run or failed.
    #[error("git {args}: {message}")]
    Git {
        /// The git arguments.
        args: String,
        /// What went wrong.
        message: String,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A change does not apply.
    #[error("{file}: {message}")]
    Change {
        /// The file.
        file: String,
        /// Why.
        message: String,
    },
}

/// The repository: a work tree the lab commits in, and the bare remote.
pub struct IacRepo {
    work: PathBuf,
    remote: PathBuf,
    charts: BTreeMap<String, ChartValues>,
    services: BTreeMap<String, ServiceSpec>,
}

impl IacRepo {
    /// Creates the repository under `dir` (`dir/work`, `dir/iac.git`) with the
    /// first commit a week before `start`.
    pub fn create(dir: &Path, scenario: &Scenario) -> Result<IacRepo, IacError> {
        let work = dir.join("work");
        let remote = dir.join("iac.git");
        for d in [&work, &remote] {
            std::fs::create_dir_all(d).map_err(|source| IacError::Io {
                path: d.clone(),
                source,
            })?;
        }
        git(&remote, &["init", "--bare", "-q", "-b", "main"], None)?;
        git(&work, &["init", "-q", "-b", "main"], None)?;
        git(
            &work,
            &["remote", "add", "origin", &remote.display().to_string()],
            None,
        )?;
        let repo = IacRepo {
            work,
            remote,
            charts: scenario
                .services
                .iter()
                .map(|s| (s.name.clone(), ChartValues::of(s)))
                .collect(),
            services: scenario
                .services
                .iter()
                .map(|s| (s.name.clone(), s.clone()))
                .collect(),
        };
        for (name, values) in &repo.charts {
            let svc = &repo.services[name];
            repo.write(&format!("charts/{name}/values.yaml"), &values.render(svc))?;
            repo.write(
                &format!("charts/{name}/Chart.yaml"),
                &format!("apiVersion: v2\nname: {name}\nversion: 1.0.0\n"),
            )?;
        }
        for f in &scenario.iac.files {
            repo.write(&f.path, &f.content)?;
        }
        repo.write(
            "README.md",
            &format!("# {} infrastructure\n\nHelm values per service under `charts/`. Merges to main roll out.\n", scenario.cluster),
        )?;
        let first = scenario.start - chrono::Duration::days(7);
        repo.commit_all(
            &format!("Platform Team <platform@{}.example>", scenario.cluster),
            "Initial import of service charts",
            first,
        )?;
        Ok(repo)
    }

    /// Brings the work tree up to the remote's main (someone merged a pull
    /// request, say) and returns the services whose chart values changed.
    pub fn pull(&mut self) -> Result<Vec<String>, IacError> {
        let before = git(&self.work, &["rev-parse", "HEAD"], None)?;
        git(
            &self.work,
            &["pull", "-q", "--ff-only", "origin", "main"],
            None,
        )?;
        if git(&self.work, &["rev-parse", "HEAD"], None)? == before {
            return Ok(Vec::new());
        }
        let mut changed = Vec::new();
        for (name, values) in &mut self.charts {
            let file = format!("charts/{name}/values.yaml");
            let path = self.work.join(&file);
            let text =
                std::fs::read_to_string(&path).map_err(|source| IacError::Io { path, source })?;
            let new =
                ChartValues::parse(&text).map_err(|message| IacError::Change { file, message })?;
            if &new != values {
                *values = new;
                changed.push(name.clone());
            }
        }
        Ok(changed)
    }

    /// Applies a commit's changes, commits them at `at` and pushes to the remote.
    /// Returns the new commit's hash.
    pub fn commit(&mut self, c: &Commit, at: DateTime<Utc>) -> Result<String, IacError> {
        for ch in &c.changes {
            self.apply(ch)?;
        }
        self.commit_all(&c.author, &c.message, at)
    }

    /// The chart values of a service as committed so far.
    pub fn chart(&self, service: &str) -> Option<&ChartValues> {
        self.charts.get(service)
    }

    /// The bare remote to clone from.
    pub fn remote(&self) -> &Path {
        &self.remote
    }

    /// The work tree.
    pub fn work_tree(&self) -> &Path {
        &self.work
    }

    fn apply(&mut self, ch: &Change) -> Result<(), IacError> {
        let err = |message: String| IacError::Change {
            file: ch.file.clone(),
            message,
        };
        match crate::validate::chart_service(&ch.file) {
            Some(svc) => {
                let values = self
                    .charts
                    .get_mut(svc)
                    .ok_or_else(|| err(format!("no chart for `{svc}`")))?;
                values.set(&ch.key, &ch.value).map_err(err)?;
                let text = values.render(&self.services[svc]);
                self.write(&ch.file, &text)
            }
            None => {
                let path = self.work.join(&ch.file);
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| IacError::Io { path, source })?;
                let new = set_directive(&text, &ch.key, &ch.value).map_err(err)?;
                self.write(&ch.file, &new)
            }
        }
    }

    fn write(&self, rel: &str, text: &str) -> Result<(), IacError> {
        let path = self.work.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| IacError::Io {
                path: parent.to_owned(),
                source,
            })?;
        }
        std::fs::write(&path, text).map_err(|source| IacError::Io { path, source })
    }

    fn commit_all(
        &self,
        author: &str,
        message: &str,
        at: DateTime<Utc>,
    ) -> Result<String, IacError> {
        let (name, email) = author
            .split_once('<')
            .map(|(n, e)| (n.trim(), e.trim_end_matches('>').trim()))
            .unwrap_or((author, "unknown@example"));
        let date = at.to_rfc3339();
        let ident = Ident {
            name,
            email,
            date: &date,
        };
        git(&self.work, &["add", "-A"], None)?;
        git(&self.work, &["commit", "-q", "-m", message], Some(&ident))?;
        git(&self.work, &["push", "-q", "origin", "main"], None)?;
        git(&self.work, &["rev-parse", "HEAD"], None)
    }
}

struct Ident<'a> {
    name: &'a str,
    email: &'a str,
    date: &'a str,
}

/// Runs git in `dir` with no user or system configuration, so the repository
/// is the same byte for byte on every machine.
fn git(dir: &Path, args: &[&str], who: Option<&Ident<'_>>) -> Result<String, IacError> {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .args(["-c", "commit.gpgsign=false", "-c", "core.autocrlf=false"])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0");
    if let Some(w) = who {
        cmd.env("GIT_AUTHOR_NAME", w.name)
            .env("GIT_AUTHOR_EMAIL", w.email)
            .env("GIT_AUTHOR_DATE", w.date)
            .env("GIT_COMMITTER_NAME", w.name)
            .env("GIT_COMMITTER_EMAIL", w.email)
            .env("GIT_COMMITTER_DATE", w.date);
    }
    let out = cmd.output().map_err(|e| IacError::Git {
        args: args.join(" "),
        message: format!("cannot run git: {e} (install git)"),
    })?;
    if !out.status.success() {
        return Err(IacError::Git {
            args: args.join(" "),
            message: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_change_in_place() {
        let nginx = "http {\n    proxy_buffer_size 4k;  # default\n    proxy_buffers 8 4k;\n}\n";
        let out = set_directive(nginx, "proxy_buffer_size", "16k").unwrap();
        assert_eq!(
            out,
            "http {\n    proxy_buffer_size 16k;  # default\n    proxy_buffers 8 4k;\n}\n"
        );
        let pg = "# conn\nmax_connections = 100\t# restart\nshared_buffers = 128MB\n";
        let out = set_directive(pg, "max_connections", "200").unwrap();
        assert_eq!(
            out,
            "# conn\nmax_connections = 200  # restart\nshared_buffers = 128MB\n"
        );
        assert!(set_directive(pg, "work_mem", "4MB").is_err());
    }
}
