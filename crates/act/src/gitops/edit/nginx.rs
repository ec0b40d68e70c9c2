//! nginx configuration edits: a tokenizer that follows nginx's own rules
//! (quotes with escapes, `#` comments only at a token's start, `${var}`)
//! keeps every token's byte span, a directive is found by its block path, and
//! only the text between the directive's name and its `;` is replaced, so
//! indentation, spacing and trailing comments stay.

use std::collections::BTreeMap;

use super::{EditError, Request, line_ending, line_number, line_start, next_line_start};

/// Edits one nginx directive's arguments (or adds the directive) as described
/// in [`super::edit`].
pub(super) fn edit(req: &Request<'_>) -> Result<String, EditError> {
    let segs = parse_key(req.key).map_err(|m| req.invalid_key(m))?;
    let new_args = tokenize(req.value)
        .map_err(|m| req.invalid_value(m))
        .and_then(|tokens| {
            if tokens.is_empty() {
                return Err(req.invalid_value("it is empty; a directive needs arguments"));
            }
            if tokens.iter().any(|t| t.kind != TokKind::Word) {
                return Err(req.invalid_value(
                    "it holds `;`, `{` or `}` outside quotes; give only the directive's arguments",
                ));
            }
            if req.value.contains(['\n', '\r']) {
                return Err(req.invalid_value("it spans several lines; give one line"));
            }
            Ok(tokens)
        })?;
    let tree = parse(req.text).map_err(|m| req.parse_error(m))?;
    let located = locate(req, &tree, &segs)?;
    let new_text = match located {
        Located::Directive(d, canonical) => {
            if d.block.is_some() {
                return Err(req.not_scalar());
            }
            let old: Vec<&str> = d.args.iter().map(|(s, e)| &req.text[*s..*e]).collect();
            let new: Vec<&str> = new_args
                .iter()
                .map(|t| &req.value[t.start..t.end])
                .collect();
            if old == new {
                return Err(req.unchanged());
            }
            let value = new.join(" ");
            let new_text = match (d.args.first(), d.args.last()) {
                (Some(first), Some(last)) => splice(req.text, first.0, last.1, &value),
                _ => splice(req.text, d.name_end, d.name_end, &format!(" {value}")),
            };
            check(req, &new_text, &canonical, &value, false)?;
            new_text
        }
        Located::Missing { block, name, found } => {
            if !req.add_missing {
                return Err(req.not_found(found));
            }
            let value = new_args
                .iter()
                .map(|t| &req.value[t.start..t.end])
                .collect::<Vec<_>>()
                .join(" ");
            let (new_text, canonical) = add(req, &tree, block, &name, &value);
            check(req, &new_text, &canonical, &value, true)?;
            new_text
        }
    };
    Ok(new_text)
}

// ---------------------------------------------------------------------------
// Tokens and tree

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokKind {
    Word,
    Semi,
    Open,
    Close,
}

#[derive(Debug, Clone, Copy)]
struct Tok {
    kind: TokKind,
    start: usize,
    end: usize,
}

fn tokenize(text: &str) -> Result<Vec<Tok>, String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b';' | b'{' | b'}' => {
                let kind = match c {
                    b';' => TokKind::Semi,
                    b'{' => TokKind::Open,
                    _ => TokKind::Close,
                };
                out.push(Tok {
                    kind,
                    start: i,
                    end: i + 1,
                });
                i += 1;
            }
            b'"' | b'\'' => {
                let start = i;
                i += 1;
                loop {
                    match b.get(i) {
                        None => {
                            return Err(format!(
                                "line {}: a quoted string is not closed",
                                line_number(text, start)
                            ));
                        }
                        Some(b'\\') => i += 2,
                        Some(q) if *q == c => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                out.push(Tok {
                    kind: TokKind::Word,
                    start,
                    end: i,
                });
            }
            _ => {
                let start = i;
                while i < b.len() {
                    match b[i] {
                        b' ' | b'\t' | b'\r' | b'\n' | b';' | b'{' | b'}' => break,
                        b'\\' => i += 2,
                        b'$' if b.get(i + 1) == Some(&b'{') => {
                            while i < b.len() && b[i] != b'}' {
                                i += 1;
                            }
                            i += 1;
                        }
                        _ => i += 1,
                    }
                }
                i = i.min(b.len());
                out.push(Tok {
                    kind: TokKind::Word,
                    start,
                    end: i,
                });
            }
        }
    }
    Ok(out)
}

