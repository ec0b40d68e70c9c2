//! A generic JSON webhook: POSTs the [`Notice`] itself as JSON (its field
//! names are documented on [`Notice`] and stable), with an optional bearer
//! token and extra headers, for chat tools and pipelines pagerless does not
//! know. Any 2xx is success. No upstream format: the contract is ours.

use async_trait::async_trait;

use super::Notifier;
use super::http::Post;
use crate::{Notice, NotifyError, Secret};

/// A webhook receiving notices as JSON.
#[derive(Debug, Clone)]
pub struct Webhook {
    name: String,
    url: Secret,
    bearer: Option<Secret>,
    headers: Vec<(String, String)>,
    client: reqwest::Client,
}

impl Webhook {
    /// A sink named `name` posting to `url` (a [`Secret`]: URLs often carry keys).
    pub fn new(name: impl Into<String>, url: Secret, client: reqwest::Client) -> Self {
        Webhook {
            name: name.into(),
            url,
            bearer: None,
            headers: Vec::new(),
            client,
        }
    }

    /// Sends `Authorization: Bearer TOKEN`. Default: no authorization header.
    pub fn with_bearer(mut self, token: Secret) -> Self {
        self.bearer = Some(token);
        self
    }

    /// Adds a header to every request. Default: none beyond `content-type`.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

#[async_trait]
impl Notifier for Webhook {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, notice: &Notice) -> Result<(), NotifyError> {
        let body = serde_json::to_value(notice).map_err(|e| NotifyError::Request {
            sink: self.name.clone(),
            detail: e.to_string(),
        })?;
        let mut secrets = vec![&self.url];
        secrets.extend(self.bearer.as_ref());
        Post {
            sink: &self.name,
            url: self.url.expose(),
            bearer: self.bearer.as_ref(),
            headers: &self.headers,
            secrets: &secrets,
        }
        .send(&self.client, &body)
        .await
        .map(|_| ())
    }
}
