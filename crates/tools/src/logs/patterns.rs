//! `logs.patterns`: how each source's log *shape* around a time compares with
//! its own past, the "new exceptions / log pattern change" signal.
//!
//! A line's template is its level and the token after it (the logger or
//! code location, `ERROR c.s.ContactsServiceImpl#37`); lines sharing a span id
//! form a span whose pattern is the sorted set of their templates, and a line
//! without a span id is a span of its own. The baseline, `[at - baseline_secs,
//! at - gap_secs)`, is cut in 5-minute buckets; a pattern is rare when it
//! appears in fewer than 30% of the source's buckets with lines. The current
//! window, `[at - before_secs, at + after_secs]`, is then scored by its errors
//! and rare spans against the baseline's per-minute rates.
//!
//! Files are streamed once; only lines inside the two windows are kept, as
//! per-span template sets. Lines without a timestamp (stack traces) belong to
//! the line before and are not counted.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use pagerless_model::Observation;
use regex::bytes::Regex;

use super::config::LogsConfig;
use super::data::{
    Absence, BaselineShape, CurrentShape, InferredCall, LogPatterns, NewPattern, SourceShape,
    TimeWindow, UnreadableSource,
};
use super::files::resolve;
use super::timestamp::leading_time_end;
use crate::{Tool, ToolError};

const TOOL: &str = "logs.patterns";
/// The baseline's bucket width.
const BUCKET_MS: i64 = 300_000;
/// A pattern seen in fewer than this share (percent) of the buckets is rare.
const RARE_PERCENT: u64 = 30;
/// How many tokens after the timestamp may hold the level.
const LEVEL_TOKENS: usize = 6;
/// Templates (a location, or a message without one) are cut to this many characters.
const TEMPLATE_CHARS: usize = 80;
/// The level and location are looked for in a line's first this many bytes.
const HEAD_BYTES: usize = 1024;
/// Example lines are cut to this many characters.
const EXAMPLE_CHARS: usize = 300;
/// The most example patterns a caller may ask for per source.
const MAX_TOP: u64 = 50;
/// The longest window a caller may ask for: a year.
const MAX_SECS: f64 = 366.0 * 86_400.0;
/// A z-score from which a source is named in the summary.
const NOTABLE_Z: f64 = 3.0;
/// The most sources the summary names.
const SUMMARY_SOURCES: usize = 3;

/// The key of `span_id=X`, `SpanID: X`, `spanId=X`, `"span_id":"X"`; the
/// rest is checked by hand, which is faster on long lines.
static SPAN_KEY: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"(?i-u)span[_-]?id").ok());

/// The key of `trace_id=X`, `TraceID: X`, `traceId=X`, `"trace_id":"X"`.
static TRACE_KEY: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?i-u)trace[_-]?id").ok());

/// `logs.patterns`: log shape changes of configured sources around a time.
#[derive(Debug, Clone)]
pub struct Patterns {
    config: Arc<LogsConfig>,
}

fn bad(message: impl Into<String>) -> ToolError {
    ToolError::BadArguments {
        tool: TOOL.to_owned(),
        message: message.into(),
    }
}

/// A line's level, least severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Level {
    None,
    Trace,
    Debug,
    Info,
    Notice,
    Warn,
    Error,
    Critical,
    Fatal,
}

/// Level words anywhere in the level's position.
const LEVEL_WORDS: [(&str, Level); 8] = [
    ("ERROR", Level::Error),
    ("WARN", Level::Warn),
    ("WARNING", Level::Warn),
    ("INFO", Level::Info),
    ("DEBUG", Level::Debug),
    ("TRACE", Level::Trace),
    ("FATAL", Level::Fatal),
    ("CRITICAL", Level::Critical),
];

/// Level words only in brackets (nginx's `[crit]`) or as `level=` values.
const QUALIFIED_LEVEL_WORDS: [(&str, Level); 6] = [
    ("ERR", Level::Error),
    ("CRIT", Level::Critical),
    ("EMERG", Level::Fatal),
    ("ALERT", Level::Fatal),
    ("PANIC", Level::Fatal),
    ("NOTICE", Level::Notice),
];

/// Keys whose value is a level (`level=error`).
const LEVEL_KEYS: [&str; 6] = [
    "level",
    "lvl",
    "severity",
    "loglevel",
    "levelname",
    "log.level",
];

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::None => "",
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Notice => "NOTICE",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Critical => "CRITICAL",
            Level::Fatal => "FATAL",
        }
    }

    fn is_error(self) -> bool {
        self >= Level::Error
    }

    /// 2 for errors, 1 for warnings, 0 for the rest.
    fn class(self) -> u8 {
        match self {
            l if l.is_error() => 2,
            Level::Warn => 1,
            _ => 0,
        }
    }

    fn word(word: &str, qualified: bool) -> Option<Level> {
        let plain = LEVEL_WORDS.iter();
        let extra = QUALIFIED_LEVEL_WORDS.iter().filter(|_| qualified);
        plain
            .chain(extra)
            .find(|(w, _)| w.eq_ignore_ascii_case(word))
            .map(|(_, l)| *l)
    }
}

fn not_alphanumeric(c: char) -> bool {
    !c.is_ascii_alphanumeric()
}

/// The level a token names: `ERROR`, `[error]`, `level=error`, `"level":"error"`.
fn token_level(token: &str) -> Option<Level> {
    let bracketed = token.starts_with(['[', '<', '(']);
    let core = token.trim_matches(not_alphanumeric);
    if core.is_empty() {
        return None;
    }
    if let Some(split) = core.find(['=', ':']) {
        let key = core[..split].trim_matches(not_alphanumeric);
        if !LEVEL_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            return None;
        }
        let value = core[split + 1..].trim_start_matches(not_alphanumeric);
        let end = value.find(not_alphanumeric).unwrap_or(value.len());
        return Level::word(&value[..end], true);
    }
    Level::word(core, bracketed)
}

/// `16:42:10.175`: a second time of day after the leading stamp.
fn is_time_of_day(token: &str) -> bool {
    let (clock, fraction) = match token.split_once(['.', ',']) {
        Some((c, f)) => (c, Some(f)),
        None => (token, None),
    };
    let digits = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    let mut parts = clock.split(':');
    (0..3).all(|_| parts.next().is_some_and(|p| digits(p, 2)))
        && parts.next().is_none()
        && fraction.is_none_or(|f| digits(f, 9))
}

/// Whether a token is an id or a number rather than a name: digits (with
/// separators), a UUID, or a hex id of at least 8 characters.
fn is_variable(token: &str) -> bool {
    let core = token.trim_matches(not_alphanumeric);
    let core = core
        .strip_prefix("0x")
        .or_else(|| core.strip_prefix("0X"))
        .unwrap_or(core);
    if !core.bytes().any(|b| b.is_ascii_digit()) {
        return false;
    }
    let numeric = core
        .bytes()
        .all(|b| b.is_ascii_digit() || b".,:-_/+%#".contains(&b));
    let hex = core.len() >= 8 && core.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    numeric || hex
}

/// Appends `text` cut to `max` characters.
fn push_cut(out: &mut String, text: &str, max: usize) {
    match text.char_indices().nth(max) {
        Some((at, _)) => out.push_str(&text[..at]),
        None => out.push_str(text),
    }
}

/// Appends `text` with every run of digits as `<*>`, up to `max` characters in all.
fn push_masked(out: &mut String, text: &str, max: usize) {
    let mut written = 0;
    let mut in_digits = false;
    for c in text.chars() {
        if written >= max {
            break;
        }
        if c.is_ascii_digit() {
            if !in_digits {
                out.push_str("<*>");
                written += 3;
            }
            in_digits = true;
        } else {
            out.push(c);
            written += 1;
            in_digits = false;
        }
    }
}

/// The first `HEAD_BYTES` of a line as text: all a template needs, without
/// checking the whole (possibly long) line.
fn utf8_head(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    let head = &bytes[..bytes.len().min(HEAD_BYTES)];
    match std::str::from_utf8(head) {
        Ok(text) => text.into(),
        // Cut inside a character: up to it.
        Err(e) if e.error_len().is_none() => String::from_utf8_lossy(&head[..e.valid_up_to()]),
        Err(_) => String::from_utf8_lossy(head),
    }
}

