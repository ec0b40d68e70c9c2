//! Config edits that keep a file as humans wrote it, on a corpus of
//! real-world-shaped files (`tests/fixtures/edit/`): every YAML edit changes
//! exactly one line, leaves every other byte as it was, and re-parses with
//! exactly the intended value changed; nginx results pass a real `nginx -t`
//! and `postgresql.conf` results are read back by a real `postgres -C`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use pagerless_act::gitops::edit::{EditError, Format, edit, format_of};
use serde::Deserialize;
use yaml_serde::Value;

/// The fixtures, found at run time: the test binary may be built from
/// another checkout of the same sources (a shared target directory).
fn fixtures() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/edit")
}

fn fixture(rel: &str) -> String {
    std::fs::read_to_string(fixtures().join(rel)).unwrap()
}

/// Lines removed and added between two texts (common head and tail left
/// out); lines keep a `\r` so CRLF damage shows.
fn diff(old: &str, new: &str) -> (Vec<String>, Vec<String>) {
    let a: Vec<&str> = old.split('\n').collect();
    let b: Vec<&str> = new.split('\n').collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let removed = a[head..a.len() - tail]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let added = b[head..b.len() - tail]
        .iter()
        .map(|s| s.to_string())
        .collect();
    (removed, added)
}

/// Leaves of all documents by path, like pagerless's git history prints them
/// (`Kind/name:` or `[doc i]:` before the path when there are several
/// documents), with strings shown quoted so a type change shows.
fn flatten(text: &str) -> BTreeMap<String, String> {
    let mut docs = Vec::new();
    for doc in yaml_serde::Deserializer::from_str(text) {
        let mut value = Value::deserialize(doc).unwrap();
        if !matches!(value, Value::Null) {
            value.apply_merge().unwrap();
            docs.push(value);
        }
    }
    let many = docs.len() > 1;
    let mut out = BTreeMap::new();
    for (i, doc) in docs.iter().enumerate() {
        let prefix = if many {
            let kind = doc.get("kind").and_then(Value::as_str);
            let name = doc
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str);
            match (kind, name) {
                (Some(k), Some(n)) => format!("{k}/{n}:"),
                _ => format!("[doc {i}]:"),
            }
        } else {
            String::new()
        };
        walk(doc, &prefix, &mut out);
    }
    out
}

fn walk(v: &Value, path: &str, out: &mut BTreeMap<String, String>) {
    let join = |key: &str| {
        if path.is_empty() || path.ends_with(':') {
            format!("{path}{key}")
        } else {
            format!("{path}.{key}")
        }
    };
    match v {
        Value::Mapping(m) if !m.is_empty() => {
            for (k, v) in m {
                let key = match k {
                    Value::String(s) => s.clone(),
                    other => format!("{other:?}"),
                };
                walk(v, &join(&key), out);
            }
        }
        Value::Sequence(s) if !s.is_empty() => {
            for (i, v) in s.iter().enumerate() {
                walk(v, &format!("{path}[{i}]"), out);
            }
        }
        Value::Tagged(t) => walk(&t.value, path, out),
        Value::String(s) => {
            out.insert(path.to_owned(), format!("{s:?}"));
        }
        Value::Number(n) => {
            out.insert(path.to_owned(), n.to_string());
        }
        Value::Bool(b) => {
            out.insert(path.to_owned(), b.to_string());
        }
        other => {
            out.insert(path.to_owned(), format!("{other:?}"));
        }
    }
}

fn changed(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .map(|k| (k.clone(), new.get(k).cloned().unwrap_or_default()))
        .collect()
}

/// One corpus edit: file, key, new value, the one new line, and every leaf
/// that changes with the value it reads back as (strings quoted).
struct Case {
    file: &'static str,
    key: &'static str,
    value: &'static str,
    line: &'static str,
    changes: &'static [(&'static str, &'static str)],
}

const fn case(
    file: &'static str,
    key: &'static str,
    value: &'static str,
    line: &'static str,
    changes: &'static [(&'static str, &'static str)],
) -> Case {
    Case {
        file,
        key,
        value,
        line,
        changes,
    }
}

