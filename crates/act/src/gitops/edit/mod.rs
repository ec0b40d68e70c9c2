//! Config edits that keep a file as humans wrote it: a permanent fix changes
//! ONE key of a config file in an infrastructure-as-code repository, and every
//! other byte (comments, key order, quoting, indentation, blank lines, line
//! endings, a missing trailing newline) stays exactly as it was.
//!
//! Three editors, chosen by [`format_of`]: YAML ([`Format::Yaml`], located
//! with yamlpath's concrete syntax tree, the new scalar spliced in by hand),
//! nginx ([`Format::Nginx`]) and `postgresql.conf` ([`Format::PostgresConf`]),
//! both with small hand-written tokenizers that keep byte offsets.
//!
//! Key decision: an edit is a splice of the smallest span that holds the old
//! value, never a re-serialization, and every edit is checked afterwards by
//! parsing the old and the new text and comparing all their values: exactly
//! the intended key may differ (YAML aliases of an edited anchor follow it).
//! A failed check is [`EditError::Verify`], never a silently wrong file.

mod nginx;
mod pgconf;
mod yaml;

/// Which editor a file gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML (`.yaml`, `.yml`): Helm values, Kubernetes manifests, kustomize,
    /// Compose, CI workflows, Prometheus rules.
    Yaml,
    /// nginx configuration (`nginx.conf`, `*.conf` under a path naming nginx).
    Nginx,
    /// PostgreSQL server configuration (`postgresql.conf`,
    /// `postgresql.auto.conf`, `*.conf` under a path naming postgres).
    PostgresConf,
}

/// Which editor `path` gets, by its extension and name: `.yaml`/`.yml` →
/// [`Format::Yaml`]; `nginx.conf`, or `*.conf` under a path containing
/// `nginx` → [`Format::Nginx`]; `postgresql.conf`, `postgresql.auto.conf`, or
/// `*.conf` under a path containing `postgres` → [`Format::PostgresConf`].
/// Anything else → `None`.
pub fn format_of(path: &str) -> Option<Format> {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit(['/', '\\']).next().unwrap_or(&lower);
    if name.ends_with(".yaml") || name.ends_with(".yml") {
        return Some(Format::Yaml);
    }
    if name == "nginx.conf" {
        return Some(Format::Nginx);
    }
    if name == "postgresql.conf" || name == "postgresql.auto.conf" {
        return Some(Format::PostgresConf);
    }
    if name.ends_with(".conf") {
        if lower.contains("nginx") {
            return Some(Format::Nginx);
        }
        if lower.contains("postgres") {
            return Some(Format::PostgresConf);
        }
    }
    None
}

/// Sets `key` to `value` in `text` (the content of the file at `path`) and
/// returns the new text; every byte outside the edited value is kept.
///
/// Key syntax per format:
/// - YAML: dot-joined mapping keys with `[i]` for list elements
///   (`spec.template.spec.containers[0].resources.limits.memory`); a
///   `Kind/name:` or `[doc i]:` prefix picks the document of a multi-document
///   file (`Deployment/order-service:spec.replicas`); a key containing a dot
///   is written quoted (`metadata.labels."app.kubernetes.io/name"`), or
///   unquoted as pagerless's git history prints it. The original quoting
///   style is kept; a plain value that would change its type or read
///   differently elsewhere (`on`, `no`, `1.10`, `010`, `true` for a string)
///   is quoted. Editing a value that defines an anchor (`&name`) changes
///   every alias (`*name`, `<<: *name`) of it too; a path that resolves
///   through an alias is [`EditError::Alias`]: edit the anchor instead.
/// - nginx: directive names joined by `.` through blocks
///   (`http.server.listen`), `[i]` picks the i-th of that name,
///   `[name=value]` a block holding directive `name` with argument `value`
///   (`http.server[server_name=api.example.com]`), `[arg]` a block whose first
///   argument (or all arguments) equal `arg` (`location[/api]`). The value
///   replaces the directive's arguments.
/// - `postgresql.conf`: a setting name (case-insensitive); the last
///   uncommented occurrence is edited, as PostgreSQL uses the last one.
///
/// A missing key is [`EditError::NotFound`] unless `add_missing` is true, in
/// which case it is added in the file's own style: YAML under the deepest
/// existing parent mapping with that mapping's indentation; nginx inside the
/// addressed block, indented like its siblings; `postgresql.conf` right after
/// a commented `#key = ...` default line (uncommented and set), or else at
/// the end. Setting a key to the value it already has is
/// [`EditError::Unchanged`].
pub fn edit(
    path: &str,
    text: &str,
    key: &str,
    value: &str,
    add_missing: bool,
) -> Result<String, EditError> {
    let Some(format) = format_of(path) else {
        return Err(EditError::UnknownFormat {
            path: path.to_owned(),
        });
    };
    let request = Request {
        path,
        text,
        key,
        value,
        add_missing,
    };
    match format {
        Format::Yaml => yaml::edit(&request),
        Format::Nginx => nginx::edit(&request),
        Format::PostgresConf => pgconf::edit(&request),
    }
}

