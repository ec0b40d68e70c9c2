//! Binary operators: arithmetic, comparisons (with and without `bool`), set
//! operators, and vector matching with `on`/`ignoring`/`group_left`/`group_right`,
//! as 2.42's `VectorBinop`, `VectorscalarBinop` and `Vector{And,Or,Unless}`,
//! including their error texts.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use promql_parser::parser::token::{
    T_ADD, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD, T_MUL,
    T_NEQ, T_POW, T_SUB,
};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::{Evaluator, Sample, Value, unique_labelsets};
use crate::error::PromqlError;
use crate::store::{Labels, METRIC_NAME};

/// Evaluates a binary expression at `t`.
pub(crate) fn eval<'s>(
    ev: &mut Evaluator<'s>,
    bin: &BinaryExpr,
    t: i64,
) -> Result<Value<'s>, PromqlError> {
    let op = bin.op.id();
    let return_bool = bin.modifier.as_ref().is_some_and(|m| m.return_bool);
    let lhs = ev.eval(&bin.lhs, t)?;
    let rhs = ev.eval(&bin.rhs, t)?;
    match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => {
            let (v, keep) = elem_op(op, l, r)?;
            Ok(Value::Scalar(if is_comparison(op) {
                f64::from(u8::from(keep))
            } else {
                v
            }))
        }
        (Value::Vector(l), Value::Scalar(r)) => {
            vector_scalar(ev, op, l, r, false, return_bool).map(Value::Vector)
        }
        (Value::Scalar(l), Value::Vector(r)) => {
            vector_scalar(ev, op, r, l, true, return_bool).map(Value::Vector)
        }
        (Value::Vector(l), Value::Vector(r)) => {
            let matching = Matching::of(bin);
            let out = match op {
                T_LAND => vector_and(l, r, &matching),
                T_LOR => vector_or(l, r, &matching),
                T_LUNLESS => vector_unless(l, r, &matching),
                _ => vector_binop(ev, op, l, r, &matching, return_bool)?,
            };
            unique_labelsets(out).map(Value::Vector)
        }
        (l, r) => Err(PromqlError::Execution(format!(
            "binary operation between {} and {} is not allowed",
            l.kind(),
            r.kind()
        ))),
    }
}

fn is_comparison(op: u16) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

/// Arithmetic operators drop the metric name; comparisons keep it.
fn drops_name(op: u16) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_MOD | T_POW)
}