const CORPUS: &[Case] = &[
    case(
        "order-service-values.yaml",
        "resources.limits.memory",
        "2Gi",
        "    memory: 2Gi",
        &[("resources.limits.memory", "\"2Gi\"")],
    ),
    case(
        "order-service-values.yaml",
        "resources.requests.memory",
        "384Mi",
        "    memory: 384Mi",
        &[("resources.requests.memory", "\"384Mi\"")],
    ),
    case(
        "order-service-values.yaml",
        "image.tag",
        "2.15.0",
        "  tag: \"2.15.0\"   # pinned; bump through the release pipeline",
        &[("image.tag", "\"2.15.0\"")],
    ),
    case(
        "order-service-values.yaml",
        "replicaCount",
        "5",
        "replicaCount: 5",
        &[("replicaCount", "5")],
    ),
    case(
        "order-service-values.yaml",
        "podAnnotations.prometheus.io/scrape",
        "false",
        "  prometheus.io/scrape: \"false\"",
        &[("podAnnotations.prometheus.io/scrape", "\"false\"")],
    ),
    case(
        "order-service-values.yaml",
        "image.pullPolicy",
        "on",
        "  pullPolicy: \"on\"",
        &[("image.pullPolicy", "\"on\"")],
    ),
    case(
        "k8s-order-service.yaml",
        "Deployment/order-service:spec.template.spec.containers[0].resources.limits.memory",
        "1Gi",
        "              memory: 1Gi   # raised from 384Mi in INC-1870",
        &[(
            "Deployment/order-service:spec.template.spec.containers[0].resources.limits.memory",
            "\"1Gi\"",
        )],
    ),
    case(
        "k8s-order-service.yaml",
        "Deployment/order-service:spec.replicas",
        "4",
        "  replicas: 4",
        &[("Deployment/order-service:spec.replicas", "4")],
    ),
    case(
        "k8s-order-service.yaml",
        "ConfigMap/order-service:data.DB_POOL_SIZE",
        "30",
        "  DB_POOL_SIZE: \"30\"",
        &[("ConfigMap/order-service:data.DB_POOL_SIZE", "\"30\"")],
    ),
    case(
        "k8s-order-service.yaml",
        "Service/order-service:spec.ports[0].port",
        "8080",
        "      port: 8080",
        &[("Service/order-service:spec.ports[0].port", "8080")],
    ),
    case(
        "k8s-order-service.yaml",
        "Deployment/order-service:spec.template.spec.containers[0].env[0].value",
        "-XX:MaxRAMPercentage=60",
        "              value: \"-XX:MaxRAMPercentage=60\"",
        &[(
            "Deployment/order-service:spec.template.spec.containers[0].env[0].value",
            "\"-XX:MaxRAMPercentage=60\"",
        )],
    ),
    case(
        "k8s-order-service.yaml",
        "ConfigMap/order-service:metadata.labels.\"app.kubernetes.io/part-of\"",
        "storefront",
        "    app.kubernetes.io/part-of: storefront",
        &[(
            "ConfigMap/order-service:metadata.labels.app.kubernetes.io/part-of",
            "\"storefront\"",
        )],
    ),
    case(
        "kustomization.yaml",
        "replicas[0].count",
        "5",
        "    count: 5",
        &[("replicas[0].count", "5")],
    ),
    case(
        "kustomization.yaml",
        "images[0].newTag",
        "2.15.0",
        "    newTag: 2.15.0",
        &[("images[0].newTag", "\"2.15.0\"")],
    ),
    case(
        "kustomization.yaml",
        "images[1].newTag",
        "3.1",
        "    newTag: \"3.1\"",
        &[("images[1].newTag", "\"3.1\"")],
    ),
    case(
        "argocd-application.yaml",
        "spec.source.helm.parameters[1].value",
        "4",
        "          value: \"4\"",
        &[("spec.source.helm.parameters[1].value", "\"4\"")],
    ),
    case(
        "argocd-application.yaml",
        "spec.syncPolicy.retry.limit",
        "10",
        "      limit: 10",
        &[("spec.syncPolicy.retry.limit", "10")],
    ),
    case(
        "github-actions-ci.yml",
        "jobs.test.timeout-minutes",
        "45",
        "    timeout-minutes: 45",
        &[("jobs.test.timeout-minutes", "45")],
    ),
    case(
        "github-actions-ci.yml",
        "env.RUST_VERSION",
        "1.96",
        "  RUST_VERSION: \"1.96\"",
        &[("env.RUST_VERSION", "\"1.96\"")],
    ),
    case(
        "github-actions-ci.yml",
        "on.push.branches[0]",
        "release",
        "    branches: [release]",
        &[("on.push.branches[0]", "\"release\"")],
    ),
    case(
        "docker-compose.yml",
        "services.order-api.deploy.resources.limits.memory",
        "1G",
        "          memory: 1G",
        &[(
            "services.order-api.deploy.resources.limits.memory",
            "\"1G\"",
        )],
    ),
    case(
        "docker-compose.yml",
        "services.db.command[2]",
        "max_connections=300",
        "    command: [\"postgres\", \"-c\", \"max_connections=300\", \"-c\", \"shared_buffers=256MB\"]",
        &[("services.db.command[2]", "\"max_connections=300\"")],
    ),
    case(
        "prometheus-rules.yaml",
        "groups[0].rules[0].for",
        "10m",
        "        for: 10m",
        &[("groups[0].rules[0].for", "\"10m\"")],
    ),
    case(
        "prometheus-rules.yaml",
        "groups[0].rules[1].expr",
        "increase(kube_pod_container_status_restarts_total{container=\"order-api\"}[15m]) > 3",
        "        expr: increase(kube_pod_container_status_restarts_total{container=\"order-api\"}[15m]) > 3",
        &[(
            "groups[0].rules[1].expr",
            "\"increase(kube_pod_container_status_restarts_total{container=\\\"order-api\\\"}[15m]) > 3\"",
        )],
    ),
    case(
        "alertmanager.yml",
        "route.routes[1].repeat_interval",
        "24h",
        "      repeat_interval: 24h",
        &[("route.routes[1].repeat_interval", "\"24h\"")],
    ),
    case(
        "alertmanager.yml",
        "receivers[1].webhook_configs[0].max_alerts",
        "50",
        "        max_alerts: 50",
        &[("receivers[1].webhook_configs[0].max_alerts", "50")],
    ),
    case(
        "alertmanager.yml",
        "global.smtp_smarthost",
        "smtp.local:2525",
        "  smtp_smarthost: 'smtp.local:2525'",
        &[("global.smtp_smarthost", "\"smtp.local:2525\"")],
    ),
    case(
        "anchors-values.yaml",
        "defaults.resources.limits.memory",
        "512Mi",
        "      memory: 512Mi",
        &[
            ("defaults.resources.limits.memory", "\"512Mi\""),
            ("workers.emails.resources.limits.memory", "\"512Mi\""),
            ("workers.exports.resources.limits.memory", "\"512Mi\""),
            ("workers.invoices.resources.limits.memory", "\"512Mi\""),
        ],
    ),
    case(
        "anchors-values.yaml",
        "defaults.timeoutSeconds",
        "60",
        "  timeoutSeconds: &timeout 60",
        &[
            ("defaults.timeoutSeconds", "60"),
            ("workers.emails.timeoutSeconds", "60"),
            ("workers.exports.timeoutSeconds", "60"),
        ],
    ),
    case(
        "anchors-values.yaml",
        "workers.invoices.concurrency",
        "3",
        "    concurrency: 3",
        &[("workers.invoices.concurrency", "3")],
    ),
    case(
        "flow-style.yaml",
        "resources.limits.memory",
        "1Gi",
        "  limits: {cpu: \"2\", memory: 1Gi}",
        &[("resources.limits.memory", "\"1Gi\"")],
    ),
    case(
        "flow-style.yaml",
        "resources.limits.cpu",
        "1500m",
        "  limits: {cpu: \"1500m\", memory: 512Mi}",
        &[("resources.limits.cpu", "\"1500m\"")],
    ),
    case(
        "flow-style.yaml",
        "tolerations[0].value",
        "shop-batch",
        "tolerations: [{key: dedicated, operator: Equal, value: shop-batch, effect: NoSchedule}]",
        &[("tolerations[0].value", "\"shop-batch\"")],
    ),
    case(
        "flow-style.yaml",
        "ports[1]",
        "9091",
        "ports: [8080, 9091]",
        &[("ports[1]", "9091")],
    ),
    case(
        "flow-style.yaml",
        "nodeSelector.\"node.kubernetes.io/pool\"",
        "high-memory",
        "nodeSelector: { kubernetes.io/os: linux, \"node.kubernetes.io/pool\": high-memory }",
        &[("nodeSelector.node.kubernetes.io/pool", "\"high-memory\"")],
    ),
    case(
        "flow-style.yaml",
        "args[2]",
        "debug,trace",
        "args: [--port=8080, --log-level, \"debug,trace\", \"--metrics\"]",
        &[("args[2]", "\"debug,trace\"")],
    ),
    case(
        "crlf-values.yaml",
        "resources.limits.memory",
        "512Mi",
        "    memory: 512Mi  # raise with care\r",
        &[("resources.limits.memory", "\"512Mi\"")],
    ),
    case(
        "crlf-values.yaml",
        "autoscaling.enabled",
        "true",
        "  enabled: true\r",
        &[("autoscaling.enabled", "true")],
    ),
    case(
        "no-trailing-newline.yaml",
        "resources.limits.memory",
        "2Gi",
        "    memory: 2Gi",
        &[("resources.limits.memory", "\"2Gi\"")],
    ),
    case(
        "no-trailing-newline.yaml",
        "service.port",
        "8443",
        "  port: 8443",
        &[("service.port", "8443")],
    ),
    case(
        "tabs-in-comments.yaml",
        "indexer.batchSize",
        "1000",
        "  batchSize: 1000  # documents\tper\tbulk request",
        &[("indexer.batchSize", "1000")],
    ),
    case(
        "tabs-in-comments.yaml",
        "indexer.queue.maxBytes",
        "128Mi",
        "    maxBytes: 128Mi  #\t\tper shard",
        &[("indexer.queue.maxBytes", "\"128Mi\"")],
    ),
    case(
        "unicode-comments.yaml",
        "database.poolSize",
        "40",
        "  poolSize: 40        # ← hängt von max_connections ab",
        &[("database.poolSize", "40")],
    ),
    case(
        "unicode-comments.yaml",
        "ui.greeting",
        "Bienvenue ! ようこそ",
        "  greeting: \"Bienvenue ! ようこそ\"  # angezeigter Text",
        &[("ui.greeting", "\"Bienvenue ! ようこそ\"")],
    ),
    case(
        "unicode-comments.yaml",
        "ui.currency",
        "£",
        "  currency: £",
        &[("ui.currency", "\"£\"")],
    ),
    case(
        "quoted-keys.yaml",
        "podAnnotations.\"prometheus.io/port\"",
        "9103",
        "  \"prometheus.io/port\": \"9103\"",
        &[("podAnnotations.prometheus.io/port", "\"9103\"")],
    ),
    case(
        "quoted-keys.yaml",
        "\"app.kubernetes.io/version\"",
        "4.2.0",
        "'app.kubernetes.io/version': \"4.2.0\"",
        &[("app.kubernetes.io/version", "\"4.2.0\"")],
    ),
    case(
        "quoted-keys.yaml",
        "\"key with spaces\"",
        "another value",
        "\"key with spaces\": another value",
        &[("key with spaces", "\"another value\"")],
    ),
    case(
        "quoted-keys.yaml",
        "podAnnotations.'cluster-autoscaler.kubernetes.io/safe-to-evict'",
        "true",
        "  'cluster-autoscaler.kubernetes.io/safe-to-evict': \"true\"",
        &[(
            "podAnnotations.cluster-autoscaler.kubernetes.io/safe-to-evict",
            "\"true\"",
        )],
    ),
    case(
        "helm-values-long.yaml",
        "worker.resources.limits.memory",
        "1Gi",
        "      memory: 1Gi",
        &[("worker.resources.limits.memory", "\"1Gi\"")],
    ),
    case(
        "helm-values-long.yaml",
        "ingress.annotations.\"nginx.ingress.kubernetes.io/proxy-body-size\"",
        "16m",
        "    nginx.ingress.kubernetes.io/proxy-body-size: 16m",
        &[(
            "ingress.annotations.nginx.ingress.kubernetes.io/proxy-body-size",
            "\"16m\"",
        )],
    ),
    case(
        "helm-values-long.yaml",
        "metrics.serviceMonitor.interval",
        "15s",
        "    interval: 15s",
        &[("metrics.serviceMonitor.interval", "\"15s\"")],
    ),
    case(
        "helm-values-long.yaml",
        "api.resources.limits.cpu",
        "4",
        "      cpu: \"4\"",
        &[("api.resources.limits.cpu", "\"4\"")],
    ),
    case(
        "multi-doc-hpa-pdb.yaml",
        "HorizontalPodAutoscaler/cart-service:spec.maxReplicas",
        "20",
        "  maxReplicas: 20",
        &[(
            "HorizontalPodAutoscaler/cart-service:spec.maxReplicas",
            "20",
        )],
    ),
    case(
        "multi-doc-hpa-pdb.yaml",
        "PodDisruptionBudget/cart-service:spec.minAvailable",
        "2",
        "  minAvailable: 2",
        &[("PodDisruptionBudget/cart-service:spec.minAvailable", "2")],
    ),
    case(
        "multi-doc-hpa-pdb.yaml",
        "[doc 2]:[1].tls",
        "true",
        "  tls: true",
        &[("[doc 2]:[1].tls", "true")],
    ),
];

