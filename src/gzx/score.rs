//! The records of a Galaxy Zoo Express stream run, over the *scored* galaxies (in the queue,
//! truth known, not gold; `n_scored`, `n_gold` left out). Positive = the question's positive
//! answer (featured, for `smooth-or-featured`).
//!
//! * `accuracy`; `completeness` (share of truly positive galaxies labelled positive) and
//!   `purity` (share of galaxies labelled positive that are) of the positive class.
//! * `clicks_per_galaxy` (mean clicks a scored galaxy received), `total_clicks` (every click of
//!   the stream, gold galaxies' included), `n_galaxies` (galaxies in the queue).
//! * `days_to_all` (simulated days until the queue is empty: `total_clicks / clicks_per_day`),
//!   `days_to_90` (until 90 % of the queue's galaxies are classified), and `days_mv40`: the days
//!   Galaxy Zoo's fixed 40 votes would take at the same click rate (`40 n_galaxies / rate`).
//! * The savings records of `crowd::swap_eval`, computed the same way on the same galaxies and
//!   crowd (Galaxy Zoo's 40 fixed votes per galaxy, majority vote over the first K):
//!   `savings_vs_40` = 40 / `clicks_per_galaxy`, `accuracy_gap_vs_40`, `mv_accuracy_at_40`,
//!   `k_matched` (fewest fixed votes at which majority vote is as accurate as the arm),
//!   `savings_factor` = `k_matched / clicks_per_galaxy` (Beck et al.'s classification savings
//!   factor), `swap_beats_mv_at_40` (1 when no K <= 40 reaches the arm's accuracy, whatever the
//!   arm: the factor is then a lower bound), `baseline_accuracy_at_equal_clicks`,
//!   `accuracy_gain_at_equal_clicks`.
//! * How galaxies left: `swap_share`, `machine_share`, `capped_share` (of the scored galaxies;
//!   `majority-vote-K` arms have none of them) with `swap_accuracy`, `machine_accuracy`
//!   (accuracy of the galaxies each retired; absent when it retired none), `machine_rounds`,
//!   `first_round_day` (day of the machine's first training; absent without one).
//! * The curve of the figure: `curve_days_per_point` (= `days_mv40 / 40`) and for i = 0..=40
//!   `classified_share_t{i}` and `machine_share_t{i}`: the share of the queue's galaxies
//!   classified (by anyone), and by the machine, by day `i * curve_days_per_point`.

use super::stream::{Fate, Outcome};
use crate::crowd::run::World;
use crate::crowd::swap_eval::{GZ_VOTES, mv_curve, savings};
use crate::store::Metrics;

/// Points of the classified-vs-day curve after day 0 (one per `days_mv40 / 40`).
pub const CURVE_POINTS: usize = 40;

/// The records of the module doc.
pub(crate) fn score(
    w: &World,
    seed: u64,
    out: &Outcome,
    clicks_per_day: f64,
) -> anyhow::Result<Metrics> {
    let n = w.galaxies.len();
    let truth = w.mapped_truth();
    let queued: Vec<usize> = (0..n).filter(|&g| out.fate[g] != Fate::Absent).collect();
    let scored: Vec<bool> = (0..n)
        .map(|g| out.fate[g] != Fate::Absent && truth[g].is_some() && !w.gold[g])
        .collect();
    let rows: Vec<usize> = (0..n).filter(|&g| scored[g]).collect();
    let mut m = Metrics::new();
    let ns = rows.len().max(1) as f64;
    let right = |g: &usize| out.label[*g].is_some() && out.label[*g] == truth[*g];
    let acc = rows.iter().filter(|g| right(g)).count() as f64 / ns;
    let (mut tp, mut fp, mut fne) = (0.0, 0.0, 0.0);
    for &g in &rows {
        let (l, t) = (out.label[g] == Some(0), truth[g] == Some(0));
        tp += f64::from(u8::from(l && t));
        fp += f64::from(u8::from(l && !t));
        fne += f64::from(u8::from(!l && t));
    }
    let clicks = rows.iter().map(|&g| f64::from(out.clicks[g])).sum::<f64>() / ns;
    let nq = queued.len() as f64;
    let days_mv40 = GZ_VOTES as f64 * nq / clicks_per_day;
    let mut done: Vec<u64> = queued.iter().map(|&g| out.done_at[g]).collect();
    done.sort_unstable();
    let at90 = done
        .get(((0.9 * nq).ceil() as usize).saturating_sub(1))
        .copied()
        .unwrap_or(0);
    let gold = (0..n).filter(|&g| w.gold[g] && truth[g].is_some()).count();
    let records = [
        ("accuracy", acc),
        ("completeness", tp / (tp + fne).max(1.0)),
        ("purity", tp / (tp + fp).max(1.0)),
        ("clicks_per_galaxy", clicks),
        ("total_clicks", out.total_clicks as f64),
        ("n_galaxies", nq),
        ("n_scored", rows.len() as f64),
        ("n_gold", gold as f64),
        ("days_to_all", out.total_clicks as f64 / clicks_per_day),
        ("days_to_90", at90 as f64 / clicks_per_day),
        ("days_mv40", days_mv40),
        ("machine_rounds", out.rounds.len() as f64),
        ("curve_days_per_point", days_mv40 / CURVE_POINTS as f64),
    ];
    for (k, v) in records {
        m.insert(k.into(), v);
    }
    if let Some(&c) = out.rounds.first() {
        m.insert("first_round_day".into(), c as f64 / clicks_per_day);
    }
    for (name, fate) in [
        ("swap", Fate::Swap),
        ("machine", Fate::Machine),
        ("capped", Fate::Capped),
    ] {
        let of: Vec<&usize> = rows.iter().filter(|&&g| out.fate[g] == fate).collect();
        m.insert(format!("{name}_share"), of.len() as f64 / ns);
        if fate != Fate::Capped && !of.is_empty() {
            let ok = of.iter().filter(|g| right(g)).count();
            m.insert(
                format!("{name}_accuracy"),
                ok as f64 / of.len().max(1) as f64,
            );
        }
    }
    let curve = mv_curve(seed, w, &truth, &scored)?;
    savings(&mut m, acc, clicks, &curve);
    for i in 0..=CURVE_POINTS {
        // day i * days_mv40 / 40 is click i * n_galaxies
        let by = (i as f64 * nq) as u64;
        let (mut all, mut mach) = (0usize, 0usize);
        for &g in &queued {
            if out.fate[g] != Fate::Queued && out.done_at[g] <= by {
                all += 1;
                mach += usize::from(out.fate[g] == Fate::Machine);
            }
        }
        m.insert(format!("classified_share_t{i}"), all as f64 / nq.max(1.0));
        m.insert(format!("machine_share_t{i}"), mach as f64 / nq.max(1.0));
    }
    Ok(m)
}
