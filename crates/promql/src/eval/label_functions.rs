//! Label functions: `label_replace` and the labels `absent()` reports.

use std::sync::Arc;

use promql_parser::label::MatchOp;
use promql_parser::parser::Expr;

use super::Sample;
use super::selector::all_matchers;
use crate::error::PromqlError;
use crate::store::{Labels, METRIC_NAME};

/// `label_replace(v, dst, replacement, src, regex)`: where the anchored `regex`
/// matches the value of `src`, set `dst` to the expanded `replacement` (an empty
/// result deletes `dst`); other samples pass unchanged.
pub(crate) fn label_replace(
    vec: Vec<Sample>,
    dst: &str,
    replacement: &str,
    src: &str,
    regex: &str,
) -> Result<Vec<Sample>, PromqlError> {
    let re = regex::Regex::new(&format!("^(?:{regex})$")).map_err(|_| {
        PromqlError::Execution(format!(
            "invalid regular expression in label_replace(): {regex}"
        ))
    })?;
    if !is_label_name(dst) {
        return Err(PromqlError::Execution(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    Ok(vec
        .into_iter()
        .map(|s| {
            let value = s.labels.get(src).map_or("", String::as_str);
            let Some(caps) = re.captures(value) else {
                return s;
            };
            let mut expanded = String::new();
            caps.expand(replacement, &mut expanded);
            let mut labels = Labels::clone(&s.labels);
            labels.remove(dst);
            if !expanded.is_empty() {
                labels.insert(dst.to_string(), expanded);
            }
            Sample {
                labels: Arc::new(labels),
                t: s.t,
                v: s.v,
            }
        })
        .collect())
}

/// Prometheus' label name syntax: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The labels `absent()` reports: the argument selector's equality matchers,
/// minus any label also constrained some other way.
pub(crate) fn absent_labels(arg: &Expr) -> Labels {
    let vs = match arg {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::new(),
    };
    let mut labels = Labels::new();
    let mut other = Vec::new();
    for m in all_matchers(vs) {
        if m.name == METRIC_NAME {
            continue;
        }
        if matches!(m.op, MatchOp::Equal) && !labels.contains_key(&m.name) {
            labels.insert(m.name.clone(), m.value.clone());
        } else {
            other.push(m.name.clone());
        }
    }
    for name in other {
        labels.remove(&name);
    }
    labels
}
