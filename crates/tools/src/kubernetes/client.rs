//! Building the kube-rs client, mapping its errors to [`ToolError`], and
//! turning Kubernetes quantities and containers into plain numbers.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::config::KubernetesConfig;
use super::data::{Resources, TemplateContainer};
use crate::ToolError;

/// Builds a client from `config`: its kubeconfig file, else the default
/// kubeconfig, else in-cluster.
pub async fn client(config: &KubernetesConfig) -> Result<kube::Client, ToolError> {
    let fail = |message: String| ToolError::Backend {
        tool: "kubernetes".into(),
        message,
        retriable: false,
    };
    let options = KubeConfigOptions {
        context: config.context.clone(),
        ..KubeConfigOptions::default()
    };
    let mut cfg = match &config.kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path)
                .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| fail(format!("bad kubeconfig {}: {e}", path.display())))?
        }
        None => match kube::Config::from_kubeconfig(&options).await {
            Ok(cfg) => cfg,
            Err(kubeconfig_err) => kube::Config::incluster().map_err(|e| {
                fail(format!(
                    "no kubeconfig ({kubeconfig_err}) and not in a cluster ({e})"
                ))
            })?,
        },
    };
    let timeout = Duration::from_secs(config.timeout_secs.max(1));
    cfg.connect_timeout = Some(timeout);
    cfg.read_timeout = Some(timeout);
    cfg.write_timeout = Some(timeout);
    kube::Client::try_from(cfg).map_err(|e| fail(format!("cannot build a client: {e}")))
}

/// A kube-rs error as the tool's error: the API server's message for API
/// errors (retriable on 5xx and 429), anything else (connection refused, a
/// timeout) retriable.
pub fn backend(tool: &str, err: kube::Error) -> ToolError {
    match err {
        kube::Error::Api(status) => ToolError::Backend {
            tool: tool.to_owned(),
            message: if status.message.is_empty() {
                format!("the API server answered {}", status.code)
            } else {
                status.message.clone()
            },
            retriable: status.code >= 500 || status.code == 429,
        },
        other => ToolError::Backend {
            tool: tool.to_owned(),
            message: other.to_string(),
            retriable: true,
        },
    }
}

/// A quantity (`512Mi`, `250m`, `1.5`, `2e3`) as a number in base units
/// (cores, bytes); `None` when it does not parse.
pub fn quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

/// `cpu` and `memory` of a resource list, as numbers.
pub fn resources(list: Option<&BTreeMap<String, Quantity>>) -> Resources {
    let get = |key: &str| list.and_then(|l| l.get(key)).and_then(|q| quantity(&q.0));
    Resources {
        cpu: get("cpu"),
        memory: get("memory"),
    }
}

/// Limits and requests of a container.
pub fn limits_requests(r: Option<&ResourceRequirements>) -> (Resources, Resources) {
    (
        resources(r.and_then(|r| r.limits.as_ref())),
        resources(r.and_then(|r| r.requests.as_ref())),
    )
}

/// Environment variables with literal values.
pub fn env(c: &Container) -> BTreeMap<String, String> {
    c.env
        .iter()
        .flatten()
        .filter_map(|e| e.value.as_ref().map(|v| (e.name.clone(), v.clone())))
        .collect()
}

/// A pod template's container.
pub fn template_container(c: &Container) -> TemplateContainer {
    let (limits, requests) = limits_requests(c.resources.as_ref());
    TemplateContainer {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        limits,
        requests,
        env: env(c),
    }
}

/// Bytes for people: `536870912` → `512Mi`.
pub fn bytes_human(b: f64) -> String {
    const UNITS: [(&str, f64); 4] = [
        ("Ti", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Ki", 1024.0),
    ];
    for (unit, scale) in UNITS {
        if b >= scale {
            let v = b / scale;
            return if (v - v.round()).abs() < 0.05 {
                format!("{}{unit}", v.round())
            } else {
                format!("{v:.1}{unit}")
            };
        }
    }
    format!("{b}B")
}

/// A typed value as the observation's `data`.
pub fn to_data<T: serde::Serialize>(tool: &str, value: &T) -> Result<serde_json::Value, ToolError> {
    serde_json::to_value(value).map_err(|e| ToolError::Backend {
        tool: tool.to_owned(),
        message: format!("cannot encode the result: {e}"),
        retriable: false,
    })
}

/// The optional `namespace` argument, else the client's default namespace.
pub fn namespace_arg<'a>(args: &'a serde_json::Value, client: &'a kube::Client) -> &'a str {
    crate::arg_opt_str(args, "namespace").unwrap_or_else(|| client.default_namespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(quantity("512Mi"), Some(536_870_912.0));
        assert_eq!(quantity("2Gi"), Some(2_147_483_648.0));
        assert_eq!(quantity("250m"), Some(0.25));
        assert_eq!(quantity("1.5"), Some(1.5));
        assert_eq!(quantity("100000000n"), Some(0.1));
        assert_eq!(quantity("1e3"), Some(1000.0));
        assert_eq!(quantity("1k"), Some(1000.0));
        assert_eq!(quantity("12Ki"), Some(12288.0));
        assert_eq!(quantity("bogus"), None);
        assert_eq!(bytes_human(536_870_912.0), "512Mi");
        assert_eq!(bytes_human(1_610_612_736.0), "1.5Gi");
    }
}