/// One directive: its name, its arguments' byte spans, and its block.
#[derive(Debug)]
struct Directive {
    name: String,
    name_start: usize,
    name_end: usize,
    args: Vec<(usize, usize)>,
    /// Where `;` (or `{`) is.
    end: usize,
    block: Option<Block>,
}

#[derive(Debug)]
struct Block {
    /// Where `}` is.
    close: usize,
    children: Vec<Directive>,
}

/// The whole file: the main context's directives.
#[derive(Debug)]
struct Tree {
    children: Vec<Directive>,
}

fn parse(text: &str) -> Result<Tree, String> {
    let tokens = tokenize(text)?;
    let mut pos = 0;
    let children = parse_block(text, &tokens, &mut pos, None)?;
    Ok(Tree { children })
}

fn parse_block(
    text: &str,
    tokens: &[Tok],
    pos: &mut usize,
    open: Option<usize>,
) -> Result<Vec<Directive>, String> {
    let mut out = Vec::new();
    let line = |at: usize| line_number(text, at);
    while let Some(tok) = tokens.get(*pos) {
        match tok.kind {
            TokKind::Close => {
                if open.is_none() {
                    return Err(format!("line {}: `}}` without a block", line(tok.start)));
                }
                return Ok(out);
            }
            TokKind::Semi | TokKind::Open => {
                return Err(format!(
                    "line {}: `{}` without a directive name",
                    line(tok.start),
                    &text[tok.start..tok.end]
                ));
            }
            TokKind::Word => {
                let name = unquote(&text[tok.start..tok.end]);
                let (name_start, name_end) = (tok.start, tok.end);
                *pos += 1;
                let mut args = Vec::new();
                loop {
                    let Some(t) = tokens.get(*pos) else {
                        return Err(format!(
                            "line {}: `{name}` does not end with `;`",
                            line(name_start)
                        ));
                    };
                    match t.kind {
                        TokKind::Word => {
                            args.push((t.start, t.end));
                            *pos += 1;
                        }
                        TokKind::Semi => {
                            *pos += 1;
                            out.push(Directive {
                                name,
                                name_start,
                                name_end,
                                args,
                                end: t.start,
                                block: None,
                            });
                            break;
                        }
                        TokKind::Open => {
                            let end = t.start;
                            *pos += 1;
                            let children = parse_block(text, tokens, pos, Some(end))?;
                            let Some(close) = tokens.get(*pos) else {
                                return Err(format!(
                                    "line {}: the `{name}` block is not closed with `}}`",
                                    line(name_start)
                                ));
                            };
                            let close = close.start;
                            *pos += 1;
                            out.push(Directive {
                                name,
                                name_start,
                                name_end,
                                args,
                                end,
                                block: Some(Block { close, children }),
                            });
                            break;
                        }
                        TokKind::Close => {
                            return Err(format!(
                                "line {}: `{name}` does not end with `;` before `}}`",
                                line(name_start)
                            ));
                        }
                    }
                }
            }
        }
    }
    if let Some(at) = open {
        return Err(format!(
            "line {}: a block is not closed with `}}`",
            line(at)
        ));
    }
    Ok(out)
}