/// Writes the template of a line's text after its leading stamp into `out`
/// and returns its level.
fn template_into(rest: &str, out: &mut String) -> Level {
    out.clear();
    let mut tokens = rest.split_ascii_whitespace();
    let mut probe = tokens.clone();
    if probe.next().is_some_and(is_time_of_day) {
        tokens = probe;
    }
    let mut level = Level::None;
    let mut level_index = None;
    let mut after = tokens.clone();
    let mut probe = tokens.clone();
    for index in 0..LEVEL_TOKENS {
        let Some(token) = probe.next() else { break };
        if let Some(found) = token_level(token) {
            level = found;
            level_index = Some(index);
            after = probe;
            break;
        }
    }
    out.push_str(level.as_str());
    let location = after.find(|t| t.chars().any(char::is_alphanumeric));
    if let Some(location) = location {
        if !out.is_empty() {
            out.push(' ');
        }
        let trimmed = location.trim_end_matches([':', ',', ';']);
        if is_variable(trimmed) {
            out.push_str("<*>");
        } else {
            push_cut(out, trimmed, TEMPLATE_CHARS);
        }
        return level;
    }
    // Nothing follows the level: the message (without it) stands for the location.
    let mut message = String::new();
    for (index, token) in tokens.enumerate() {
        if Some(index) == level_index {
            continue;
        }
        if !message.is_empty() {
            message.push(' ');
        }
        message.push_str(token);
        if message.len() > 4 * TEMPLATE_CHARS {
            break;
        }
    }
    if !message.is_empty() {
        if !out.is_empty() {
            out.push(' ');
        }
        push_masked(out, &message, TEMPLATE_CHARS);
    }
    level
}

/// The span id a line carries, if any (all zeros and `null` are none): the
/// first `\bspan[_-]?id["']?\s*[:=]\s*["']?([0-9A-Za-z_-]+)`, case aside.
fn span_id(text: &[u8]) -> Option<&[u8]> {
    keyed_id(text, SPAN_KEY.as_ref()?)
}

/// The trace id a line carries, if any, read like [`span_id`].
fn trace_id(text: &[u8]) -> Option<&[u8]> {
    keyed_id(text, TRACE_KEY.as_ref()?)
}

/// The id after the first whole-word match of `key`, `:` or `=`, quotes
/// and spaces allowed around them.
fn keyed_id<'a>(text: &'a [u8], key: &Regex) -> Option<&'a [u8]> {
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let is_id = |b: u8| is_word(b) || b == b'-';
    let skip = |at: &mut usize, what: &dyn Fn(u8) -> bool, most: usize| {
        let mut n = 0;
        while n < most && text.get(*at).copied().is_some_and(what) {
            *at += 1;
            n += 1;
        }
    };
    let found = key.find_iter(text).find_map(|key| {
        if key.start() > 0 && is_word(text[key.start() - 1]) {
            return None;
        }
        let mut at = key.end();
        let quote = |b: u8| b == b'"' || b == b'\'';
        skip(&mut at, &quote, 1);
        skip(&mut at, &|b: u8| b.is_ascii_whitespace(), usize::MAX);
        if !matches!(text.get(at), Some(b':' | b'=')) {
            return None;
        }
        at += 1;
        skip(&mut at, &|b: u8| b.is_ascii_whitespace(), usize::MAX);
        skip(&mut at, &quote, 1);
        let start = at;
        skip(&mut at, &is_id, usize::MAX);
        (at > start).then(|| &text[start..at])
    })?;
    let meaningless = found.iter().all(|b| matches!(b, b'0' | b'-' | b'_'))
        || found.eq_ignore_ascii_case(b"null")
        || found.eq_ignore_ascii_case(b"none");
    (!meaningless).then_some(found)
}

/// The windows, in unix milliseconds: current `[cur_start, cur_end]`,
/// baseline `[base_start, base_end)`, which ends before the current one starts.
#[derive(Debug, Clone, Copy)]
struct Windows {
    cur_start: i64,
    cur_end: i64,
    base_start: i64,
    base_end: i64,
}

/// A span's first time and its templates (sorted ids).
struct Span {
    first: i64,
    templates: Vec<u32>,
}

/// A baseline bucket of one source.
#[derive(Default)]
struct Bucket {
    lines: u64,
    errors: u64,
    rare_spans: u64,
    minutes: HashSet<i64>,
}

/// What one source's lines inside the windows come to, while streaming.
#[derive(Default)]
struct Scan {
    template_ids: HashMap<String, u32>,
    template_names: Vec<String>,
    template_levels: Vec<Level>,
    /// Baseline lines per template, to pick the least familiar one as example.
    template_baseline_lines: Vec<u64>,
    spans: HashMap<Box<[u8]>, Span>,
    /// Lines without a span id: (time, template).
    singles: Vec<(i64, u32)>,
    current: CurrentShape,
    current_minutes: HashSet<i64>,
    baseline_lines: u64,
    baseline_errors: u64,
    baseline_minutes: HashSet<i64>,
    buckets: BTreeMap<i64, Bucket>,
    /// The first current line of each template.
    examples: HashMap<u32, String>,
    /// Each trace this source logged a current error in: its first such time.
    trace_errors: HashMap<Box<[u8]>, i64>,
    /// Each trace's first and last time in this source (both windows).
    trace_spans: HashMap<Box<[u8]>, (i64, i64)>,
    /// The latest line from the baseline's start up to the current window.
    latest_before: Option<i64>,
}

impl Scan {
    fn template_id(&mut self, template: &str, level: Level) -> u32 {
        if let Some(id) = self.template_ids.get(template) {
            return *id;
        }
        let id = self.template_names.len() as u32;
        self.template_ids.insert(template.to_owned(), id);
        self.template_names.push(template.to_owned());
        self.template_levels.push(level);
        self.template_baseline_lines.push(0);
        id
    }

    /// Streams one file.
    fn file(&mut self, path: &Path, windows: Windows) -> std::io::Result<()> {
        let mut reader = BufReader::with_capacity(1 << 16, std::fs::File::open(path)?);
        let mut raw = Vec::new();
        let mut template = String::new();
        // Lines come mostly in time order: skip re-inserting the same minute.
        let mut last_current_minute = None;
        let mut last_baseline_minute = None;
        loop {
            raw.clear();
            if reader.read_until(b'\n', &mut raw)? == 0 {
                return Ok(());
            }
            let line = raw.strip_suffix(b"\n").unwrap_or(&raw);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            // Lines without a stamp continue the line before: not lines of their own.
            let Some((time, end)) = leading_time_end(line) else {
                continue;
            };
            let ms = time.timestamp_millis();
            let current = (windows.cur_start..=windows.cur_end).contains(&ms);
            let baseline = (windows.base_start..windows.base_end).contains(&ms);
            if (windows.base_start..windows.cur_start).contains(&ms) {
                self.latest_before = Some(self.latest_before.map_or(ms, |l| l.max(ms)));
            }
            if !current && !baseline {
                continue;
            }
            let rest = &line[end..];
            let level = template_into(&utf8_head(rest), &mut template);
            let id = self.template_id(&template, level);
            let minute = ms.div_euclid(60_000);
            if let Some(trace) = trace_id(rest) {
                match self.trace_spans.get_mut(trace) {
                    Some((first, last)) => {
                        *first = (*first).min(ms);
                        *last = (*last).max(ms);
                    }
                    None => {
                        self.trace_spans.insert(trace.into(), (ms, ms));
                    }
                }
            }
            if current {
                self.current.lines += 1;
                self.current.errors += u64::from(level.is_error());
                self.current.warnings += u64::from(level == Level::Warn);
                if last_current_minute != Some(minute) {
                    self.current_minutes.insert(minute);
                    last_current_minute = Some(minute);
                }
                if level.is_error()
                    && let Some(trace) = trace_id(rest)
                {
                    match self.trace_errors.get_mut(trace) {
                        Some(first) => *first = (*first).min(ms),
                        None => {
                            self.trace_errors.insert(trace.into(), ms);
                        }
                    }
                }
                self.examples.entry(id).or_insert_with(|| {
                    let mut example = String::new();
                    push_cut(&mut example, &String::from_utf8_lossy(line), EXAMPLE_CHARS);
                    example
                });
            } else {
                self.baseline_lines += 1;
                self.baseline_errors += u64::from(level.is_error());
                if let Some(n) = self.template_baseline_lines.get_mut(id as usize) {
                    *n += 1;
                }
                let index = (ms - windows.base_start) / BUCKET_MS;
                let bucket = self.buckets.entry(index).or_default();
                bucket.lines += 1;
                bucket.errors += u64::from(level.is_error());
                if last_baseline_minute != Some((index, minute)) {
                    bucket.minutes.insert(minute);
                    self.baseline_minutes.insert(minute);
                    last_baseline_minute = Some((index, minute));
                }
            }
            match span_id(rest) {
                Some(span) => match self.spans.get_mut(span) {
                    Some(found) => {
                        found.first = found.first.min(ms);
                        if let Err(at) = found.templates.binary_search(&id) {
                            found.templates.insert(at, id);
                        }
                    }
                    None => {
                        self.spans.insert(
                            span.into(),
                            Span {
                                first: ms,
                                templates: vec![id],
                            },
                        );
                    }
                },
                None => self.singles.push((ms, id)),
            }
        }
    }

