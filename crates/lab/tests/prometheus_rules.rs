//! The rule file and configuration the lab writes for a real Prometheus are
//! accepted by Prometheus' own checker, `promtool` (`apt-get install -y
//! prometheus`; `.ci/run` installs it), for every built-in scenario.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use pagerless_lab::alerts::{prometheus_config, prometheus_rules};
use pagerless_lab::{BUILTIN_SCENARIOS, find_scenario};

#[test]
fn promtool_accepts_every_scenarios_rules_and_the_config() {
    let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("promtool is not installed: apt-get install -y prometheus");
    let dir = tempfile::tempdir().unwrap();
    for (name, _) in BUILTIN_SCENARIOS {
        let s = find_scenario(name).unwrap();
        let rules = dir.path().join(format!("{name}.rules.yml"));
        let text = prometheus_rules(&s);
        std::fs::write(&rules, &text).unwrap();
        let out = Command::new(promtool)
            .args(["check", "rules"])
            .arg(&rules)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let found = String::from_utf8_lossy(&out.stdout);
        assert!(
            found.contains(&format!("{} rules found", s.alerts.len())),
            "{name}: {found}"
        );
        let config = dir.path().join(format!("{name}.prometheus.yml"));
        std::fs::write(
            &config,
            prometheus_config(
                "http://127.0.0.1:9999/metrics",
                rules.to_str().unwrap(),
                "127.0.0.1:9093",
            ),
        )
        .unwrap();
        let out = Command::new(promtool)
            .args(["check", "config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
