//! The supported subset, checked before evaluation so nothing outside it is
//! ever answered (wrongly or partially).

use promql_parser::parser::token::{
    T_ADD, T_AVG, T_BOTTOMK, T_COUNT, T_DIV, T_EQLC, T_GROUP, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS,
    T_LTE, T_LUNLESS, T_MAX, T_MIN, T_MOD, T_MUL, T_NEQ, T_POW, T_QUANTILE, T_STDDEV, T_SUB, T_SUM,
    T_TOPK,
};
use promql_parser::parser::{Expr, VectorSelector};

use crate::error::PromqlError;

/// Functions this evaluator implements.
pub(crate) const FUNCTIONS: &[&str] = &[
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "last_over_time",
    "quantile_over_time",
    "stddev_over_time",
    "histogram_quantile",
    "abs",
    "ceil",
    "floor",
    "round",
    "clamp",
    "clamp_min",
    "clamp_max",
    "time",
    "timestamp",
    "vector",
    "scalar",
    "sort",
    "sort_desc",
    "label_replace",
    "absent",
];

/// Returns `Unsupported` naming the first construct outside the subset.
pub(crate) fn supported(expr: &Expr) -> Result<(), PromqlError> {
    let unsupported = |what: String| Err(PromqlError::Unsupported(what));
    match expr {
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::Paren(p) => supported(&p.expr),
        Expr::Unary(u) => supported(&u.expr),
        Expr::VectorSelector(vs) => selector(vs),
        Expr::MatrixSelector(ms) => selector(&ms.vs),
        Expr::Subquery(_) => unsupported("subqueries".to_string()),
        Expr::Extension(_) => unsupported("extension expressions".to_string()),
        Expr::Call(call) => {
            if !FUNCTIONS.contains(&call.func.name) {
                return unsupported(format!("function {}()", call.func.name));
            }
            call.args.args.iter().try_for_each(|a| supported(a))
        }
        Expr::Aggregate(agg) => {
            let op = agg.op.id();
            let known = [
                T_SUM, T_AVG, T_MIN, T_MAX, T_COUNT, T_TOPK, T_BOTTOMK, T_QUANTILE, T_STDDEV,
                T_GROUP,
            ];
            if !known.contains(&op) {
                return unsupported(format!("aggregation {}", agg.op));
            }
            if let Some(p) = &agg.param {
                supported(p)?;
            }
            supported(&agg.expr)
        }
        Expr::Binary(bin) => {
            let op = bin.op.id();
            let known = [
                T_ADD, T_SUB, T_MUL, T_DIV, T_MOD, T_POW, T_EQLC, T_NEQ, T_GTR, T_LSS, T_GTE,
                T_LTE, T_LAND, T_LOR, T_LUNLESS,
            ];
            if !known.contains(&op) {
                return unsupported(format!("binary operator {}", bin.op));
            }
            if let Some(m) = &bin.modifier
                && (m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some())
            {
                return unsupported("fill modifiers".to_string());
            }
            supported(&bin.lhs)?;
            supported(&bin.rhs)
        }
    }
}

fn selector(vs: &VectorSelector) -> Result<(), PromqlError> {
    if vs.at.is_some() {
        return Err(PromqlError::Unsupported("the @ modifier".to_string()));
    }
    if !vs.matchers.or_matchers.is_empty() {
        return Err(PromqlError::Unsupported(
            "`or` inside label matchers".to_string(),
        ));
    }
    Ok(())
}
