//! The online SWAP run (`crowd.online: true`, strategy `swap`), measured as Galaxy Zoo Express
//! (Beck et al. 2018) measured it. Galaxies are served to the simulated crowd until SWAP retires
//! them (posterior P(positive) > 0.99 or < 0.004) or they reach the cap `votes_per_galaxy`.
//!
//! **Scored galaxies.** Gold galaxies (`gold_fraction`) train the volunteers' skills with their
//! true labels, so they are never scored: every metric below is over the galaxies whose truth is
//! known and that were never gold (`n_scored`; `n_gold` were left out; `n_galaxies` =
//! `n_scored`). The clicks spent on gold galaxies count in `n_votes` (all clicks) but not in
//! `clicks_per_galaxy` (mean clicks SWAP spent on a scored galaxy).
//!
//! **Savings against fixed-K majority vote**, on the same scored galaxies and crowd: each galaxy
//! gets Galaxy Zoo's fixed [`GZ_VOTES`] = 40 votes (`simulate_fixed`), and majority vote over the
//! first K of them (in stream order) gives `acc_MV(K)` for every K = 1..40 (the first K of 40
//! distinct volunteers drawn in turn are distributed as K drawn alone, and nesting the votes
//! keeps the curve free of between-K sampling noise). Ties go to the positive class, as
//! `majority-vote` breaks them (to the lowest class index).
//! * `mv_accuracy_at_40` = `acc_MV(40)`.
//! * `k_matched` = K*, the smallest K with `acc_MV(K) >= accuracy` (SWAP's accuracy).
//! * `swap_beats_mv_at_40` = 1 when no K <= 40 reaches SWAP's accuracy; then `k_matched` = 40
//!   and `savings_factor` is only a lower bound. Else 0.
//! * `savings_factor` = K* / `clicks_per_galaxy`: how many times fewer clicks SWAP needs than
//!   majority vote *at matched accuracy* (Beck et al.'s classification savings factor).
//! * `savings_vs_40` = 40 / `clicks_per_galaxy`: the clicks saved against Galaxy Zoo's fixed
//!   40 votes, whatever the accuracy ("x times faster").
//! * `accuracy_gap_vs_40` = `accuracy` - `mv_accuracy_at_40`: whether that speed-up kept the
//!   accuracy (negative = SWAP is less accurate than 40 votes).
//! * `baseline_accuracy_at_equal_clicks` = `acc_MV(round(clicks_per_galaxy))` (K clamped to
//!   1..40) and `accuracy_gain_at_equal_clicks` = `accuracy` minus it.
//!
//! **Calibration of SWAP's posterior.** Besides `ece` and `brier` of all scored galaxies:
//! * `retired_share`: share of scored galaxies retired before the cap.
//! * `retired_confidence`: their mean top-label posterior (>= 0.99 by the retirement rule, the
//!   nominal accuracy); `retired_accuracy`: the share of them labelled right; `retired_ece`:
//!   ECE (15 bins) over them alone (0 when none retired).
//! * `reliability_bin{b}_n`, `_pos`, `_p` for b = 0..9 ([`RELIABILITY_BINS`]): of the scored
//!   galaxies whose final posterior P(positive) lies in [b/10, (b+1)/10) (the last bin takes 1),
//!   how many, how many are truly positive, and the sum of their posteriors. Counts and sums,
//!   not rates, so a report pools seeds by adding them (mean over seeds times the seeds); the
//!   reliability figure plots `_pos / _n` against `_p / _n`.

use std::collections::BTreeMap;

use super::metrics::{accuracy, clicks_per_galaxy, ece};
use super::run::World;
use super::volunteers::{simulate_fixed, simulate_online};
use super::{Aggregate, CrowdError, CrowdRunConfig, SwapState};

/// Galaxy Zoo's fixed number of votes per galaxy, the reference of the savings factors.
pub const GZ_VOTES: usize = 40;

/// Bins of the reliability records (equal width over the posterior P(positive)).
pub const RELIABILITY_BINS: usize = 10;

