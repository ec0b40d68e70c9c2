//! Scoring a ranking of suspects against labelled cases: AC@k (the right
//! service among the first k), Avg@5 (the mean of AC@1..AC@5) and the fault
//! type's accuracy, overall, per system and per fault type.

use std::collections::BTreeMap;

use serde::Serialize;

/// One case's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    /// The case.
    pub name: String,
    /// Its system.
    pub system: String,
    /// The labelled fault type.
    pub fault_type: String,
    /// The labelled service.
    pub expected: String,
    /// The services as ranked, most suspect first.
    pub ranked: Vec<String>,
    /// The fault type the first suspect was given.
    pub predicted_type: Option<String>,
    /// Whether the case's alert fired (else it stood at a fixed offset).
    pub fired: bool,
    /// Wall time of the investigation, milliseconds.
    pub millis: f64,
}

impl Scored {
    /// 1-based position of the right service, if it was ranked at all.
    pub fn rank(&self) -> Option<usize> {
        self.ranked
            .iter()
            .position(|s| s == &self.expected)
            .map(|p| p + 1)
    }
}

/// The numbers over a set of cases, as fractions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// How many.
    pub cases: usize,
    /// Right service first.
    pub ac1: f64,
    /// Right service in the first three.
    pub ac3: f64,
    /// Right service in the first five.
    pub ac5: f64,
    /// The mean of AC@1 to AC@5.
    pub avg5: f64,
    /// The first suspect's fault type right.
    pub fault_type_accuracy: f64,
    /// Mean investigation time, milliseconds.
    pub mean_millis: f64,
    /// The 95th percentile of investigation time (nearest rank), milliseconds.
    pub p95_millis: f64,
}

/// Overall, per system and per fault type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Every case.
    pub overall: Stats,
    /// Per system.
    pub systems: BTreeMap<String, Stats>,
    /// Per labelled fault type.
    pub fault_types: BTreeMap<String, Stats>,
}

/// The numbers over `cases` (zeros when there are none).
pub fn stats(cases: &[&Scored]) -> Stats {
    let n = cases.len();
    let frac = |hits: usize| if n == 0 { 0.0 } else { hits as f64 / n as f64 };
    let at = |k: usize| {
        frac(
            cases
                .iter()
                .filter(|c| c.rank().is_some_and(|r| r <= k))
                .count(),
        )
    };
    Stats {
        cases: n,
        ac1: at(1),
        ac3: at(3),
        ac5: at(5),
        avg5: (1..=5).map(at).sum::<f64>() / 5.0,
        fault_type_accuracy: frac(
            cases
                .iter()
                .filter(|c| c.predicted_type.as_deref() == Some(c.fault_type.as_str()))
                .count(),
        ),
        mean_millis: if n == 0 {
            0.0
        } else {
            cases.iter().map(|c| c.millis).sum::<f64>() / n as f64
        },
        p95_millis: {
            let mut ms: Vec<f64> = cases.iter().map(|c| c.millis).collect();
            ms.sort_by(f64::total_cmp);
            // Nearest rank: the smallest value with at least 95% at or below it.
            let rank = (0.95 * n as f64).ceil() as usize;
            ms.get(rank.saturating_sub(1)).copied().unwrap_or(0.0)
        },
    }
}

/// Scores every case.
pub fn summarize(cases: &[Scored]) -> Summary {
    let all: Vec<&Scored> = cases.iter().collect();
    let group = |key: &dyn Fn(&Scored) -> String| {
        let mut groups: BTreeMap<String, Vec<&Scored>> = BTreeMap::new();
        for c in cases {
            groups.entry(key(c)).or_default().push(c);
        }
        groups
            .into_iter()
            .map(|(k, v)| (k, stats(&v)))
            .collect::<BTreeMap<_, _>>()
    };
    Summary {
        overall: stats(&all),
        systems: group(&|c| c.system.clone()),
        fault_types: group(&|c| c.fault_type.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(system: &str, ft: &str, expected: &str, ranked: &[&str], pt: &str) -> Scored {
        Scored {
            name: format!("{system}-{expected}"),
            system: system.into(),
            fault_type: ft.into(),
            expected: expected.into(),
            ranked: ranked.iter().map(|s| s.to_string()).collect(),
            predicted_type: Some(pt.into()),
            fired: true,
            millis: 10.0,
        }
    }

    #[test]
    fn ac_at_k_and_avg5_by_hand() {
        let cases = vec![
            case("ob", "cpu", "a", &["a", "b", "c"], "cpu"), // rank 1
            case("ob", "error", "b", &["a", "c", "b"], "cpu"), // rank 3
            case("tt", "cpu", "e", &["a", "b", "c", "d", "e"], "cpu"), // rank 5
            case("tt", "error", "z", &["a"], "error"),       // not ranked
        ];
        let s = summarize(&cases);
        assert_eq!(s.overall.cases, 4);
        assert_eq!(s.overall.ac1, 0.25);
        assert_eq!(s.overall.ac3, 0.5);
        assert_eq!(s.overall.ac5, 0.75);
        // AC@1..5 = .25, .25, .5, .5, .75 → mean .45
        assert!((s.overall.avg5 - 0.45).abs() < 1e-9);
        assert_eq!(s.overall.fault_type_accuracy, 0.75);
        assert_eq!(s.systems["ob"].ac1, 0.5);
        assert_eq!(s.systems["tt"].ac5, 0.5);
        assert_eq!(s.fault_types["error"].ac3, 0.5);
        assert_eq!(summarize(&[]).overall.ac1, 0.0);
        assert_eq!(summarize(&[]).overall.p95_millis, 0.0);
    }

    #[test]
    fn p95_time_is_the_nearest_rank() {
        let cases: Vec<Scored> = (1..=20)
            .map(|i| Scored {
                millis: f64::from(i),
                ..case("ob", "cpu", "a", &["a"], "cpu")
            })
            .collect();
        // 95% of 20 is 19 cases: the 19th smallest.
        assert_eq!(summarize(&cases).overall.p95_millis, 19.0);
        assert_eq!(summarize(&cases[..1]).overall.p95_millis, 1.0);
    }
}
