//! Checks a parsed scenario for what serde cannot see (references between
//! parts, orderings, ranges), and finds the line a key path stands on so that
//! errors point into the file.

use std::collections::BTreeSet;

use crate::scenario::{FaultKind, Scenario};

/// The first problem found, as (key path, message).
pub(crate) fn check(s: &Scenario) -> Result<(), (String, String)> {
    let fail = |path: String, msg: String| Err((path, msg));
    let is_name = |n: &str| {
        !n.is_empty()
            && n.len() <= 63
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !n.starts_with('-')
            && !n.ends_with('-')
    };
    if !is_name(&s.name) {
        return fail(
            "name".into(),
            format!(
                "`{}` is not a name: use lowercase letters, digits and dashes",
                s.name
            ),
        );
    }
    if s.step.0 <= 0 {
        return fail("step".into(), "must be positive".into());
    }
    if s.duration.0 <= 0 {
        return fail("duration".into(), "must be positive".into());
    }
    if s.duration.0 / s.step.0 > 100_000 {
        return fail(
            "duration".into(),
            "more than 100,000 steps: lengthen `step` or shorten the run".into(),
        );
    }
    if s.nodes.is_empty() {
        return fail("nodes".into(), "a cluster needs at least one node".into());
    }
    let mut nodes = BTreeSet::new();
    for (i, n) in s.nodes.iter().enumerate() {
        if !is_name(&n.name) {
            return fail(
                format!("nodes[{i}].name"),
                format!("`{}` is not a valid node name", n.name),
            );
        }
        if !nodes.insert(n.name.as_str()) {
            return fail(
                format!("nodes[{i}].name"),
                format!("node `{}` is declared twice", n.name),
            );
        }
        if n.disk_used > n.disk {
            return fail(
                format!("nodes[{i}].disk_used"),
                "is larger than `disk`".into(),
            );
        }
    }
    let names: BTreeSet<&str> = s.services.iter().map(|x| x.name.as_str()).collect();
    if names.len() != s.services.len() {
        return fail("services".into(), "two services share a name".into());
    }
    for (i, svc) in s.services.iter().enumerate() {
        let at = |k: &str| format!("services[{i}].{k}");
        if !is_name(&svc.name) {
            return fail(
                at("name"),
                format!("`{}` is not a valid service name", svc.name),
            );
        }
        if !is_name(&svc.namespace) {
            return fail(
                at("namespace"),
                format!("`{}` is not a valid namespace", svc.namespace),
            );
        }
        if svc.replicas > 1000 {
            return fail(at("replicas"), "at most 1000".into());
        }
        if svc.requests.cpu > svc.limits.cpu {
            return fail(at("requests.cpu"), "is above `limits.cpu`".into());
        }
        if svc.requests.memory > svc.limits.memory {
            return fail(at("requests.memory"), "is above `limits.memory`".into());
        }
        if let Some(node) = &svc.node
            && !nodes.contains(node.as_str())
        {
            return fail(at("node"), format!("no node `{node}`"));
        }
        for (j, callee) in svc.calls.iter().enumerate() {
            if !names.contains(callee.as_str()) {
                return fail(
                    format!("services[{i}].calls[{j}]"),
                    format!("no service `{callee}`"),
                );
            }
        }
        for (tag, b) in std::iter::once(("", &svc.behaviour))
            .chain(svc.versions.iter().map(|(t, b)| (t.as_str(), b)))
        {
            let base = if tag.is_empty() {
                at("behaviour")
            } else {
                format!("services[{i}].versions.{tag}")
            };
            for (key, pattern) in &b.env_must_match {
                if let Err(e) = regex::Regex::new(pattern) {
                    return fail(
                        format!("{base}.env_must_match.{key}"),
                        format!("not a regular expression: {e}"),
                    );
                }
            }
            if b.rps_per_pod.is_some_and(|r| r <= 0.0) {
                return fail(format!("{base}.rps_per_pod"), "must be positive".into());
            }
        }
    }
    if let Some(cycle) = call_cycle(s) {
        return fail("services".into(), format!("calls form a cycle: {cycle}"));
    }
    if !s.load.is_empty() && !s.services.iter().any(|x| x.entry) {
        return fail(
            "load".into(),
            "no service has `entry: true` to receive it".into(),
        );
    }
    for (i, w) in s.load.windows(2).enumerate() {
        if w[1].at <= w[0].at {
            return fail(
                format!("load[{}].at", i + 1),
                "load points must be in increasing time".into(),
            );
        }
    }
    for (i, p) in s.load.iter().enumerate() {
        if p.at.0 < 0 || p.rps.is_nan() || p.rps < 0.0 {
            return fail(
                format!("load[{i}]"),
                "time and rps must not be negative".into(),
            );
        }
    }
    let iac_files: BTreeSet<&str> = s.iac.files.iter().map(|f| f.path.as_str()).collect();
    let mut last = i64::MIN;
    for (i, ev) in s.timeline.iter().enumerate() {
        let at = |k: &str| format!("timeline[{i}].{k}");
        let set = [ev.commit.is_some(), ev.scale.is_some(), ev.fault.is_some()];
        if set.iter().filter(|x| **x).count() != 1 {
            return fail(
                format!("timeline[{i}]"),
                "needs exactly one of `commit`, `scale`, `fault`".into(),
            );
        }
        if ev.at.0 < last {
            return fail(at("at"), "timeline events must be in time order".into());
        }
        last = ev.at.0;
        if ev.commit.is_none() && ev.at.0 < 0 {
            return fail(at("at"), "only commits may happen before the start".into());
        }
        if ev.at.0 >= s.duration.0 {
            return fail(at("at"), format!("is after the run ends ({})", s.duration));
        }
        if let Some(c) = &ev.commit {
            if c.changes.is_empty() {
                return fail(at("commit.changes"), "a commit changes something".into());
            }
            if !c.author.contains('<') || !c.author.ends_with('>') {
                return fail(at("commit.author"), "write it as `Name <email>`".into());
            }
            for (j, ch) in c.changes.iter().enumerate() {
                let p = format!("timeline[{i}].commit.changes[{j}].file");
                match chart_service(&ch.file) {
                    Some(svc) if names.contains(svc) => {
                        if !crate::iac::CHART_KEYS
                            .iter()
                            .any(|k| ch.key == *k || (k.ends_with('.') && ch.key.starts_with(k)))
                        {
                            return fail(
                                format!("timeline[{i}].commit.changes[{j}].key"),
                                format!("charts know {}", crate::iac::CHART_KEYS.join(", ")),
                            );
                        }
                    }
                    Some(svc) => return fail(p, format!("no service `{svc}` for this chart")),
                    None if iac_files.contains(ch.file.as_str()) => {}
                    None => {
                        return fail(
                            p,
                            format!(
                                "`{}` is neither a chart's values.yaml nor in `iac.files`",
                                ch.file
                            ),
                        );
                    }
                }
            }
            if let Some(d) = &c.deploy
                && !names.contains(d.as_str())
            {
                return fail(at("commit.deploy"), format!("no service `{d}`"));
            }
        }
        if let Some(sc) = &ev.scale
            && !names.contains(sc.service.as_str())
        {
            return fail(at("scale.service"), format!("no service `{}`", sc.service));
        }
        if let Some(f) = &ev.fault {
            let needs = match f.kind {
                FaultKind::Latency => [
                    ("service", f.service.is_some()),
                    ("latency_ms", f.latency_ms.is_some()),
                ],
                FaultKind::ConnectionLeak => [
                    ("service", f.service.is_some()),
                    ("per_minute", f.per_minute.is_some()),
                ],
                FaultKind::DiskFill => [
                    ("node", f.node.is_some()),
                    ("bytes_per_minute", f.bytes_per_minute.is_some()),
                ],
            };
            if let Some((missing, _)) = needs.iter().find(|(_, ok)| !ok) {
                return fail(
                    at("fault"),
                    format!("a `{:?}` fault needs `{missing}`", f.kind).to_lowercase(),
                );
            }
            if let Some(svc) = &f.service
                && !names.contains(svc.as_str())
            {
                return fail(at("fault.service"), format!("no service `{svc}`"));
            }
            if let Some(node) = &f.node
                && !nodes.contains(node.as_str())
            {
                return fail(at("fault.node"), format!("no node `{node}`"));
            }
        }
    }
    for (i, a) in s.alerts.iter().enumerate() {
        if a.name.is_empty() {
            return fail(format!("alerts[{i}].name"), "must not be empty".into());
        }
        if let Err(e) = promql_parser::parser::parse(&a.expr) {
            return fail(format!("alerts[{i}].expr"), format!("not PromQL: {e}"));
        }
    }
    if let Some(svc) = &s.expect.service
        && !names.contains(svc.as_str())
    {
        return fail("expect.service".into(), format!("no service `{svc}`"));
    }
    Ok(())
}

