//! YAML edits that keep the file as written: yamlpath (tree-sitter) finds the
//! byte span of the one scalar to change, the new value is spliced in with the
//! old quoting style, and `yaml_serde` re-parses old and new to check that
//! only the intended path changed.
//!
//! Multi-document files are split at `---` lines and each document is located
//! separately; documents are numbered like pagerless's git history numbers
//! them (empty documents do not count). Aliases: yamlpath follows `*name`
//! transparently, so a path whose value span lies outside its own key/value
//! pair went through an alias and is refused; an edited anchor's aliases
//! (including `<<:` merges) are accepted as changing along with it.

use std::collections::BTreeMap;

use serde::Deserialize;
use yaml_serde::Value;
use yamlpath::{Component, Document, FeatureKind, QueryError, Route};

use super::{EditError, Request, line_ending, line_start, next_line_start};

/// Edits one YAML scalar (or adds a missing key) as described in
/// [`super::edit`].
pub(super) fn edit(req: &Request<'_>) -> Result<String, EditError> {
    let key = parse_key(req.key).map_err(|m| req.invalid_key(m))?;
    if req.value.contains('\0') {
        return Err(req.invalid_value("it contains a NUL byte"));
    }
    let old_flat = flatten(req.text).map_err(|m| req.parse_error(m))?;
    let chunks = split_documents(req.text).map_err(|m| req.parse_error(m))?;
    let docs: Vec<&Chunk> = chunks.iter().filter(|c| c.numbered).collect();
    let parsed_docs = old_flat.docs;
    if parsed_docs != docs.len() {
        return Err(req.parse_error(format!(
            "found {parsed_docs} documents but could only tell {} apart at `---` lines",
            docs.len()
        )));
    }
    let (doc_index, chunk, walk) = select_document(req, &key, &docs)?;
    let chunk_text = &req.text[chunk.start..chunk.end];
    let doc = Document::new(chunk_text).map_err(|e| req.parse_error(e.to_string()))?;
    let ctx = Ctx {
        req,
        doc: &doc,
        chunk,
        doc_index,
        old: &old_flat.leaves,
    };
    match walk {
        Walk::Complete { path } => ctx.set(&path),
        Walk::Stopped {
            found,
            missing,
            merge_anchor,
        } => {
            if !req.add_missing {
                if let Some(anchor) = merge_anchor {
                    return Err(EditError::Alias {
                        path: req.path.to_owned(),
                        key: req.key.to_owned(),
                        anchor,
                    });
                }
                return Err(req.not_found(display_found(&key, &found)));
            }
            ctx.add(&key, &found, &missing)
        }
    }
}

// ---------------------------------------------------------------------------
// Key paths

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Seg {
    /// A mapping key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// Which document of a multi-document file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DocSel {
    /// The i-th non-empty document.
    Index(usize),
    /// The document with this `kind` and `metadata.name`.
    KindName(String, String),
}

/// A parsed key: document selector and path, with which keys were quoted
/// (only unquoted ones may be re-joined at dots).
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyPath {
    doc: Option<DocSel>,
    segs: Vec<Seg>,
    quoted: Vec<bool>,
}

fn parse_key(key: &str) -> Result<KeyPath, String> {
    let (doc, rest) = split_doc_prefix(key)?;
    if rest.is_empty() {
        return Err("the path after the document prefix is empty".into());
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut segs = Vec::new();
    let mut quoted = Vec::new();
    let mut i = 0;
    loop {
        match chars.get(i) {
            Some('[') => {
                let close = chars[i..]
                    .iter()
                    .position(|c| *c == ']')
                    .map(|p| p + i)
                    .ok_or("a `[` has no closing `]`")?;
                let inner: String = chars[i + 1..close].iter().collect();
                let index = inner
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| format!("`[{inner}]` is not a list index like `[0]`"))?;
                segs.push(Seg::Index(index));
                quoted.push(false);
                i = close + 1;
            }
            Some(q @ ('"' | '\'')) => {
                let q = *q;
                let mut out = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => return Err(format!("a quoted key part has no closing {q}")),
                        Some('\\') if q == '"' => {
                            if let Some(c) = chars.get(j + 1) {
                                out.push(*c);
                            }
                            j += 2;
                        }
                        Some(c) if *c == q => {
                            if q == '\'' && chars.get(j + 1) == Some(&'\'') {
                                out.push('\'');
                                j += 2;
                            } else {
                                break;
                            }
                        }
                        Some(c) => {
                            out.push(*c);
                            j += 1;
                        }
                    }
                }
                segs.push(Seg::Key(out));
                quoted.push(true);
                i = j + 1;
            }
            Some(_) => {
                let end = chars[i..]
                    .iter()
                    .position(|c| *c == '.' || *c == '[')
                    .map_or(chars.len(), |p| p + i);
                if end == i {
                    return Err("a key part is empty (two dots in a row?)".into());
                }
                segs.push(Seg::Key(chars[i..end].iter().collect()));
                quoted.push(false);
                i = end;
            }
            None => return Err("the key ends with a dot".into()),
        }
        match chars.get(i) {
            None => break,
            Some('.') => i += 1,
            Some('[') => {}
            Some(c) => {
                return Err(format!(
                    "unexpected `{c}` after a key part; separate parts with `.`"
                ));
            }
        }
    }
    Ok(KeyPath { doc, segs, quoted })
}

fn split_doc_prefix(key: &str) -> Result<(Option<DocSel>, &str), String> {
    if let Some(rest) = key.strip_prefix("[doc ") {
        let close = rest
            .find("]:")
            .ok_or("a `[doc i]` prefix must end with `]:`")?;
        let index = rest[..close]
            .trim()
            .parse::<usize>()
            .map_err(|_| format!("`[doc {}]` is not a document number", &rest[..close]))?;
        return Ok((Some(DocSel::Index(index)), &rest[close + 2..]));
    }
    if let Some(colon) = key.find(':') {
        let head = &key[..colon];
        if let Some((kind, name)) = head.split_once('/') {
            let kind_ok = kind.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && kind.chars().all(|c| c.is_ascii_alphanumeric());
            let name_ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
            if kind_ok && name_ok {
                return Ok((
                    Some(DocSel::KindName(kind.to_owned(), name.to_owned())),
                    &key[colon + 1..],
                ));
            }
        }
    }
    Ok((None, key))
}

