//! The symptom chart of an incident page: a small SVG line chart of the
//! alert's expression around the onset, with the threshold, the onset and
//! each action marked. Rendered on the server: no script needed to see it.

use std::fmt::Write;

/// A mark on the time axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// When, unix seconds.
    pub at: f64,
    /// Its label.
    pub label: String,
    /// `onset` or `action`: the CSS class.
    pub class: &'static str,
}

/// What to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// What the line is.
    pub title: String,
    /// (unix seconds, value) in time order.
    pub points: Vec<(f64, f64)>,
    /// The alert's threshold, when the expression has one.
    pub threshold: Option<f64>,
    /// Marks.
    pub markers: Vec<Marker>,
}

const W: f64 = 720.0;
const H: f64 = 220.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 28.0;

/// Escapes text for HTML.
pub(crate) fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `2.18`, `0.3`, `1.2k`, `3.4M`.
fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || a == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Splits `expr > 0.3` into (`expr`, 0.3): the series to draw and its threshold.
pub fn split_threshold(expr: &str) -> (String, Option<f64>) {
    let trimmed = expr.trim_end();
    for op in [">=", "<=", ">", "<"] {
        if let Some(i) = trimmed.rfind(op) {
            let (left, right) = trimmed.split_at(i);
            if let Ok(v) = right[op.len()..].trim().parse::<f64>() {
                // Only a comparison at the top level: balanced parentheses on the left.
                let opens = left.matches('(').count();
                let closes = left.matches(')').count();
                if opens == closes {
                    return (left.trim_end().to_owned(), Some(v));
                }
            }
        }
    }
    (trimmed.to_owned(), None)
}

