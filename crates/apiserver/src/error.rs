//! API errors, and their wire form: a metav1 `Status` like a real API server answers.

use serde_json::{Value, json};

use crate::object::ResourceKind;

/// Why an API operation failed; each maps to a `Status` reason and HTTP code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The object does not exist (404 NotFound).
    #[error("{resource} \"{name}\" not found")]
    NotFound {
        /// Qualified resource, e.g. `pods` or `deployments.apps`.
        resource: String,
        /// The object's name.
        name: String,
    },
    /// An object with this name already exists (409 AlreadyExists).
    #[error("{resource} \"{name}\" already exists")]
    AlreadyExists {
        /// Qualified resource.
        resource: String,
        /// The object's name.
        name: String,
    },
    /// The object changed since the version the client sent (409 Conflict).
    #[error(
        "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
    )]
    Conflict {
        /// Qualified resource.
        resource: String,
        /// The object's name.
        name: String,
    },
    /// The request is malformed (400 BadRequest).
    #[error("{0}")]
    BadRequest(String),
    /// The object is invalid (422 Invalid).
    #[error("{resource} \"{name}\" is invalid: {message}")]
    Invalid {
        /// Qualified resource.
        resource: String,
        /// The object's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The requested resourceVersion is older than the retained history (410 Expired).
    #[error("too old resource version: {requested} ({oldest})")]
    Gone {
        /// The version the client asked for.
        requested: u64,
        /// The oldest version still known.
        oldest: u64,
    },
    /// The method is not allowed on this path (405 MethodNotAllowed).
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    /// The patch content type is not supported (415 UnsupportedMediaType).
    #[error("the body of the request was in an unknown format - accepted media types include: {0}")]
    UnsupportedMediaType(String),
    /// The path names no resource this server serves (404 NotFound).
    #[error("the server could not find the requested resource")]
    UnknownPath,
}

/// The qualified resource name used in messages: `pods`, `deployments.apps`.
pub fn qualified(kind: ResourceKind) -> String {
    if kind.group().is_empty() {
        kind.plural().to_string()
    } else {
        format!("{}.{}", kind.plural(), kind.group())
    }
}

impl ApiError {
    /// A NotFound error for `kind` / `name`.
    pub fn not_found(kind: ResourceKind, name: &str) -> Self {
        ApiError::NotFound {
            resource: qualified(kind),
            name: name.to_string(),
        }
    }

    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound { .. } | ApiError::UnknownPath => 404,
            ApiError::AlreadyExists { .. } | ApiError::Conflict { .. } => 409,
            ApiError::BadRequest(_) => 400,
            ApiError::Invalid { .. } => 422,
            ApiError::Gone { .. } => 410,
            ApiError::MethodNotAllowed => 405,
            ApiError::UnsupportedMediaType(_) => 415,
        }
    }

    /// The `Status.reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } | ApiError::UnknownPath => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::Gone { .. } => "Expired",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
        }
    }

    /// The error as a metav1 `Status` object.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        let details = match self {
            ApiError::NotFound { resource, name }
            | ApiError::AlreadyExists { resource, name }
            | ApiError::Conflict { resource, name }
            | ApiError::Invalid { resource, name, .. } => {
                let (kind, group) = resource.split_once('.').unwrap_or((resource.as_str(), ""));
                let mut d = json!({ "name": name, "kind": kind });
                if !group.is_empty() {
                    d["group"] = json!(group);
                }
                Some(d)
            }
            _ => None,
        };
        if let Some(d) = details {
            status["details"] = d;
        }
        status
    }
}
