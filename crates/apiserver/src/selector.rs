//! Label selectors (equality and set-based) and field selectors, parsed from query strings.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::error::ApiError;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelRequirement {
    /// `key=value` / `key==value`.
    Equals(String, String),
    /// `key!=value` (also true when the label is absent).
    NotEquals(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)` (also true when the label is absent).
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    DoesNotExist(String),
}

/// A parsed label selector: all requirements must hold. Empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelectorExpr(pub Vec<LabelRequirement>);

/// Splits on commas outside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

fn parse_set(rest: &str, whole: &str) -> Result<Vec<String>, ApiError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| ApiError::BadRequest(format!("unable to parse requirement: {whole}")))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelSelectorExpr {
    /// Parses `app=web,tier!=db,env in (a,b),!legacy`.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for part in split_top(s) {
            let req = if let Some(key) = part.strip_prefix('!') {
                LabelRequirement::DoesNotExist(key.trim().to_string())
            } else if let Some((k, v)) = part.split_once("!=") {
                LabelRequirement::NotEquals(k.trim().to_string(), v.trim().to_string())
            } else if let Some((k, v)) = part.split_once("==") {
                LabelRequirement::Equals(k.trim().to_string(), v.trim().to_string())
            } else if let Some((k, v)) = part.split_once('=') {
                LabelRequirement::Equals(k.trim().to_string(), v.trim().to_string())
            } else if let Some((k, rest)) = part.split_once(" notin ") {
                LabelRequirement::NotIn(k.trim().to_string(), parse_set(rest, part)?)
            } else if let Some((k, rest)) = part.split_once(" in ") {
                LabelRequirement::In(k.trim().to_string(), parse_set(rest, part)?)
            } else if part
                .chars()
                .all(|c| c.is_alphanumeric() || "-_./".contains(c))
            {
                LabelRequirement::Exists(part.to_string())
            } else {
                return Err(ApiError::BadRequest(format!(
                    "unable to parse requirement: {part}"
                )));
            };
            reqs.push(req);
        }
        Ok(LabelSelectorExpr(reqs))
    }

    /// The selector equivalent to a metav1 `LabelSelector` (matchLabels and matchExpressions).
    pub fn from_label_selector(sel: &LabelSelector) -> Self {
        let mut reqs: Vec<LabelRequirement> = sel
            .match_labels
            .iter()
            .flatten()
            .map(|(k, v)| LabelRequirement::Equals(k.clone(), v.clone()))
            .collect();
        for e in sel.match_expressions.iter().flatten() {
            let values = e.values.clone().unwrap_or_default();
            reqs.push(match e.operator.as_str() {
                "In" => LabelRequirement::In(e.key.clone(), values),
                "NotIn" => LabelRequirement::NotIn(e.key.clone(), values),
                "Exists" => LabelRequirement::Exists(e.key.clone()),
                _ => LabelRequirement::DoesNotExist(e.key.clone()),
            });
        }
        LabelSelectorExpr(reqs)
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k));
        self.0.iter().all(|r| match r {
            LabelRequirement::Equals(k, v) => get(k) == Some(v),
            LabelRequirement::NotEquals(k, v) => get(k) != Some(v),
            LabelRequirement::In(k, vs) => get(k).is_some_and(|x| vs.contains(x)),
            LabelRequirement::NotIn(k, vs) => !get(k).is_some_and(|x| vs.contains(x)),
            LabelRequirement::Exists(k) => get(k).is_some(),
            LabelRequirement::DoesNotExist(k) => get(k).is_none(),
        })
    }

    /// The selector in its string form (`a=b,c in (d)`), as `Scale.status.selector` shows it.
    pub fn to_query(&self) -> String {
        self.0
            .iter()
            .map(|r| match r {
                LabelRequirement::Equals(k, v) => format!("{k}={v}"),
                LabelRequirement::NotEquals(k, v) => format!("{k}!={v}"),
                LabelRequirement::In(k, vs) => format!("{k} in ({})", vs.join(",")),
                LabelRequirement::NotIn(k, vs) => format!("{k} notin ({})", vs.join(",")),
                LabelRequirement::Exists(k) => k.clone(),
                LabelRequirement::DoesNotExist(k) => format!("!{k}"),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A parsed field selector: `(path, value, equal)` terms that must all hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(pub Vec<(String, String, bool)>);

impl FieldSelector {
    /// Parses `metadata.name=x,status.phase!=Running`.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut terms = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let term = if let Some((k, v)) = part.split_once("!=") {
                (k, v, false)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, v, true)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, v, true)
            } else {
                return Err(ApiError::BadRequest(format!("invalid selector: '{part}'")));
            };
            terms.push((term.0.trim().to_string(), term.1.trim().to_string(), term.2));
        }
        Ok(FieldSelector(terms))
    }

    /// Whether the object satisfies every term; `field` gives a path's value (`None`: the field
    /// is not supported, which never matches).
    pub fn matches(&self, field: impl Fn(&str) -> Option<String>) -> bool {
        self.0.iter().all(|(path, value, equal)| match field(path) {
            Some(actual) => (actual == *value) == *equal,
            None => false,
        })
    }

    /// The first path this server cannot select on for the kind, given its field accessor.
    pub fn unsupported(&self, field: impl Fn(&str) -> Option<String>) -> Option<&str> {
        self.0
            .iter()
            .map(|(p, _, _)| p.as_str())
            .find(|p| field(p).is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn equality_and_set_based_label_selectors() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        let m = |s: &str| LabelSelectorExpr::parse(s).unwrap().matches(Some(&l));
        assert!(m("app=web"));
        assert!(m("app==web,tier=front"));
        assert!(!m("app=db"));
        assert!(m("app!=db"));
        assert!(m("app in (web, api)"));
        assert!(!m("app notin (web)"));
        assert!(m("env notin (prod)"));
        assert!(m("tier"));
        assert!(m("!env"));
        assert!(!m("!app"));
        assert!(m(""));
        assert!(m("app in (web),tier in (front,back),!env"));
        assert_eq!(
            LabelSelectorExpr::parse("a in (x,y),b").unwrap().to_query(),
            "a in (x,y),b"
        );
    }

    #[test]
    fn field_selectors() {
        let f = FieldSelector::parse("metadata.name=x,status.phase!=Running").unwrap();
        let get = |p: &str| match p {
            "metadata.name" => Some("x".to_string()),
            "status.phase" => Some("Pending".to_string()),
            _ => None,
        };
        assert!(f.matches(get));
        assert!(
            !FieldSelector::parse("metadata.name==y")
                .unwrap()
                .matches(get)
        );
        assert_eq!(
            FieldSelector::parse("spec.foo=1").unwrap().unsupported(get),
            Some("spec.foo")
        );
        assert!(FieldSelector::parse("nonsense").is_err());
    }
}
