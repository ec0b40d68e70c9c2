//! PostgreSQL: `pg_stat_activity` summaries and `max_connections`.
//!
//! One pooled connection (at most two), opened lazily so the toolbox builds
//! while the database is down; every session is `default_transaction_read_only`
//! with a `statement_timeout`, named `pagerless` in `pg_stat_activity`.
//! Connection failures and "too many clients" are retriable.

mod activity;
mod config;
mod data;

use std::sync::Arc;
use std::time::Duration;

pub use activity::PgActivity;
pub use config::PostgresConfig;
pub use data::*;

use crate::{Tool, ToolError};

/// The PostgreSQL tools for `config`: `postgres.activity`. Fails when the URL
/// is missing or malformed; the database is first reached on the first call.
pub async fn tools(config: &PostgresConfig) -> Result<Vec<Arc<dyn Tool>>, ToolError> {
    let fail = |message: String| ToolError::Backend {
        tool: "postgres".into(),
        message,
        retriable: false,
    };
    let url = match (&config.url, &config.url_env) {
        (Some(url), _) => url.clone(),
        (None, Some(var)) => {
            std::env::var(var).map_err(|_| fail(format!("the URL variable `{var}` is not set")))?
        }
        (None, None) => return Err(fail("neither `url` nor `url_env` is set".into())),
    };
    let timeout = Duration::from_secs(config.timeout_secs.max(1));
    let options: sqlx::postgres::PgConnectOptions = url
        .parse()
        .map_err(|e| fail(format!("bad PostgreSQL URL: {e}")))?;
    let options = options.application_name("pagerless").options([
        ("default_transaction_read_only", "on".to_owned()),
        ("statement_timeout", format!("{}", timeout.as_millis())),
    ]);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .min_connections(0)
        .acquire_timeout(timeout)
        .idle_timeout(Some(Duration::from_secs(60)))
        .connect_lazy_with(options);
    Ok(vec![Arc::new(PgActivity::new(pool))])
}