#[test]
fn corpus_has_the_promised_shape() {
    let dir = fixtures().join("yaml");
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    assert!(files.len() >= 15, "{files:?}");
    for f in &files {
        assert!(
            CORPUS.iter().any(|c| c.file == f),
            "{f} has no edit case in CORPUS"
        );
    }
    assert!(CORPUS.len() >= 20);
    let crlf = fixture("yaml/crlf-values.yaml");
    assert_eq!(crlf.matches("\r\n").count(), crlf.matches('\n').count());
    assert!(!fixture("yaml/no-trailing-newline.yaml").ends_with('\n'));
    assert!(fixture("yaml/helm-values-long.yaml").lines().count() > 300);
}

#[test]
fn every_corpus_edit_changes_exactly_one_line_and_one_value() {
    for c in CORPUS {
        let path = format!("yaml/{}", c.file);
        let old = fixture(&path);
        let label = format!("{} {} = {}", c.file, c.key, c.value);
        assert_eq!(format_of(&path), Some(Format::Yaml));
        let new =
            edit(&path, &old, c.key, c.value, false).unwrap_or_else(|e| panic!("{label}: {e}"));
        let (removed, added) = diff(&old, &new);
        assert_eq!(removed.len(), 1, "{label}: removed {removed:?}");
        assert_eq!(added, vec![c.line.to_owned()], "{label}");
        assert_eq!(old.ends_with('\n'), new.ends_with('\n'), "{label}");
        assert_eq!(
            old.matches("\r\n").count(),
            new.matches("\r\n").count(),
            "{label}: line endings"
        );
        let changes = changed(&flatten(&old), &flatten(&new));
        let want: Vec<(String, String)> = c
            .changes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(changes, want, "{label}");
    }
}

