//! `postgresql.conf` edits: lines `name = value  # comment` (the `=` is
//! optional, names are case-insensitive). The last uncommented occurrence is
//! the one PostgreSQL uses, so that one is edited; the value's quoting is
//! kept and a trailing comment keeps its column where the new value leaves
//! room.

use std::collections::BTreeMap;

use super::{EditError, Request, line_ending};

/// Edits one setting (or adds it) as described in [`super::edit`].
pub(super) fn edit(req: &Request<'_>) -> Result<String, EditError> {
    let name = req.key.trim();
    if !valid_name(name) {
        return Err(req.invalid_key(
            "a PostgreSQL setting name is letters, digits, `_` and `.` (like `work_mem` or `auto_explain.log_min_duration`)",
        ));
    }
    if req.value.is_empty() || req.value.contains(['\n', '\r', '\0']) {
        return Err(req.invalid_value("give one non-empty line"));
    }
    let lines = split_lines(req.text);
    let mut last = None;
    let mut commented = None;
    for (i, (line, _)) in lines.iter().enumerate() {
        match parse_line(line) {
            Ok(Some(s)) if s.name.eq_ignore_ascii_case(name) => last = Some((i, s)),
            Ok(Some(_)) => {}
            Ok(None) => {
                if let Some((hash, s)) = commented_setting(line)
                    && s.name.eq_ignore_ascii_case(name)
                {
                    commented = Some((i, hash, s));
                }
            }
            Err(m) => return Err(req.parse_error(format!("line {}: {m}", i + 1))),
        }
    }
    let eol = line_ending(req.text);
    let new_text = match (last, commented) {
        (Some((i, setting)), _) => {
            if setting.value == req.value {
                return Err(req.unchanged());
            }
            let (line, _) = lines[i];
            let new_line = set_value(line, &setting, req.value);
            replace_line(&lines, i, &new_line)
        }
        (None, _) if !req.add_missing => return Err(req.not_found(String::new())),
        (None, Some((i, hash, setting))) => {
            // Uncomment-and-set: a copy of the commented default, set, right
            // after it.
            let (line, line_eol) = lines[i];
            let rest = &line[hash + 1..];
            let cut = 1 + rest.len() - rest.trim_start().len();
            let uncommented = format!("{}{}", &line[..hash], &line[hash + cut..]);
            let shifted = Setting {
                value_start: setting.value_start - cut,
                value_end: setting.value_end - cut,
                comment: setting.comment.map(|c| c - cut),
                ..setting
            };
            let new_line = set_value(&uncommented, &shifted, req.value);
            let mut out = String::with_capacity(req.text.len() + new_line.len() + 2);
            for (j, (l, e)) in lines.iter().enumerate() {
                out.push_str(l);
                if j == i {
                    out.push_str(if line_eol.is_empty() { eol } else { line_eol });
                    out.push_str(&new_line);
                }
                out.push_str(e);
            }
            out
        }
        (None, None) => {
            let line = format!("{name} = {}", render(req.value, false));
            if req.text.is_empty() || req.text.ends_with('\n') {
                format!("{}{line}{eol}", req.text)
            } else {
                format!("{}{eol}{line}", req.text)
            }
        }
    };
    check(req, &new_text, name)?;
    Ok(new_text)
}

/// Lines without and with their line endings.
fn split_lines(text: &str) -> Vec<(&str, &str)> {
    text.split_inclusive('\n')
        .map(|l| {
            let bare = l.trim_end_matches(['\n', '\r']);
            (bare, &l[bare.len()..])
        })
        .collect()
}

fn replace_line(lines: &[(&str, &str)], index: usize, with: &str) -> String {
    let mut out = String::new();
    for (j, (l, e)) in lines.iter().enumerate() {
        out.push_str(if j == index { with } else { l });
        out.push_str(e);
    }
    out
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$'))
}

/// One `name = value` line, with byte offsets into the line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Setting {
    name: String,
    /// The value without quotes, as PostgreSQL reads it.
    value: String,
    quoted: bool,
    value_start: usize,
    value_end: usize,
    /// Where the trailing `#` is.
    comment: Option<usize>,
}