/// A token's text without its quotes and backslash escapes.
fn unquote(raw: &str) -> String {
    let inner = if raw.len() >= 2
        && ((raw.starts_with('"') && raw.ends_with('"'))
            || (raw.starts_with('\'') && raw.ends_with('\'')))
    {
        &raw[1..raw.len() - 1]
    } else {
        raw
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Keys

#[derive(Debug, Clone, PartialEq, Eq)]
enum Selector {
    /// The i-th directive of that name.
    Index(usize),
    /// A block holding directive `.0` with an argument equal to `.1`.
    Child(String, String),
    /// A directive whose first argument (or all its arguments) equal this.
    Args(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Seg {
    name: String,
    selectors: Vec<Selector>,
    /// As written, for messages.
    text: String,
}

fn parse_key(key: &str) -> Result<Vec<Seg>, String> {
    let b = key.as_bytes();
    let mut segs = Vec::new();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && b[i] != b'.' && b[i] != b'[' {
            i += 1;
        }
        let name = &key[start..i];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "`{name}` is not a directive name; write directives joined by `.` like `http.server.listen`"
            ));
        }
        let mut selectors = Vec::new();
        while b.get(i) == Some(&b'[') {
            // The selector ends at the `]` followed by `.`, `[` or the end.
            let close = (i + 1..b.len())
                .find(|j| b[*j] == b']' && matches!(b.get(j + 1), None | Some(b'.') | Some(b'[')))
                .ok_or_else(|| format!("a `[` after `{name}` has no closing `]`"))?;
            let inner = key[i + 1..close].trim();
            if inner.is_empty() {
                return Err(format!("`{name}[]` selects nothing"));
            }
            let selector = if let Ok(n) = inner.parse::<usize>() {
                Selector::Index(n)
            } else if let Some((child, value)) = inner.split_once('=')
                && !child.is_empty()
                && child.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                Selector::Child(child.to_owned(), value.trim().to_owned())
            } else {
                Selector::Args(inner.to_owned())
            };
            selectors.push(selector);
            i = close + 1;
        }
        segs.push(Seg {
            name: name.to_owned(),
            selectors,
            text: key[start..i].to_owned(),
        });
        match b.get(i) {
            None => break,
            Some(b'.') => i += 1,
            Some(_) => return Err("unexpected text after `]`; separate parts with `.`".into()),
        }
    }
    Ok(segs)
}

// ---------------------------------------------------------------------------
// Finding

/// A directive's path with an index among same-named siblings at each step,
/// as the check compares them: `http[0].server[1].listen[0]`.
type Canonical = Vec<(String, usize)>;

enum Located<'t> {
    /// The directive, and its canonical path.
    Directive(&'t Directive, Canonical),
    /// The last step is missing from an existing block (`None`: the main
    /// context); `found` is what exists, for messages.
    Missing {
        block: Option<&'t Directive>,
        name: String,
        found: String,
    },
}

fn args_of(text: &str, d: &Directive) -> Vec<String> {
    d.args.iter().map(|(s, e)| unquote(&text[*s..*e])).collect()
}

fn matches(text: &str, d: &Directive, selector: &Selector) -> bool {
    match selector {
        Selector::Index(_) => true,
        Selector::Args(want) => {
            let args = args_of(text, d);
            args.first().is_some_and(|a| a == want) || args.join(" ") == *want
        }
        Selector::Child(name, want) => d.block.as_ref().is_some_and(|b| {
            b.children
                .iter()
                .any(|c| c.name == *name && args_of(text, c).iter().any(|a| a == want))
        }),
    }
}

fn describe(text: &str, d: &Directive) -> String {
    let mut out = format!("line {}: {}", line_number(text, d.name_start), d.name);
    for a in &d.args {
        out.push(' ');
        out.push_str(&text[a.0..a.1]);
    }
    if let Some(b) = &d.block
        && let Some(sn) = b.children.iter().find(|c| c.name == "server_name")
    {
        out.push_str(&format!(
            " {{ server_name {} }}",
            args_of(text, sn).join(" ")
        ));
    }
    out
}

