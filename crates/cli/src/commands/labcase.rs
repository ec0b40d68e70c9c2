//! A lab scenario brought to the moment its alert fires, served over loopback,
//! with a toolbox pointed at it: what `eval lab` and `bench investigate` run
//! investigations against, through the same HTTP APIs production uses.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use pagerless_agent::{AlertContext, Clock};
use pagerless_lab::Scenario;
use pagerless_lab::serve::LabHandle;
use pagerless_lab::world::World;
use pagerless_model::Environment;
use pagerless_tools::Toolbox;
use pagerless_tools::config::ToolsConfig;

/// A scenario at its alert.
pub struct LabCase {
    /// The served world.
    pub lab: Arc<LabHandle>,
    /// The alert, as pagerless would receive it.
    pub alert: AlertContext,
    /// The same alert as Alertmanager's webhook would deliver it.
    pub webhook: serde_json::Value,
    /// Simulated seconds from the start to the alert.
    pub fired_after_secs: i64,
    /// The scenario.
    pub scenario: Scenario,
    _dir: tempfile::TempDir,
}

impl LabCase {
    /// Builds the world, serves it, and steps it until an alert fires.
    pub async fn at_alert(scenario: Scenario) -> Result<LabCase> {
        let dir = tempfile::tempdir().context("cannot make a temp dir for the lab")?;
        let world = World::new(scenario.clone(), Some(&dir.path().join("iac")), None)?;
        let lab = Arc::new(LabHandle::serve(world, dir.path(), false, None).await?);
        let step = scenario.step.0.max(1);
        let mut fired = None;
        for _ in 0..scenario.duration.0 / step {
            let changes = lab.step()?;
            if let Some((name, alerts)) = changes
                .into_iter()
                .find(|(_, a)| a.iter().any(|x| x.resolved_at.is_none()))
            {
                fired = alerts
                    .into_iter()
                    .find(|a| a.resolved_at.is_none())
                    .map(|a| (name, a));
                break;
            }
        }
        let Some((name, active)) = fired else {
            bail!(
                "scenario {}: no alert fired within its {}",
                scenario.name,
                scenario.duration
            );
        };
        let rule = scenario.alerts.iter().find(|r| r.name == name);
        let world = lab.world();
        let (elapsed, now) = {
            let w = world
                .lock()
                .map_err(|_| anyhow::anyhow!("lab lock poisoned"))?;
            (w.elapsed_secs(), w.now())
        };
        let ep = lab.endpoints().clone();
        let webhook = pagerless_lab::alerts::webhook(
            &name,
            std::slice::from_ref(&active),
            &ep.prometheus,
            &pagerless_lab::alerts::generator_url(
                &ep.prometheus,
                rule.map(|r| r.expr.as_str()).unwrap_or_default(),
            ),
        );
        let labels = active.labels.clone();
        let alert = AlertContext {
            incident_id: None,
            alertname: name,
            service: labels.get("service").cloned(),
            namespace: labels.get("namespace").cloned(),
            node: labels.get("node").cloned(),
            environment: Environment::new(&scenario.environment),
            labels,
            annotations: active.annotations.clone(),
            starts_at: now,
            symptom: rule.map(|r| r.expr.clone()),
        };
        Ok(LabCase {
            lab,
            alert,
            webhook,
            fired_after_secs: elapsed,
            scenario,
            _dir: dir,
        })
    }

    /// A toolbox reading this lab over loopback, as a user's configuration would.
    pub async fn toolbox(&self) -> Result<Toolbox> {
        let ep = self.lab.endpoints();
        let mut git = pagerless_tools::git::GitConfig::new(ep.git.clone());
        git.cache_dir = Some(self._dir.path().join("git-cache"));
        let config = ToolsConfig {
            prometheus: Some(pagerless_tools::prometheus::PrometheusConfig::new(
                ep.prometheus.clone(),
            )),
            kubernetes: Some(pagerless_tools::kubernetes::KubernetesConfig {
                kubeconfig: Some(ep.kubeconfig.clone().into()),
                ..Default::default()
            }),
            git: Some(git),
            shell: Some(pagerless_tools::shell::ShellConfig::new(
                pagerless_tools::shell::Transport::Lab {
                    url: ep.shell.clone(),
                },
            )),
            postgres: None,
            logs: None,
        };
        Ok(config.toolbox().await?)
    }

    /// A clock that moves the lab's world when a reasoner waits.
    pub fn clock(&self) -> LabClock {
        LabClock {
            lab: Arc::clone(&self.lab),
            step_secs: self.scenario.step.0.max(1) as u64,
        }
    }
}

/// Reads a symptom from the lab's Prometheus API; waiting steps the lab.
pub struct LabVerifier {
    /// The lab.
    pub clock: LabClock,
    /// Its Prometheus, through the ordinary tool.
    pub toolbox: Toolbox,
    /// The expression (returns nothing once healthy).
    pub expr: String,
}

#[async_trait]
impl pagerless_act::Verifier for LabVerifier {
    async fn symptom(&self) -> Result<Option<f64>, String> {
        super::act::read_symptom(&self.toolbox, &self.expr).await
    }
    async fn wait(&self, secs: u64) {
        self.clock.wait(secs).await;
    }
}

/// Waiting on a lab: its world steps forward.
pub struct LabClock {
    lab: Arc<LabHandle>,
    step_secs: u64,
}

#[async_trait]
impl Clock for LabClock {
    async fn wait(&self, secs: u64) {
        for _ in 0..secs.div_ceil(self.step_secs) {
            if let Err(e) = self.lab.step() {
                tracing::warn!(error = %e, "the lab failed to step while waiting");
                return;
            }
        }
    }
}
