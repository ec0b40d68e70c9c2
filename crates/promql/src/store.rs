//! The in-memory series store: label sets interned once, samples appended in time order.
//!
//! Key decision: memory. A series keeps its labels as one shared slice of
//! interned `(name, value)` strings (a pod name used by ten series is stored
//! once) and its samples as a plain `Vec<(i64, f64)>` that grows by a quarter,
//! not by doubling. A metric-name index makes the common `name{...}` selector
//! touch only that metric's series. `examples/fleet_memory.rs` measures a
//! 100,000-series fleet.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use promql_parser::label::{MatchOp, Matcher};

/// A series' label set, `__name__` included, sorted by label name.
pub type Labels = BTreeMap<String, String>;

/// The label that carries the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One time series: its labels and its samples, `(timestamp in ms, value)` in time order.
#[derive(Debug, Clone)]
pub struct Series {
    /// Sorted by name; strings shared with every other series using them.
    labels: Arc<[(Arc<str>, Arc<str>)]>,
    samples: Vec<(i64, f64)>,
}

impl Series {
    /// The series' label set (built on each call; prefer [`Self::label`] for one value).
    pub fn labels(&self) -> Labels {
        self.label_pairs()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The `(name, value)` pairs, sorted by name.
    pub fn label_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.labels.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    /// The value of label `name`, if the series has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|(k, _)| k.as_ref().cmp(name))
            .ok()
            .map(|i| self.labels[i].1.as_ref())
    }

    /// All samples in time order.
    pub fn samples(&self) -> &[(i64, f64)] {
        &self.samples
    }

    /// The samples with `mint <= t <= maxt` (both ends inclusive, as in Prometheus 2.x).
    pub fn samples_between(&self, mint: i64, maxt: i64) -> &[(i64, f64)] {
        let lo = self.samples.partition_point(|&(t, _)| t < mint);
        let hi = self.samples.partition_point(|&(t, _)| t <= maxt);
        if lo >= hi { &[] } else { &self.samples[lo..hi] }
    }

    /// The latest sample at or before `t`, if any.
    pub fn latest_at_or_before(&self, t: i64) -> Option<(i64, f64)> {
        let idx = self.samples.partition_point(|&(st, _)| st <= t);
        idx.checked_sub(1).map(|i| self.samples[i])
    }

    /// Whether any sample lies in `[mint, maxt]`.
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        !self.samples_between(mint, maxt).is_empty()
    }

    /// Whether the series satisfies every matcher (a missing label is the empty string).
    pub fn matches(&self, matchers: &[Matcher]) -> bool {
        matchers
            .iter()
            .all(|m| m.is_match(self.label(&m.name).unwrap_or("")))
    }

    fn same_labels(&self, labels: &Labels) -> bool {
        self.labels.len() == labels.len()
            && self
                .label_pairs()
                .zip(labels)
                .all(|((a, b), (c, d))| a == c && b == d)
    }
}

/// What [`SeriesStore::append`] did with a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The sample was added.
    Added,
    /// A sample with the same timestamp existed; its value was replaced.
    Replaced,
    /// The sample was older than the series' latest one and was ignored (counted).
    OutOfOrder,
    /// The label set has no `__name__`; the sample was ignored (counted).
    MissingName,
}

/// An in-memory time-series database.
#[derive(Debug, Default)]
pub struct SeriesStore {
    series: Vec<Series>,
    /// Series ids by a hash of their labels (collisions resolved by comparison).
    index: HashMap<u64, Vec<usize>>,
    by_name: HashMap<Arc<str>, Vec<usize>>,
    strings: HashSet<Arc<str>>,
    sample_count: usize,
    out_of_order: u64,
    missing_name: u64,
}

fn labels_hash(labels: &Labels) -> u64 {
    let mut h = DefaultHasher::new();
    for (k, v) in labels {
        k.hash(&mut h);
        v.hash(&mut h);
    }
    h.finish()
}