/// A path as people write it: `a.b[0]."c.d"`.
fn format_path(segs: &[Seg]) -> String {
    let mut out = String::new();
    for seg in segs {
        match seg {
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                if k.is_empty() || k.contains(['.', '[', ']', '"', '\'']) {
                    out.push('"');
                    out.push_str(&k.replace('\\', "\\\\").replace('"', "\\\""));
                    out.push('"');
                } else {
                    out.push_str(k);
                }
            }
        }
    }
    out
}

fn display_found(key: &KeyPath, found: &[Seg]) -> String {
    if found.is_empty() {
        return String::new();
    }
    let prefix = match &key.doc {
        Some(DocSel::Index(i)) => format!("[doc {i}]:"),
        Some(DocSel::KindName(k, n)) => format!("{k}/{n}:"),
        None => String::new(),
    };
    format!("{prefix}{}", format_path(found))
}

fn route_of(segs: &[Seg]) -> Route<'_> {
    Route::from(
        segs.iter()
            .map(|s| match s {
                Seg::Key(k) => Component::Key(k.as_str().into()),
                Seg::Index(i) => Component::Index(*i),
            })
            .collect::<Vec<_>>(),
    )
}

// ---------------------------------------------------------------------------
// Documents

/// One document of the file: its byte range and parsed value.
#[derive(Debug)]
struct Chunk {
    start: usize,
    end: usize,
    /// Counted in `[doc i]` numbering (not empty).
    numbered: bool,
    value: Value,
}

fn is_document_start(line: &str) -> bool {
    line == "---" || line.starts_with("--- ") || line.starts_with("---\t")
}

fn split_documents(text: &str) -> Result<Vec<Chunk>, String> {
    let mut bounds = vec![0];
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if offset != 0 && is_document_start(bare) {
            bounds.push(offset);
        }
        offset += line.len();
    }
    bounds.push(text.len());
    let mut chunks = Vec::new();
    for pair in bounds.windows(2) {
        let (start, end) = (pair[0], pair[1]);
        let part = &text[start..end];
        let content_free = part.lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#') || t.starts_with('%')
        });
        let value = if content_free {
            Value::Null
        } else {
            let mut values = Vec::new();
            for doc in yaml_serde::Deserializer::from_str(part) {
                values.push(Value::deserialize(doc).map_err(|e| e.to_string())?);
            }
            if values.len() > 1 {
                return Err("a document holds another `---` the splitter did not see".into());
            }
            values.pop().unwrap_or(Value::Null)
        };
        chunks.push(Chunk {
            start,
            end,
            numbered: !matches!(value, Value::Null),
            value,
        });
    }
    Ok(chunks)
}

fn doc_label(value: &Value, index: usize) -> String {
    let kind = value.get("kind").and_then(Value::as_str);
    let name = value
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str);
    match (kind, name) {
        (Some(k), Some(n)) => format!("{k}/{n}"),
        _ => format!("[doc {index}]"),
    }
}

/// Picks the document the key addresses and walks the path in it.
fn select_document<'c>(
    req: &Request<'_>,
    key: &KeyPath,
    docs: &[&'c Chunk],
) -> Result<(usize, &'c Chunk, Walk), EditError> {
    let walk_in = |chunk: &Chunk| -> Result<Walk, EditError> {
        let text = &req.text[chunk.start..chunk.end];
        let doc = Document::new(text).map_err(|e| req.parse_error(e.to_string()))?;
        walk(req, &doc, key)
    };
    let candidates: Vec<usize> = match &key.doc {
        Some(DocSel::Index(i)) => {
            if *i >= docs.len() {
                return Err(req.not_found(format!("{} documents", docs.len())));
            }
            vec![*i]
        }
        Some(DocSel::KindName(kind, name)) => {
            let hits: Vec<usize> = (0..docs.len())
                .filter(|i| {
                    let v = &docs[*i].value;
                    v.get("kind").and_then(Value::as_str) == Some(kind.as_str())
                        && v.get("metadata")
                            .and_then(|m| m.get("name"))
                            .and_then(Value::as_str)
                            == Some(name.as_str())
                })
                .collect();
            if hits.is_empty() {
                return Err(req.not_found(String::new()));
            }
            if hits.len() > 1 {
                return Err(req.ambiguous(
                    hits.iter()
                        .map(|i| format!("[doc {i}] ({kind}/{name})"))
                        .collect(),
                ));
            }
            hits
        }
        None => (0..docs.len()).collect(),
    };
    if candidates.len() == 1 {
        let i = candidates[0];
        return Ok((i, docs[i], walk_in(docs[i])?));
    }
    // Several documents and no prefix: the one where the whole path exists.
    let mut complete = Vec::new();
    let mut deepest: Option<(usize, Vec<Seg>)> = None;
    for i in candidates {
        let w = walk_in(docs[i])?;
        match w {
            Walk::Complete { .. } => complete.push((i, w)),
            Walk::Stopped { found, .. } => {
                if deepest.as_ref().is_none_or(|(_, d)| d.len() < found.len()) {
                    deepest = Some((i, found));
                }
            }
        }
    }
    match complete.len() {
        1 => {
            let (i, w) = complete.remove(0);
            Ok((i, docs[i], w))
        }
        0 => {
            let found = match &deepest {
                Some((i, found)) if !found.is_empty() => {
                    format!("{}:{}", doc_label(&docs[*i].value, *i), format_path(found))
                }
                _ => String::new(),
            };
            if req.add_missing {
                return Err(req.ambiguous(
                    docs.iter()
                        .enumerate()
                        .map(|(i, d)| {
                            format!(
                                "{}: (add_missing needs a document prefix)",
                                doc_label(&d.value, i)
                            )
                        })
                        .collect(),
                ));
            }
            Err(req.not_found(found))
        }
        _ => Err(req.ambiguous(
            complete
                .iter()
                .map(|(i, _)| {
                    format!(
                        "{}:{}",
                        doc_label(&docs[*i].value, *i),
                        format_path(&key.segs)
                    )
                })
                .collect(),
        )),
    }
}