/// An online SWAP run, ready for `run::evaluate`'s common scoring.
pub(super) struct Online {
    /// SWAP's aggregate over the scored galaxies (`rows`).
    pub agg: Aggregate,
    /// The scored galaxies' truth (binary, positive = 0).
    pub truth: Vec<Option<u32>>,
    /// All clicks, gold galaxies' included.
    pub n_votes: usize,
    /// World galaxy index of each scored galaxy.
    pub rows: Vec<usize>,
    /// `n_scored`, `n_gold`, the savings and the calibration records of the module doc.
    pub records: BTreeMap<String, f64>,
}

/// Errors unless there are at least [`GZ_VOTES`] volunteers: online runs are compared with
/// Galaxy Zoo's fixed 40 votes per galaxy, one per volunteer.
pub(crate) fn check_volunteers(n_volunteers: usize) -> Result<(), CrowdError> {
    if n_volunteers < GZ_VOTES {
        return Err(CrowdError::Config(format!(
            "online SWAP is compared with Galaxy Zoo's fixed {GZ_VOTES} votes per galaxy (one per \
             volunteer); n_volunteers = {n_volunteers}, expected >= {GZ_VOTES}"
        )));
    }
    Ok(())
}

/// Runs one online SWAP experiment on the world `w` (see the module doc).
pub(super) fn online(cfg: &CrowdRunConfig, seed: u64, w: &World) -> Result<Online, CrowdError> {
    check_volunteers(cfg.n_volunteers)?;
    let truth = w.mapped_truth();
    let mut st = w.retiring_swap();
    let mut retire = |v: u32, g: u32, a: u32| st.update(v, g, w.map(a));
    let cls = simulate_online(
        seed,
        &w.galaxies,
        &w.crowd,
        w.question,
        cfg.votes_per_galaxy,
        &mut retire,
    )?;
    let scored: Vec<bool> = (0..w.galaxies.len())
        .map(|g| truth[g].is_some() && !w.gold[g])
        .collect();
    let rows: Vec<usize> = (0..w.galaxies.len()).filter(|&g| scored[g]).collect();
    let agg = subset(&st.to_aggregate(), &rows);
    let t: Vec<Option<u32>> = rows.iter().map(|&g| truth[g]).collect();
    let mut records = BTreeMap::new();
    records.insert("n_scored".into(), rows.len() as f64);
    let n_gold = (0..w.galaxies.len())
        .filter(|&g| w.gold[g] && truth[g].is_some())
        .count();
    records.insert("n_gold".into(), n_gold as f64);
    calibration(&mut records, &st, &agg, &rows, &t);
    let curve = mv_curve(seed, w, &truth, &scored)?;
    savings(
        &mut records,
        accuracy(&agg.labels, &t),
        clicks_per_galaxy(&agg),
        &curve,
    );
    Ok(Online {
        agg,
        truth: t,
        n_votes: cls.len(),
        rows,
        records,
    })
}

/// The rows `idx` of an aggregate.
fn subset(full: &Aggregate, idx: &[usize]) -> Aggregate {
    Aggregate {
        n_classes: full.n_classes,
        probs: idx.iter().flat_map(|&g| full.row(g).to_vec()).collect(),
        labels: idx.iter().map(|&g| full.labels[g]).collect(),
        clicks_used: idx.iter().map(|&g| full.clicks_used[g]).collect(),
    }
}

