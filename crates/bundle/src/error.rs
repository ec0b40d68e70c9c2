//! The one error type of the crate: every variant names the file it is about.

use std::path::PathBuf;

/// What went wrong reading, validating, writing or importing a bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file is not valid JSON or does not have the expected shape.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A bundle's field holds a value the format does not allow.
    #[error("{path}: field `{field}`: {reason}")]
    Invalid {
        /// The file the field is in.
        path: PathBuf,
        /// The field, e.g. `window.start` or `alert.starts_at`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A line of an OpenMetrics file is malformed or out of order.
    #[error("{path}:{line}: {reason}")]
    OpenMetrics {
        /// The file (or a description of the stream).
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Series could not be written as valid OpenMetrics (bad name, order, ...).
    #[error("cannot write OpenMetrics: {reason}")]
    Write {
        /// What is wrong.
        reason: String,
    },
    /// A line of an input CSV file is malformed.
    #[error("{path}:{line}: {reason}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The 1-based line number where the record starts.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A dataset directory does not have the expected layout or content.
    #[error("{path}: {reason}")]
    Dataset {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong or missing.
        reason: String,
    },
    /// An output directory already holds a case and overwriting was not asked for.
    #[error("{path} already exists and is not empty; pass --force to overwrite it")]
    Exists {
        /// The case directory.
        path: PathBuf,
    },
}

impl BundleError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BundleError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(
        path: impl Into<PathBuf>,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        BundleError::Invalid {
            path: path.into(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn dataset(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        BundleError::Dataset {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