const SEED: &str = "yaml/order-service-values.yaml";

#[test]
fn seed_memory_limit_changes_one_line_and_nothing_else() {
    let old = fixture(SEED);
    let new = edit(SEED, &old, "resources.limits.memory", "2Gi", false).unwrap();
    assert_eq!(new, old.replace("    memory: 512Mi\n", "    memory: 2Gi\n"));
    let new = edit(SEED, &old, "resources.requests.memory", "512Mi", false).unwrap();
    assert_eq!(
        new,
        old.replace("    memory: 256Mi\n", "    memory: 512Mi\n")
    );
    assert!(new.contains("  limits:\n    cpu: \"2\"\n    # Working set peaks near 1.6Gi under the afternoon load.\n    memory: 512Mi\n"));
}

#[test]
fn missing_keys_name_what_exists() {
    let old = fixture(SEED);
    let e = edit(
        "charts/x/values.yaml",
        &old,
        "resources.limits.memroy",
        "2Gi",
        false,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "charts/x/values.yaml: no key `resources.limits.memroy` (found `resources.limits`); check the fix template's key or set add_missing"
    );
    let e = edit(SEED, &old, "resourcse.limits.memory", "2Gi", false).unwrap_err();
    assert!(
        matches!(&e, EditError::NotFound { found, .. } if found.is_empty()),
        "{e}"
    );
    let e = edit(SEED, &old, "replicaCount.max", "2", false).unwrap_err();
    assert!(
        matches!(&e, EditError::NotFound { found, .. } if found == "replicaCount"),
        "{e}"
    );
    let e = edit(
        "k8s.yaml",
        &fixture("yaml/k8s-order-service.yaml"),
        "Deployment/order-service:spec.template.spec.containers[5].image",
        "x",
        false,
    )
    .unwrap_err();
    assert!(
        matches!(&e, EditError::NotFound { found, .. } if found == "Deployment/order-service:spec.template.spec.containers"),
        "{e}"
    );
}