// ---------------------------------------------------------------------------
// Walking a path with yamlpath

/// How far a key path exists in a document.
#[derive(Debug)]
enum Walk {
    /// All of it; `path` is the path as the document spells it (dotted keys
    /// joined).
    Complete { path: Vec<Seg> },
    /// Only `found`; `missing` is the rest. `merge_anchor` names the anchor
    /// when the next key exists only through a `<<:` merge.
    Stopped {
        found: Vec<Seg>,
        missing: Vec<Seg>,
        merge_anchor: Option<String>,
    },
}

fn contains(outer: (usize, usize), inner: (usize, usize)) -> bool {
    outer.0 <= inner.0 && inner.1 <= outer.1
}

/// The alias name in a text such as `memory: *mem` or `- *defaults`.
fn alias_name(text: &str) -> String {
    text.find('*')
        .map(|i| {
            text[i + 1..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ']' | '}'))
                .collect()
        })
        .unwrap_or_else(|| "?".to_owned())
}

fn walk(req: &Request<'_>, doc: &Document, key: &KeyPath) -> Result<Walk, EditError> {
    let mut path: Vec<Seg> = Vec::new();
    let mut i = 0;
    while i < key.segs.len() {
        let mut next = key.segs[i].clone();
        let mut consumed = 1;
        let mut candidate = path.clone();
        candidate.push(next.clone());
        let mut result = doc.query_exact(&route_of(&candidate));
        if matches!(result, Err(QueryError::ExhaustedMapping(_))) && !key.quoted[i] {
            // A key with dots in it, written unquoted (`prometheus.io/scrape`).
            let mut joined = match &next {
                Seg::Key(k) => k.clone(),
                Seg::Index(_) => String::new(),
            };
            for j in i + 1..key.segs.len() {
                let Seg::Key(part) = &key.segs[j] else { break };
                if key.quoted[j] {
                    break;
                }
                joined.push('.');
                joined.push_str(part);
                let mut attempt = path.clone();
                attempt.push(Seg::Key(joined.clone()));
                let r = doc.query_exact(&route_of(&attempt));
                if r.is_ok() {
                    next = Seg::Key(joined.clone());
                    consumed = j - i + 1;
                    candidate = attempt;
                    result = r;
                    break;
                }
            }
        }
        match result {
            Ok(exact) => {
                if let (Some(exact), Ok(pretty)) = (exact, doc.query_pretty(&route_of(&candidate)))
                    && !contains(pretty.location.byte_span, exact.location.byte_span)
                {
                    return Err(EditError::Alias {
                        path: req.path.to_owned(),
                        key: req.key.to_owned(),
                        anchor: alias_name(doc.extract(&pretty)),
                    });
                }
                path.push(next);
                i += consumed;
            }
            Err(e) => {
                let merge_anchor = match (&e, &key.segs[i]) {
                    (QueryError::ExhaustedMapping(_), Seg::Key(_)) => {
                        merged_from(doc, &path, &key.segs[i])
                    }
                    _ => None,
                };
                return Ok(Walk::Stopped {
                    found: path,
                    missing: key.segs[i..].to_vec(),
                    merge_anchor,
                });
            }
        }
    }
    Ok(Walk::Complete { path })
}

/// The anchor a `<<:` merge in the mapping at `parent` brings `seg` from.
fn merged_from(doc: &Document, parent: &[Seg], seg: &Seg) -> Option<String> {
    let mut merge = parent.to_vec();
    merge.push(Seg::Key("<<".into()));
    let pair = doc.query_pretty(&route_of(&merge)).ok()?;
    let pair_text = doc.extract(&pair);
    let mut direct = merge.clone();
    direct.push(seg.clone());
    if doc.query_exists(&route_of(&direct)) {
        return Some(alias_name(pair_text));
    }
    for j in 0..16 {
        let mut item = merge.clone();
        item.push(Seg::Index(j));
        let Ok(f) = doc.query_pretty(&route_of(&item)) else {
            break;
        };
        let item_text = doc.extract(&f).to_owned();
        item.push(seg.clone());
        if doc.query_exists(&route_of(&item)) {
            return Some(alias_name(&item_text));
        }
    }
    None
}

// ---------------------------------------------------------------------------
// Editing

struct Ctx<'a> {
    req: &'a Request<'a>,
    doc: &'a Document,
    chunk: &'a Chunk,
    doc_index: usize,
    old: &'a BTreeMap<(usize, Vec<Seg>), Value>,
}

/// How a scalar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
}