impl SeriesStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn intern(&mut self, s: &str) -> Arc<str> {
        match self.strings.get(s) {
            Some(shared) => Arc::clone(shared),
            None => {
                let shared: Arc<str> = Arc::from(s);
                self.strings.insert(Arc::clone(&shared));
                shared
            }
        }
    }

    /// Appends one sample. Samples of a series must come in non-decreasing time: an
    /// equal timestamp replaces the value, an older one is ignored and counted in
    /// [`Self::out_of_order_count`].
    pub fn append(&mut self, labels: &Labels, t_ms: i64, value: f64) -> AppendOutcome {
        let hash = labels_hash(labels);
        let found = self.index.get(&hash).and_then(|ids| {
            ids.iter()
                .copied()
                .find(|&id| self.series[id].same_labels(labels))
        });
        let id = match found {
            Some(id) => id,
            None => {
                let Some(name) = labels.get(METRIC_NAME) else {
                    self.missing_name += 1;
                    tracing::debug!(?labels, "sample without __name__ ignored");
                    return AppendOutcome::MissingName;
                };
                let id = self.series.len();
                let name = self.intern(name);
                let pairs: Vec<(Arc<str>, Arc<str>)> = labels
                    .iter()
                    .map(|(k, v)| (self.intern(k), self.intern(v)))
                    .collect();
                self.by_name.entry(name).or_default().push(id);
                self.index.entry(hash).or_default().push(id);
                self.series.push(Series {
                    labels: pairs.into(),
                    samples: Vec::new(),
                });
                id
            }
        };
        let samples = &mut self.series[id].samples;
        match samples.last_mut() {
            Some(last) if last.0 == t_ms => {
                last.1 = value;
                AppendOutcome::Replaced
            }
            Some(last) if last.0 > t_ms => {
                self.out_of_order += 1;
                AppendOutcome::OutOfOrder
            }
            _ => {
                if samples.len() == samples.capacity() {
                    // Grow by a quarter rather than doubling: series grow slowly and
                    // steadily, and doubling would waste up to half of every series.
                    samples.reserve_exact((samples.len() / 4).max(8));
                }
                samples.push((t_ms, value));
                self.sample_count += 1;
                AppendOutcome::Added
            }
        }
    }

    /// How many series the store holds.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// How many samples the store holds.
    pub fn sample_count(&self) -> usize {
        self.sample_count
    }

    /// How many samples were ignored because they were older than their series' latest.
    pub fn out_of_order_count(&self) -> u64 {
        self.out_of_order
    }

    /// How many samples were ignored because their labels had no `__name__`.
    pub fn missing_name_count(&self) -> u64 {
        self.missing_name
    }

    /// Every series as (labels, samples), in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (Labels, &[(i64, f64)])> {
        self.series
            .iter()
            .map(|s| (s.labels(), s.samples.as_slice()))
    }

    /// Every series, in insertion order.
    pub fn series(&self) -> &[Series] {
        &self.series
    }

    /// The series matching every matcher (a missing label matches as the empty
    /// string, as in Prometheus) that have at least one sample in `[mint, maxt]`,
    /// sorted by label set like Prometheus' storage returns them.
    pub fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<&Series> {
        let name_eq = matchers
            .iter()
            .find(|m| m.name == METRIC_NAME && matches!(m.op, MatchOp::Equal))
            .map(|m| m.value.as_str());
        let candidates: Box<dyn Iterator<Item = &Series>> = match name_eq {
            Some(name) => Box::new(
                self.by_name
                    .get(name)
                    .into_iter()
                    .flatten()
                    .map(|&id| &self.series[id]),
            ),
            None => Box::new(self.series.iter()),
        };
        let mut out: Vec<&Series> = candidates
            .filter(|s| s.matches(matchers) && s.overlaps(mint, maxt))
            .collect();
        out.sort_by(|a, b| a.label_pairs().cmp(b.label_pairs()));
        out
    }

    /// Every label name of series with a sample in `[mint, maxt]`, sorted.
    pub fn label_names(&self, mint: i64, maxt: i64) -> Vec<String> {
        let mut names = BTreeSet::new();
        for s in self.series.iter().filter(|s| s.overlaps(mint, maxt)) {
            names.extend(s.label_pairs().map(|(k, _)| k));
        }
        names.into_iter().map(str::to_string).collect()
    }

    /// Every value of label `name` among series with a sample in `[mint, maxt]`, sorted.
    pub fn label_values(&self, name: &str, mint: i64, maxt: i64) -> Vec<String> {
        let mut values = BTreeSet::new();
        for s in self.series.iter().filter(|s| s.overlaps(mint, maxt)) {
            values.extend(s.label(name));
        }
        values.into_iter().map(str::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn append_replaces_equal_and_ignores_older_timestamps() {
        let mut store = SeriesStore::new();
        let l = labels(&[("__name__", "up"), ("job", "a")]);
        assert_eq!(store.append(&l, 1000, 1.0), AppendOutcome::Added);
        assert_eq!(store.append(&l, 1000, 2.0), AppendOutcome::Replaced);
        assert_eq!(store.append(&l, 500, 3.0), AppendOutcome::OutOfOrder);
        assert_eq!(store.append(&l, 2000, 4.0), AppendOutcome::Added);
        assert_eq!(store.series_count(), 1);
        assert_eq!(store.sample_count(), 2);
        assert_eq!(store.out_of_order_count(), 1);
        let (_, samples) = store.iter().next().unwrap();
        assert_eq!(samples, &[(1000, 2.0), (2000, 4.0)]);
        let no_name = labels(&[("job", "a")]);
        assert_eq!(store.append(&no_name, 1, 1.0), AppendOutcome::MissingName);
    }

    #[test]
    fn select_supports_all_matcher_kinds_and_time_windows() {
        let mut store = SeriesStore::new();
        for (pod, t) in [("a", 0), ("b", 0), ("c", 100_000)] {
            store.append(&labels(&[("__name__", "m"), ("pod", pod)]), t, 1.0);
        }
        store.append(&labels(&[("__name__", "other")]), 0, 1.0);
        let re = |s: &str| regex::Regex::new(&format!("^(?:{s})$")).unwrap();
        let name = Matcher::new(MatchOp::Equal, "__name__", "m");
        let pods = |ms: Vec<Matcher>| -> Vec<String> {
            store
                .select(&ms, 0, 1000)
                .iter()
                .map(|s| s.label("pod").unwrap().to_string())
                .collect()
        };
        assert_eq!(pods(vec![name.clone()]), ["a", "b"]);
        assert_eq!(
            pods(vec![
                name.clone(),
                Matcher::new(MatchOp::NotEqual, "pod", "a")
            ]),
            ["b"]
        );
        assert_eq!(
            pods(vec![
                name.clone(),
                Matcher::new(MatchOp::Re(re("a|c")), "pod", "a|c")
            ]),
            ["a"]
        );
        assert_eq!(
            pods(vec![
                name,
                Matcher::new(MatchOp::NotRe(re("a")), "pod", "a")
            ]),
            ["b"]
        );
        let any = Matcher::new(MatchOp::Re(re("m|other")), "__name__", "m|other");
        assert_eq!(store.select(&[any], 0, 1000).len(), 3);
        assert_eq!(store.label_values("pod", 0, i64::MAX), ["a", "b", "c"]);
        assert_eq!(store.label_names(0, 0), ["__name__", "pod"]);
    }
}