/// The retirement and reliability records of the scored galaxies `idx` (`agg` and `t` are their
/// rows, in the same order).
fn calibration(
    m: &mut BTreeMap<String, f64>,
    st: &SwapState,
    agg: &Aggregate,
    idx: &[usize],
    t: &[Option<u32>],
) {
    let pos = st.cfg.positive;
    let retired: Vec<usize> = (0..idx.len()).filter(|&i| st.retired[idx[i]]).collect();
    let r_agg = subset(agg, &retired);
    let r_t: Vec<Option<u32>> = retired.iter().map(|&i| t[i]).collect();
    let conf: f64 = (0..retired.len())
        .map(|i| r_agg.row(i)[r_agg.labels[i] as usize])
        .sum();
    let n_r = retired.len();
    m.insert("retired_share".into(), n_r as f64 / idx.len().max(1) as f64);
    m.insert("retired_confidence".into(), conf / n_r.max(1) as f64);
    m.insert("retired_accuracy".into(), accuracy(&r_agg.labels, &r_t));
    m.insert("retired_ece".into(), ece(&r_agg, &r_t));
    let mut bins = [(0.0, 0.0, 0.0); RELIABILITY_BINS];
    for (i, &g) in idx.iter().enumerate() {
        let p = st.p[g];
        let b = ((p * RELIABILITY_BINS as f64) as usize).min(RELIABILITY_BINS - 1);
        bins[b].0 += 1.0;
        bins[b].1 += f64::from(t[i] == Some(pos));
        bins[b].2 += p;
    }
    for (b, (n, k, s)) in bins.into_iter().enumerate() {
        m.insert(format!("reliability_bin{b}_n"), n);
        m.insert(format!("reliability_bin{b}_pos"), k);
        m.insert(format!("reliability_bin{b}_p"), s);
    }
}

/// `acc_MV(K)` for K = 1..=[`GZ_VOTES`] (entry K - 1) over the `scored` galaxies: majority vote
/// over the first K of the 40 votes `simulate_fixed` draws per galaxy, in stream order.
pub(crate) fn mv_curve(
    seed: u64,
    w: &World,
    truth: &[Option<u32>],
    scored: &[bool],
) -> Result<Vec<f64>, CrowdError> {
    let cls = simulate_fixed(seed, &w.galaxies, &w.crowd, w.question, GZ_VOTES)?;
    let mut order: Vec<usize> = (0..cls.len()).collect();
    order.sort_by(|&a, &b| cls.time[a].total_cmp(&cls.time[b]));
    let n = w.galaxies.len();
    let mut counts = vec![[0u32; 2]; n];
    let mut hits = [0usize; GZ_VOTES];
    for i in order {
        let g = cls.galaxy[i] as usize;
        let Some(t) = truth[g].filter(|_| scored[g]) else {
            continue;
        };
        let c = &mut counts[g];
        c[w.map(cls.answer[i]) as usize] += 1;
        let k = (c[0] + c[1]) as usize;
        let label = u32::from(c[1] > c[0]);
        if k <= GZ_VOTES && label == t {
            hits[k - 1] += 1;
        }
    }
    let n_scored = scored.iter().filter(|&&s| s).count().max(1);
    Ok(hits.iter().map(|&h| h as f64 / n_scored as f64).collect())
}

/// The savings records of the module doc from SWAP's accuracy and clicks per galaxy and the
/// majority-vote curve.
pub(crate) fn savings(m: &mut BTreeMap<String, f64>, acc: f64, clicks: f64, curve: &[f64]) {
    let clicks = clicks.max(1e-12);
    let matched = curve.iter().position(|&a| a >= acc);
    let k_star = matched.map_or(GZ_VOTES, |i| i + 1) as f64;
    let mv40 = curve[GZ_VOTES - 1];
    let k_eq = (clicks.round() as usize).clamp(1, GZ_VOTES);
    let records = [
        ("mv_accuracy_at_40", mv40),
        ("k_matched", k_star),
        ("swap_beats_mv_at_40", f64::from(matched.is_none())),
        ("savings_factor", k_star / clicks),
        ("savings_vs_40", GZ_VOTES as f64 / clicks),
        ("accuracy_gap_vs_40", acc - mv40),
        ("baseline_accuracy_at_equal_clicks", curve[k_eq - 1]),
        ("accuracy_gain_at_equal_clicks", acc - curve[k_eq - 1]),
    ];
    for (k, v) in records {
        m.insert(k.into(), v);
    }
}

#[cfg(test)]
mod tests;