impl Ctx<'_> {
    fn chunk_text(&self) -> &str {
        &self.req.text[self.chunk.start..self.chunk.end]
    }

    /// Whether the node at `parent` is a flow collection (plain scalars in it
    /// may not hold `,[]{}`).
    fn in_flow(&self, parent: &[Seg]) -> bool {
        let feature = if parent.is_empty() {
            self.doc.top_feature().ok()
        } else {
            self.doc.query_exact(&route_of(parent)).ok().flatten()
        };
        feature.is_some_and(|f| {
            !self.doc.extract(&f).starts_with(['!', '&', '*'])
                && matches!(
                    f.kind(),
                    FeatureKind::FlowMapping | FeatureKind::FlowSequence
                )
        })
    }

    fn set(&self, path: &[Seg]) -> Result<String, EditError> {
        let req = self.req;
        let old_value = self.old.get(&(self.doc_index, path.to_vec()));
        let parent = &path[..path.len().saturating_sub(1)];
        let flow = self.in_flow(parent);
        let route = route_of(path);
        let exact = self
            .doc
            .query_exact(&route)
            .map_err(|e| req.parse_error(e.to_string()))?;
        let Some(feature) = exact else {
            // `key:` with no value: write one after the colon.
            let key_span = self
                .doc
                .query_key_only(&route)
                .map_err(|e| req.parse_error(e.to_string()))?
                .location
                .byte_span;
            let text = self.chunk_text();
            let Some(colon) = text[key_span.1..].find(':').map(|i| key_span.1 + i) else {
                return Err(req.parse_error("a key without `:`"));
            };
            if old_value.is_some_and(|v| !matches!(v, Value::Null)) {
                return Err(req.not_scalar());
            }
            let (literal, expected) =
                render_inline(Style::Plain, Some(&Value::Null), req.value, flow);
            if expected == Value::Null {
                return Err(req.unchanged());
            }
            let new_text = if text[colon + 1..].starts_with(' ') {
                self.splice(colon + 2, colon + 2, &literal)
            } else {
                self.splice(colon + 1, colon + 1, &format!(" {literal}"))
            };
            self.verify(&new_text, path, &expected, None)?;
            return Ok(new_text);
        };
        let (mut start, end) = feature.location.byte_span;
        let text = self.doc.extract(&feature).to_owned();
        let mut body = text.as_str();
        if let Some(rest) = body.strip_prefix('!') {
            // A tag (`!!str 5`): keep it, edit the scalar after it.
            let tag_len = 1 + rest.find(char::is_whitespace).unwrap_or(rest.len());
            let after = &body[tag_len..];
            let trimmed = after.trim_start();
            if trimmed.is_empty() || trimmed.starts_with(['{', '[']) || trimmed.contains('\n') {
                return Err(req.not_scalar());
            }
            start += tag_len + (after.len() - trimmed.len());
            body = trimmed;
        } else if feature.kind() != FeatureKind::Scalar {
            return Err(req.not_scalar());
        }
        let Some(old_value) = old_value else {
            return Err(req.verify_error(format!(
                "`{}` was found in the text but not among the parsed values",
                format_path(path)
            )));
        };
        let (literal, expected, replace_end) = if body.starts_with(['|', '>']) {
            let trimmed_len = body.trim_end_matches([' ', '\t', '\r', '\n']).len();
            let (literal, expected) = self.render_block(start, body, req.value);
            (literal, expected, start + trimmed_len)
        } else {
            let style = if body.starts_with('"') {
                Style::Double
            } else if body.starts_with('\'') {
                Style::Single
            } else {
                Style::Plain
            };
            let (literal, expected) = render_inline(style, Some(old_value), req.value, flow);
            (literal, expected, end)
        };
        if &expected == old_value {
            return Err(req.unchanged());
        }
        let new_text = self.splice(start, replace_end, &literal);
        self.verify(&new_text, path, &expected, None)?;
        Ok(new_text)
    }

    /// A block scalar (`|`, `>`) replaced: block style kept when the value has
    /// several lines, else a double-quoted scalar.
    fn render_block(&self, start: usize, body: &str, value: &str) -> (String, Value) {
        let eol = line_ending(self.req.text);
        let expected = Value::String(value.to_owned());
        let header_end = body.find('\n').unwrap_or(body.len());
        let header = body[..header_end].trim_end_matches('\r');
        let comment = header.find('#').map(|i| header[i..].to_owned());
        // A block at the very end of a file without a final line break
        // cannot end its value with one.
        let at_bare_end = {
            let text = self.chunk_text();
            start + body.len() == text.len() && !text.ends_with('\n')
        };
        let simple = !value.contains('\n')
            || value.starts_with([' ', '\t'])
            || (at_bare_end && value.ends_with('\n'))
            || value
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t');
        if simple {
            let mut literal = double_quote(value);
            if let Some(c) = comment {
                literal.push_str("  ");
                literal.push_str(&c);
            }
            return (literal, expected);
        }
        let content_indent = body[header_end..]
            .split('\n')
            .map(|l| l.trim_end_matches('\r'))
            .find(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start_matches(' ').len())
            .unwrap_or_else(|| {
                let text = self.chunk_text();
                let ls = line_start(text, start);
                let line = &text[ls..];
                line.len() - line.trim_start_matches(' ').len() + 2
            });
        let indent = " ".repeat(content_indent);
        let trailing = value.len() - value.trim_end_matches('\n').len();
        let (chomp, content) = match trailing {
            0 => ("-", value),
            1 => ("", &value[..value.len() - 1]),
            _ => ("+", &value[..value.len() - 1]),
        };
        let mut literal = format!("|{chomp}");
        if let Some(c) = comment {
            literal.push(' ');
            literal.push_str(&c);
        }
        for line in content.split('\n') {
            literal.push_str(eol);
            if !line.is_empty() {
                literal.push_str(&indent);
                literal.push_str(line);
            }
        }
        (literal, expected)
    }

    /// `start..end` of the current document replaced by `with`, as the whole
    /// file's new text.
    fn splice(&self, start: usize, end: usize, with: &str) -> String {
        let base = self.chunk.start;
        let text = self.req.text;
        let mut out = String::with_capacity(text.len() + with.len());
        out.push_str(&text[..base + start]);
        out.push_str(with);
        out.push_str(&text[base + end..]);
        out
    }

    /// Adds the missing `missing` keys under the existing `found`.
    fn add(&self, key: &KeyPath, found: &[Seg], missing: &[Seg]) -> Result<String, EditError> {
        let req = self.req;
        let keys: Vec<&str> = missing
            .iter()
            .map(|s| match s {
                Seg::Key(k) => Some(k.as_str()),
                Seg::Index(_) => None,
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| req.not_found(display_found(key, found)))?;
        let mut target = found.to_vec();
        target.extend(missing.iter().cloned());
        let text = self.chunk_text();
        let eol = line_ending(req.text);
        let parent_feature = if found.is_empty() {
            Some(
                self.doc
                    .top_feature()
                    .map_err(|e| req.parse_error(e.to_string()))?,
            )
        } else {
            self.doc
                .query_exact(&route_of(found))
                .map_err(|_| req.not_found(display_found(key, found)))?
        };
        let step = indent_step(text);
        let (at, insertion, expected) = match parent_feature {
            None => {
                // `parent:` with no value: the new keys become its mapping.
                let pair = self
                    .doc
                    .query_pretty(&route_of(found))
                    .map_err(|e| req.parse_error(e.to_string()))?;
                let col = column(text, pair.location.byte_span.0);
                let at = line_content_end(text, pair.location.byte_span.1);
                let (block, expected) = block_lines(&keys, req.value, col + step, step, eol);
                (at, format!("{eol}{block}"), expected)
            }
            Some(f) => {
                let body = self.doc.extract(&f);
                if body.starts_with('!') {
                    return Err(req.not_found(display_found(key, found)));
                }
                match f.kind() {
                    FeatureKind::BlockMapping => {
                        let col = column(text, f.location.byte_span.0);
                        let last_end = self.last_pair_end(found, f.location.byte_span);
                        let (block, expected) = block_lines(&keys, req.value, col, step, eol);
                        let at = if text[..last_end].ends_with('\n') {
                            Some(last_end)
                        } else {
                            next_line_start(text, last_end)
                        };
                        match at {
                            Some(at) => (at, format!("{block}{eol}"), expected),
                            None => (text.len(), format!("{eol}{block}"), expected),
                        }
                    }
                    FeatureKind::FlowMapping => {
                        let (s, e) = f.location.byte_span;
                        let inner = &text[s..e];
                        let Some(close) = inner.rfind('}') else {
                            return Err(req.parse_error("a flow mapping without `}`"));
                        };
                        let before = inner[..close].trim_end();
                        let (entry, expected) = flow_entry(&keys, req.value);
                        let at = s + before.len();
                        let insertion = if before.ends_with('{') {
                            entry
                        } else if before.ends_with(',') {
                            format!(" {entry}")
                        } else {
                            format!(", {entry}")
                        };
                        (at, insertion, expected)
                    }
                    _ => return Err(req.not_found(display_found(key, found))),
                }
            }
        };
        let new_text = self.splice(at, at, &insertion);
        self.verify(&new_text, &target, &expected, Some(found))?;
        Ok(new_text)
    }

    /// The end of the last key/value pair of the block mapping at `parent`.
    fn last_pair_end(&self, parent: &[Seg], span: (usize, usize)) -> usize {
        let mut value = &self.chunk.value;
        for seg in parent {
            let next = match seg {
                Seg::Key(k) => value.get(k.as_str()),
                Seg::Index(i) => value.get(*i),
            };
            match next {
                Some(v) => value = v,
                None => return trimmed_end(self.chunk_text(), span),
            }
        }
        let last_key = value
            .as_mapping()
            .and_then(|m| m.keys().last())
            .and_then(key_text);
        if let Some(k) = last_key {
            let mut route = parent.to_vec();
            route.push(Seg::Key(k));
            if let Ok(pair) = self.doc.query_pretty(&route_of(&route))
                && contains(span, pair.location.byte_span)
            {
                return pair.location.byte_span.1;
            }
        }
        trimmed_end(self.chunk_text(), span)
    }

    /// Re-parses the new text and checks that exactly `target` changed to
    /// `expected` (plus aliases of an edited anchor; plus, when adding, the
    /// empty parent that became a mapping).
    fn verify(
        &self,
        new_text: &str,
        target: &[Seg],
        expected: &Value,
        added_under: Option<&[Seg]>,
    ) -> Result<(), EditError> {
        let req = self.req;
        let new = flatten(new_text)
            .map_err(|m| req.verify_error(format!("the result does not parse: {m}")))?;
        let doc_has_anchors = self.doc.has_anchors();
        let target_key = (self.doc_index, target.to_vec());
        let old = self.old;
        match new.leaves.get(&target_key) {
            Some(v) if v == expected => {}
            other => {
                return Err(req.verify_error(format!(
                    "`{}` reads back as {} instead of {}",
                    format_path(target),
                    other.map_or_else(|| "nothing".to_owned(), show),
                    show(expected)
                )));
            }
        }
        let old_target = old.get(&target_key);
        let mut keys: Vec<&(usize, Vec<Seg>)> = old.keys().collect();
        keys.extend(new.leaves.keys().filter(|k| !old.contains_key(*k)));
        for k in keys {
            let (before, after) = (old.get(k), new.leaves.get(k));
            if before == after || *k == target_key {
                continue;
            }
            let emptied_parent = added_under.is_some_and(|p| {
                k.0 == self.doc_index
                    && k.1 == p
                    && after.is_none()
                    && before.is_some_and(|b| {
                        matches!(b, Value::Null) || b.as_mapping().is_some_and(|m| m.is_empty())
                    })
            });
            let follows_anchor = doc_has_anchors
                && k.0 == self.doc_index
                && before == old_target
                && after == Some(expected);
            if emptied_parent || follows_anchor {
                continue;
            }
            return Err(req.verify_error(format!(
                "`{}` changed too ({} → {})",
                format_path(&k.1),
                before.map_or_else(|| "nothing".to_owned(), show),
                after.map_or_else(|| "nothing".to_owned(), show)
            )));
        }
        Ok(())
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("the string {s:?}"),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Mapping(m) if m.is_empty() => "{}".into(),
        Value::Sequence(s) if s.is_empty() => "[]".into(),
        other => format!("{other:?}"),
    }
}

