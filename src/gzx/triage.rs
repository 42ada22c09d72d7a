//! Dieleman's triage, measured: how accurate is the machine where it is confident, and where
//! volunteers agree? Dieleman et al. (2015) report that for galaxies with high volunteer
//! agreement their network reproduces the consensus more than 99 % of the time, and that its
//! confident predictions could filter large samples, forwarding only the hard galaxies to people.
//!
//! On a triage set (galaxies outside the stream, each with Galaxy Zoo's 40 volunteer votes), the
//! final machine's score `s` = P(positive) labels a galaxy positive iff `s > 0.5`; its
//! confidence is `|s - 0.5|`. Records (binary labels; consensus = majority of the 40 votes,
//! ties to the positive answer; agreement = the consensus answer's share of the votes):
//!
//! * `triage_accuracy` (against the truth), `triage_consensus_accuracy` (against the
//!   volunteers' consensus) and `triage_volunteer_accuracy` (the consensus against the truth:
//!   what 40 votes achieve).
//! * `triage_accuracy_cov{25,50,75,90}`: accuracy on the most confident 25 / 50 / 75 / 90 % of
//!   the set.
//! * `triage_coverage_at_95`, `triage_coverage_at_99`: the largest share of the set, taken most
//!   confident first, whose accuracy is at least 0.95 / 0.99 (with at least 20 / 100 galaxies;
//!   0 when none): the share of galaxies nobody needs to look at, at that accuracy.
//! * `triage_retired_share`, `triage_retired_accuracy`: the share the machine's own retirement
//!   thresholds (chosen in the stream) would retire, and their accuracy.
//! * By volunteer agreement, `high` (>= 0.8), `mid` (0.6 to 0.8) and `low` (< 0.6):
//!   `triage_share_{b}`, `triage_consensus_accuracy_{b}` (Dieleman's number: machine against
//!   the consensus), `triage_accuracy_{b}` (against the truth) and
//!   `triage_volunteer_accuracy_{b}` (the consensus against the truth: where volunteers agree
//!   but share an error, the machine can be right and still "disagree"); accuracies are 0 in an
//!   empty bin.

use super::machine::Thresholds;
use crate::store::Metrics;

/// One triage galaxy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TriageItem {
    /// The machine's P(positive).
    pub score: f64,
    pub truth_positive: bool,
    pub consensus_positive: bool,
    /// The consensus answer's share of the volunteer votes (0.5..=1).
    pub agreement: f64,
}

