//! Recent lines of log files (nginx error logs, application logs) by pattern and window.

mod data;

pub use data::*;