    /// The source's shape, from what was streamed.
    fn finish(mut self, source: &str, windows: Windows, top: usize) -> Shaped {
        let trace_errors = std::mem::take(&mut self.trace_errors);
        let trace_spans = std::mem::take(&mut self.trace_spans);
        // Every span as (first time, pattern id).
        let mut pattern_ids: HashMap<Vec<u32>, u32> = HashMap::new();
        let mut patterns: Vec<Vec<u32>> = Vec::new();
        let mut intern = |templates: Vec<u32>| -> u32 {
            if let Some(id) = pattern_ids.get(&templates) {
                return *id;
            }
            let id = patterns.len() as u32;
            patterns.push(templates.clone());
            pattern_ids.insert(templates, id);
            id
        };
        let mut spans: Vec<(i64, u32)> = Vec::with_capacity(self.spans.len() + self.singles.len());
        for span in std::mem::take(&mut self.spans).into_values() {
            spans.push((span.first, intern(span.templates)));
        }
        for (ms, template) in std::mem::take(&mut self.singles) {
            spans.push((ms, intern(vec![template])));
        }

        // In how many baseline buckets each pattern appears.
        let bucket_of = |ms: i64| (ms - windows.base_start) / BUCKET_MS;
        let is_baseline = |ms: i64| (windows.base_start..windows.base_end).contains(&ms);
        let mut seen: Vec<(u32, i64)> = spans
            .iter()
            .filter(|(ms, _)| is_baseline(*ms))
            .map(|(ms, p)| (*p, bucket_of(*ms)))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        let mut buckets_seen = vec![0u64; patterns.len()];
        for (pattern, _) in &seen {
            buckets_seen[*pattern as usize] += 1;
        }
        let buckets = self.buckets.len() as u64;
        // Without a baseline every pattern is rare (and `buckets: 0` says so).
        let rare = |pattern: u32| {
            buckets == 0 || buckets_seen[pattern as usize] * 100 < RARE_PERCENT * buckets
        };

        let mut baseline_rare = 0;
        let mut current_rare: HashMap<u32, u64> = HashMap::new();
        for (ms, pattern) in &spans {
            if is_baseline(*ms) {
                if rare(*pattern) {
                    baseline_rare += 1;
                    if let Some(bucket) = self.buckets.get_mut(&bucket_of(*ms)) {
                        bucket.rare_spans += 1;
                    }
                }
            } else {
                self.current.spans += 1;
                if rare(*pattern) {
                    self.current.rare_spans += 1;
                    *current_rare.entry(*pattern).or_default() += 1;
                }
            }
        }

        let per_minute = |count: fn(&Bucket) -> u64| {
            median(
                self.buckets
                    .values()
                    .map(|b| count(b) as f64 / b.minutes.len().max(1) as f64)
                    .collect(),
            )
        };
        // A few minutes of baseline say little: the rates are shrunk toward
        // none, as if PRIOR_MINUTES more quiet minutes had been seen (no
        // baseline at all is a rate of none already).
        let seen = self.baseline_minutes.len() as f64;
        let shrink = if seen > 0.0 {
            seen / (seen + PRIOR_MINUTES)
        } else {
            0.0
        };
        let error_rate = per_minute(|b| b.errors) * shrink;
        let rare_rate = per_minute(|b| b.rare_spans) * shrink;
        self.current.minutes = self.current_minutes.len() as u64;
        let minutes = self.current.minutes as f64;
        let z = |observed: u64, rate: f64| {
            let expected = rate * minutes;
            (observed as f64 - expected) / (expected + 1.0).sqrt()
        };
        let error_z = z(self.current.errors, error_rate);
        let rare_z = z(self.current.rare_spans, rare_rate);

        let level_of = |pattern: u32| {
            patterns[pattern as usize]
                .iter()
                .map(|t| self.template_levels[*t as usize])
                .max()
                .unwrap_or(Level::None)
        };
        let mut ranked: Vec<(u32, u64, Level)> = current_rare
            .into_iter()
            .map(|(p, n)| (p, n, level_of(p)))
            .collect();
        let name_of = |pattern: u32| {
            let mut names: Vec<&str> = patterns[pattern as usize]
                .iter()
                .map(|t| self.template_names[*t as usize].as_str())
                .collect();
            names.sort_unstable();
            names.join("|")
        };
        ranked
            .sort_by_cached_key(|(p, n, level)| (Reverse(level.class()), Reverse(*n), name_of(*p)));
        let new_patterns = ranked
            .into_iter()
            .take(top)
            .map(|(pattern, count, level)| {
                // The most severe, least familiar template shows what is new.
                let example = patterns[pattern as usize]
                    .iter()
                    .max_by_key(|t| {
                        (
                            self.template_levels[**t as usize],
                            Reverse(self.template_baseline_lines[**t as usize]),
                        )
                    })
                    .and_then(|t| self.examples.get(t))
                    .cloned()
                    .unwrap_or_default();
                NewPattern {
                    pattern: name_of(pattern),
                    count,
                    level: level.as_str().to_owned(),
                    baseline_buckets: buckets_seen[pattern as usize],
                    example,
                }
            })
            .collect();

        self.current.error_traces = trace_errors.len() as u64;
        let shape = SourceShape {
            source: source.to_owned(),
            current: self.current,
            baseline: BaselineShape {
                lines: self.baseline_lines,
                errors: self.baseline_errors,
                rare_spans: baseline_rare,
                minutes: self.baseline_minutes.len() as u64,
                buckets,
            },
            error_rate_per_min: round(error_rate, 3),
            rare_span_rate_per_min: round(rare_rate, 3),
            error_z: round(error_z, 2),
            rare_z: round(rare_z, 2),
            volume_drop_z: 0.0,
            absence: None,
            new_patterns,
        };
        let bucket_lines = self.buckets.iter().map(|(k, b)| (*k, b.lines)).collect();
        Shaped {
            shape,
            trace_errors,
            trace_spans,
            bucket_lines,
            latest_before: self.latest_before,
        }
    }
}

/// A source's shape, and the first time it logged an error in each trace.
struct Shaped {
    shape: SourceShape,
    trace_errors: HashMap<Box<[u8]>, i64>,
    /// Baseline lines per bucket.
    bucket_lines: BTreeMap<i64, u64>,
    /// Each trace's first and last time in this source.
    trace_spans: HashMap<Box<[u8]>, (i64, i64)>,
    /// The latest line from the baseline's start up to the current window.
    latest_before: Option<i64>,
}

/// Quiet minutes a source's baseline rates are shrunk with.
const PRIOR_MINUTES: f64 = 10.0;

/// A baseline bucket with fewer lines than this share of the median
/// bucket's (all sources) is left out of the usual shares.
const THIN_BUCKET: f64 = 0.1;

/// The least number of traces a call is kept on.
const CALL_TRACES: u64 = 3;

/// Calls inferred from traces: in one trace, source A's first and last
/// lines enclose B's (and are not the same) — A was busy all the while B
/// worked, so A called B, directly or through others. A call is kept when
/// seen in at least [`CALL_TRACES`] traces and over 3 times as often as
/// the reverse.
fn inferred_calls(shaped: &[Shaped]) -> Vec<(usize, usize, u64)> {
    let mut traces: HashMap<&[u8], Vec<(usize, i64, i64)>> = HashMap::new();
    for (i, s) in shaped.iter().enumerate() {
        for (trace, (first, last)) in &s.trace_spans {
            traces
                .entry(trace.as_ref())
                .or_default()
                .push((i, *first, *last));
        }
    }
    let mut counts: HashMap<(usize, usize), u64> = HashMap::new();
    for spans in traces.values().filter(|s| s.len() > 1) {
        for a in spans {
            for b in spans {
                if encloses((a.1, a.2), (b.1, b.2)) && a.0 != b.0 {
                    *counts.entry((a.0, b.0)).or_default() += 1;
                }
            }
        }
    }
    let mut calls: Vec<(usize, usize, u64)> = counts
        .iter()
        .filter(|((a, b), n)| {
            **n >= CALL_TRACES && **n > 3 * counts.get(&(*b, *a)).copied().unwrap_or(0)
        })
        .map(|((a, b), n)| (*a, *b, *n))
        .collect();
    calls.sort_unstable();
    calls
}

/// Whether a caller's (first, last) times in a trace enclose a callee's.
fn encloses(caller: (i64, i64), callee: (i64, i64)) -> bool {
    caller.0 <= callee.0 && caller.1 >= callee.1 && caller != callee
}

/// The least number of a caller's baseline traces an absence is measured on.
const ABSENCE_TRACES: u64 = 10;

