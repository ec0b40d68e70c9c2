//! Structured diffs of one file between two versions, without I/O: YAML as
//! changed leaf values by key path, other config files as changed directives.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::data::ValueChange;

/// Leaves listed for a file that a commit adds; larger new files are left out.
pub const MAX_ADDED_LEAVES: usize = 50;

/// Whether `path` is YAML by its extension.
pub fn is_yaml(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

/// The changes of `file` from `before` to `after` (`None`: absent).
pub fn changes(file: &str, before: Option<&str>, after: Option<&str>) -> Vec<ValueChange> {
    if is_yaml(file) {
        let parse = |t: Option<&str>| t.map(flatten_yaml).transpose();
        if let (Ok(b), Ok(a)) = (parse(before), parse(after)) {
            return diff_maps(file, b, a);
        }
    }
    diff_directives(file, before, after)
}

fn diff_maps(
    file: &str,
    before: Option<BTreeMap<String, String>>,
    after: Option<BTreeMap<String, String>>,
) -> Vec<ValueChange> {
    if before.is_none() && after.as_ref().is_some_and(|a| a.len() > MAX_ADDED_LEAVES) {
        return Vec::new();
    }
    let before = before.unwrap_or_default();
    let after = after.unwrap_or_default();
    let mut out = Vec::new();
    for (key, b) in &before {
        match after.get(key) {
            Some(a) if a == b => {}
            a => out.push(change(file, key, Some(b), a)),
        }
    }
    for (key, a) in &after {
        if !before.contains_key(key) {
            out.push(change(file, key, None, Some(a)));
        }
    }
    out
}

fn change(file: &str, key: &str, before: Option<&String>, after: Option<&String>) -> ValueChange {
    ValueChange {
        file: file.to_owned(),
        key: key.to_owned(),
        before: before.cloned(),
        after: after.cloned(),
    }
}

/// A YAML text's leaves by dot-joined key path (`resources.limits.memory`,
/// lists as `ports[0].containerPort`). Several documents are told apart by
/// `Kind/name:` (or their index) before the path.
pub fn flatten_yaml(text: &str) -> Result<BTreeMap<String, String>, yaml_serde::Error> {
    let mut docs = Vec::new();
    for doc in yaml_serde::Deserializer::from_str(text) {
        let value = yaml_serde::Value::deserialize(doc)?;
        if !matches!(value, yaml_serde::Value::Null) {
            docs.push(value);
        }
    }
    let mut out = BTreeMap::new();
    let many = docs.len() > 1;
    for (i, doc) in docs.iter().enumerate() {
        let prefix = if many {
            let kind = doc.get("kind").and_then(yaml_serde::Value::as_str);
            let name = doc
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(yaml_serde::Value::as_str);
            match (kind, name) {
                (Some(k), Some(n)) => format!("{k}/{n}:"),
                _ => format!("[doc {i}]:"),
            }
        } else {
            String::new()
        };
        walk(doc, &prefix, &mut out);
    }
    Ok(out)
}

fn scalar(v: &yaml_serde::Value) -> Option<String> {
    match v {
        yaml_serde::Value::Null => Some("null".into()),
        yaml_serde::Value::Bool(b) => Some(b.to_string()),
        yaml_serde::Value::Number(n) => Some(n.to_string()),
        yaml_serde::Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn walk(v: &yaml_serde::Value, path: &str, out: &mut BTreeMap<String, String>) {
    let join = |key: &str| {
        if path.is_empty() || path.ends_with(':') {
            format!("{path}{key}")
        } else {
            format!("{path}.{key}")
        }
    };
    match v {
        yaml_serde::Value::Mapping(m) if m.is_empty() => {
            out.insert(path.to_owned(), "{}".into());
        }
        yaml_serde::Value::Mapping(m) => {
            for (k, v) in m {
                let key = scalar(k).unwrap_or_else(|| "?".into());
                walk(v, &join(&key), out);
            }
        }
        yaml_serde::Value::Sequence(s) if s.is_empty() => {
            out.insert(path.to_owned(), "[]".into());
        }
        yaml_serde::Value::Sequence(s) => {
            for (i, v) in s.iter().enumerate() {
                walk(v, &format!("{path}[{i}]"), out);
            }
        }
        yaml_serde::Value::Tagged(t) => walk(&t.value, path, out),
        other => {
            out.insert(path.to_owned(), scalar(other).unwrap_or_default());
        }
    }
}

/// A config line without its comment, as (directive, value):
/// `max_connections = 200` and `proxy_buffer_size 16k;` alike.
/// Blank lines and block braces give `None`.
pub fn directive(line: &str) -> Option<(String, String)> {
    let line = line.split('#').next().unwrap_or_default().trim();
    let line = line.trim_end_matches(';').trim();
    if line.is_empty() || line == "}" || line.ends_with('{') {
        return None;
    }
    let (name, value) = match line.find(|c: char| c == '=' || c.is_whitespace()) {
        Some(i) => {
            let (n, rest) = line.split_at(i);
            let rest = rest.trim_start();
            (n, rest.strip_prefix('=').unwrap_or(rest).trim())
        }
        None => (line, ""),
    };
    let value = value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .unwrap_or(value);
    Some((name.to_owned(), value.to_owned()))
}

/// Directives removed and added between two texts, paired by name.
pub fn diff_directives(file: &str, before: Option<&str>, after: Option<&str>) -> Vec<ValueChange> {
    let lines = |t: Option<&str>| -> Vec<(String, String)> {
        t.unwrap_or_default()
            .lines()
            .filter_map(directive)
            .collect()
    };
    let mut removed = lines(before);
    let mut added = lines(after);
    // Drop what both have, counting duplicates.
    let mut i = 0;
    while i < removed.len() {
        if let Some(j) = added.iter().position(|a| *a == removed[i]) {
            added.remove(j);
            removed.remove(i);
        } else {
            i += 1;
        }
    }
    let mut out = Vec::new();
    for (name, old) in removed {
        let new = added
            .iter()
            .position(|(n, _)| *n == name)
            .map(|j| added.remove(j).1);
        out.push(ValueChange {
            file: file.to_owned(),
            key: name,
            before: Some(old),
            after: new,
        });
    }
    for (name, new) in added {
        out.push(ValueChange {
            file: file.to_owned(),
            key: name,
            before: None,
            after: Some(new),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(c: &[ValueChange]) -> Vec<(String, Option<String>, Option<String>)> {
        c.iter()
            .map(|c| (c.key.clone(), c.before.clone(), c.after.clone()))
            .collect()
    }

    #[test]
    fn yaml_leaves_by_key_path() {
        let before = "resources:\n  limits:\n    memory: 2Gi # sized for peak\n    cpu: \"2\"\nports:\n  - 8080\n";
        let after = "resources:\n  limits:\n    memory: 512Mi\n    cpu: \"2\"\nports:\n  - 8080\n  - 9090\n";
        let c = changes("values.yaml", Some(before), Some(after));
        assert_eq!(
            pairs(&c),
            vec![
                (
                    "resources.limits.memory".into(),
                    Some("2Gi".into()),
                    Some("512Mi".into())
                ),
                ("ports[1]".into(), None, Some("9090".into())),
            ]
        );
    }

    #[test]
    fn yaml_documents_by_kind_and_name() {
        let t = "kind: Deployment\nmetadata: {name: a}\nspec: {replicas: 2}\n---\nkind: Service\nmetadata: {name: a}\n";
        let m = flatten_yaml(t).unwrap();
        assert_eq!(
            m.get("Deployment/a:spec.replicas").map(String::as_str),
            Some("2")
        );
    }

    #[test]
    fn directives_of_postgresql_and_nginx() {
        let c = changes(
            "postgresql.conf",
            Some("# connections\nmax_connections = 100\nshared_buffers = '128MB'\n"),
            Some("max_connections = 200   # more\nshared_buffers = '128MB'\nwork_mem = 8MB\n"),
        );
        assert_eq!(
            pairs(&c),
            vec![
                (
                    "max_connections".into(),
                    Some("100".into()),
                    Some("200".into())
                ),
                ("work_mem".into(), None, Some("8MB".into())),
            ]
        );
        let c = changes(
            "nginx.conf",
            Some("http {\n  proxy_buffer_size 4k;\n  server {\n    listen 80;\n  }\n}\n"),
            Some(
                "http {\n  proxy_buffer_size 16k;\n  proxy_buffers 8 16k;\n  server {\n    listen 80;\n  }\n}\n",
            ),
        );
        assert_eq!(
            pairs(&c),
            vec![
                (
                    "proxy_buffer_size".into(),
                    Some("4k".into()),
                    Some("16k".into())
                ),
                ("proxy_buffers".into(), None, Some("8 16k".into())),
            ]
        );
    }
}
