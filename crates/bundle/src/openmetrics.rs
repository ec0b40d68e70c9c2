//! OpenMetrics text with timestamps, the format of a bundle's `metrics.om`:
//! a checking writer and a streaming reader.
//!
//! The writer emits what `promtool tsdb create-blocks-from openmetrics`
//! loads without losing samples: each family once (its `# TYPE` line, then
//! all its series), each series contiguous with strictly increasing
//! timestamps (promtool silently drops out-of-order and duplicate samples),
//! label values escaped per the spec (`\\`, `\"`, `\n`), and `# EOF` last
//! with nothing after it (promtool rejects a missing `# EOF` and any data
//! after it). The reader checks the same rules and names the line.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use crate::BundleError;

/// The metric types the writer emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A value that goes up and down; samples are named as the family.
    Gauge,
    /// A monotonically increasing count; samples are named `<family>_total`.
    Counter,
}

impl MetricKind {
    fn as_str(self) -> &'static str {
        match self {
            MetricKind::Gauge => "gauge",
            MetricKind::Counter => "counter",
        }
    }
}

/// Writes families of series as OpenMetrics text, refusing anything that
/// would not load into Prometheus intact. Call [`finish`](Self::finish) last.
pub struct OpenMetricsWriter<W: Write> {
    out: W,
    families: HashSet<String>,
    current: Option<String>,
    series: HashSet<String>,
    finished: bool,
}

impl<W: Write> OpenMetricsWriter<W> {
    /// A writer onto `out` (wrap files in a `BufWriter`).
    pub fn new(out: W) -> Self {
        OpenMetricsWriter {
            out,
            families: HashSet::new(),
            current: None,
            series: HashSet::new(),
            finished: false,
        }
    }

    /// Writes one series of `family`: `samples` are `(timestamp_secs, value)`
    /// with strictly increasing timestamps (written to the millisecond). All
    /// series of a family must be written one after the other; a family that
    /// comes back after another one, or a series written twice, is an error.
    pub fn write_series(
        &mut self,
        family: &str,
        kind: MetricKind,
        labels: &BTreeMap<String, String>,
        samples: &[(f64, f64)],
    ) -> Result<(), BundleError> {
        if self.finished {
            return Err(write_err("a series written after # EOF"));
        }
        if !is_metric_name(family) {
            return Err(write_err(format!("`{family}` is not a valid metric name")));
        }
        if self.current.as_deref() != Some(family) {
            if self.families.contains(family) {
                return Err(write_err(format!(
                    "family `{family}` written again after another family; a family's series must be contiguous"
                )));
            }
            self.families.insert(family.to_owned());
            self.current = Some(family.to_owned());
            self.series.clear();
            writeln!(self.out, "# TYPE {family} {}", kind.as_str()).map_err(io_err)?;
        }
        let mut rendered = String::new();
        if !labels.is_empty() {
            rendered.push('{');
            for (i, (name, value)) in labels.iter().enumerate() {
                if !is_label_name(name) {
                    return Err(write_err(format!(
                        "`{name}` is not a valid label name (family `{family}`)"
                    )));
                }
                if i > 0 {
                    rendered.push(',');
                }
                rendered.push_str(name);
                rendered.push_str("=\"");
                rendered.push_str(&escape_label_value(value));
                rendered.push('"');
            }
            rendered.push('}');
        }
        if !self.series.insert(rendered.clone()) {
            return Err(write_err(format!(
                "series {family}{rendered} written twice"
            )));
        }
        let sample_name = match kind {
            MetricKind::Gauge => family.to_owned(),
            MetricKind::Counter => format!("{family}_total"),
        };
        let mut last: Option<i64> = None;
        for &(ts, value) in samples {
            if !ts.is_finite() {
                return Err(write_err(format!(
                    "series {family}{rendered}: timestamp {ts} is not finite"
                )));
            }
            let ms = (ts * 1000.0).round() as i64;
            if let Some(prev) = last
                && ms <= prev
            {
                return Err(write_err(format!(
                    "series {family}{rendered}: timestamp {} is not after {}",
                    format_ts(ms),
                    format_ts(prev)
                )));
            }
            last = Some(ms);
            writeln!(
                self.out,
                "{sample_name}{rendered} {} {}",
                format_value(value),
                format_ts(ms)
            )
            .map_err(io_err)?;
        }
        Ok(())
    }