/// The least share of a caller's baseline traces a callee must have been in
/// for its absence to count: a call made only in some of the caller's
/// operations comes and goes with the mix of requests.
const ABSENCE_SHARE: f64 = 0.8;

/// Each source's [`SourceShape::absence`]: for each call inferred to it,
/// the share of the caller's baseline traces (by the caller's first line
/// in the trace) that reached it, against the current window's. The
/// strongest drop over its callers is kept, when its z is positive.
fn absences(
    shaped: &[Shaped],
    calls: &[(usize, usize, u64)],
    windows: Windows,
) -> Vec<Option<Absence>> {
    let mut out: Vec<Option<Absence>> = vec![None; shaped.len()];
    for &(a, b, _) in calls {
        let (caller, callee) = (&shaped[a], &shaped[b]);
        let (mut base, mut base_reached, mut now, mut now_reached) = (0u64, 0u64, 0u64, 0u64);
        for (trace, span) in &caller.trace_spans {
            let reached = callee
                .trace_spans
                .get(trace)
                .is_some_and(|inner| encloses(*span, *inner));
            if (windows.base_start..windows.base_end).contains(&span.0) {
                base += 1;
                base_reached += u64::from(reached);
            } else if (windows.cur_start..=windows.cur_end).contains(&span.0)
                && !caller.trace_errors.contains_key(trace)
            {
                now += 1;
                now_reached += u64::from(reached);
            }
        }
        if base < ABSENCE_TRACES || now == 0 {
            continue;
        }
        // Smoothed, so that a share seen as 100% can still vary.
        let share = (base_reached as f64 + 1.0) / (base as f64 + 2.0);
        if share < ABSENCE_SHARE {
            continue;
        }
        let expected = share * now as f64;
        let z = (expected - now_reached as f64) / (expected * (1.0 - share) + 1.0).sqrt();
        if z > 0.0 && out[b].as_ref().is_none_or(|held| z > held.z) {
            out[b] = Some(Absence {
                caller: caller.shape.source.clone(),
                baseline_share: round(share, 3),
                caller_traces: now,
                reached: now_reached,
                z: round(z, 2),
            });
        }
    }
    out
}

/// Each source's [`SourceShape::volume_drop_z`]: its lines in the current
/// window against its usual share (the median of its shares in the
/// baseline buckets that hold lines of any source) of the window's volume.
/// The volume is the median over sources of lines ÷ usual share, so that
/// one source that surges does not make every other one look quiet.
fn volume_drops(shaped: &[Shaped]) -> Vec<f64> {
    let mut totals: BTreeMap<i64, u64> = BTreeMap::new();
    for s in shaped {
        for (bucket, lines) in &s.bucket_lines {
            *totals.entry(*bucket).or_default() += lines;
        }
    }
    // A bucket collection barely covered says nothing about shares.
    let usual = median(totals.values().map(|t| *t as f64).collect());
    totals.retain(|_, total| *total as f64 >= THIN_BUCKET * usual);
    let shares: Vec<f64> = shaped
        .iter()
        .map(|s| {
            median(
                totals
                    .iter()
                    .map(|(bucket, total)| {
                        s.bucket_lines.get(bucket).copied().unwrap_or(0) as f64 / *total as f64
                    })
                    .collect(),
            )
        })
        .collect();
    let volume = median(
        shaped
            .iter()
            .zip(&shares)
            .filter(|(_, share)| **share > 0.0)
            .map(|(s, share)| s.shape.current.lines as f64 / share)
            .collect(),
    );
    shaped
        .iter()
        .zip(&shares)
        .map(|(s, share)| {
            if volume <= 0.0 {
                return 0.0;
            }
            let expected = share * volume;
            let z = (expected - s.shape.current.lines as f64) / (expected + 1.0).sqrt();
            round(z, 2)
        })
        .collect()
}

/// Counts, for each source, the traces whose first error is its own
/// (a tie counts for every source tied).
fn first_errors(shaped: &[Shaped]) -> Vec<u64> {
    let mut first: HashMap<&[u8], i64> = HashMap::new();
    for s in shaped {
        for (trace, ms) in &s.trace_errors {
            let t = first.entry(trace.as_ref()).or_insert(*ms);
            *t = (*t).min(*ms);
        }
    }
    shaped
        .iter()
        .map(|s| {
            s.trace_errors
                .iter()
                .filter(|(trace, ms)| first.get(trace.as_ref()) == Some(*ms))
                .count() as u64
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// Reads one source's files and scores them.
fn shape(
    source: &str,
    spec: &str,
    windows: Windows,
    top: usize,
) -> std::io::Result<(usize, Shaped)> {
    let files = resolve(spec)?;
    let mut scan = Scan::default();
    for file in &files {
        scan.file(file, windows)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", file.display())))?;
    }
    Ok((files.len(), scan.finish(source, windows, top)))
}

fn rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| ms.to_string())
}

/// `at`: RFC 3339 or unix seconds; default now.
fn parse_at(value: Option<&serde_json::Value>) -> Result<DateTime<Utc>, ToolError> {
    let invalid = |shown: &str| {
        bad(format!(
            "`at` must be an RFC 3339 time (2023-01-29T08:45:04Z) or unix seconds, not {shown}"
        ))
    };
    let from_secs = |secs: f64| {
        (secs.is_finite() && secs.abs() < 1e11)
            .then(|| DateTime::from_timestamp_millis((secs * 1000.0).round() as i64))
            .flatten()
    };
    match value {
        None | Some(serde_json::Value::Null) => Ok(Utc::now()),
        Some(serde_json::Value::String(s)) => {
            let s = s.trim();
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(from_secs))
                .ok_or_else(|| invalid(&format!("`{s}`")))
        }
        Some(serde_json::Value::Number(n)) => n
            .as_f64()
            .and_then(from_secs)
            .ok_or_else(|| invalid(&n.to_string())),
        Some(other) => Err(invalid(&other.to_string())),
    }
}

/// A non-negative number of seconds, as milliseconds.
fn parse_secs(args: &serde_json::Value, key: &str, default: i64) -> Result<i64, ToolError> {
    match args.get(key) {
        None | Some(serde_json::Value::Null) => Ok(default * 1000),
        Some(v) => match v.as_f64() {
            Some(s) if s.is_finite() && (0.0..=MAX_SECS).contains(&s) => {
                Ok((s * 1000.0).round() as i64)
            }
            _ => Err(bad(format!(
                "`{key}` must be a number of seconds from 0 to {MAX_SECS:.0}, not {v}"
            ))),
        },
    }
}

/// The window bounds: current `[at - before, at + after]`, baseline
/// `[at - baseline, at - gap)` cut back to end where the current one starts.
fn windows(at: DateTime<Utc>, args: &serde_json::Value) -> Result<Windows, ToolError> {
    let before = parse_secs(args, "before_secs", 240)?;
    let after = parse_secs(args, "after_secs", 60)?;
    let baseline = parse_secs(args, "baseline_secs", 3600)?;
    let gap = parse_secs(args, "gap_secs", 600)?;
    if baseline <= gap {
        return Err(bad(format!(
            "`baseline_secs` ({} s) must be greater than `gap_secs` ({} s): the baseline is [at - baseline_secs, at - gap_secs)",
            baseline / 1000,
            gap / 1000
        )));
    }
    let at = at.timestamp_millis();
    let windows = Windows {
        cur_start: at - before,
        cur_end: at + after,
        base_start: at - baseline,
        base_end: (at - gap).min(at - before),
    };
    if windows.base_end <= windows.base_start {
        return Err(bad(format!(
            "the baseline [at - {} s, at - {} s) lies inside the current window [at - {} s, at + {} s]: make `baseline_secs` larger than `before_secs`",
            baseline / 1000,
            gap / 1000,
            before / 1000,
            after / 1000
        )));
    }
    Ok(windows)
}

impl Patterns {
    /// The tool over `config`'s sources.
    pub fn new(config: &LogsConfig) -> Patterns {
        Patterns {
            config: Arc::new(config.clone()),
        }
    }

    /// The sources to read: `sources`, or every configured one.
    fn sources(&self, args: &serde_json::Value) -> Result<Vec<(String, String)>, ToolError> {
        let known = || {
            let names: Vec<&str> = self.config.sources.keys().map(String::as_str).collect();
            if names.is_empty() {
                "none configured".to_owned()
            } else {
                names.join(", ")
            }
        };
        let names: Vec<String> = match args.get("sources") {
            None | Some(serde_json::Value::Null) => self.config.sources.keys().cloned().collect(),
            Some(serde_json::Value::Array(items)) => {
                let mut names = Vec::new();
                for item in items {
                    let Some(name) = item.as_str() else {
                        return Err(bad(format!(
                            "`sources` must be an array of source names, not {item}"
                        )));
                    };
                    if !self.config.sources.contains_key(name) {
                        return Err(bad(format!(
                            "no log source `{name}`; the sources are: {}",
                            known()
                        )));
                    }
                    names.push(name.to_owned());
                }
                names.sort();
                names.dedup();
                names
            }
            Some(other) => {
                return Err(bad(format!(
                    "`sources` must be an array of source names, not {other}"
                )));
            }
        };
        if names.is_empty() {
            return Err(bad(format!(
                "no source to read; the sources are: {}",
                known()
            )));
        }
        Ok(names
            .into_iter()
            .filter_map(|n| self.config.sources.get(&n).map(|spec| (n, spec.clone())))
            .collect())
    }
}