/// The end of `span` without trailing whitespace and line breaks.
fn trimmed_end(text: &str, span: (usize, usize)) -> usize {
    span.0 + text[span.0..span.1].trim_end().len()
}

/// Where the line holding `offset` ends, before its line break.
fn line_content_end(text: &str, offset: usize) -> usize {
    match next_line_start(text, offset) {
        Some(next) if next >= 2 && text.as_bytes()[next - 2] == b'\r' => next - 2,
        Some(next) => next - 1,
        None => text.len(),
    }
}

/// The column (bytes since the line start) of `offset`.
fn column(text: &str, offset: usize) -> usize {
    offset - line_start(text, offset)
}

/// The file's indentation unit: the smallest indentation of a content line,
/// or 2.
fn indent_step(text: &str) -> usize {
    text.lines()
        .filter(|l| {
            let t = l.trim_start_matches(' ');
            !t.trim().is_empty() && !t.starts_with('#')
        })
        .map(|l| l.len() - l.trim_start_matches(' ').len())
        .filter(|n| *n > 0)
        .min()
        .unwrap_or(2)
}

fn key_text(k: &Value) -> Option<String> {
    match k {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn render_key(k: &str) -> String {
    if plain_safe_string(k, true) {
        k.to_owned()
    } else {
        double_quote(k)
    }
}

/// The lines `k1:\n  k2: value` for new keys at `indent`, without a final
/// line break, and the value they give.
fn block_lines(
    keys: &[&str],
    value: &str,
    indent: usize,
    step: usize,
    eol: &str,
) -> (String, Value) {
    let (literal, expected) = render_inline(Style::Plain, None, value, false);
    let mut out = String::new();
    for (depth, k) in keys.iter().enumerate() {
        if depth > 0 {
            out.push_str(eol);
        }
        out.push_str(&" ".repeat(indent + depth * step));
        out.push_str(&render_key(k));
        out.push(':');
        if depth + 1 == keys.len() {
            out.push(' ');
            out.push_str(&literal);
        }
    }
    (out, expected)
}

/// `k1: {k2: value}` for new keys in a flow mapping.
fn flow_entry(keys: &[&str], value: &str) -> (String, Value) {
    let (literal, expected) = render_inline(Style::Plain, None, value, true);
    let mut out = literal;
    for (depth, k) in keys.iter().enumerate().rev() {
        out = if depth + 1 == keys.len() {
            format!("{}: {out}", render_key(k))
        } else {
            format!("{}: {{{out}}}", render_key(k))
        };
    }
    (out, expected)
}

// ---------------------------------------------------------------------------
// Scalars

/// The literal for `value` written in (about) `style`, and the value it
/// reads back as. `old` is the value it replaces (its type is kept when the
/// new text allows); `flow` says the scalar sits in a `{}`/`[]` collection.
fn render_inline(style: Style, old: Option<&Value>, value: &str, flow: bool) -> (String, Value) {
    let as_string = || Value::String(value.to_owned());
    match style {
        Style::Double => (double_quote(value), as_string()),
        Style::Single => {
            if value.chars().any(char::is_control) {
                (double_quote(value), as_string())
            } else {
                (format!("'{}'", value.replace('\'', "''")), as_string())
            }
        }
        Style::Plain => {
            let old_is_string = matches!(old, Some(Value::String(_)));
            if !old_is_string && let Some(typed) = plain_typed(value, flow) {
                return (value.to_owned(), typed);
            }
            if plain_safe_string(value, flow) {
                (value.to_owned(), as_string())
            } else {
                (double_quote(value), as_string())
            }
        }
    }
}

/// `value` as a plain number, boolean or null when it reads back exactly as
/// written in every common YAML reader (no `010`, `1.10`, `yes`, `~`).
fn plain_typed(value: &str, flow: bool) -> Option<Value> {
    if value.is_empty() || (flow && value.contains([',', '[', ']', '{', '}'])) {
        return None;
    }
    let parsed: Value = yaml_serde::from_str(value).ok()?;
    let canonical = match &parsed {
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_owned(),
        _ => return None,
    };
    (canonical == value && !yaml11_ambiguous(value)).then_some(parsed)
}

/// Whether `value` can be written as a plain scalar and still read back as
/// the same string, in YAML 1.2 and 1.1 readers alike.
fn plain_safe_string(value: &str, flow: bool) -> bool {
    let Some(first) = value.chars().next() else {
        return false;
    };
    if value != value.trim()
        || value.chars().any(char::is_control)
        || value.contains(": ")
        || value.contains(" #")
        || value.ends_with(':')
        || (flow && value.contains([',', '[', ']', '{', '}']))
    {
        return false;
    }
    if matches!(
        first,
        ',' | '['
            | ']'
            | '{'
            | '}'
            | '#'
            | '&'
            | '*'
            | '!'
            | '|'
            | '>'
            | '\''
            | '"'
            | '%'
            | '@'
            | '`'
    ) {
        return false;
    }
    if matches!(first, '-' | '?' | ':')
        && value
            .chars()
            .nth(1)
            .is_none_or(|c| c.is_whitespace() || c == '-')
    {
        return false;
    }
    if yaml11_ambiguous(value) {
        return false;
    }
    matches!(yaml_serde::from_str::<Value>(value), Ok(Value::String(s)) if s == value)
}

/// Plain words and numbers some YAML reader (1.1: Kubernetes, PyYAML, Ruby)
/// reads as something other than the string.
fn yaml11_ambiguous(value: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "=", "<<",
    ];
    let lower = value.to_ascii_lowercase();
    if WORDS.contains(&lower.as_str()) {
        return !matches!(value, "true" | "false" | "null");
    }
    let body = value.strip_prefix(['-', '+']).unwrap_or(value);
    let Some(first) = body.chars().next() else {
        return false;
    };
    if matches!(lower.trim_start_matches(['-', '+']), ".inf" | ".nan") {
        return true;
    }
    if !(first.is_ascii_digit() || first == '.') {
        return false;
    }
    let lb = body.to_ascii_lowercase();
    // Base prefixes, YAML 1.1 octal (`010`), underscores, sexagesimal (`1:30`).
    if lb.starts_with("0x") || lb.starts_with("0o") || lb.starts_with("0b") {
        return true;
    }
    let numeric_chars = lb
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '_' | '.' | ':' | 'e' | '+' | '-'));
    if !numeric_chars {
        return false;
    }
    let digits_only = lb.chars().all(|c| c.is_ascii_digit() || c == '_');
    if digits_only && (lb.contains('_') || (lb.len() > 1 && lb.starts_with('0'))) {
        return true;
    }
    if lb.contains(':')
        && lb
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ':' | '.' | '_'))
    {
        return true;
    }
    // A YAML 1.1 float with underscores (`1_000.5`).
    lb.matches('.').count() == 1
        && lb.contains('_')
        && lb
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '_'))
}