    /// Writes `# EOF`, flushes, and gives the output back.
    pub fn finish(mut self) -> Result<W, BundleError> {
        self.finished = true;
        self.out.write_all(b"# EOF\n").map_err(io_err)?;
        self.out.flush().map_err(io_err)?;
        Ok(self.out)
    }
}

fn write_err(reason: impl Into<String>) -> BundleError {
    BundleError::Write {
        reason: reason.into(),
    }
}

fn io_err(e: std::io::Error) -> BundleError {
    write_err(e.to_string())
}

/// Escapes a label value: backslash, double quote and newline.
pub fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{v}")
    }
}

fn format_ts(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    if frac == 0 {
        format!("{secs}")
    } else {
        format!("{secs}.{frac:03}")
    }
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One sample read back from OpenMetrics text.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's metric name (with `_total` for counters).
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its timestamp in seconds since the epoch.
    pub ts: f64,
    /// Its value (NaN and ±Inf allowed).
    pub value: f64,
}

/// Streams the samples of an OpenMetrics file. The last item is an error
/// when the file does not end with `# EOF`, has data after it, or a series
/// goes back in time; errors carry the file and line number.
pub fn read_openmetrics(
    path: &Path,
) -> Result<impl Iterator<Item = Result<Sample, BundleError>>, BundleError> {
    let file = File::open(path).map_err(|e| BundleError::io(path, e))?;
    Ok(OpenMetricsReader::new(BufReader::new(file), path))
}

/// The streaming parser behind [`read_openmetrics`], over any reader.
pub struct OpenMetricsReader<R: BufRead> {
    input: R,
    path: PathBuf,
    line_no: usize,
    eof_seen: bool,
    done: bool,
    last_ts: HashMap<String, f64>,
    buf: String,
}

impl<R: BufRead> OpenMetricsReader<R> {
    /// A reader over `input`; `path` names it in errors.
    pub fn new(input: R, path: &Path) -> Self {
        OpenMetricsReader {
            input,
            path: path.to_path_buf(),
            line_no: 0,
            eof_seen: false,
            done: false,
            last_ts: HashMap::new(),
            buf: String::new(),
        }
    }

    fn err(&self, reason: impl Into<String>) -> BundleError {
        BundleError::OpenMetrics {
            path: self.path.clone(),
            line: self.line_no,
            reason: reason.into(),
        }
    }

    fn next_sample(&mut self) -> Result<Option<Sample>, BundleError> {
        loop {
            self.buf.clear();
            let n = self
                .input
                .read_line(&mut self.buf)
                .map_err(|e| BundleError::io(&self.path, e))?;
            if n == 0 {
                if self.eof_seen {
                    return Ok(None);
                }
                return Err(self.err("the file ends without `# EOF`"));
            }
            self.line_no += 1;
            if self.eof_seen {
                return Err(self.err("data after `# EOF`"));
            }
            let line = self.buf.strip_suffix('\n').unwrap_or(&self.buf).to_owned();
            if line == "# EOF" {
                self.eof_seen = true;
                continue;
            }
            if let Some(rest) = line.strip_prefix('#') {
                self.check_descriptor(rest)?;
                continue;
            }
            if line.trim().is_empty() {
                return Err(self.err("empty line (OpenMetrics allows none)"));
            }
            let sample = parse_sample(&line).map_err(|reason| self.err(reason))?;
            let key = series_key(&sample);
            if let Some(&prev) = self.last_ts.get(&key)
                && sample.ts <= prev
            {
                return Err(self.err(format!(
                    "timestamp {} of {key} is not after the previous one ({prev})",
                    sample.ts
                )));
            }
            self.last_ts.insert(key, sample.ts);
            return Ok(Some(sample));
        }
    }

