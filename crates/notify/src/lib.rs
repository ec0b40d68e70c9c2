//! Tells humans what pagerless did, instead of paging them: an incident's
//! outcome becomes a [`Notice`] (resolved by the agent, escalated to a human,
//! or waiting for an approval), sent to Slack, Microsoft Teams, PagerDuty or
//! any JSON webhook, routed per environment, severity and kind.
//!
//! Key decision: notifying never fails an incident. The [`Dispatcher`] fans a
//! notice out to the matching sinks concurrently, retries each with
//! exponential backoff within a bounded time, and returns [`Delivery`] records
//! to audit rather than errors to handle; [`Dispatcher::spawn_notify`] does
//! not even wait. Each sink builds its request from the notice without I/O,
//! so request shapes are tested offline against the upstream schemas.
//! Secrets (tokens, routing keys, webhook URLs) are read from environment
//! variables named in the config and never appear in errors or `Debug`.

pub mod config;
pub mod dispatch;
mod error;
mod notice;
pub mod route;
mod secret;
pub mod sinks;

pub use config::{ConfigError, NotifyConfig, RetryConfig, SinkConfig, SinkKind};
pub use dispatch::{Delivery, Dispatcher, RetryPolicy};
pub use error::NotifyError;
pub use notice::{Notice, NoticeKind, PullRequestRef};
pub use route::Route;
pub use secret::Secret;
pub use sinks::Notifier;
