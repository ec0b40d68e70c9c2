//! `downstream_latency`: another service's latency jumped far more than the
//! alerted one's; in a call chain the deepest slow service moves the most in
//! relative terms, since its callers add their own time on top.

use pagerless_model::Evidence;
use pagerless_tools::prometheus::InstantResult;
use serde_json::json;

/// From per-service median latency now divided by its median some minutes ago.
pub fn probe(ratios: &InstantResult, service: &str, step: u32) -> Option<Evidence> {
    let mut by: Vec<(&str, f64)> = ratios
        .series
        .iter()
        .filter(|s| s.value.is_finite())
        .filter_map(|s| s.labels.get("service").map(|n| (n.as_str(), s.value)))
        .collect();
    by.sort_by(|a, b| b.1.total_cmp(&a.1));
    let (top, ratio) = *by.first()?;
    if ratio < 3.0 || top == service {
        return None;
    }
    Some(super::evidence(
        "downstream_latency",
        top,
        format!(
            "{top}'s median latency is ×{ratio:.1} what it was, more than any other service's (×{:.1} for {service})",
            by.iter()
                .find(|(s, _)| *s == service)
                .map_or(f64::NAN, |x| x.1)
        ),
        (ratio / 10.0).clamp(0.5, 1.0),
        step,
        &[
            ("downstream", json!(top)),
            ("latency_ratio", json!(format!("{ratio:.0}"))),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pagerless_tools::prometheus::LabeledValue;

    fn r(vals: &[(&str, f64)]) -> InstantResult {
        InstantResult {
            time: 0.0,
            series: vals
                .iter()
                .map(|(s, v)| LabeledValue {
                    labels: [("service".to_owned(), (*s).to_owned())].into(),
                    value: *v,
                })
                .collect(),
        }
    }

    #[test]
    fn the_deepest_slow_service_is_named() {
        let e = probe(
            &r(&[
                ("order-service", 12.0),
                ("payment-service", 24.0),
                ("fraud-check", 60.0),
            ]),
            "order-service",
            3,
        )
        .unwrap();
        assert_eq!(e.values["downstream"], "fraud-check");
        assert!(
            probe(
                &r(&[("order-service", 12.0), ("payment-service", 1.1)]),
                "order-service",
                3
            )
            .is_none(),
            "the alerted service itself"
        );
        assert!(
            probe(
                &r(&[("order-service", 1.2), ("payment-service", 1.5)]),
                "order-service",
                3
            )
            .is_none(),
            "no jump"
        );
    }
}