#[test]
fn add_missing_writes_in_the_files_style() {
    let old = fixture(SEED);
    let new = edit(
        SEED,
        &old,
        "resources.limits.ephemeral-storage",
        "1Gi",
        true,
    )
    .unwrap();
    assert_eq!(
        new,
        old.replace(
            "    memory: 512Mi\n",
            "    memory: 512Mi\n    ephemeral-storage: 1Gi\n"
        )
    );
    let new = edit(SEED, &old, "securityContext.runAsNonRoot", "true", true).unwrap();
    assert_eq!(
        new,
        format!("{old}securityContext:\n  runAsNonRoot: true\n")
    );
    let new = edit(SEED, &old, "image.digest", "sha256:0f3c", true).unwrap();
    assert!(
        new.contains("  pullPolicy: IfNotPresent\n  digest: sha256:0f3c\n\nresources:"),
        "{new}"
    );

    // Flow mappings, CRLF files and files without a trailing newline.
    let flow = fixture("yaml/flow-style.yaml");
    let new = edit(
        "f.yaml",
        &flow,
        "resources.requests.ephemeral-storage",
        "2Gi",
        true,
    )
    .unwrap();
    assert_eq!(
        new,
        flow.replace(
            "{cpu: 250m, memory: 256Mi}",
            "{cpu: 250m, memory: 256Mi, ephemeral-storage: 2Gi}"
        )
    );
    let crlf = fixture("yaml/crlf-values.yaml");
    let new = edit(
        "c.yaml",
        &crlf,
        "autoscaling.targetCPUUtilizationPercentage",
        "70",
        true,
    )
    .unwrap();
    assert_eq!(
        new,
        format!("{crlf}  targetCPUUtilizationPercentage: 70\r\n")
    );
    let bare = fixture("yaml/no-trailing-newline.yaml");
    let new = edit("n.yaml", &bare, "resources.limits.cpu", "2", true).unwrap();
    assert_eq!(new, format!("{bare}\n    cpu: 2"));

    // In a multi-document file, under the addressed document.
    let k8s = fixture("yaml/k8s-order-service.yaml");
    let new = edit(
        "k.yaml",
        &k8s,
        "Service/order-service:spec.sessionAffinity",
        "ClientIP",
        true,
    )
    .unwrap();
    assert_eq!(
        new,
        k8s.replace(
            "      targetPort: http\n",
            "      targetPort: http\n  sessionAffinity: ClientIP\n"
        )
    );
    assert_eq!(diff(&k8s, &new).1.len(), 1);
}

#[test]
fn unchanged_and_non_scalar_targets_are_refused() {
    let old = fixture(SEED);
    assert!(matches!(
        edit(SEED, &old, "resources.limits.memory", "512Mi", false),
        Err(EditError::Unchanged { .. })
    ));
    assert!(matches!(
        edit(
            SEED,
            &old,
            "podAnnotations.prometheus.io/scrape",
            "true",
            false
        ),
        Err(EditError::Unchanged { .. })
    ));
    let e = edit(SEED, &old, "resources.limits", "2Gi", false).unwrap_err();
    assert!(matches!(e, EditError::NotScalar { .. }), "{e}");
    let e = edit(SEED, &old, "resources", "2Gi", false).unwrap_err();
    assert!(matches!(e, EditError::NotScalar { .. }), "{e}");
}