fn double_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------
// Flattening for the check

/// All leaves of all documents by (document number, path).
struct Flat {
    docs: usize,
    leaves: BTreeMap<(usize, Vec<Seg>), Value>,
}

fn flatten(text: &str) -> Result<Flat, String> {
    let mut leaves = BTreeMap::new();
    let mut index = 0;
    for doc in yaml_serde::Deserializer::from_str(text) {
        let value = Value::deserialize(doc).map_err(|e| e.to_string())?;
        if matches!(value, Value::Null) {
            continue;
        }
        let mut merged = value.clone();
        let value = if merged.apply_merge().is_ok() {
            merged
        } else {
            value
        };
        let mut path = Vec::new();
        flatten_into(&value, index, &mut path, &mut leaves);
        index += 1;
    }
    Ok(Flat {
        docs: index,
        leaves,
    })
}

fn flatten_into(
    value: &Value,
    doc: usize,
    path: &mut Vec<Seg>,
    out: &mut BTreeMap<(usize, Vec<Seg>), Value>,
) {
    match value {
        Value::Mapping(m) if !m.is_empty() => {
            for (k, v) in m {
                path.push(Seg::Key(key_text(k).unwrap_or_else(|| format!("{k:?}"))));
                flatten_into(v, doc, path, out);
                path.pop();
            }
        }
        Value::Sequence(s) if !s.is_empty() => {
            for (i, v) in s.iter().enumerate() {
                path.push(Seg::Index(i));
                flatten_into(v, doc, path, out);
                path.pop();
            }
        }
        Value::Tagged(t) => flatten_into(&t.value, doc, path, out),
        leaf => {
            out.insert((doc, path.clone()), leaf.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ed(text: &str, key: &str, value: &str) -> Result<String, EditError> {
        super::super::edit("values.yaml", text, key, value, false)
    }

    fn add(text: &str, key: &str, value: &str) -> Result<String, EditError> {
        super::super::edit("values.yaml", text, key, value, true)
    }

    #[test]
    fn key_syntax() {
        let k =
            parse_key("Deployment/order-service:spec.template.spec.containers[0].image").unwrap();
        assert_eq!(
            k.doc,
            Some(DocSel::KindName(
                "Deployment".into(),
                "order-service".into()
            ))
        );
        assert_eq!(k.segs.len(), 6);
        assert_eq!(k.segs[4], Seg::Index(0));
        let k = parse_key("[doc 2]:metadata.labels.\"app.kubernetes.io/name\"").unwrap();
        assert_eq!(k.doc, Some(DocSel::Index(2)));
        assert_eq!(k.segs[2], Seg::Key("app.kubernetes.io/name".into()));
        assert!(parse_key("a..b").is_err());
        assert!(parse_key("a[x]").is_err());
        assert!(parse_key("a.").is_err());
        assert_eq!(
            format_path(&k.segs),
            "metadata.labels.\"app.kubernetes.io/name\""
        );
    }

    #[test]
    fn plain_strings_that_would_change_type_are_quoted() {
        for v in [
            "on", "off", "yes", "No", "true", "null", "~", "1.10", "010", "0x1F", "1_000", "12:30",
            "*x", "&a", "!t", "{a}", "[a]", "a: b", "a #b", "", " lead", "-", ".inf", "3", "1e3",
        ] {
            assert!(!plain_safe_string(v, false), "{v:?} should be quoted");
        }
        for v in [
            "2Gi",
            "512Mi",
            "v1.2.3",
            "2.14.1",
            "registry.local/shop/order-api",
            "IfNotPresent",
            "-Xmx512m",
            "a b",
            "http://x:80/y",
            "ünïcode",
        ] {
            assert!(plain_safe_string(v, false), "{v:?} should stay plain");
        }
        assert!(!plain_safe_string("a,b", true));
    }

    #[test]
    fn typed_plain_values_only_when_they_read_back_as_written() {
        assert_eq!(plain_typed("5", false), Some(Value::from(5)));
        assert_eq!(plain_typed("true", false), Some(Value::Bool(true)));
        assert_eq!(plain_typed("0.5", false), Some(Value::from(0.5)));
        assert_eq!(plain_typed("1.10", false), None);
        assert_eq!(plain_typed("010", false), None);
        assert_eq!(plain_typed("yes", false), None);
        assert_eq!(plain_typed("2Gi", false), None);
    }

    #[test]
    fn quoting_styles_are_kept() {
        assert_eq!(ed("a: 'x'\n", "a", "it's").unwrap(), "a: 'it''s'\n");
        assert_eq!(
            ed("a: \"x\"\n", "a", "say \"hi\"").unwrap(),
            "a: \"say \\\"hi\\\"\"\n"
        );
        assert_eq!(ed("a: x\n", "a", "on").unwrap(), "a: \"on\"\n");
        assert_eq!(ed("a: x\n", "a", "1.10").unwrap(), "a: \"1.10\"\n");
        assert_eq!(ed("a: \"2\"\n", "a", "3").unwrap(), "a: \"3\"\n");
        assert_eq!(ed("a: 2\n", "a", "3").unwrap(), "a: 3\n");
        assert_eq!(ed("a: 2\n", "a", "1500m").unwrap(), "a: 1500m\n");
        assert_eq!(ed("a: false\n", "a", "true").unwrap(), "a: true\n");
        assert_eq!(ed("a: x\n", "a", "true").unwrap(), "a: \"true\"\n");
        assert_eq!(
            ed("a: {b: x, c: 1}\n", "a.b", "p,q").unwrap(),
            "a: {b: \"p,q\", c: 1}\n"
        );
    }

    #[test]
    fn unchanged_values_are_reported() {
        assert!(matches!(
            ed("a: \"true\"\n", "a", "true"),
            Err(EditError::Unchanged { .. })
        ));
        assert!(matches!(
            ed("a: 3\n", "a", "3"),
            Err(EditError::Unchanged { .. })
        ));
    }

    #[test]
    fn empty_flow_values_get_one() {
        assert_eq!(
            ed("a: {b: , c: 1}\n", "a.b", "x").unwrap(),
            "a: {b: x, c: 1}\n"
        );
        assert_eq!(
            ed("a:   # c\nd: 1\n", "a", "x").unwrap(),
            "a: x  # c\nd: 1\n"
        );
    }

    #[test]
    fn a_block_at_a_bare_end_of_file_is_quoted_when_its_value_ends_a_line() {
        assert_eq!(ed("a: |\n  x", "a", "y\nz\n").unwrap(), "a: \"y\\nz\\n\"");
        assert_eq!(ed("a: |\n  x", "a", "y\nz").unwrap(), "a: |-\n  y\n  z");
    }

    #[test]
    fn empty_values_get_one() {
        assert_eq!(
            ed("a:\n  b:\n  c: 1\n", "a.b", "x").unwrap(),
            "a:\n  b: x\n  c: 1\n"
        );
    }

    #[test]
    fn block_scalars() {
        let t = "rule:\n  expr: |\n    up == 0\n  for: 5m\n";
        assert_eq!(
            ed(t, "rule.expr", "up == 1").unwrap(),
            "rule:\n  expr: \"up == 1\"\n  for: 5m\n"
        );
        assert_eq!(
            ed(t, "rule.expr", "sum(up)\n  by (job) == 0\n").unwrap(),
            "rule:\n  expr: |\n    sum(up)\n      by (job) == 0\n  for: 5m\n"
        );
        assert_eq!(
            ed(t, "rule.expr", "a\nb").unwrap(),
            "rule:\n  expr: |-\n    a\n    b\n  for: 5m\n"
        );
    }

    #[test]
    fn tags_are_kept() {
        assert_eq!(ed("a: !!str x\n", "a", "z").unwrap(), "a: !!str z\n");
        assert_eq!(ed("a: !!str 5\n", "a", "6").unwrap(), "a: !!str \"6\"\n");
    }

    #[test]
    fn adding_nested_keys() {
        assert_eq!(
            add("a:\n  b: 1\nc: 2\n", "a.d.e", "x").unwrap(),
            "a:\n  b: 1\n  d:\n    e: x\nc: 2\n"
        );
        assert_eq!(add("a:\n  b: 1", "a.c", "2").unwrap(), "a:\n  b: 1\n  c: 2");
        assert_eq!(add("a: {b: 1}\n", "a.c", "2").unwrap(), "a: {b: 1, c: 2}\n");
        assert_eq!(add("a: {}\n", "a.c", "2").unwrap(), "a: {c: 2}\n");
        assert_eq!(
            add("a:   # note\nb: 1\n", "a.c", "on").unwrap(),
            "a:   # note\n  c: \"on\"\nb: 1\n"
        );
        assert_eq!(add("a: 1\n", "b", "2").unwrap(), "a: 1\nb: 2\n");
        assert!(matches!(
            add("a: [1]\n", "a[3]", "2"),
            Err(EditError::NotFound { .. })
        ));
    }

    #[test]
    fn adding_after_a_nested_last_value() {
        assert_eq!(
            add("x:\n    y:\n        z: 1\nq: 1\n", "x.w", "2").unwrap(),
            "x:\n    y:\n        z: 1\n    w: 2\nq: 1\n"
        );
        assert_eq!(
            add("- name: a\n  image: b\n", "[0].tag", "v2").unwrap(),
            "- name: a\n  image: b\n  tag: v2\n"
        );
    }

    #[test]
    fn documents_need_a_prefix_when_ambiguous() {
        let t = "kind: A\nmetadata: {name: x}\nspec: {n: 1}\n---\nkind: B\nmetadata: {name: x}\nspec: {n: 1}\n";
        assert!(matches!(
            ed(t, "spec.n", "2"),
            Err(EditError::Ambiguous { .. })
        ));
        assert_eq!(
            ed(t, "B/x:spec.n", "2").unwrap(),
            "kind: A\nmetadata: {name: x}\nspec: {n: 1}\n---\nkind: B\nmetadata: {name: x}\nspec: {n: 2}\n"
        );
        assert_eq!(
            ed(t, "[doc 0]:spec.n", "2").unwrap(),
            "kind: A\nmetadata: {name: x}\nspec: {n: 2}\n---\nkind: B\nmetadata: {name: x}\nspec: {n: 1}\n"
        );
    }

    #[test]
    fn aliases_and_anchors() {
        let t = "d: &d\n  m: 1\nx: *d\nz:\n  <<: *d\n  q: 2\n";
        assert!(
            matches!(ed(t, "x.m", "2"), Err(EditError::Alias { ref anchor, .. }) if anchor == "d")
        );
        assert!(
            matches!(ed(t, "z.m", "2"), Err(EditError::Alias { ref anchor, .. }) if anchor == "d")
        );
        assert_eq!(
            ed(t, "d.m", "2").unwrap(),
            "d: &d\n  m: 2\nx: *d\nz:\n  <<: *d\n  q: 2\n"
        );
        assert_eq!(
            add(t, "z.m", "3").unwrap(),
            "d: &d\n  m: 1\nx: *d\nz:\n  <<: *d\n  q: 2\n  m: 3\n"
        );
    }
}