fn locate<'t>(req: &Request<'_>, tree: &'t Tree, segs: &[Seg]) -> Result<Located<'t>, EditError> {
    let text = req.text;
    let mut children = &tree.children;
    let mut parent: Option<&Directive> = None;
    let mut canonical = Canonical::new();
    let mut found_text = String::new();
    for (depth, seg) in segs.iter().enumerate() {
        let last = depth + 1 == segs.len();
        let mut hits: Vec<(usize, &Directive)> = children
            .iter()
            .filter(|d| d.name == seg.name)
            .enumerate()
            .collect();
        for selector in &seg.selectors {
            hits.retain(|(_, d)| matches(text, d, selector));
            if let Selector::Index(n) = selector {
                hits = hits.get(*n).map(|h| vec![*h]).unwrap_or_default();
            }
        }
        let (index, directive) = match hits.len() {
            0 => {
                if last && seg.selectors.is_empty() {
                    return Ok(Located::Missing {
                        block: parent,
                        name: seg.name.clone(),
                        found: found_text,
                    });
                }
                return Err(req.not_found(found_text));
            }
            1 => hits[0],
            _ => {
                return Err(req.ambiguous(hits.iter().map(|(_, d)| describe(text, d)).collect()));
            }
        };
        canonical.push((seg.name.clone(), index));
        if !found_text.is_empty() {
            found_text.push('.');
        }
        found_text.push_str(&seg.text);
        if last {
            return Ok(Located::Directive(directive, canonical));
        }
        match &directive.block {
            Some(b) => {
                children = &b.children;
                parent = Some(directive);
            }
            None => return Err(req.not_found(found_text)),
        }
    }
    Err(req.invalid_key("the key is empty"))
}

// ---------------------------------------------------------------------------
// Adding

/// Adds `name value;` to `block` (or the main context), indented like its
/// siblings: after the last plain directive that comes before the first
/// nested block, else before the first nested block, else as the only child.
fn add(
    req: &Request<'_>,
    tree: &Tree,
    block: Option<&Directive>,
    name: &str,
    value: &str,
) -> (String, Canonical) {
    let text = req.text;
    let eol = line_ending(text);
    let children = block
        .and_then(|d| d.block.as_ref())
        .map_or(&tree.children, |b| &b.children);
    let line = format!("{name} {value};");
    let indent_of = |d: &Directive| {
        let ls = line_start(text, d.name_start);
        let lead = &text[ls..d.name_start];
        if lead.chars().all(|c| c == ' ' || c == '\t') {
            lead.to_owned()
        } else {
            String::new()
        }
    };
    let first_block = children.iter().position(|d| d.block.is_some());
    let anchor = match first_block {
        Some(fb) => children[..fb].iter().rev().find(|d| d.block.is_none()),
        None => children.iter().rev().find(|d| d.block.is_none()),
    };
    let close = block.and_then(|d| d.block.as_ref()).map(|b| b.close);
    let new_text = if let Some(anchor) = anchor {
        let indent = indent_of(anchor);
        match next_line_start(text, anchor.end) {
            Some(at) if close.is_none_or(|c| at <= c) => {
                splice(text, at, at, &format!("{indent}{line}{eol}"))
            }
            Some(_) => splice(text, anchor.end + 1, anchor.end + 1, &format!(" {line}")),
            None => splice(
                text,
                text.len(),
                text.len(),
                &format!("{eol}{indent}{line}"),
            ),
        }
    } else if let Some(first) = children.first() {
        let indent = indent_of(first);
        let at = line_start(text, first.name_start);
        splice(text, at, at, &format!("{indent}{line}{eol}"))
    } else if let Some(d) = block {
        // An empty block: one level deeper than its own line.
        let ls = line_start(text, d.name_start);
        let own = &text[ls..d.name_start];
        let unit = indent_unit(text);
        match next_line_start(text, d.end) {
            Some(at) if close.is_none_or(|c| at <= c) => {
                splice(text, at, at, &format!("{own}{unit}{line}{eol}"))
            }
            _ => splice(text, d.end + 1, d.end + 1, &format!(" {line}")),
        }
    } else if text.is_empty() || text.ends_with('\n') {
        format!("{text}{line}{eol}")
    } else {
        format!("{text}{eol}{line}")
    };
    let mut canonical = Canonical::new();
    if let Some(d) = block {
        canonical = canonical_of(tree, d);
    }
    let count = children.iter().filter(|d| d.name == name).count();
    canonical.push((name.to_owned(), count));
    (new_text, canonical)
}