#[test]
fn paths_through_aliases_point_at_the_anchor() {
    let old = fixture("yaml/anchors-values.yaml");
    let path = "yaml/anchors-values.yaml";
    let e = edit(
        path,
        &old,
        "workers.exports.resources.limits.memory",
        "1Gi",
        false,
    )
    .unwrap_err();
    assert!(
        matches!(&e, EditError::Alias { anchor, .. } if anchor == "default-resources"),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("edit the value where the anchor `&default-resources` defines it")
    );
    let e = edit(path, &old, "workers.exports.timeoutSeconds", "90", false).unwrap_err();
    assert!(
        matches!(&e, EditError::Alias { anchor, .. } if anchor == "timeout"),
        "{e}"
    );
    let e = edit(path, &old, "workers.emails.image", "x:1", false).unwrap_err();
    assert!(
        matches!(&e, EditError::Alias { anchor, .. } if anchor == "defaults"),
        "{e}"
    );
    // With add_missing, an override next to the `<<:` merge; only that worker changes.
    let new = edit(path, &old, "workers.emails.timeoutSeconds", "45", true).unwrap();
    assert_eq!(
        new,
        old.replace(
            "    concurrency: 4\n",
            "    concurrency: 4\n    timeoutSeconds: 45\n"
        )
    );
    assert_eq!(
        changed(&flatten(&old), &flatten(&new)),
        vec![("workers.emails.timeoutSeconds".to_owned(), "45".to_owned())]
    );
}

#[test]
fn ambiguous_plain_values_keep_their_type() {
    let old = fixture(SEED);
    for (key, value, line, reads) in [
        ("image.pullPolicy", "on", "  pullPolicy: \"on\"", "\"on\""),
        ("image.pullPolicy", "no", "  pullPolicy: \"no\"", "\"no\""),
        (
            "image.pullPolicy",
            "1.10",
            "  pullPolicy: \"1.10\"",
            "\"1.10\"",
        ),
        (
            "image.pullPolicy",
            "010",
            "  pullPolicy: \"010\"",
            "\"010\"",
        ),
        (
            "image.pullPolicy",
            "null",
            "  pullPolicy: \"null\"",
            "\"null\"",
        ),
        ("image.pullPolicy", "~", "  pullPolicy: \"~\"", "\"~\""),
        (
            "image.pullPolicy",
            "*latest",
            "  pullPolicy: \"*latest\"",
            "\"*latest\"",
        ),
        (
            "image.pullPolicy",
            "a: b",
            "  pullPolicy: \"a: b\"",
            "\"a: b\"",
        ),
        (
            "image.pullPolicy",
            "x #y",
            "  pullPolicy: \"x #y\"",
            "\"x #y\"",
        ),
        (
            "image.tag",
            "true",
            "  tag: \"true\"   # pinned; bump through the release pipeline",
            "\"true\"",
        ),
        ("replicaCount", "12", "replicaCount: 12", "12"),
        (
            "podAnnotations.prometheus.io/scrape",
            "false",
            "  prometheus.io/scrape: \"false\"",
            "\"false\"",
        ),
    ] {
        let new = edit(SEED, &old, key, value, false).unwrap();
        assert_eq!(diff(&old, &new).1, vec![line.to_owned()], "{key} = {value}");
        let after = flatten(&new);
        assert_eq!(
            after.get(key).map(String::as_str),
            Some(reads),
            "{key} = {value}"
        );
    }
}

#[test]
fn block_scalars_keep_block_style_for_several_lines() {
    let path = "yaml/prometheus-rules.yaml";
    let old = fixture(path);
    let expr = "sum(rate(http_server_requests_seconds_count{job=\"order-service\",status=~\"5..\"}[5m]))\n  /\nsum(rate(http_server_requests_seconds_count{job=\"order-service\"}[5m])) > 0.02\n";
    let new = edit(path, &old, "groups[0].rules[0].expr", expr, false).unwrap();
    let (removed, added) = diff(&old, &new);
    assert_eq!(
        removed,
        vec![
            "          sum(rate(http_server_requests_seconds_count{job=\"order-service\"}[5m])) > 0.05"
        ]
    );
    assert_eq!(
        added,
        vec![
            "          sum(rate(http_server_requests_seconds_count{job=\"order-service\"}[5m])) > 0.02"
        ]
    );
    let new = edit(path, &old, "groups[0].rules[0].expr", "vector(1)", false).unwrap();
    assert!(new.contains("      - alert: OrderServiceHighErrorRate\n        expr: \"vector(1)\"\n        for: 5m\n"), "{new}");
    // A folded block: same text, a literal block with the lines kept.
    let new = edit(
        path,
        &old,
        "groups[0].rules[0].annotations.description",
        "Too many 5xx.\nCheck deploys.\n",
        false,
    )
    .unwrap();
    assert!(new.contains("          description: |\n            Too many 5xx.\n            Check deploys.\n          runbook_url:"), "{new}");
}

#[test]
fn multi_document_files_without_a_prefix() {
    let path = "yaml/k8s-order-service.yaml";
    let old = fixture(path);
    let new = edit(path, &old, "spec.replicas", "6", false).unwrap();
    assert_eq!(diff(&old, &new).1, vec!["  replicas: 6"]);
    let e = edit(path, &old, "metadata.namespace", "shop2", false).unwrap_err();
    assert!(
        matches!(&e, EditError::Ambiguous { candidates, .. } if candidates.len() == 3),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("Deployment/order-service:metadata.namespace"),
        "{e}"
    );
    let new = edit(path, &old, "[doc 2]:metadata.namespace", "shop2", false).unwrap();
    assert_eq!(diff(&old, &new).0, vec!["  namespace: shop"]);
    assert!(new.ends_with("kind: Service\nmetadata:\n  name: order-service\n  namespace: shop2\nspec:\n  type: ClusterIP\n  selector:\n    app.kubernetes.io/name: order-service\n  ports:\n    - name: http\n      port: 80\n      targetPort: http\n"));
}

