//! The places a notice can go, one file each: Slack (incoming webhook and bot
//! token), Microsoft Teams, a generic JSON webhook and PagerDuty. Each sink
//! builds its request from a [`Notice`] without I/O (so request shapes are
//! tested offline) and sends it with one POST; retries belong to the
//! dispatcher.

use async_trait::async_trait;

use crate::{Notice, NoticeKind, NotifyError};

mod http;
pub mod pagerduty;
pub mod slack_blocks;
pub mod slack_bot;
pub mod slack_webhook;
pub mod teams;
pub mod webhook;

pub use pagerduty::PagerDuty;
pub use slack_bot::SlackBot;
pub use slack_webhook::SlackWebhook;
pub use teams::Teams;
pub use webhook::Webhook;

/// A place notices go.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// The sink's configured name, for logs and delivery records.
    fn name(&self) -> &str;

    /// Sends one notice, once (the dispatcher retries).
    async fn send(&self, notice: &Notice) -> Result<(), NotifyError>;

    /// Whether the sink has anything to say about notices of `kind`. The
    /// dispatcher skips it for the others. Default: every kind.
    fn handles(&self, kind: NoticeKind) -> bool {
        let _ = kind;
        true
    }
}