/// The file's indentation unit: the indentation of the first indented line.
fn indent_unit(text: &str) -> String {
    text.lines()
        .find_map(|l| {
            let lead: String = l.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
            (!lead.is_empty() && !l.trim().is_empty()).then_some(lead)
        })
        .unwrap_or_else(|| "    ".to_owned())
}

fn canonical_of(tree: &Tree, target: &Directive) -> Canonical {
    fn search(children: &[Directive], target: &Directive, path: &mut Canonical) -> bool {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for d in children {
            let n = seen.entry(d.name.as_str()).or_default();
            let index = *n;
            *n += 1;
            path.push((d.name.clone(), index));
            if std::ptr::eq(d, target) {
                return true;
            }
            if let Some(b) = &d.block
                && search(&b.children, target, path)
            {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = Canonical::new();
    search(&tree.children, target, &mut path);
    path
}

fn splice(text: &str, start: usize, end: usize, with: &str) -> String {
    let mut out = String::with_capacity(text.len() + with.len());
    out.push_str(&text[..start]);
    out.push_str(with);
    out.push_str(&text[end..]);
    out
}

// ---------------------------------------------------------------------------
// Check

/// Every directive by canonical path, with its arguments (blocks end in `{`).
fn flatten(
    text: &str,
    children: &[Directive],
    path: &mut Canonical,
    out: &mut BTreeMap<Canonical, String>,
) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for d in children {
        let n = seen.entry(d.name.as_str()).or_default();
        path.push((d.name.clone(), *n));
        *n += 1;
        let mut args: Vec<&str> = d.args.iter().map(|(s, e)| &text[*s..*e]).collect();
        if d.block.is_some() {
            args.push("{");
        }
        out.insert(path.clone(), args.join(" "));
        if let Some(b) = &d.block {
            flatten(text, &b.children, path, out);
        }
        path.pop();
    }
}

fn check(
    req: &Request<'_>,
    new_text: &str,
    target: &Canonical,
    value: &str,
    adding: bool,
) -> Result<(), EditError> {
    let show = |c: &Canonical| {
        c.iter()
            .map(|(n, i)| format!("{n}[{i}]"))
            .collect::<Vec<_>>()
            .join(".")
    };
    let old_tree = parse(req.text).map_err(|m| req.parse_error(m))?;
    let new_tree =
        parse(new_text).map_err(|m| req.verify_error(format!("the result does not parse: {m}")))?;
    let (mut old, mut new) = (BTreeMap::new(), BTreeMap::new());
    flatten(req.text, &old_tree.children, &mut Vec::new(), &mut old);
    flatten(new_text, &new_tree.children, &mut Vec::new(), &mut new);
    if new.get(target).map(String::as_str) != Some(value) {
        return Err(req.verify_error(format!(
            "`{}` reads back as {:?} instead of {value:?}",
            show(target),
            new.get(target)
        )));
    }
    if !adding && !old.contains_key(target) {
        return Err(req.verify_error(format!("`{}` was not there before", show(target))));
    }
    for k in old.keys().chain(new.keys()) {
        if k != target && old.get(k) != new.get(k) {
            return Err(req.verify_error(format!(
                "`{}` changed too ({:?} → {:?})",
                show(k),
                old.get(k),
                new.get(k)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "events {\n    worker_connections 1024;\n}\nhttp {\n    # shared\n    client_max_body_size 1m;\n    server {\n        listen 80;\n        server_name www.example.com;\n        location / {\n            return 200 \"ok; {fine} # not a comment\";\n        }\n    }\n    server {\n        listen 8080;   # internal\n        server_name api.example.com;\n        location /api {\n            proxy_read_timeout 30s;\n        }\n    }\n}\n";

    fn ed(key: &str, value: &str, add: bool) -> Result<String, EditError> {
        super::super::edit("nginx.conf", CONF, key, value, add)
    }

    #[test]
    fn tokens_respect_quotes_and_comments() {
        let tree = parse(CONF).unwrap();
        assert_eq!(tree.children.len(), 2);
        let http = tree.children[1].block.as_ref().unwrap();
        assert_eq!(http.children.len(), 3);
        let d = &tree.children[1].block.as_ref().unwrap().children[1]
            .block
            .as_ref()
            .unwrap()
            .children[2]
            .block
            .as_ref()
            .unwrap()
            .children[0];
        assert_eq!(args_of(CONF, d), vec!["200", "ok; {fine} # not a comment"]);
    }

    #[test]
    fn key_syntax() {
        let segs =
            parse_key("http.server[server_name=api.example.com].location[/api].proxy_read_timeout")
                .unwrap();
        assert_eq!(segs.len(), 4);
        assert_eq!(
            segs[1].selectors,
            vec![Selector::Child(
                "server_name".into(),
                "api.example.com".into()
            )]
        );
        assert_eq!(segs[2].selectors, vec![Selector::Args("/api".into())]);
        assert_eq!(
            parse_key("a[1].b").unwrap()[0].selectors,
            vec![Selector::Index(1)]
        );
        assert!(parse_key("a..b").is_err());
    }

    #[test]
    fn edits_keep_comments_and_spacing() {
        let out = ed("http.server[1].listen", "8081", false).unwrap();
        assert!(out.contains("        listen 8081;   # internal\n"), "{out}");
        assert_eq!(out.len(), CONF.len());
    }

    #[test]
    fn ambiguity_and_absence() {
        let e = ed("http.server.listen", "81", false).unwrap_err();
        assert!(
            matches!(&e, EditError::Ambiguous { candidates, .. } if candidates.len() == 2),
            "{e}"
        );
        assert!(e.to_string().contains("server_name api.example.com"), "{e}");
        let e = ed("http.server[1].gzip", "on", false).unwrap_err();
        assert!(
            matches!(&e, EditError::NotFound { found, .. } if found == "http.server[1]"),
            "{e}"
        );
        assert!(matches!(
            ed("http.server[0]", "x", false),
            Err(EditError::NotScalar { .. })
        ));
        assert!(matches!(
            ed("events.worker_connections", "1024", false),
            Err(EditError::Unchanged { .. })
        ));
        assert!(matches!(
            ed("events.worker_connections", "1; x", false),
            Err(EditError::InvalidValue { .. })
        ));
    }

    #[test]
    fn adding_goes_next_to_siblings() {
        let out = ed(
            "http.server[server_name=api.example.com].client_max_body_size",
            "10m",
            true,
        )
        .unwrap();
        assert!(
            out.contains("        server_name api.example.com;\n        client_max_body_size 10m;\n        location /api {"),
            "{out}"
        );
        let out = ed("http.server[0].location[/].add_header", "X-A b", true).unwrap();
        assert!(out.contains("            return 200 \"ok; {fine} # not a comment\";\n            add_header X-A b;\n"), "{out}");
        let out = super::super::edit("nginx.conf", "http { }", "http.gzip", "on", true).unwrap();
        assert_eq!(out, "http { gzip on; }");
        let out = super::super::edit("nginx.conf", "http {\n}\n", "http.gzip", "on", true).unwrap();
        assert_eq!(out, "http {\n    gzip on;\n}\n");
        let out = ed("worker_processes", "auto", true).unwrap();
        assert!(out.starts_with("worker_processes auto;\nevents {"), "{out}");
    }
}