/// The one-line summary: the sources whose z-scores stand out, the rest quiet.
fn summary(data: &LogPatterns) -> String {
    let score = |s: &SourceShape| s.error_z.max(s.rare_z);
    let mut notable: Vec<&SourceShape> = data
        .sources
        .iter()
        .filter(|s| score(s) >= NOTABLE_Z && (s.current.errors > 0 || s.current.rare_spans > 0))
        .collect();
    // Sources with a baseline first: without one every pattern is "rare".
    notable.sort_by(|a, b| {
        (b.baseline.buckets > 0)
            .cmp(&(a.baseline.buckets > 0))
            .then(score(b).total_cmp(&score(a)))
    });
    let quiet = data.sources.len() - notable.len();
    let others = |n: usize| format!("{n} source{}", if n == 1 { "" } else { "s" });
    let mut absent: Vec<(&SourceShape, &Absence)> = data
        .sources
        .iter()
        .filter_map(|s| s.absence.as_ref().map(|a| (s, a)))
        .filter(|(_, a)| a.z >= NOTABLE_Z)
        .collect();
    absent.sort_by(|a, b| b.1.z.total_cmp(&a.1.z));
    if notable.is_empty() && absent.is_empty() {
        let lines: u64 = data.sources.iter().map(|s| s.current.lines).sum();
        let largest = data
            .sources
            .iter()
            .max_by(|a, b| score(a).total_cmp(&score(b)))
            .map(|s| format!("; largest z {:.1} ({})", score(s), s.source))
            .unwrap_or_default();
        let latest = data
            .latest_before
            .as_ref()
            .map(|t| format!("; the latest line before it is at {t}: a gap in collection?"))
            .unwrap_or_default();
        return format!(
            "no log pattern change around {}: {} quiet ({lines} lines in the current window{latest}){largest}",
            data.at,
            others(quiet)
        );
    }
    let mut parts: Vec<String> = notable
        .iter()
        .take(SUMMARY_SOURCES)
        .map(|s| {
            let mut part = format!(
                "{}: {} span{} of rare patterns (z={:.1}), {} error{} (z={:.1})",
                s.source,
                s.current.rare_spans,
                if s.current.rare_spans == 1 { "" } else { "s" },
                s.rare_z,
                s.current.errors,
                if s.current.errors == 1 { "" } else { "s" },
                s.error_z
            );
            if s.baseline.buckets == 0 {
                part.push_str(" (no baseline)");
            }
            if let Some(first) = s.new_patterns.first() {
                part.push_str(", e.g. ");
                push_cut(&mut part, &first.pattern, 100);
            }
            part
        })
        .collect();
    for (s, a) in absent.iter().take(SUMMARY_SOURCES) {
        parts.push(format!(
            "{} missing from {}'s traces: in {} of {}, usually {:.0}% (z={:.1})",
            s.source,
            a.caller,
            a.reached,
            a.caller_traces,
            a.baseline_share * 100.0,
            a.z
        ));
    }
    let more = notable.len().saturating_sub(SUMMARY_SOURCES);
    if more > 0 {
        parts.push(format!("{} more changed", others(more)));
    }
    if quiet > 0 {
        parts.push(format!(
            "{} other{} quiet",
            quiet,
            if quiet == 1 { "" } else { "s" }
        ));
    }
    parts.join("; ")
}