/// `charts/<service>/values.yaml` → the service.
pub(crate) fn chart_service(file: &str) -> Option<&str> {
    file.strip_prefix("charts/")?
        .strip_suffix("/values.yaml")
        .filter(|s| !s.contains('/'))
}

fn call_cycle(s: &Scenario) -> Option<String> {
    fn visit<'a>(
        s: &'a Scenario,
        name: &'a str,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<String> {
        if let Some(pos) = stack.iter().position(|n| *n == name) {
            let mut cycle = stack[pos..].to_vec();
            cycle.push(name);
            return Some(cycle.join(" → "));
        }
        if !done.insert(name) {
            return None;
        }
        stack.push(name);
        for callee in s
            .service(name)
            .map(|x| x.calls.as_slice())
            .unwrap_or_default()
        {
            if let Some(c) = visit(s, callee, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    s.services
        .iter()
        .find_map(|svc| visit(s, &svc.name, &mut Vec::new(), &mut done))
}

enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn segments(path: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            out.push(Seg::Key(key));
        }
        for idx in rest.split('[') {
            if let Ok(n) = idx.trim_end_matches(']').parse() {
                out.push(Seg::Index(n));
            }
        }
    }
    out
}

/// The 1-based line a key path (`services[1].calls[0]`) stands on in block-style
/// YAML; the deepest part found when the rest is written inline.
pub(crate) fn line_of(text: &str, path: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let skip = |l: &str| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#')
    };
    let mut found: Option<usize> = None;
    let mut start = 0usize;
    let mut inline_col: Option<usize> = None; // first key of a `- ` item sits on the item's line
    let mut floor = 0usize; // children are indented at least this much...
    let mut strict = false; // ...or more than this much, below a key
    for seg in segments(path) {
        match seg {
            Seg::Key(k) => {
                let mut child_col = None;
                let mut hit = None;
                for (i, line) in lines.iter().enumerate().skip(start) {
                    if skip(line) {
                        continue;
                    }
                    let col = match inline_col {
                        Some(c) if i == start => c,
                        _ => indent(line),
                    };
                    let first_of_item = i == start && inline_col.is_some();
                    if !first_of_item && (col < floor || (strict && col == floor)) {
                        break;
                    }
                    let want = *child_col.get_or_insert(col);
                    if col < want {
                        break;
                    }
                    let content = line.get(col..).unwrap_or_default();
                    if col == want && content.strip_prefix(k).is_some_and(|r| r.starts_with(':')) {
                        hit = Some((i, col));
                        break;
                    }
                }
                let (i, col) = hit?;
                found = Some(i);
                start = i + 1;
                floor = col;
                strict = true;
                inline_col = None;
            }
            Seg::Index(n) => {
                let mut seq_col = None;
                let mut count = 0;
                let mut hit = None;
                for (i, line) in lines.iter().enumerate().skip(start) {
                    if skip(line) {
                        continue;
                    }
                    let col = indent(line);
                    let t = line.trim_start();
                    if col < floor {
                        break;
                    }
                    if t.starts_with("- ") || t == "-" {
                        let sc = *seq_col.get_or_insert(col);
                        if col < sc {
                            break;
                        }
                        if col == sc {
                            if count == n {
                                hit = Some((i, col));
                                break;
                            }
                            count += 1;
                        }
                    } else if seq_col.is_some_and(|sc| col <= sc)
                        || seq_col.is_none() && col <= floor
                    {
                        break;
                    }
                }
                let Some((i, col)) = hit else {
                    return found.map(|f| f + 1);
                };
                found = Some(i);
                start = i;
                inline_col = Some(col + 2);
                floor = col + 2;
                strict = false;
            }
        }
    }
    found.map(|f| f + 1)
}

#[cfg(test)]
mod tests {
    use super::line_of;

    const DOC: &str = "name: x\n# comment\nservices:\n  - name: a\n    calls: [b]\n  - name: b\n    calls:\n      - c\n      - d\n    replicas: 2\nnodes:\n- name: n1\n  cpu: 2\n";

    #[test]
    fn finds_lines_of_paths() {
        assert_eq!(line_of(DOC, "name"), Some(1));
        assert_eq!(line_of(DOC, "services[0].name"), Some(4));
        assert_eq!(
            line_of(DOC, "services[0].calls[0]"),
            Some(5),
            "inline: the key's line"
        );
        assert_eq!(line_of(DOC, "services[1].calls[1]"), Some(9));
        assert_eq!(line_of(DOC, "services[1].replicas"), Some(10));
        assert_eq!(line_of(DOC, "nodes[0].cpu"), Some(13));
        assert_eq!(line_of(DOC, "nope"), None);
    }
}