/// The chart as an inline `<svg>` element.
pub fn render(c: &Chart) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        esc(&c.title)
    );
    let _ = write!(out, "<title>{}</title>", esc(&c.title));
    if c.points.is_empty() {
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" class="empty">no data for this window</text></svg>"#,
            W / 2.0 - 80.0,
            H / 2.0
        );
        return out;
    }
    let t0 = c
        .points
        .first()
        .map(|p| p.0)
        .unwrap_or_default()
        .min(c.markers.iter().map(|m| m.at).fold(f64::INFINITY, f64::min));
    let t1 = c.points.last().map(|p| p.0).unwrap_or_default().max(
        c.markers
            .iter()
            .map(|m| m.at)
            .fold(f64::NEG_INFINITY, f64::max),
    );
    let span = (t1 - t0).max(1.0);
    let mut lo = c.points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let mut hi = c
        .points
        .iter()
        .map(|p| p.1)
        .fold(f64::NEG_INFINITY, f64::max);
    if let Some(t) = c.threshold {
        lo = lo.min(t);
        hi = hi.max(t);
    }
    lo = lo.min(0.0);
    if hi <= lo {
        hi = lo + 1.0;
    }
    hi += (hi - lo) * 0.08;
    let x = |t: f64| LEFT + (t - t0) / span * (W - LEFT - RIGHT);
    let y = |v: f64| TOP + (hi - v) / (hi - lo) * (H - TOP - BOTTOM);

    // Axes and grid.
    for i in 0..=4 {
        let v = lo + (hi - lo) * f64::from(i) / 4.0;
        let yy = y(v);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}"/><text class="tick" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            W - RIGHT,
            LEFT - 6.0,
            yy + 4.0,
            short(v)
        );
    }
    for i in 0..=4 {
        let t = t0 + span * f64::from(i) / 4.0;
        let label = chrono::DateTime::from_timestamp(t as i64, 0)
            .map(|d| d.format("%H:%M").to_string())
            .unwrap_or_default();
        let _ = write!(
            out,
            r#"<text class="tick" x="{:.1}" y="{}" text-anchor="middle">{label}</text>"#,
            x(t),
            H - 8.0
        );
    }
    if let Some(t) = c.threshold {
        let yy = y(t);
        let _ = write!(
            out,
            r#"<line class="threshold" x1="{LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}"/><text class="tick threshold-label" x="{}" y="{:.1}" text-anchor="end">threshold {}</text>"#,
            W - RIGHT,
            W - RIGHT - 4.0,
            yy - 4.0,
            short(t)
        );
    }
    for m in &c.markers {
        let xx = x(m.at);
        let _ = write!(
            out,
            r#"<line class="marker {}" x1="{xx:.1}" x2="{xx:.1}" y1="{TOP}" y2="{}"><title>{}</title></line><text class="marker-label {}" x="{:.1}" y="{}">{}</text>"#,
            m.class,
            H - BOTTOM,
            esc(&m.label),
            m.class,
            xx + 3.0,
            TOP + 10.0,
            esc(&m.label)
        );
    }
    // The line; a gap in the data breaks it.
    let step = c
        .points
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .fold(f64::INFINITY, f64::min);
    let mut d = String::new();
    let mut prev: Option<f64> = None;
    for (t, v) in &c.points {
        let cmd = match prev {
            Some(p) if step.is_finite() && t - p <= step * 2.5 => 'L',
            _ => 'M',
        };
        let _ = write!(d, "{cmd}{:.1},{:.1} ", x(*t), y(*v));
        prev = Some(*t);
    }
    let _ = write!(out, r#"<path class="series" d="{}"/>"#, d.trim_end());
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_come_off_the_top_level_comparison_only() {
        assert_eq!(
            split_threshold("histogram_quantile(0.99, sum by (le) (rate(x[5m]))) > 0.3"),
            (
                "histogram_quantile(0.99, sum by (le) (rate(x[5m])))".to_owned(),
                Some(0.3)
            )
        );
        assert_eq!(
            split_threshold("a / b < 0.15"),
            ("a / b".to_owned(), Some(0.15))
        );
        assert_eq!(split_threshold("up == 0"), ("up == 0".to_owned(), None));
        assert_eq!(
            split_threshold("sum(x > 3)"),
            ("sum(x > 3)".to_owned(), None)
        );
    }

    #[test]
    fn the_svg_has_the_line_threshold_and_marks_in_place() {
        let c = Chart {
            title: "p99 <latency>".into(),
            points: (0..10)
                .map(|i| (1000.0 + 60.0 * f64::from(i), 0.1 * f64::from(i)))
                .collect(),
            threshold: Some(0.3),
            markers: vec![
                Marker {
                    at: 1180.0,
                    label: "alert".into(),
                    class: "onset",
                },
                Marker {
                    at: 1300.0,
                    label: "scaled 3 → 5".into(),
                    class: "action",
                },
            ],
        };
        let svg = render(&c);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("p99 &lt;latency&gt;"), "titles are escaped");
        assert_eq!(svg.matches(r#"class="marker "#).count(), 2);
        assert!(svg.contains(r#"class="threshold""#));
        let path = svg.split(r#"<path class="series" d=""#).nth(1).unwrap();
        let path = path.split('"').next().unwrap();
        assert_eq!(path.matches('M').count(), 1, "one unbroken line: {path}");
        assert_eq!(path.matches('L').count(), 9);
        // The first point sits on the left edge, the last on the right.
        assert!(path.starts_with(&format!("M{LEFT:.1},")), "{path}");
        assert!(path.contains(&format!("L{:.1},", W - RIGHT)), "{path}");
    }

    #[test]
    fn a_gap_breaks_the_line_and_no_data_says_so() {
        let c = Chart {
            title: "x".into(),
            points: vec![(0.0, 1.0), (15.0, 1.0), (300.0, 2.0), (315.0, 2.0)],
            threshold: None,
            markers: Vec::new(),
        };
        let svg = render(&c);
        let path = svg.split(r#"d=""#).nth(1).unwrap();
        assert_eq!(path.split('"').next().unwrap().matches('M').count(), 2);
        let empty = render(&Chart {
            title: "x".into(),
            points: Vec::new(),
            threshold: None,
            markers: Vec::new(),
        });
        assert!(empty.contains("no data"));
    }
}