/// One edit, as the format editors receive it.
struct Request<'a> {
    path: &'a str,
    text: &'a str,
    key: &'a str,
    value: &'a str,
    add_missing: bool,
}

impl Request<'_> {
    fn parse_error(&self, message: impl Into<String>) -> EditError {
        EditError::Parse {
            path: self.path.to_owned(),
            message: message.into(),
        }
    }

    fn invalid_key(&self, message: impl Into<String>) -> EditError {
        EditError::InvalidKey {
            path: self.path.to_owned(),
            key: self.key.to_owned(),
            message: message.into(),
        }
    }

    fn invalid_value(&self, message: impl Into<String>) -> EditError {
        EditError::InvalidValue {
            path: self.path.to_owned(),
            key: self.key.to_owned(),
            message: message.into(),
        }
    }

    fn not_found(&self, found: impl Into<String>) -> EditError {
        EditError::NotFound {
            path: self.path.to_owned(),
            key: self.key.to_owned(),
            found: found.into(),
        }
    }

    fn unchanged(&self) -> EditError {
        EditError::Unchanged {
            path: self.path.to_owned(),
            key: self.key.to_owned(),
        }
    }

    fn not_scalar(&self) -> EditError {
        EditError::NotScalar {
            path: self.path.to_owned(),
            key: self.key.to_owned(),
        }
    }

    fn ambiguous(&self, candidates: Vec<String>) -> EditError {
        EditError::Ambiguous {
            path: self.path.to_owned(),
            key: self.key.to_owned(),
            candidates,
        }
    }

    fn verify_error(&self, message: impl Into<String>) -> EditError {
        EditError::Verify {
            path: self.path.to_owned(),
            message: message.into(),
        }
    }
}

/// Why a config edit was not made. The file is never half-edited: an error
/// means no new text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// No editor knows this kind of file.
    #[error(
        "{path}: no config editor for this kind of file; pagerless edits YAML (.yaml, .yml), nginx (nginx.conf, *.conf under an nginx directory) and PostgreSQL (postgresql.conf) files; point the fix template at one of those"
    )]
    UnknownFormat {
        /// The file.
        path: String,
    },
    /// The file does not parse as its format before the edit.
    #[error(
        "{path}: cannot parse the file as it is: {message}; fix the file in the repository first"
    )]
    Parse {
        /// The file.
        path: String,
        /// What the parser said.
        message: String,
    },
    /// The key is not written the way the format's key syntax wants.
    #[error("{path}: cannot read the key `{key}`: {message}; check the fix template's key")]
    InvalidKey {
        /// The file.
        path: String,
        /// The key as given.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The value cannot be written into this format at that place.
    #[error("{path}: cannot set `{key}` to that value: {message}; check the fix template's value")]
    InvalidValue {
        /// The file.
        path: String,
        /// The key.
        key: String,
        /// What is wrong with the value.
        message: String,
    },
    /// The key does not exist (and `add_missing` was not set, or it cannot
    /// be added there).
    #[error("{path}: no key `{key}` ({}); check the fix template's key or set add_missing", found_text(.found))]
    NotFound {
        /// The file.
        path: String,
        /// The key as given.
        key: String,
        /// The deepest part of the key that does exist (empty: none of it).
        found: String,
    },
    /// The key matches several places and the key does not say which one.
    #[error("{path}: `{key}` matches {} places: {}; pick one with an index like `[0]` or a match like `[server_name=...]` / a `Kind/name:` prefix", .candidates.len(), .candidates.join("; "))]
    Ambiguous {
        /// The file.
        path: String,
        /// The key as given.
        key: String,
        /// The places it matches, for people.
        candidates: Vec<String>,
    },
    /// The YAML path resolves through an alias (`*name` or `<<: *name`).
    #[error(
        "{path}: `{key}` comes through the alias `*{anchor}`; edit the value where the anchor `&{anchor}` defines it (that changes every user of it); to change only this place, give it its own value by hand, or under a `<<:` merge set add_missing to add an override"
    )]
    Alias {
        /// The file.
        path: String,
        /// The key as given.
        key: String,
        /// The anchor's name.
        anchor: String,
    },
    /// The key already has the value.
    #[error(
        "{path}: `{key}` already has this value; nothing to change (the fix may already be merged)"
    )]
    Unchanged {
        /// The file.
        path: String,
        /// The key.
        key: String,
    },
    /// The key holds a mapping, a list or a block, not one value.
    #[error(
        "{path}: `{key}` holds a mapping, list or block, not a single value; address one of its entries (such as `{key}.name` or `{key}[0]`)"
    )]
    NotScalar {
        /// The file.
        path: String,
        /// The key.
        key: String,
    },
    /// Re-parsing the result showed a change other than the intended one.
    #[error(
        "{path}: the edited file did not check out: {message}; no change was made, edit this file by hand"
    )]
    Verify {
        /// The file.
        path: String,
        /// What differed.
        message: String,
    },
}

