//! PostgreSQL: `pg_stat_activity` summaries and `max_connections`.

mod data;

pub use data::*;