/// Prometheus' `vectorElemBinop`: the value and whether a comparison holds.
fn elem_op(op: u16, l: f64, r: f64) -> Result<(f64, bool), PromqlError> {
    Ok(match op {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_POW => (l.powf(r), true),
        T_MOD => (l % r, true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        _ => return Err(PromqlError::Unsupported(format!("binary operator id {op}"))),
    })
}

/// Vector–scalar operation; `swapped` when the scalar was on the left.
fn vector_scalar(
    ev: &mut Evaluator<'_>,
    op: u16,
    vec: Vec<Sample>,
    scalar: f64,
    swapped: bool,
    return_bool: bool,
) -> Result<Vec<Sample>, PromqlError> {
    let mut out = Vec::with_capacity(vec.len());
    for s in vec {
        let (l, r) = if swapped {
            (scalar, s.v)
        } else {
            (s.v, scalar)
        };
        let (mut v, mut keep) = elem_op(op, l, r)?;
        if is_comparison(op) && swapped {
            v = r;
        }
        if return_bool {
            v = f64::from(u8::from(keep));
            keep = true;
        }
        if keep {
            let labels = if drops_name(op) || return_bool {
                ev.drop_name(&s.labels)
            } else {
                s.labels
            };
            out.push(Sample { labels, t: s.t, v });
        }
    }
    Ok(out)
}

/// How two vectors are matched.
struct Matching {
    card: VectorMatchCardinality,
    /// `on(...)` when true, `ignoring(...)` (possibly empty) when false.
    on: bool,
    labels: Vec<String>,
}

impl Matching {
    fn of(bin: &BinaryExpr) -> Self {
        let (card, matching) = match &bin.modifier {
            Some(m) => (m.card.clone(), m.matching.clone()),
            None => (VectorMatchCardinality::OneToOne, None),
        };
        let card = if matches!(bin.op.id(), T_LAND | T_LOR | T_LUNLESS) {
            VectorMatchCardinality::ManyToMany
        } else {
            card
        };
        let (on, labels) = match matching {
            Some(LabelModifier::Include(l)) => (true, l.labels),
            Some(LabelModifier::Exclude(l)) => (false, l.labels),
            None => (false, Vec::new()),
        };
        Self { card, on, labels }
    }

    /// The match signature: the `on` labels, or all but `ignoring` ones and `__name__`.
    fn signature(&self, labels: &Labels) -> Vec<(String, String)> {
        labels
            .iter()
            .filter(|(k, _)| {
                if self.on {
                    self.labels.iter().any(|l| l == *k)
                } else {
                    *k != METRIC_NAME && !self.labels.iter().any(|l| l == *k)
                }
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// `group_left`/`group_right` extra labels.
    fn include(&self) -> &[String] {
        match &self.card {
            VectorMatchCardinality::ManyToOne(l) | VectorMatchCardinality::OneToMany(l) => {
                &l.labels
            }
            _ => &[],
        }
    }
}

fn format_labels(labels: &Labels) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// Prometheus' `VectorBinop` for arithmetic and comparison operators.
fn vector_binop(
    ev: &mut Evaluator<'_>,
    op: u16,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    m: &Matching,
    return_bool: bool,
) -> Result<Vec<Sample>, PromqlError> {
    let one_to_many = matches!(m.card, VectorMatchCardinality::OneToMany(_));
    // The rhs is always the "one" side; swap for group_right.
    let (lhs, rhs) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    let mut right: HashMap<Vec<(String, String)>, Sample> = HashMap::with_capacity(rhs.len());
    for rs in rhs {
        let sig = m.signature(&rs.labels);
        if let Some(dup) = right.get(&sig) {
            let one_side = if one_to_many { "left" } else { "right" };
            let matched: Labels = sig.iter().cloned().collect();
            return Err(PromqlError::Execution(format!(
                "found duplicate series for the match group {} on the {one_side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                format_labels(&matched),
                format_labels(&rs.labels),
                format_labels(&dup.labels)
            )));
        }
        right.insert(sig, rs);
    }
    let one_to_one = matches!(m.card, VectorMatchCardinality::OneToOne);
    let mut matched: HashMap<Vec<(String, String)>, HashSet<Arc<Labels>>> = HashMap::new();
    let mut out = Vec::new();
    for ls in lhs {
        let sig = m.signature(&ls.labels);
        let Some(rs) = right.get(&sig) else {
            continue;
        };
        let (vl, vr) = if one_to_many {
            (rs.v, ls.v)
        } else {
            (ls.v, rs.v)
        };
        let (mut v, keep) = elem_op(op, vl, vr)?;
        if return_bool {
            v = f64::from(u8::from(keep));
        } else if !keep {
            continue;
        }
        let mut metric = result_metric(&ls.labels, &rs.labels, op, m);
        if return_bool {
            metric = ev.drop_name(&metric);
        }
        let inserted = matched.entry(sig).or_default();
        if one_to_one {
            if !inserted.is_empty() {
                return Err(PromqlError::Execution(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                        .to_string(),
                ));
            }
            inserted.insert(Arc::default());
        } else if !inserted.insert(Arc::clone(&metric)) {
            return Err(PromqlError::Execution(
                "multiple matches for labels: grouping labels must ensure unique matches"
                    .to_string(),
            ));
        }
        out.push(Sample {
            labels: metric,
            t: ls.t,
            v,
        });
    }
    Ok(out)
}

/// Prometheus' `resultMetric`: the output labels of a matched pair.
fn result_metric(lhs: &Arc<Labels>, rhs: &Labels, op: u16, m: &Matching) -> Arc<Labels> {
    let one_to_one = matches!(m.card, VectorMatchCardinality::OneToOne);
    let include = m.include();
    if !drops_name(op) && !one_to_one && include.is_empty() {
        return Arc::clone(lhs);
    }
    let mut l = Labels::clone(lhs);
    if drops_name(op) {
        l.remove(METRIC_NAME);
    }
    if one_to_one {
        if m.on {
            l.retain(|k, _| m.labels.iter().any(|x| x == k));
        } else {
            l.retain(|k, _| !m.labels.iter().any(|x| x == k));
        }
    }
    for name in include {
        match rhs.get(name) {
            Some(v) if !v.is_empty() => {
                l.insert(name.clone(), v.clone());
            }
            _ => {
                l.remove(name);
            }
        }
    }
    Arc::new(l)
}

fn vector_and(lhs: Vec<Sample>, rhs: Vec<Sample>, m: &Matching) -> Vec<Sample> {
    if lhs.is_empty() || rhs.is_empty() {
        return Vec::new();
    }
    let right: HashSet<_> = rhs.iter().map(|s| m.signature(&s.labels)).collect();
    lhs.into_iter()
        .filter(|s| right.contains(&m.signature(&s.labels)))
        .collect()
}

fn vector_or(lhs: Vec<Sample>, rhs: Vec<Sample>, m: &Matching) -> Vec<Sample> {
    if lhs.is_empty() {
        return rhs;
    }
    if rhs.is_empty() {
        return lhs;
    }
    let left: HashSet<_> = lhs.iter().map(|s| m.signature(&s.labels)).collect();
    let mut out = lhs;
    out.extend(
        rhs.into_iter()
            .filter(|s| !left.contains(&m.signature(&s.labels))),
    );
    out
}

fn vector_unless(lhs: Vec<Sample>, rhs: Vec<Sample>, m: &Matching) -> Vec<Sample> {
    if lhs.is_empty() || rhs.is_empty() {
        return lhs;
    }
    let right: HashSet<_> = rhs.iter().map(|s| m.signature(&s.labels)).collect();
    lhs.into_iter()
        .filter(|s| !right.contains(&m.signature(&s.labels)))
        .collect()
}