impl EditError {
    /// Whether trying the same edit again may help: never, since an edit
    /// depends only on its inputs.
    pub fn is_retriable(&self) -> bool {
        false
    }
}

fn found_text(found: &str) -> String {
    if found.is_empty() {
        "none of it exists".to_owned()
    } else {
        format!("found `{found}`")
    }
}

/// The line ending a text mostly uses: `\r\n` when it has any, else `\n`.
fn line_ending(text: &str) -> &'static str {
    if text.contains("\r\n") { "\r\n" } else { "\n" }
}

/// The byte offset just past the end of the line holding `offset` (past its
/// `\n`), or `None` when that line is the last one and has no line ending.
fn next_line_start(text: &str, offset: usize) -> Option<usize> {
    text.get(offset..)
        .and_then(|rest| rest.find('\n'))
        .map(|i| offset + i + 1)
}

/// The byte offset where the line holding `offset` starts.
fn line_start(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .and_then(|head| head.rfind('\n'))
        .map_or(0, |i| i + 1)
}

/// The 1-based line number of `offset`.
fn line_number(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |head| head.bytes().filter(|b| *b == b'\n').count())
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_name_and_directory() {
        assert_eq!(format_of("charts/x/values.yaml"), Some(Format::Yaml));
        assert_eq!(format_of("ci.yml"), Some(Format::Yaml));
        assert_eq!(format_of("etc/nginx.conf"), Some(Format::Nginx));
        assert_eq!(
            format_of("roles/nginx/files/sites/api.conf"),
            Some(Format::Nginx)
        );
        assert_eq!(format_of("db/postgresql.conf"), Some(Format::PostgresConf));
        assert_eq!(
            format_of("db/postgresql.auto.conf"),
            Some(Format::PostgresConf)
        );
        assert_eq!(
            format_of("postgres/conf.d/tuning.conf"),
            Some(Format::PostgresConf)
        );
        assert_eq!(format_of("etc/haproxy.conf"), None);
        assert_eq!(format_of("main.tf"), None);
    }

    #[test]
    fn unknown_format_says_what_to_do() {
        let e = edit("main.tf", "", "a", "b", false).unwrap_err();
        assert!(matches!(e, EditError::UnknownFormat { .. }));
        assert!(e.to_string().contains("point the fix template"));
    }

    #[test]
    fn not_found_message_names_what_exists() {
        let e = EditError::NotFound {
            path: "charts/x/values.yaml".into(),
            key: "resources.limits.memroy".into(),
            found: "resources.limits".into(),
        };
        assert_eq!(
            e.to_string(),
            "charts/x/values.yaml: no key `resources.limits.memroy` (found `resources.limits`); check the fix template's key or set add_missing"
        );
    }

    #[test]
    fn line_helpers() {
        let t = "a\nbc\nd";
        assert_eq!(next_line_start(t, 0), Some(2));
        assert_eq!(next_line_start(t, 3), Some(5));
        assert_eq!(next_line_start(t, 5), None);
        assert_eq!(line_start(t, 3), 2);
        assert_eq!(line_number(t, 5), 3);
        assert_eq!(line_ending("a\r\nb"), "\r\n");
    }
}