/// The records of the module doc (none for an empty set).
pub fn triage(items: &[TriageItem], t: Option<&Thresholds>) -> Metrics {
    let mut m = Metrics::new();
    if items.is_empty() {
        return m;
    }
    let said = |i: &TriageItem| i.score > 0.5;
    let share = |f: &dyn Fn(&TriageItem) -> bool, of: &[&TriageItem]| {
        of.iter().filter(|i| f(i)).count() as f64 / of.len().max(1) as f64
    };
    let all: Vec<&TriageItem> = items.iter().collect();
    let right = |i: &TriageItem| said(i) == i.truth_positive;
    let agrees = |i: &TriageItem| said(i) == i.consensus_positive;
    m.insert("triage_accuracy".into(), share(&right, &all));
    m.insert("triage_consensus_accuracy".into(), share(&agrees, &all));
    let vol = |i: &TriageItem| i.consensus_positive == i.truth_positive;
    m.insert("triage_volunteer_accuracy".into(), share(&vol, &all));
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| (b.score - 0.5).abs().total_cmp(&(a.score - 0.5).abs()));
    let n = sorted.len();
    for c in [25, 50, 75, 90] {
        let k = ((n * c) as f64 / 100.0).ceil().max(1.0) as usize;
        m.insert(
            format!("triage_accuracy_cov{c}"),
            share(&right, &sorted[..k.min(n)]),
        );
    }
    for (name, target, support) in [("95", 0.95, 20), ("99", 0.99, 100)] {
        let mut ok = 0usize;
        let mut best = 0usize;
        for (k, i) in sorted.iter().enumerate() {
            ok += usize::from(right(i));
            if k + 1 >= support && ok as f64 >= target * (k + 1) as f64 {
                best = k + 1;
            }
        }
        m.insert(format!("triage_coverage_at_{name}"), best as f64 / n as f64);
    }
    if let Some(t) = t {
        let kept: Vec<&TriageItem> = all
            .iter()
            .copied()
            .filter(|i| t.decide(i.score).is_some())
            .collect();
        m.insert("triage_retired_share".into(), kept.len() as f64 / n as f64);
        let ok = kept
            .iter()
            .filter(|i| t.decide(i.score) == Some(i.truth_positive))
            .count();
        let acc = ok as f64 / kept.len().max(1) as f64;
        m.insert("triage_retired_accuracy".into(), acc);
    }
    // volunteer agreement bins: [lo, hi)
    for (b, lo, hi) in [
        ("high", 0.8, f64::INFINITY),
        ("mid", 0.6, 0.8),
        ("low", 0.0, 0.6),
    ] {
        let of: Vec<&TriageItem> = all
            .iter()
            .copied()
            .filter(|i| (lo..hi).contains(&i.agreement))
            .collect();
        m.insert(format!("triage_share_{b}"), of.len() as f64 / n as f64);
        m.insert(
            format!("triage_consensus_accuracy_{b}"),
            share(&agrees, &of),
        );
        m.insert(format!("triage_accuracy_{b}"), share(&right, &of));
        m.insert(format!("triage_volunteer_accuracy_{b}"), share(&vol, &of));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(score: f64, truth: bool, cons: bool, agreement: f64) -> TriageItem {
        TriageItem {
            score,
            truth_positive: truth,
            consensus_positive: cons,
            agreement,
        }
    }

    #[test]
    fn hand_computed_triage() {
        // 100 galaxies: 80 confident and right (scores 0.99 / 0.01), 20 unsure (0.75 / 0.25)
        // of which 10 wrong; volunteers agree highly on the confident ones.
        let mut items = Vec::new();
        for i in 0..80 {
            let pos = i % 2 == 0;
            items.push(item(if pos { 0.99 } else { 0.01 }, pos, pos, 0.9));
        }
        for i in 0..20 {
            let pos = i % 2 == 0;
            let wrong = i < 10;
            let s = if pos != wrong { 0.75 } else { 0.25 };
            items.push(item(s, pos, !pos, 0.55));
        }
        let m = triage(
            &items,
            Some(&Thresholds {
                pos: Some(0.9),
                neg: Some(0.1),
            }),
        );
        assert!((m["triage_accuracy"] - 0.9).abs() < 1e-12);
        // consensus is wrong on the 20 unsure ones: the machine agrees on the 10 it got wrong
        assert!((m["triage_consensus_accuracy"] - 0.9).abs() < 1e-12);
        assert!((m["triage_volunteer_accuracy"] - 0.8).abs() < 1e-12);
        assert_eq!(m["triage_accuracy_cov75"], 1.0);
        // the sort is stable: the 20 unsure ones (tied) keep their order, the 10 wrong first
        assert!((m["triage_accuracy_cov90"] - 80.0 / 90.0).abs() < 1e-12);
        // 80 right, then wrong ones: 80 / 84 >= 0.95 > 80 / 85
        assert!((m["triage_coverage_at_95"] - 0.84).abs() < 1e-12, "{m:?}");
        assert_eq!(
            m["triage_coverage_at_99"], 0.0,
            "fewer than 100 right in a row"
        );
        assert_eq!(m["triage_retired_share"], 0.8);
        assert_eq!(m["triage_retired_accuracy"], 1.0);
        assert_eq!(m["triage_share_high"], 0.8);
        assert_eq!(m["triage_consensus_accuracy_high"], 1.0);
        assert_eq!(m["triage_share_low"], 0.2);
        assert_eq!(m["triage_accuracy_low"], 0.5);
        assert_eq!(m["triage_volunteer_accuracy_low"], 0.0);
        assert_eq!(m["triage_volunteer_accuracy_high"], 1.0);
        assert_eq!(m["triage_share_mid"], 0.0);
        assert_eq!(m["triage_accuracy_mid"], 0.0);
        assert!(triage(&[], None).is_empty());
    }
}