    fn check_descriptor(&self, rest: &str) -> Result<(), BundleError> {
        let mut parts = rest.trim_start().splitn(3, ' ');
        let keyword = parts.next().unwrap_or_default();
        let name = parts.next().unwrap_or_default();
        match keyword {
            "TYPE" | "HELP" | "UNIT" => {}
            other => return Err(self.err(format!("unknown descriptor `# {other}`"))),
        }
        if !is_metric_name(name) {
            return Err(self.err(format!("`# {keyword}` without a valid metric name")));
        }
        if keyword == "TYPE" {
            let kind = parts.next().unwrap_or_default().trim();
            const KINDS: [&str; 8] = [
                "counter",
                "gauge",
                "histogram",
                "gaugehistogram",
                "stateset",
                "info",
                "summary",
                "unknown",
            ];
            if !KINDS.contains(&kind) {
                return Err(self.err(format!("unknown metric type `{kind}`")));
            }
        }
        Ok(())
    }
}

impl<R: BufRead> Iterator for OpenMetricsReader<R> {
    type Item = Result<Sample, BundleError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_sample() {
            Ok(Some(s)) => Some(Ok(s)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

fn series_key(s: &Sample) -> String {
    let labels: Vec<String> = s
        .labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label_value(v)))
        .collect();
    format!("{}{{{}}}", s.name, labels.join(","))
}

/// Parses `name{labels} value timestamp`.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("`{name}` is not a valid metric name"));
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, remaining) = parse_labels(after)?;
        labels = parsed;
        rest = remaining;
    }
    let rest = rest
        .strip_prefix(' ')
        .ok_or_else(|| "expected a space before the value".to_owned())?;
    let mut fields = rest.split(' ');
    let value_text = fields.next().unwrap_or_default();
    let value = parse_value(value_text).ok_or_else(|| format!("`{value_text}` is not a number"))?;
    let ts_text = fields
        .next()
        .ok_or_else(|| "the sample has no timestamp (bundles need one)".to_owned())?;
    let ts: f64 = ts_text
        .parse()
        .ok()
        .filter(|t: &f64| t.is_finite())
        .ok_or_else(|| format!("`{ts_text}` is not a timestamp"))?;
    if let Some(extra) = fields.next() {
        return Err(format!(
            "unexpected `{extra}` after the timestamp (exemplars are not supported)"
        ));
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        ts,
        value,
    })
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok().filter(|v: &f64| v.is_finite()),
    }
}