/// A setting line, `None` for blank and comment lines.
fn parse_line(line: &str) -> Result<Option<Setting>, String> {
    let b = line.as_bytes();
    let skip_ws = |mut i: usize| {
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        i
    };
    let start = skip_ws(0);
    if start == b.len() || b[start] == b'#' {
        return Ok(None);
    }
    let mut i = start;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'.' | b'$')) {
        i += 1;
    }
    let name = &line[start..i];
    if !valid_name(name) {
        return Err(format!(
            "`{}` does not start with a setting name",
            line.trim()
        ));
    }
    i = skip_ws(i);
    if b.get(i) == Some(&b'=') {
        i = skip_ws(i + 1);
    }
    let value_start = i;
    let (value, quoted) = if b.get(i) == Some(&b'\'') {
        let mut out = String::new();
        i += 1;
        loop {
            match b.get(i) {
                None => return Err(format!("the value of `{name}` has no closing quote")),
                Some(b'\'') if b.get(i + 1) == Some(&b'\'') => {
                    out.push('\'');
                    i += 2;
                }
                Some(b'\'') => {
                    i += 1;
                    break;
                }
                Some(b'\\') => {
                    let rest = &line[i + 1..];
                    if let Some(c) = rest.chars().next() {
                        out.push(c);
                        i += 1 + c.len_utf8();
                    } else {
                        i += 1;
                    }
                }
                Some(_) => {
                    let c = line[i..].chars().next().unwrap_or(' ');
                    out.push(c);
                    i += c.len_utf8();
                }
            }
        }
        (out, true)
    } else {
        while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'#') {
            i += 1;
        }
        (line[value_start..i].to_owned(), false)
    };
    let value_end = i;
    if value_start == value_end {
        return Err(format!("`{name}` has no value"));
    }
    i = skip_ws(i);
    let comment = match b.get(i) {
        None => None,
        Some(b'#') => Some(i),
        Some(_) => return Err(format!("unexpected text after the value of `{name}`")),
    };
    Ok(Some(Setting {
        name: name.to_owned(),
        value,
        quoted,
        value_start,
        value_end,
        comment,
    }))
}

/// A commented-out setting (`#work_mem = 4MB  # min 64kB`): where its `#`
/// is, and the setting read from the rest of the line.
fn commented_setting(line: &str) -> Option<(usize, Setting)> {
    let hash = line.find('#')?;
    if !line[..hash].trim().is_empty() {
        return None;
    }
    let rest = &line[hash + 1..];
    if rest.starts_with([' ', '\t']) && !rest.trim_start().contains('=') {
        return None;
    }
    let mut s = parse_line(rest).ok()??;
    let offset = hash + 1;
    s.value_start += offset;
    s.value_end += offset;
    s.comment = s.comment.map(|c| c + offset);
    Some((hash, s))
}

/// A value PostgreSQL reads unquoted: a number with an optional unit, or an
/// identifier-like word.
fn simple(value: &str) -> bool {
    let body = value.strip_prefix(['-', '+']).unwrap_or(value);
    let number = {
        let digits = body.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        !digits.is_empty()
            && digits.chars().any(|c| c.is_ascii_digit())
            && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
            && digits.matches('.').count() <= 1
    };
    let word = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/'));
    number || word
}

fn render(value: &str, quoted: bool) -> String {
    if quoted || !simple(value) {
        format!("'{}'", value.replace('\'', "''"))
    } else {
        value.to_owned()
    }
}

/// The display column after `text` (tabs stop every 8 columns).
fn column(text: &str) -> usize {
    text.chars().fold(0, |col, c| {
        if c == '\t' {
            (col / 8 + 1) * 8
        } else {
            col + 1
        }
    })
}

/// `line` with `setting`'s value replaced; a trailing comment stays in its
/// column when the new value leaves room, else moves right by one space.
fn set_value(line: &str, setting: &Setting, value: &str) -> String {
    let literal = render(value, setting.quoted);
    let mut out = format!("{}{literal}", &line[..setting.value_start]);
    match setting.comment {
        None => out.push_str(&line[setting.value_end..]),
        Some(hash) => {
            let gap = &line[setting.value_end..hash];
            let target = column(&line[..hash]);
            let mut col = column(&out);
            if gap.contains('\t') {
                let mut tabs = String::new();
                while col < target {
                    tabs.push('\t');
                    col = (col / 8 + 1) * 8;
                }
                if col == target && !tabs.is_empty() {
                    out.push_str(&tabs);
                } else {
                    let col = column(&out);
                    out.push_str(&" ".repeat(target.saturating_sub(col).max(1)));
                }
            } else {
                out.push_str(&" ".repeat(target.saturating_sub(col).max(1)));
            }
            out.push_str(&line[hash..]);
        }
    }
    out
}

/// The settings PostgreSQL would use (last occurrence wins), by lowercase
/// name.
fn effective(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (i, (line, _)) in split_lines(text).iter().enumerate() {
        if let Some(s) = parse_line(line).map_err(|m| format!("line {}: {m}", i + 1))? {
            out.insert(s.name.to_ascii_lowercase(), s.value);
        }
    }
    Ok(out)
}

