//! A small CSV reader for the datasets' files (RFC 4180: quoted fields with
//! `""` escapes and embedded newlines), reporting the line each record starts
//! on. Lenient where the data is broken, as Python's csv module: text after a
//! closing quote, and quotes inside an unquoted field, are kept.

use std::path::{Path, PathBuf};

use crate::BundleError;

/// One record and the 1-based line it starts on.
pub(crate) struct Record {
    pub line: usize,
    pub fields: Vec<String>,
}

/// The records of `text`; the header is the first. Errors name `path` and the line.
pub(crate) fn parse(text: &str, path: &Path) -> Result<Vec<Record>, BundleError> {
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut start = 1;
    let mut in_quotes = false;
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let err = |line: usize, reason: &str| BundleError::Csv {
        path: PathBuf::from(path),
        line,
        reason: reason.to_owned(),
    };
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() && !quoted => {
                in_quotes = true;
                quoted = true;
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                quoted = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                quoted = false;
                records.push(Record {
                    line: start,
                    fields: std::mem::take(&mut fields),
                });
                line += 1;
                start = line;
            }
            // Text after a closing quote is kept, as Python's csv module does
            // (one record of the Train Ticket logs has it).
            c => field.push(c),
        }
    }
    if in_quotes {
        return Err(err(start, "a quoted field is never closed"));
    }
    if !field.is_empty() || !fields.is_empty() || quoted {
        fields.push(field);
        records.push(Record {
            line: start,
            fields,
        });
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn quoted_fields_and_lines() {
        let text = "a,b\n1,\"x \"\"y\"\"\nz\"\n2,3";
        let r = parse(text, Path::new("f.csv")).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].fields, vec!["1", "x \"y\"\nz"]);
        assert_eq!(r[2].line, 4);
        assert_eq!(r[2].fields, vec!["2", "3"]);
        let e = parse("a\n\"open\n", Path::new("f.csv")).err().unwrap();
        assert_eq!(e.to_string(), "f.csv:2: a quoted field is never closed");
    }
}