#[async_trait]
impl Tool for Patterns {
    fn name(&self) -> &'static str {
        TOOL
    }

    fn description(&self) -> &'static str {
        "Compares each configured log source's shape around a time (e.g. an alert's onset) with its own past hour: error lines and rare or never-seen span patterns (level + logger/location per line, grouped by span id), with z-scores and examples of the new patterns; which source erred first in each trace; how far its share of the lines fell; whether it went missing from traces of a caller that carries on (a service failing before it logs); and the calls its traces show; when no source logged in the window at all (a gap in collection), the time of the latest line before it, to look again there. Shows which service started logging new exceptions or fell silent."
    }

    fn schema(&self) -> serde_json::Value {
        let sources: Vec<&String> = self.config.sources.keys().collect();
        serde_json::json!({
            "type": "object",
            "properties": {
                "at": {"type": ["string", "number"], "description": "the reference time (the alert's onset): RFC 3339 or unix seconds; default now"},
                "before_secs": {"type": "number", "description": "the current window starts this long before `at`; default 240"},
                "after_secs": {"type": "number", "description": "the current window ends this long after `at`; default 60"},
                "baseline_secs": {"type": "number", "description": "the baseline starts this long before `at`; default 3600"},
                "gap_secs": {"type": "number", "description": "the baseline ends this long before `at` (and no later than the current window's start); default 600"},
                "sources": {"type": "array", "items": {"type": "string", "enum": sources}, "description": "default: every source"},
                "top": {"type": "integer", "description": format!("example new patterns per source; default 5, at most {MAX_TOP}")}
            }
        })
    }

    async fn call(&self, args: &serde_json::Value) -> Result<Observation, ToolError> {
        let at = parse_at(args.get("at"))?;
        let windows = windows(at, args)?;
        let top = match args.get("top") {
            None | Some(serde_json::Value::Null) => 5,
            Some(v) => match v.as_u64() {
                Some(n) if n <= MAX_TOP => n as usize,
                _ => {
                    return Err(bad(format!(
                        "`top` must be an integer from 0 to {MAX_TOP}, not {v}"
                    )));
                }
            },
        };
        let sources = self.sources(args)?;

        let tasks: Vec<_> = sources
            .iter()
            .map(|(name, spec)| {
                let (name, spec) = (name.clone(), spec.clone());
                tokio::task::spawn_blocking(move || shape(&name, &spec, windows, top))
            })
            .collect();
        let mut data = LogPatterns {
            at: at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            current: TimeWindow {
                start: rfc3339(windows.cur_start),
                end: rfc3339(windows.cur_end),
            },
            baseline: TimeWindow {
                start: rfc3339(windows.base_start),
                end: rfc3339(windows.base_end),
            },
            ..LogPatterns::default()
        };
        let mut files = 0;
        let mut shaped = Vec::new();
        for ((name, spec), task) in sources.iter().zip(tasks) {
            let result = task.await.map_err(|e| ToolError::Backend {
                tool: TOOL.to_owned(),
                message: format!("reading source `{name}` stopped: {e}"),
                retriable: true,
            })?;
            match result {
                Ok((n, shape)) => {
                    files += n;
                    shaped.push(shape);
                }
                Err(e) => data.unreadable.push(UnreadableSource {
                    source: name.clone(),
                    error: format!("cannot read {spec}: {e}"),
                }),
            }
        }
        let firsts = first_errors(&shaped);
        let drops = volume_drops(&shaped);
        for ((s, first), drop) in shaped.iter_mut().zip(firsts).zip(drops) {
            s.shape.current.first_errors = first;
            s.shape.volume_drop_z = drop;
        }
        let calls = inferred_calls(&shaped);
        let absent = absences(&shaped, &calls, windows);
        for (s, absence) in shaped.iter_mut().zip(absent) {
            s.shape.absence = absence;
        }
        data.calls = calls
            .iter()
            .map(|&(a, b, traces)| InferredCall {
                caller: shaped[a].shape.source.clone(),
                callee: shaped[b].shape.source.clone(),
                traces,
            })
            .collect();
        data.calls
            .sort_by(|x, y| (&x.caller, &x.callee).cmp(&(&y.caller, &y.callee)));
        if shaped.iter().all(|s| s.shape.current.lines == 0) {
            data.latest_before = shaped
                .iter()
                .filter_map(|s| s.latest_before)
                .max()
                .map(rfc3339);
        }
        data.sources = shaped.into_iter().map(|s| s.shape).collect();
        if data.sources.is_empty() {
            let reasons: Vec<String> = data
                .unreadable
                .iter()
                .map(|u| format!("`{}`: {}", u.source, u.error))
                .collect();
            return Err(ToolError::Backend {
                tool: TOOL.to_owned(),
                message: format!("no source could be read: {}", reasons.join("; ")),
                retriable: false,
            });
        }

        let mut summary = summary(&data);
        if !data.unreadable.is_empty() {
            let names: Vec<&str> = data.unreadable.iter().map(|u| u.source.as_str()).collect();
            summary.push_str(&format!("; unreadable: {}", names.join(", ")));
        }
        let names: Vec<&str> = sources.iter().map(|(n, _)| n.as_str()).collect();
        let query = format!(
            "log patterns of {} ({} file{}) around {}: current [{}, {}] against baseline [{}, {}) in 5-minute buckets",
            names.join(", "),
            files,
            if files == 1 { "" } else { "s" },
            data.at,
            data.current.start,
            data.current.end,
            data.baseline.start,
            data.baseline.end
        );
        Ok(Observation {
            tool: TOOL.to_owned(),
            summary,
            query,
            data: serde_json::to_value(&data).map_err(|e| ToolError::Backend {
                tool: TOOL.to_owned(),
                message: format!("cannot encode the patterns: {e}"),
                retriable: false,
            })?,
            error: None,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;
    use std::fmt::Write as _;

    use super::*;

    const AT: &str = "2023-01-29T08:45:04Z";
    const TT: &str = "2023-01-29T08:42:10.176Z 16:42:10.175 INFO  a.c.AssuranceController#75 TraceID: 93bead877ae15b6d9cdf1c1569881314 SpanID: 0b3fba9c4ba54a89 [createNewAssurance][Create new assurance][typeIndex: 1, orderId: 04027d90-a300-4e50-b380-200e58bce4ff]";

    fn at_ms() -> i64 {
        DateTime::parse_from_rfc3339(AT).unwrap().timestamp_millis()
    }

    /// A TT-style line `secs` seconds from `AT`.
    fn line(out: &mut String, secs: i64, level: &str, location: &str, span: &str, message: &str) {
        let t = DateTime::from_timestamp_millis(at_ms() + secs * 1000).unwrap();
        writeln!(
            out,
            "{} {} {level}  {location} TraceID: {span}ffff SpanID: {span} {message}",
            t.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            (t + chrono::Duration::hours(8)).format("%H:%M:%S%.3f"),
        )
        .unwrap();
    }

    /// One INFO line of `location` at each of `times` (seconds from `AT`),
    /// each a span of its own.
    fn info_lines(location: &str, times: impl IntoIterator<Item = i64>) -> String {
        let mut out = String::new();
        for (k, secs) in times.into_iter().enumerate() {
            line(
                &mut out,
                secs,
                "INFO",
                location,
                &format!("{k:08x}"),
                "[ok]",
            );
        }
        out
    }

    /// A span of two INFO lines every 20 s from an hour before `AT` to 60 s
    /// after; with `broken`, spans from 200 s before to 40 s after `AT` also
    /// log an exception with a stack trace.
    fn service(name: &str, broken: bool) -> String {
        let mut out = String::new();
        for k in 0..=183 {
            let secs = -3600 + 20 * k;
            let span = format!("{:016x}", 0xabc0_0000 + k);
            line(
                &mut out,
                secs,
                "INFO",
                &format!("c.c.{name}Controller#83"),
                &span,
                "[find][id: 415d1665-fbb2-4ec9-83f5-5ebe51dc1825]",
            );
            if broken && (-200..=40).contains(&secs) {
                line(
                    &mut out,
                    secs,
                    "ERROR",
                    &format!("c.s.{name}ServiceImpl#37"),
                    &span,
                    "[findById][No contacts according to contactsId]",
                );
                out.push_str("java.lang.IllegalStateException: no contacts\n\tat com.shop.Contacts.find(Contacts.java:42)\n");
            }
            line(
                &mut out,
                secs,
                "INFO",
                &format!("c.s.{name}ServiceImpl#34"),
                &span,
                "[findById][Find contacts]",
            );
        }
        out
    }

    fn tool(dir: &Path, files: &[(&str, String)]) -> Patterns {
        let mut sources = BTreeMap::new();
        for (name, text) in files {
            let path = dir.join(format!("{name}.log"));
            std::fs::write(&path, text).unwrap();
            sources.insert((*name).to_owned(), path.display().to_string());
        }
        Patterns::new(&LogsConfig::new(sources))
    }

    async fn run(tool: &Patterns, args: serde_json::Value) -> (Observation, LogPatterns) {
        let obs = tool.call(&args).await.unwrap();
        let data: LogPatterns = serde_json::from_value(obs.data.clone()).unwrap();
        (obs, data)
    }

    fn source<'a>(data: &'a LogPatterns, name: &str) -> &'a SourceShape {
        data.sources.iter().find(|s| s.source == name).unwrap()
    }

    #[test]
    fn templates_levels_and_spans() {
        let mut out = String::new();
        let (_, end) = leading_time_end(TT.as_bytes()).unwrap();
        assert_eq!(template_into(&TT[end..], &mut out), Level::Info);
        assert_eq!(out, "INFO a.c.AssuranceController#75");
        assert_eq!(span_id(TT.as_bytes()), Some(&b"0b3fba9c4ba54a89"[..]));

        let cases = [
            (
                " [crit] 1234#0: *5 connect() failed",
                Level::Critical,
                "CRITICAL <*>",
            ),
            (" [ERROR] c.s.Foo - boom", Level::Error, "ERROR c.s.Foo"),
            (
                " level=warn logger=db.pool msg=slow",
                Level::Warn,
                "WARN logger=db.pool",
            ),
            (r#" {"level":"error","logger":"x"}"#, Level::Error, "ERROR"),
            (" - app.db - WARNING - slow query", Level::Warn, "WARN slow"),
            (
                " [main] error: c.s.Boot#12 failed",
                Level::Error,
                "ERROR c.s.Boot#12",
            ),
            (
                " INFO 04027d90-a300-4e50-b380-200e58bce4ff done",
                Level::Info,
                "INFO <*>",
            ),
            (" info 0b3fba9c4ba54a89 done", Level::Info, "INFO <*>"),
            (
                " disk 93% full on /dev/sda1 ERROR",
                Level::Error,
                "ERROR disk <*>% full on /dev/sda<*>",
            ),
            (" GET /orders 200", Level::None, "GET"),
            (" 16:42:10.175", Level::None, ""),
        ];
        for (rest, level, template) in cases {
            assert_eq!(template_into(rest, &mut out), level, "{rest}");
            assert_eq!(out, template, "{rest}");
        }

        assert_eq!(
            span_id("x span_id=abc123 y".as_bytes()),
            Some(&b"abc123"[..])
        );
        assert_eq!(span_id("x spanId=Ab-9".as_bytes()), Some(&b"Ab-9"[..]));
        assert_eq!(
            span_id(r#"{"span_id":"f00d"}"#.as_bytes()),
            Some(&b"f00d"[..])
        );
        assert_eq!(span_id("SPANID : 77".as_bytes()), Some(&b"77"[..]));
        assert_eq!(span_id("parentSpanId=abc".as_bytes()), None);
        assert_eq!(span_id("SpanID: 0000000000000000".as_bytes()), None);
        assert_eq!(span_id("no span here".as_bytes()), None);
        assert_eq!(span_id(b"span_id= ;"), None);
        assert_eq!(span_id(b"span_id= x"), Some(&b"x"[..]));
        assert_eq!(span_id(b"spanid spanId=7"), Some(&b"7"[..]));
        assert_eq!(span_id(b"SpanID: 'ab' x"), Some(&b"ab"[..]));
        assert_eq!(span_id(b"span_id=null"), None);
    }

    #[tokio::test]
    async fn a_new_exception_stands_out_and_a_steady_source_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let tool = tool(
            dir.path(),
            &[
                ("contacts", service("Contacts", true)),
                ("orders", service("Orders", false)),
            ],
        );
        let (obs, data) = run(&tool, serde_json::json!({"at": AT})).await;
        println!(
            "{}\n{}\n{}",
            obs.summary,
            obs.query,
            serde_json::to_string_pretty(&obs.data).unwrap()
        );
        assert_eq!(data.at, AT);
        assert_eq!(data.current.start, "2023-01-29T08:41:04Z");
        assert_eq!(data.current.end, "2023-01-29T08:46:04Z");
        assert_eq!(data.baseline.start, "2023-01-29T07:45:04Z");
        assert_eq!(data.baseline.end, "2023-01-29T08:35:04Z");
        assert_eq!(data.sources.len(), 2);
        assert_eq!(data.sources[0].source, "contacts");

        let broken = source(&data, "contacts");
        // 16 spans of 2 lines from -240 s to +60 s; 13 of them log an error
        // whose stack trace lines are not lines of their own.
        assert_eq!(
            broken.current,
            CurrentShape {
                lines: 45,
                errors: 13,
                warnings: 0,
                spans: 16,
                rare_spans: 13,
                minutes: 6,
                // Each broken span's trace erred in this source alone.
                error_traces: 13,
                first_errors: 13,
            }
        );
        assert_eq!(
            broken.baseline,
            BaselineShape {
                lines: 300,
                errors: 0,
                rare_spans: 0,
                minutes: 50,
                buckets: 10,
            }
        );
        assert_eq!(broken.error_rate_per_min, 0.0);
        assert_eq!(broken.rare_z, 13.0);
        assert_eq!(broken.error_z, 13.0);
        let first = &broken.new_patterns[0];
        assert_eq!(
            first.pattern,
            "ERROR c.s.ContactsServiceImpl#37|INFO c.c.ContactsController#83|INFO c.s.ContactsServiceImpl#34"
        );
        assert_eq!(
            (first.count, first.level.as_str(), first.baseline_buckets),
            (13, "ERROR", 0)
        );
        assert!(
            first
                .example
                .contains("No contacts according to contactsId"),
            "{}",
            first.example
        );
        assert_eq!(broken.new_patterns.len(), 1);

        let steady = source(&data, "orders");
        assert_eq!(steady.current.rare_spans, 0);
        assert_eq!(steady.current.errors, 0);
        assert_eq!(steady.rare_z, 0.0);
        assert_eq!(steady.error_z, 0.0);
        assert!(steady.new_patterns.is_empty());

        assert!(
            obs.summary
                .starts_with("contacts: 13 spans of rare patterns (z=13.0), 13 errors (z=13.0)"),
            "{}",
            obs.summary
        );
        assert!(obs.summary.ends_with("1 other quiet"), "{}", obs.summary);
        assert!(
            obs.query.contains("contacts, orders (2 files)"),
            "{}",
            obs.query
        );

        // `at` as unix seconds, as a number or a string, gives the same answer.
        let secs = at_ms() / 1000;
        for at in [
            serde_json::json!(secs),
            serde_json::json!(secs as f64),
            serde_json::json!(secs.to_string()),
        ] {
            let (_, same) = run(&tool, serde_json::json!({"at": at})).await;
            assert_eq!(same, data);
        }

        // Only the listed sources, and `top` limits the examples.
        let (_, one) = run(
            &tool,
            serde_json::json!({"at": AT, "sources": ["contacts"], "top": 0}),
        )
        .await;
        assert_eq!(one.sources.len(), 1);
        assert!(one.sources[0].new_patterns.is_empty());
        assert_eq!(one.sources[0].current, broken.current);
    }

    #[tokio::test]
    async fn without_a_baseline_every_pattern_is_rare() {
        let dir = tempfile::tempdir().unwrap();
        let mut fresh = String::new();
        for secs in [-100, -50, 0, 30] {
            line(
                &mut fresh,
                secs,
                "INFO",
                "c.s.Boot#1",
                "00000000000000aa",
                "started",
            );
        }
        // Lines without a span id are spans of their own; a warning without one too.
        let t = |secs: i64| {
            DateTime::from_timestamp_millis(at_ms() + secs * 1000)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string()
        };
        writeln!(fresh, "{} WARN c.s.Pool#9 pool exhausted", t(10)).unwrap();
        writeln!(fresh, "{} WARN c.s.Pool#9 pool exhausted", t(20)).unwrap();
        writeln!(fresh, "{} before the baseline", t(-7200)).unwrap();
        let tool = tool(dir.path(), &[("fresh", fresh)]);
        let (obs, data) = run(&tool, serde_json::json!({"at": AT})).await;
        let fresh = source(&data, "fresh");
        assert_eq!(fresh.baseline.buckets, 0);
        assert_eq!(fresh.baseline.lines, 0);
        assert_eq!(
            fresh.current,
            CurrentShape {
                lines: 6,
                errors: 0,
                warnings: 2,
                spans: 3,
                rare_spans: 3,
                minutes: 3,
                error_traces: 0,
                first_errors: 0,
            }
        );
        assert_eq!(fresh.new_patterns[0].pattern, "WARN c.s.Pool#9");
        assert_eq!(
            (
                fresh.new_patterns[0].count,
                fresh.new_patterns[0].level.as_str()
            ),
            (2, "WARN")
        );
        assert_eq!(fresh.new_patterns[1].pattern, "INFO c.s.Boot#1");
        assert!(obs.summary.contains("(no baseline)"), "{}", obs.summary);
    }

    #[tokio::test]
    async fn bad_arguments_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let tool = tool(dir.path(), &[("orders", service("Orders", false))]);
        let cases = [
            (
                serde_json::json!({"at": "yesterday"}),
                "`at` must be an RFC 3339 time",
            ),
            (
                serde_json::json!({"at": true}),
                "`at` must be an RFC 3339 time",
            ),
            (
                serde_json::json!({"at": AT, "before_secs": -5}),
                "`before_secs` must be a number of seconds",
            ),
            (
                serde_json::json!({"at": AT, "gap_secs": "ten"}),
                "`gap_secs` must be a number of seconds",
            ),
            (
                serde_json::json!({"at": AT, "baseline_secs": 600}),
                "must be greater than `gap_secs`",
            ),
            (
                serde_json::json!({"at": AT, "baseline_secs": 700, "before_secs": 900}),
                "lies inside the current window",
            ),
            (
                serde_json::json!({"at": AT, "sources": ["nope"]}),
                "no log source `nope`; the sources are: orders",
            ),
            (
                serde_json::json!({"at": AT, "sources": "orders"}),
                "`sources` must be an array",
            ),
            (
                serde_json::json!({"at": AT, "sources": []}),
                "no source to read",
            ),
            (
                serde_json::json!({"at": AT, "top": -1}),
                "`top` must be an integer",
            ),
        ];
        for (args, expected) in cases {
            match tool.call(&args).await {
                Err(ToolError::BadArguments { tool, message }) => {
                    assert_eq!(tool, TOOL);
                    assert!(message.contains(expected), "{args}: {message}");
                }
                other => panic!("{args}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_missing_source_is_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let mut sources = BTreeMap::new();
        let orders = dir.path().join("orders.log");
        std::fs::write(&orders, service("Orders", false)).unwrap();
        sources.insert("orders".to_owned(), orders.display().to_string());
        sources.insert(
            "gone".to_owned(),
            dir.path().join("gone.log").display().to_string(),
        );
        let tool = Patterns::new(&LogsConfig::new(sources));
        let (obs, data) = run(&tool, serde_json::json!({"at": AT})).await;
        assert_eq!(data.sources.len(), 1);
        assert_eq!(data.unreadable[0].source, "gone");
        assert!(obs.summary.ends_with("unreadable: gone"), "{}", obs.summary);
        let err = tool
            .call(&serde_json::json!({"at": AT, "sources": ["gone"]}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no source could be read"), "{err}");
    }

    #[tokio::test]
    async fn the_first_error_of_a_trace_is_credited_to_its_source() {
        // The callee errs at 10 s, its caller relays it at 11 s, both in
        // trace 0a..ffff; the caller also errs alone in another trace.
        let mut callee = String::new();
        line(
            &mut callee,
            10,
            "ERROR",
            "c.s.PriceServiceImpl#71",
            "0a",
            "[price][no route]",
        );
        let mut caller = String::new();
        line(
            &mut caller,
            11,
            "ERROR",
            "o.a.c.c.C.[dispatcherServlet]#175",
            "0a",
            "Servlet.service() threw exception",
        );
        line(
            &mut caller,
            30,
            "ERROR",
            "c.s.TravelServiceImpl#12",
            "0b",
            "[travel][bad date]",
        );
        let dir = tempfile::tempdir().unwrap();
        let tool = tool(dir.path(), &[("price", callee), ("travel", caller)]);
        let (_, data) = run(&tool, serde_json::json!({ "at": AT })).await;
        let price = &source(&data, "price").current;
        assert_eq!((price.error_traces, price.first_errors), (1, 1));
        let travel = &source(&data, "travel").current;
        assert_eq!((travel.error_traces, travel.first_errors), (2, 1));
        assert_eq!(trace_id(b"x trace_id=abc y"), Some(&b"abc"[..]));
        assert_eq!(
            trace_id(TT.as_bytes()),
            Some(&b"93bead877ae15b6d9cdf1c1569881314"[..])
        );
    }

    #[tokio::test]
    async fn a_source_that_falls_quiet_against_its_neighbours_shows_a_volume_drop() {
        // Three sources log alike for an hour; in the last five minutes one
        // logs a fifth as much while the others go on (the volume is the
        // median source's, so they show no drop).
        let log_of = |quiet: bool| {
            let times = (0..=610i64)
                .filter(|k| !(quiet && -3600 + 6 * k >= -240 && k % 5 != 0))
                .map(|k| -3600 + 6 * k);
            info_lines("c.c.Controller#1", times)
        };
        let dir = tempfile::tempdir().unwrap();
        let tool = tool(
            dir.path(),
            &[
                ("route", log_of(true)),
                ("price", log_of(false)),
                ("basic", log_of(false)),
            ],
        );
        let (_, data) = run(&tool, serde_json::json!({ "at": AT })).await;
        let route = source(&data, "route");
        assert!(route.volume_drop_z > 3.0, "{route:?}");
        for other in ["price", "basic"] {
            let s = source(&data, other);
            assert!(s.volume_drop_z.abs() < 0.5, "{other}: {s:?}");
        }
    }

    #[tokio::test]
    async fn a_few_minutes_of_baseline_do_not_make_errors_normal() {
        // Both sources log an exception every 20 s now. Contacts' baseline is
        // 3 minutes long and held the same exceptions (an earlier fault, or
        // collection that started late); orders' is 50 minutes long.
        let erring = |name: &str, times: &mut dyn Iterator<Item = i64>| {
            let mut out = String::new();
            for (k, secs) in times.enumerate() {
                let span = format!("{k:08x}");
                line(
                    &mut out,
                    secs,
                    "ERROR",
                    &format!("c.s.{name}#37"),
                    &span,
                    "[no such id]",
                );
            }
            out
        };
        let contacts = erring(
            "Contacts",
            &mut (-900..-720).step_by(20).chain((-240..=60).step_by(20)),
        );
        let orders = erring("Orders", &mut (-3600..=60).step_by(20));
        let dir = tempfile::tempdir().unwrap();
        let tool = tool(dir.path(), &[("contacts", contacts), ("orders", orders)]);
        let (_, data) = run(&tool, serde_json::json!({ "at": AT })).await;
        let (thin, long) = (source(&data, "contacts"), source(&data, "orders"));
        assert_eq!(thin.baseline.minutes, 3, "{thin:?}");
        assert!(thin.error_z >= NOTABLE_Z, "{thin:?}");
        assert!(long.error_z < 1.0, "{long:?}");
    }

    #[tokio::test]
    async fn a_bucket_collection_barely_covered_does_not_set_the_usual_shares() {
        // Three sources log alike in the last baseline bucket and the current
        // window; in the bucket before, collection caught only two lines, both
        // of route's. Counted as a bucket, they would make route's usual share
        // 2/3 (the median of 1/3 and 1) and its ordinary volume a drop.
        let log_of = |name: &str| {
            let thin: &[i64] = if name == "route" { &[-1000, -990] } else { &[] };
            let times = (-900..-600).step_by(6).chain((-240..=60).step_by(6));
            info_lines(&format!("c.c.{name}#1"), thin.iter().copied().chain(times))
        };
        let dir = tempfile::tempdir().unwrap();
        let tool = tool(
            dir.path(),
            &[
                ("route", log_of("route")),
                ("price", log_of("price")),
                ("basic", log_of("basic")),
            ],
        );
        let (_, data) = run(&tool, serde_json::json!({ "at": AT })).await;
        for name in ["route", "price", "basic"] {
            let s = source(&data, name);
            assert!(s.volume_drop_z.abs() < 1.0, "{name}: {s:?}");
        }
    }

    #[tokio::test]
    async fn a_window_no_source_logged_in_names_the_latest_line_before_it() {
        // Both sources stop logging at once 300 s before `at`: collection
        // stopped, and the tool says up to when there are lines.
        let stopped =
            |name: &str| info_lines(&format!("c.c.{name}#1"), (0..=165).map(|k| -3600 + 20 * k));
        let dir = tempfile::tempdir().unwrap();
        let gap = tool(
            dir.path(),
            &[("route", stopped("Route")), ("price", stopped("Price"))],
        );
        let (obs, data) = run(&gap, serde_json::json!({ "at": AT })).await;
        assert!(
            data.sources.iter().all(|s| s.current.lines == 0),
            "{data:?}"
        );
        let latest = DateTime::parse_from_rfc3339(data.latest_before.as_deref().unwrap()).unwrap();
        assert_eq!(latest.timestamp_millis(), at_ms() - 300_000);
        assert!(
            obs.summary.contains("the latest line before it is at"),
            "{}",
            obs.summary
        );

        // One source still logging: no gap, whatever the others do.
        let dir = tempfile::tempdir().unwrap();
        let live = tool(
            dir.path(),
            &[
                ("route", stopped("Route")),
                ("price", service("Price", false)),
            ],
        );
        let (obs, data) = run(&live, serde_json::json!({ "at": AT })).await;
        assert_eq!(data.latest_before, None, "{data:?}");
        assert!(!obs.summary.contains("latest line"), "{}", obs.summary);
    }

    #[tokio::test]
    async fn calls_are_inferred_from_traces_whose_lines_enclose_anothers() {
        // In each of 4 traces the caller logs before and after the callee.
        let (mut caller, mut callee) = (String::new(), String::new());
        for k in 0..4i64 {
            let span = format!("{:04x}", 0xa0 + k);
            line(
                &mut caller,
                -100 + 20 * k,
                "INFO",
                "c.c.TravelController#1",
                &span,
                "[in]",
            );
            line(
                &mut callee,
                -99 + 20 * k,
                "INFO",
                "c.s.RouteServiceImpl#9",
                &span,
                "[route]",
            );
            line(
                &mut caller,
                -98 + 20 * k,
                "INFO",
                "c.c.TravelController#2",
                &span,
                "[out]",
            );
        }
        // A third source shares only one trace: too few to infer a call.
        let mut lone = String::new();
        line(
            &mut lone,
            -99,
            "INFO",
            "c.s.SeatServiceImpl#3",
            "00a0",
            "[seat]",
        );
        let dir = tempfile::tempdir().unwrap();
        let tool = tool(
            dir.path(),
            &[("travel", caller), ("route", callee), ("seat", lone)],
        );
        let (_, data) = run(&tool, serde_json::json!({ "at": AT })).await;
        assert_eq!(
            data.calls,
            vec![InferredCall {
                caller: "travel".into(),
                callee: "route".into(),
                traces: 4
            }]
        );
    }

    /// A trace every 20 s for the hour before `AT`: the caller logs around
    /// the callee's line. From 200 s before `AT` the callee no longer logs;
    /// with `caller_fails`, the caller logs an error in those traces too.
    fn call_falling_silent(caller: &str, callee: &str, caller_fails: bool) -> (String, String) {
        let (mut outer, mut inner) = (String::new(), String::new());
        for k in 0..=183i64 {
            let secs = -3600 + 20 * k;
            let span = format!("{:04x}{caller}", k);
            let silent = secs >= -200;
            line(
                &mut outer,
                secs,
                "INFO",
                &format!("c.c.{caller}#1"),
                &span,
                "[in]",
            );
            if !silent {
                line(
                    &mut inner,
                    secs,
                    "INFO",
                    &format!("c.s.{callee}#9"),
                    &span,
                    "[work]",
                );
            }
            if silent && caller_fails {
                line(
                    &mut outer,
                    secs,
                    "ERROR",
                    &format!("c.c.{caller}#5"),
                    &span,
                    "[failed]",
                );
            }
            // A second later: the callee's line falls inside the caller's.
            line(
                &mut outer,
                secs + 1,
                "INFO",
                &format!("c.c.{caller}#2"),
                &span,
                "[out]",
            );
        }
        (outer, inner)
    }

    #[tokio::test]
    async fn a_callee_missing_from_traces_its_caller_carries_on_in_is_absent() {
        // basic carries on without price: price fails before it logs.
        let (basic, price) = call_falling_silent("basic", "price", false);
        // travel fails itself, so seat is not reached: seat is not to blame.
        let (travel, seat) = call_falling_silent("travel", "seat", true);
        let dir = tempfile::tempdir().unwrap();
        let tool = tool(
            dir.path(),
            &[
                ("basic", basic),
                ("price", price),
                ("travel", travel),
                ("seat", seat),
            ],
        );
        let (obs, data) = run(&tool, serde_json::json!({ "at": AT })).await;
        let absence = source(&data, "price").absence.clone().unwrap();
        assert_eq!(absence.caller, "basic");
        assert_eq!(absence.reached, 2);
        // 240 s before to 60 s after, a trace every 20 s: 16, the first 2 still reaching price.
        assert_eq!(absence.caller_traces, 16);
        assert!(absence.baseline_share > 0.95, "{absence:?}");
        assert!(absence.z > 3.0, "{absence:?}");
        assert!(
            obs.summary
                .contains("price missing from basic's traces: in 2 of 16"),
            "{}",
            obs.summary
        );
        for other in ["basic", "travel", "seat"] {
            assert_eq!(source(&data, other).absence, None, "{other}");
        }
    }
}