fn check(req: &Request<'_>, new_text: &str, name: &str) -> Result<(), EditError> {
    let old = effective(req.text).map_err(|m| req.parse_error(m))?;
    let new = effective(new_text)
        .map_err(|m| req.verify_error(format!("the result does not parse: {m}")))?;
    let key = name.to_ascii_lowercase();
    if new.get(&key).map(String::as_str) != Some(req.value) {
        return Err(req.verify_error(format!(
            "`{name}` reads back as {:?} instead of {:?}",
            new.get(&key),
            req.value
        )));
    }
    for k in old.keys().chain(new.keys()) {
        if *k != key && old.get(k) != new.get(k) {
            return Err(req.verify_error(format!("`{k}` changed too")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ed(text: &str, key: &str, value: &str, add: bool) -> Result<String, EditError> {
        super::super::edit("postgresql.conf", text, key, value, add)
    }

    #[test]
    fn lines_parse_with_and_without_equals() {
        let s = parse_line("  Work_Mem 4MB # x").unwrap().unwrap();
        assert_eq!(
            (s.name.as_str(), s.value.as_str(), s.quoted),
            ("Work_Mem", "4MB", false)
        );
        let s = parse_line("search_path = '\"$user\", public'")
            .unwrap()
            .unwrap();
        assert_eq!(s.value, "\"$user\", public");
        let s = parse_line("a = 'it''s'").unwrap().unwrap();
        assert_eq!(s.value, "it's");
        assert_eq!(parse_line("# just a comment").unwrap(), None);
        assert!(parse_line("a = 'open").is_err());
    }

    #[test]
    fn comments_keep_their_column() {
        let t = "max_connections = 100\t\t\t# (change requires restart)\n";
        assert_eq!(
            ed(t, "max_connections", "200", false).unwrap(),
            "max_connections = 200\t\t\t# (change requires restart)\n"
        );
        assert_eq!(
            ed(t, "max_connections", "1000", false).unwrap(),
            "max_connections = 1000\t\t\t# (change requires restart)\n"
        );
        let t = "work_mem = 4MB      # per sort\n";
        assert_eq!(
            ed(t, "work_mem", "64MB", false).unwrap(),
            "work_mem = 64MB     # per sort\n"
        );
        assert_eq!(
            ed(t, "work_mem", "1234567890MB", false).unwrap(),
            "work_mem = 1234567890MB # per sort\n"
        );
    }

    #[test]
    fn quoting() {
        assert!(
            simple("30s")
                && simple("1GB")
                && simple("-1")
                && simple("0.9")
                && simple("on")
                && simple("replica")
        );
        assert!(
            !simple("*")
                && !simple("pg_stat_statements,auto_explain")
                && !simple("/var/run/x")
                && !simple("a b")
        );
        assert_eq!(ed("a = 'x'\n", "a", "y", false).unwrap(), "a = 'y'\n");
        assert_eq!(ed("a = x\n", "a", "*", false).unwrap(), "a = '*'\n");
        assert_eq!(ed("a = x\n", "a", "it's", false).unwrap(), "a = 'it''s'\n");
    }

    #[test]
    fn last_occurrence_and_case() {
        let t = "work_mem = 4MB\nWORK_MEM = 8MB\n";
        assert_eq!(
            ed(t, "work_mem", "16MB", false).unwrap(),
            "work_mem = 4MB\nWORK_MEM = 16MB\n"
        );
        assert!(matches!(
            ed(t, "work_mem", "8MB", false),
            Err(EditError::Unchanged { .. })
        ));
    }

    #[test]
    fn commented_defaults_do_not_count_but_guide_adding() {
        let t = "#work_mem = 4MB\t\t\t\t# min 64kB\nshared_buffers = 1GB";
        assert!(matches!(
            ed(t, "work_mem", "64MB", false),
            Err(EditError::NotFound { .. })
        ));
        assert_eq!(
            ed(t, "work_mem", "64MB", true).unwrap(),
            "#work_mem = 4MB\t\t\t\t# min 64kB\nwork_mem = 64MB\t\t\t\t# min 64kB\nshared_buffers = 1GB"
        );
        assert_eq!(
            ed("  #  work_mem = 4MB\n", "work_mem", "8MB", true).unwrap(),
            "  #  work_mem = 4MB\n  work_mem = 8MB\n"
        );
        assert_eq!(
            ed(t, "statement_timeout", "30s", true).unwrap(),
            "#work_mem = 4MB\t\t\t\t# min 64kB\nshared_buffers = 1GB\nstatement_timeout = 30s"
        );
    }
}
