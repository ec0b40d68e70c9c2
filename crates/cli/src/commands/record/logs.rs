//! The recording's logs: for each configured source (`tools.logs.sources`),
//! the records whose leading timestamp falls in the window, as
//! `logs/<source>.log` in the bundle's format.
//!
//! A record is a line that starts with a timestamp (as
//! [`pagerless_tools::logs::leading_time_end`] reads it) and the lines after it
//! that do not (a stack trace). It is written on one line: the time in RFC
//! 3339 (UTC), the rest of the first line, and each continuation line after
//! an escaped newline (`\n`), as the Nezha importer writes records. Lines
//! before a file's first timestamp have no time and are left out.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use pagerless_tools::logs::{leading_time_end, resolve};

/// One source's copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The source's name in the configuration.
    pub source: String,
    /// The file written, relative to the bundle (`logs/<source>.log`).
    pub file: String,
    /// Records written.
    pub records: usize,
}

/// Copies each source's records in `[start, end]` into `bundle/logs/`.
/// A source whose files cannot be read, or that has no record in the window,
/// writes no file and adds a note.
pub fn copy(
    sources: &BTreeMap<String, String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    bundle: &Path,
    notes: &mut Vec<String>,
) -> Result<Vec<Copied>> {
    let mut copied = Vec::new();
    let mut taken: Vec<String> = Vec::new();
    for (source, spec) in sources {
        let files = match resolve(spec) {
            Ok(f) if f.is_empty() => {
                notes.push(format!("log source {source} ({spec}): no files"));
                continue;
            }
            Ok(f) => f,
            Err(e) => {
                notes.push(format!("log source {source} ({spec}): cannot read it: {e}"));
                continue;
            }
        };
        let mut name = file_name(source);
        while taken.contains(&name) {
            name.push('_');
        }
        let rel = format!("logs/{name}.log");
        let path = bundle.join(&rel);
        std::fs::create_dir_all(bundle.join("logs"))
            .with_context(|| format!("cannot create {}", bundle.join("logs").display()))?;
        let out = std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut out = BufWriter::new(out);
        let mut records = 0;
        for file in &files {
            match copy_file(file, start, end, &mut out) {
                Ok(n) => records += n,
                Err(e) => notes.push(format!(
                    "log source {source}: {} left out: {e}",
                    file.display()
                )),
            }
        }
        out.flush()
            .with_context(|| format!("cannot write {}", path.display()))?;
        drop(out);
        if records == 0 {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
            notes.push(format!(
                "log source {source} ({spec}): no record in the window"
            ));
            continue;
        }
        eprintln!(
            "logs: {source}: {records} record(s) from {} file(s)",
            files.len()
        );
        taken.push(name);
        copied.push(Copied {
            source: source.clone(),
            file: rel,
            records,
        });
    }
    if copied.is_empty() {
        let _ = std::fs::remove_dir(bundle.join("logs"));
    }
    Ok(copied)
}

/// A source's name as a file name: letters, digits, `.`, `_` and `-` kept,
/// anything else `_`.
fn file_name(source: &str) -> String {
    let name: String = source
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with('.') {
        format!("source{name}")
    } else {
        name
    }
}

/// Copies one file's records in the window; returns how many.
fn copy_file(
    path: &Path,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    out: &mut impl Write,
) -> std::io::Result<usize> {
    let mut input = BufReader::new(std::fs::File::open(path)?);
    let mut buf = Vec::new();
    let mut record: Option<(DateTime<Utc>, String)> = None;
    let mut written = 0;
    let mut flush =
        |record: Option<(DateTime<Utc>, String)>, out: &mut dyn Write| -> std::io::Result<()> {
            if let Some((t, text)) = record
                && t >= start
                && t <= end
            {
                writeln!(out, "{text}")?;
                written += 1;
            }
            Ok(())
        };
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\n', '\r']);
        match leading_time_end(line.as_bytes()) {
            Some((t, end)) => {
                flush(record.take(), out)?;
                let rest = line.get(end..).unwrap_or_default();
                let stamp = t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
                record = Some((t, format!("{stamp}{rest}")));
            }
            None => {
                if let Some((_, text)) = record.as_mut() {
                    text.push_str("\\n");
                    text.push_str(line);
                }
            }
        }
    }
    flush(record.take(), out)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn stamps_are_measured_as_the_reader_reads_them() {
        for (line, rest) in [
            ("2026-01-05T08:02:03.400Z INFO started", " INFO started"),
            ("2026-01-05T10:02:03+02:00 x", " x"),
            ("2026-01-05T10:02:03+0200 x", " x"),
            ("2026-01-05 08:02:03,123 WARN pool", " WARN pool"),
            ("[2026-01-05 08:02:03] boom", " boom"),
            ("2026/11/27 20:09:11 [error] 1#0", " [error] 1#0"),
            ("2026-01-05T08:02:03.123456789Z", ""),
            ("2026-01-05T08:02:03-xx", "-xx"),
        ] {
            let (_, end) = leading_time_end(line.as_bytes()).unwrap();
            assert_eq!(&line[end..], rest, "{line}");
        }
    }

    #[test]
    fn records_in_the_window_are_written_on_one_line_each() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        std::fs::write(
            &log,
            "orphan continuation\n\
             2026-01-05T07:59:59Z before\n\
             2026-01-05T08:00:00Z first\n\
             \tat Order.place(Order.java:42)\r\n\
             2026-01-05T10:30:00.250+02:00 offset\n\
             2026-01-05T09:00:00.001Z after\n",
        )
        .unwrap();
        let mut out = Vec::new();
        let n = copy_file(
            &log,
            t("2026-01-05T08:00:00Z"),
            t("2026-01-05T09:00:00Z"),
            &mut out,
        )
        .unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-01-05T08:00:00Z first\\n\tat Order.place(Order.java:42)\n\
             2026-01-05T08:30:00.250Z offset\n"
        );
    }

    #[test]
    fn source_names_become_file_names() {
        assert_eq!(file_name("nginx-error"), "nginx-error");
        assert_eq!(file_name("a/b c"), "a_b_c");
        assert_eq!(file_name(".."), "source..");
        assert_eq!(file_name(""), "source");
    }
}
