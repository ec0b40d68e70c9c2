//! Vector and matrix selectors: which samples a selector sees at time `t`.
//!
//! Prometheus 2.42 semantics: an instant selector takes each series' latest sample
//! in `[t - offset - 5m, t - offset]`; a range selector `[d]` takes every sample in
//! `[t - offset - d, t - offset]`, both ends inclusive (Prometheus 3 made the left
//! end open; 2.42 did not).

use std::sync::Arc;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{MatrixSelector, Offset, VectorSelector};

use super::{Evaluator, LOOKBACK_DELTA_MS, MatrixSeries, Sample};
use crate::error::PromqlError;
use crate::store::METRIC_NAME;

/// The selector's offset in milliseconds (negative offsets look ahead).
pub(crate) fn offset_ms(vs: &VectorSelector) -> i64 {
    match &vs.offset {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(d),
        Some(Offset::Neg(d)) => -duration_ms(d),
    }
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn duration_ms(d: &std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The selector's matchers, with the metric name as an `__name__` matcher.
pub(crate) fn all_matchers(vs: &VectorSelector) -> Vec<Matcher> {
    let mut ms = vs.matchers.matchers.clone();
    if let Some(name) = &vs.name {
        let present = ms
            .iter()
            .any(|m| m.name == METRIC_NAME && matches!(m.op, MatchOp::Equal) && &m.value == name);
        if !present {
            ms.push(Matcher::new(MatchOp::Equal, METRIC_NAME, name));
        }
    }
    ms
}

impl<'s> Evaluator<'s> {
    /// The series a selector can see anywhere in this query, looked up once.
    fn series_for(
        &mut self,
        vs: &VectorSelector,
        range_ms: i64,
    ) -> &[(Arc<crate::store::Labels>, &'s crate::store::Series)] {
        let key = std::ptr::from_ref(vs) as usize;
        let (store, start, end) = (self.store, self.start, self.end);
        self.selected.entry(key).or_insert_with(|| {
            let off = offset_ms(vs);
            let mint = start.saturating_sub(off).saturating_sub(range_ms);
            let maxt = end.saturating_sub(off);
            store
                .select(&all_matchers(vs), mint, maxt)
                .into_iter()
                .map(|s| (Arc::new(s.labels()), s))
                .collect()
        })
    }

    /// Evaluates an instant vector selector at `t`.
    pub(crate) fn instant_selector(
        &mut self,
        vs: &VectorSelector,
        t: i64,
    ) -> Result<Vec<Sample>, PromqlError> {
        let ref_time = t - offset_ms(vs);
        let series = self.series_for(vs, LOOKBACK_DELTA_MS);
        Ok(series
            .iter()
            .filter_map(|(labels, s)| {
                let (st, v) = s.latest_at_or_before(ref_time)?;
                (st >= ref_time - LOOKBACK_DELTA_MS).then(|| Sample {
                    labels: Arc::clone(labels),
                    t: st,
                    v,
                })
            })
            .collect())
    }

    /// Evaluates a range vector selector at `t`; series without samples are left out.
    pub(crate) fn matrix_selector(
        &mut self,
        ms: &MatrixSelector,
        t: i64,
    ) -> Result<Vec<MatrixSeries<'s>>, PromqlError> {
        let range = duration_ms(&ms.range);
        let maxt = t - offset_ms(&ms.vs);
        let mint = maxt - range;
        let series = self.series_for(&ms.vs, range);
        Ok(series
            .iter()
            .filter_map(|(labels, s)| {
                let s: &'s crate::store::Series = s;
                let points = s.samples_between(mint, maxt);
                (!points.is_empty()).then(|| MatrixSeries {
                    labels: Arc::clone(labels),
                    points,
                })
            })
            .collect())
    }
}