// ---------------------------------------------------------------------------
// nginx

const NGINX: &str = "/usr/sbin/nginx";

/// `nginx -t` on `conf` in a temp prefix (pid, logs, temp paths inside it).
fn nginx_t(conf: &str) {
    assert!(
        Path::new(NGINX).exists(),
        "nginx is not installed at {NGINX}: apt-get install -y nginx"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    std::fs::create_dir_all(dir.path().join("temp")).unwrap();
    let file = dir.path().join("nginx.conf");
    std::fs::write(&file, conf).unwrap();
    let out = Command::new(NGINX)
        .arg("-t")
        .arg("-p")
        .arg(format!("{}/", dir.path().display()))
        .arg("-e")
        .arg(dir.path().join("logs/error.log"))
        .arg("-c")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "nginx -t failed:\n{}\n{conf}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn nginx_edits_keep_the_file_and_pass_nginx_t() {
    let path = "nginx/nginx.conf";
    let old = fixture(path);
    assert_eq!(format_of(path), Some(Format::Nginx));
    nginx_t(&old);
    for (key, value, line) in [
        ("worker_processes", "auto", "worker_processes  auto;"),
        (
            "events.worker_connections",
            "4096",
            "    worker_connections  4096;",
        ),
        (
            "http.client_max_body_size",
            "4m",
            "    client_max_body_size 4m;   # uploads go through the api server block",
        ),
        (
            "http.server[server_name=api.example.com].location[/api].proxy_read_timeout",
            "90s",
            "            proxy_read_timeout  90s;   # checkout can take a while",
        ),
        (
            "http.server[1].location[1].proxy_read_timeout",
            "300s",
            "            proxy_read_timeout  300s;",
        ),
        (
            "http.server[server_name=example.com].listen",
            "8083",
            "        listen       8083;",
        ),
        (
            "http.server[0].location[= /healthz].return",
            "200 \"ok; {maintenance} # soon\"",
            "            return 200 \"ok; {maintenance} # soon\";",
        ),
        (
            "http.upstream[order_api].keepalive",
            "32",
            "        keepalive 32;",
        ),
        (
            "http.upstream.server",
            "127.0.0.1:8090 max_fails=5",
            "        server 127.0.0.1:8090 max_fails=5;",
        ),
    ] {
        let new = edit(path, &old, key, value, false).unwrap_or_else(|e| panic!("{key}: {e}"));
        let (removed, added) = diff(&old, &new);
        assert_eq!(removed.len(), 1, "{key}");
        assert_eq!(added, vec![line.to_owned()], "{key}");
        nginx_t(&new);
    }
}

#[test]
fn nginx_multi_line_directives_and_adding() {
    let path = "nginx/nginx.conf";
    let old = fixture(path);
    let new = edit(
        path,
        &old,
        "http.log_format",
        "main '$remote_addr $status $request_time'",
        false,
    )
    .unwrap();
    let (removed, added) = diff(&old, &new);
    assert_eq!(removed.len(), 3);
    assert_eq!(
        added,
        vec!["    log_format  main '$remote_addr $status $request_time';"]
    );
    nginx_t(&new);

    let new = edit(
        path,
        &old,
        "http.server[server_name=api.example.com].proxy_connect_timeout",
        "5s",
        true,
    )
    .unwrap();
    assert_eq!(
        new,
        old.replace(
            "        client_max_body_size 8m;\n",
            "        client_max_body_size 8m;\n        proxy_connect_timeout 5s;\n"
        )
    );
    nginx_t(&new);
    let new = edit(path, &old, "http.server[0].location[/].expires", "1h", true).unwrap();
    assert!(
        new.contains("            index  index.html;\n            expires 1h;\n        }"),
        "{new}"
    );
    nginx_t(&new);
    let new = edit(path, &old, "events.use", "epoll", true).unwrap();
    assert!(
        new.contains("    multi_accept        on;\n    use epoll;\n}"),
        "{new}"
    );
    nginx_t(&new);
}

#[test]
fn nginx_errors() {
    let path = "nginx/nginx.conf";
    let old = fixture(path);
    let e = edit(path, &old, "http.server.listen", "80", false).unwrap_err();
    assert!(
        matches!(&e, EditError::Ambiguous { candidates, .. } if candidates.len() == 2),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("server_name www.example.com example.com")
            && msg.contains("server_name api.example.com"),
        "{msg}"
    );
    let e = edit(
        path,
        &old,
        "http.server[1].location[/admin].deny",
        "all",
        false,
    )
    .unwrap_err();
    assert!(
        matches!(&e, EditError::NotFound { found, .. } if found == "http.server[1]"),
        "{e}"
    );
    let e = edit(path, &old, "http.server[1].gzip", "on", false).unwrap_err();
    assert!(matches!(&e, EditError::NotFound { .. }), "{e}");
    assert!(matches!(
        edit(path, &old, "events.multi_accept", "on", false),
        Err(EditError::Unchanged { .. })
    ));
    assert!(matches!(
        edit(path, &old, "http.server[1].location[/api]", "x", false),
        Err(EditError::NotScalar { .. })
    ));
    assert!(matches!(
        edit(path, &old, "worker_processes", "2; user root", false),
        Err(EditError::InvalidValue { .. })
    ));
}

// ---------------------------------------------------------------------------
// postgresql.conf

const POSTGRES: &str = "/usr/lib/postgresql/15/bin/postgres";

/// What a real `postgres -C name` reads from `conf`, in the setting's base
/// unit (kB, ms). No initdb needed: the data directory holds only the config
/// file.
fn postgres_c(conf: &str, name: &str) -> String {
    assert!(
        Path::new(POSTGRES).exists(),
        "PostgreSQL 15 is not installed: apt-get install -y postgresql"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("postgresql.conf"), conf).unwrap();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let data = dir.path().to_str().unwrap();
    let out = if root {
        // postgres refuses to run as root.
        let chown = Command::new("chown")
            .args(["-R", "postgres:postgres", data])
            .status()
            .unwrap();
        assert!(chown.success());
        Command::new("runuser")
            .args(["-u", "postgres", "--", POSTGRES, "-C", name, "-D", data])
            .output()
            .unwrap()
    } else {
        Command::new(POSTGRES)
            .args(["-C", name, "-D", data])
            .output()
            .unwrap()
    };
    assert!(
        out.status.success(),
        "postgres -C {name}: {}\n{conf}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn postgresql_conf_edits() {
    let path = "postgres/postgresql.conf";
    let old = fixture(path);
    assert_eq!(format_of(path), Some(Format::PostgresConf));
    assert_eq!(postgres_c(&old, "work_mem"), "16384");
    for (key, value, line, reads) in [
        (
            "idle_in_transaction_session_timeout",
            "60s",
            "idle_in_transaction_session_timeout = 60s",
            "60000",
        ),
        (
            "max_connections",
            "200",
            "max_connections = 200\t\t\t# (change requires restart)",
            "200",
        ),
        (
            "max_connections",
            "1000",
            "max_connections = 1000\t\t\t# (change requires restart)",
            "1000",
        ),
        ("work_mem", "32MB", "work_mem = 32MB", "32768"),
        (
            "shared_preload_libraries",
            "pg_stat_statements,auto_explain",
            "shared_preload_libraries = 'pg_stat_statements,auto_explain' # (change requires restart)",
            "pg_stat_statements,auto_explain",
        ),
        (
            "listen_addresses",
            "localhost,10.0.0.5",
            "listen_addresses = 'localhost,10.0.0.5'",
            "localhost,10.0.0.5",
        ),
        (
            "timezone",
            "Europe/Berlin",
            "TimeZone = 'Europe/Berlin'",
            "Europe/Berlin",
        ),
        (
            "log_min_duration_statement",
            "1s",
            "log_min_duration_statement = 1s\t\t# -1 disables, 0 logs all statements",
            "1000",
        ),
        (
            "statement_timeout",
            "2min",
            "statement_timeout = 2min",
            "120000",
        ),
    ] {
        let new = edit(path, &old, key, value, false).unwrap_or_else(|e| panic!("{key}: {e}"));
        let (removed, added) = diff(&old, &new);
        assert_eq!(removed.len(), 1, "{key}");
        assert_eq!(added, vec![line.to_owned()], "{key}");
        assert_eq!(postgres_c(&new, key), reads, "{key}");
    }
}

#[test]
fn postgresql_conf_adding_and_errors() {
    let path = "postgres/postgresql.conf";
    let old = fixture(path);
    let e = edit(path, &old, "effective_io_concurrency", "200", false).unwrap_err();
    assert!(matches!(e, EditError::NotFound { .. }), "{e}");
    let new = edit(path, &old, "effective_io_concurrency", "200", true).unwrap();
    assert_eq!(
        new,
        old.replace(
            "#effective_io_concurrency = 1\t\t# 1-1000; 0 disables prefetching\n",
            "#effective_io_concurrency = 1\t\t# 1-1000; 0 disables prefetching\neffective_io_concurrency = 200\t\t# 1-1000; 0 disables prefetching\n"
        )
    );
    assert_eq!(postgres_c(&new, "effective_io_concurrency"), "200");
    let new = edit(path, &old, "lock_timeout", "5s", true).unwrap();
    assert_eq!(new, format!("{old}lock_timeout = 5s\n"));
    assert_eq!(postgres_c(&new, "lock_timeout"), "5000");
    assert!(matches!(
        edit(path, &old, "work_mem", "16MB", false),
        Err(EditError::Unchanged { .. })
    ));
    assert!(matches!(
        edit(path, &old, "work mem", "1MB", false),
        Err(EditError::InvalidKey { .. })
    ));
}