/// Parses `a="x",b="y"}` and returns the labels and what follows the `}`.
fn parse_labels(mut s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    loop {
        if let Some(rest) = s.strip_prefix('}') {
            return Ok((labels, rest));
        }
        let eq = s
            .find('=')
            .ok_or_else(|| "a label without `=`".to_owned())?;
        let name = &s[..eq];
        if !is_label_name(name) {
            return Err(format!("`{name}` is not a valid label name"));
        }
        s = s[eq + 1..]
            .strip_prefix('"')
            .ok_or_else(|| format!("label `{name}`: the value must be quoted"))?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("label `{name}`: unterminated value")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => {
                        return Err(format!("label `{name}`: invalid escape `\\{c}`"));
                    }
                    None => return Err(format!("label `{name}`: unterminated value")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label `{name}` given twice"));
        }
        s = &s[end + 1..];
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err(format!("expected `,` or `}}` after label `{name}`"));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn read(text: &str) -> Vec<Result<Sample, BundleError>> {
        OpenMetricsReader::new(text.as_bytes(), Path::new("m.om")).collect()
    }

    #[test]
    fn round_trip_with_escapes_nan_and_inf() {
        let mut w = OpenMetricsWriter::new(Vec::new());
        let tricky = labels(&[("pod", "a\"b\\c\nd"), ("service", "x")]);
        w.write_series(
            "pod_cpu_usage_ratio",
            MetricKind::Gauge,
            &tricky,
            &[(1661140279.5, 0.25), (1661140339.0, f64::NAN)],
        )
        .unwrap();
        w.write_series(
            "pod_cpu_usage_ratio",
            MetricKind::Gauge,
            &labels(&[("pod", "b")]),
            &[
                (1661140279.0, f64::INFINITY),
                (1661140339.0, f64::NEG_INFINITY),
            ],
        )
        .unwrap();
        w.write_series(
            "requests",
            MetricKind::Counter,
            &BTreeMap::new(),
            &[(1.0, 3.0)],
        )
        .unwrap();
        let text = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(
            text,
            "# TYPE pod_cpu_usage_ratio gauge\n\
             pod_cpu_usage_ratio{pod=\"a\\\"b\\\\c\\nd\",service=\"x\"} 0.25 1661140279.500\n\
             pod_cpu_usage_ratio{pod=\"a\\\"b\\\\c\\nd\",service=\"x\"} NaN 1661140339\n\
             pod_cpu_usage_ratio{pod=\"b\"} +Inf 1661140279\n\
             pod_cpu_usage_ratio{pod=\"b\"} -Inf 1661140339\n\
             # TYPE requests counter\n\
             requests_total 3 1\n\
             # EOF\n"
        );
        let back: Vec<Sample> = read(&text).into_iter().map(Result::unwrap).collect();
        assert_eq!(back.len(), 5);
        assert_eq!(back[0].labels, tricky);
        assert_eq!(back[0].ts, 1661140279.5);
        assert_eq!(back[0].value, 0.25);
        assert!(back[1].value.is_nan());
        assert_eq!(back[2].value, f64::INFINITY);
        assert_eq!(back[3].value, f64::NEG_INFINITY);
        assert_eq!(back[4].name, "requests_total");
    }

    #[test]
    fn the_writer_refuses_what_promtool_would_mangle() {
        let l = BTreeMap::new();
        let mut w = OpenMetricsWriter::new(Vec::new());
        let e = w
            .write_series("a", MetricKind::Gauge, &l, &[(2.0, 1.0), (1.0, 1.0)])
            .unwrap_err();
        assert!(e.to_string().contains("timestamp 1 is not after 2"), "{e}");

        let mut w = OpenMetricsWriter::new(Vec::new());
        w.write_series("a", MetricKind::Gauge, &l, &[(1.0, 1.0)])
            .unwrap();
        let e = w
            .write_series("a", MetricKind::Gauge, &l, &[(2.0, 1.0)])
            .unwrap_err();
        assert!(e.to_string().contains("written twice"), "{e}");
        w.write_series("b", MetricKind::Gauge, &l, &[(1.0, 1.0)])
            .unwrap();
        let e = w
            .write_series(
                "a",
                MetricKind::Gauge,
                &labels(&[("x", "1")]),
                &[(1.0, 1.0)],
            )
            .unwrap_err();
        assert!(e.to_string().contains("must be contiguous"), "{e}");
        let e = w
            .write_series("c", MetricKind::Gauge, &labels(&[("bad-name", "1")]), &[])
            .unwrap_err();
        assert!(e.to_string().contains("not a valid label name"), "{e}");
        let e = w
            .write_series("9c", MetricKind::Gauge, &l, &[])
            .unwrap_err();
        assert!(e.to_string().contains("not a valid metric name"), "{e}");
    }

    fn error_of(text: &str) -> String {
        read(text)
            .into_iter()
            .find_map(Result::err)
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn reader_errors_name_the_line() {
        assert_eq!(
            error_of("# TYPE a gauge\na 1 1\n"),
            "m.om:2: the file ends without `# EOF`"
        );
        assert_eq!(
            error_of("# TYPE a gauge\na{x=\"1\"} 1 2\na{x=\"2\"} 1 1\na{x=\"1\"} 1 2\n# EOF\n"),
            "m.om:4: timestamp 2 of a{x=\"1\"} is not after the previous one (2)"
        );
        assert_eq!(
            error_of("# TYPE a gauge\n# EOF\na 1 1\n"),
            "m.om:3: data after `# EOF`"
        );
        assert!(error_of("a{x=\"1} 1 1\n# EOF\n").starts_with("m.om:1: label `x`: unterminated"));
        assert!(error_of("a{x=\"\\t\"} 1 1\n# EOF\n").contains("invalid escape"));
        assert!(error_of("a 1\n# EOF\n").contains("m.om:1: the sample has no timestamp"));
        assert!(
            error_of("# HELP a x\n# UNIT a s\n# TYPE a gauge\na one 1\n# EOF\n")
                .starts_with("m.om:4: `one` is not a number")
        );
        assert!(error_of("# TYPE a sometype\n# EOF\n").contains("unknown metric type"));
        assert_eq!(
            error_of("# HELP a text\n# UNIT a seconds\na 1 1\n# EOF\n"),
            ""
        );
    }
}
