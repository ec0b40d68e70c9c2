//! The server's settings (the `server:` section of `pagerless.yaml`) and the
//! rule that an unauthenticated server stays on loopback.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The `server:` section of `pagerless.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on. Default: `127.0.0.1:9797`.
    pub listen: SocketAddr,
    /// Bearer token required on intake and the API. Default: none. The
    /// environment variable `PAGERLESS_API_TOKEN` overrides it; keep secrets there.
    /// Without a token the server refuses to listen beyond loopback.
    pub api_token: Option<String>,
    /// Largest request body accepted, in bytes; larger ones get 413. Default: 4194304 (4 MiB).
    pub max_body_bytes: usize,
    /// Slack's signing secret, to accept its interactive approval buttons at
    /// `/api/v1/slack/interactions`. Default: none (the route answers 404).
    /// The environment variable `PAGERLESS_SLACK_SIGNING_SECRET` overrides it.
    pub slack_signing_secret: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            api_token: None,
            max_body_bytes: 4 * 1024 * 1024,
            slack_signing_secret: None,
        }
    }
}

/// The default listen address, `127.0.0.1:9797`.
pub fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9797))
}

/// Refusal to expose an unauthenticated server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refusing to listen on {0} without an API token: anyone who can reach it could post alerts \
     and read incidents. Set PAGERLESS_API_TOKEN (or server.api_token), or listen on loopback \
     (127.0.0.1 or [::1])"
)]
pub struct ExposureError(pub SocketAddr);

/// An unauthenticated server may only listen on loopback.
pub fn check_exposure(listen: SocketAddr, has_token: bool) -> Result<(), ExposureError> {
    if has_token || listen.ip().is_loopback() {
        Ok(())
    } else {
        Err(ExposureError(listen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_token_means_loopback_only() {
        let any: SocketAddr = "0.0.0.0:9797".parse().unwrap();
        assert!(check_exposure(any, false).is_err());
        assert!(check_exposure(any, true).is_ok());
        assert!(check_exposure("[::1]:1".parse().unwrap(), false).is_ok());
        assert!(check_exposure(default_listen(), false).is_ok());
        let msg = check_exposure(any, false).unwrap_err().to_string();
        assert!(msg.contains("PAGERLESS_API_TOKEN"), "{msg}");
    }
}
