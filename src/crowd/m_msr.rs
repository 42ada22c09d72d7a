//! `m-msr` (Matrix Mean-Subsequence-Reduced, Ma & Olshevsky 2020), step for step as crowd-kit's
//! `MMSR`. Only volunteers with votes take part (in volunteer-id order); `L` = answers that
//! occur, `T` = galaxies with votes; a volunteer's repeated votes on a galaxy count once (the
//! last).
//!
//! 1. Covariance `C[a][b] = (share of common galaxies where a and b agree) L/(L-1) - 1/(L-1)`
//!    for pairs with a common galaxy, `-1/(L-1)` otherwise (the diagonal too).
//! 2. Robust rank-one fit `|C| ~ u v^T` on the observed pairs: `u0 = v0` uniform in [0, 1); each
//!    round sets `v[j]` to the mean of `|C[i][j]| / u[i]` over observed `i` after dropping the
//!    `F` smallest below `v[j]` and the `F` largest above it (`F = floor(s / 2) - 1`, `s` = least
//!    number of partners any volunteer has; numpy's slicing rules kept for `F < 1`), then `u`
//!    likewise from the new `v`; stop after `n_iter` rounds or when `||u v^T - u' v'^T||_F < tol`.
//! 3. Signs ([`sign_determination`](super::m_msr_sign)), clipping to
//!    `[-1/(L-1) + 1/sqrt(T), 1 - 1/sqrt(T)]`, accuracy `p = x (L-1)/L + 1/L` and vote weight
//!    `ln(p (L-1) / (1 - p))` (negative for volunteers judged adversarial).
//! 4. Scores: per galaxy the weight sums per answer divided by their total (crowd-kit's
//!    `predict_score`; the total may be negative), label = argmax over the answers that occur.
//!
//! [`Aggregate::probs`] is the one-hot of the label (the scores are no probabilities);
//! [`MMsr::fit`] returns the scores. `u0` comes from the rand_chacha stream `crowd/m-msr-init`
//! under `seed` (one draw per volunteer id); [`MMsr::init`] overrides it (the parity test injects
//! scipy's draws).

use rand::Rng;
use rayon::prelude::*;

use super::m_msr_sign::{np_sum, sign_determination};
use super::zero_based_skill::distinct_answers;
use super::{Aggregate, Aggregator, CrowdError, QuestionVotes};
use crate::rng::stream;

/// M-MSR with crowd-kit's defaults (`n_iter = 10000`, `tol = 1e-10`) and stream seed 0.
#[derive(Debug, Clone, PartialEq)]
pub struct MMsr {
    pub n_iter: usize,
    pub tol: f64,
    /// Seed of the `crowd/m-msr-init` stream (and of the eigen-solver's start vector).
    pub seed: u64,
    /// Initial `u = v` per volunteer id; drawn when `None`.
    pub init: Option<Vec<f64>>,
}

impl Default for MMsr {
    fn default() -> Self {
        MMsr {
            n_iter: 10_000,
            tol: 1e-10,
            seed: 0,
            init: None,
        }
    }
}

/// The fitted model.
#[derive(Debug, Clone, PartialEq)]
pub struct MMsrFit {
    /// Vote weight per volunteer id (0 for volunteers without votes).
    pub skills: Vec<f64>,
    /// crowd-kit's `predict_score`, row-major `n_galaxies x n_classes`.
    pub scores: Vec<f64>,
    pub labels: Vec<u32>,
    /// `||u v^T - u' v'^T||_F` after each round.
    pub loss_history: Vec<f64>,
}

/// Start of `y[f..]` for a slice of length `len` under Python's rules (negative `f` counts from
/// the end).
fn py_index(f: i64, len: usize) -> usize {
    let len = len as i64;
    (if f >= 0 { f.min(len) } else { (len + f).max(0) }) as usize
}

/// crowd-kit's `_remove_largest_and_smallest_F_value`.
fn trim(mut y: Vec<f64>, f: i64, a: f64, n_tasks: usize) -> Vec<f64> {
    y.sort_by(f64::total_cmp);
    if (y.iter().filter(|&&x| x < a).count() as i64) < f {
        y.retain(|&x| x >= a);
    } else {
        y.drain(..py_index(f, y.len()));
    }
    let m = y.len() as i64;
    if (y.iter().filter(|&&x| x > a).count() as i64) < f {
        y.retain(|&x| x <= a);
    } else {
        y.truncate(py_index(m - f, y.len()));
    }
    if y.len() == 1 && y[0] == 0.0 {
        y[0] = 1.0 / (n_tasks as f64).sqrt();
    }
    y
}

/// Pairwise statistics of the active volunteers.
struct Pairs {
    /// Active volunteer -> volunteer id.
    ids: Vec<usize>,
    /// `n x n` number of common galaxies.
    common: Vec<u32>,
    /// `n x n` covariance `C`.
    cov: Vec<f64>,
    n_tasks: usize,
}

fn pairs(votes: &QuestionVotes, l: usize) -> Pairs {
    let mut local = vec![usize::MAX; votes.n_volunteers];
    let mut ids = Vec::new();
    for (v, slot) in local.iter_mut().enumerate() {
        if !votes.by_volunteer.row(v).is_empty() {
            *slot = ids.len();
            ids.push(v);
        }
    }
    let n = ids.len();
    // Per galaxy: (active volunteer, answer), the last vote of each volunteer.
    let mut stamp = vec![usize::MAX; n];
    let mut by_galaxy: Vec<Vec<(u32, u32)>> = Vec::with_capacity(votes.n_galaxies);
    for g in 0..votes.n_galaxies {
        let mut row = Vec::new();
        for &i in votes.by_galaxy.row(g).iter().rev() {
            let a = local[votes.volunteer[i as usize] as usize];
            if stamp[a] != g {
                stamp[a] = g;
                row.push((a as u32, votes.answer[i as usize]));
            }
        }
        by_galaxy.push(row);
    }
    let n_tasks = by_galaxy.iter().filter(|r| !r.is_empty()).count();
    let mut mine: Vec<Vec<(u32, u32)>> = vec![Vec::new(); n];
    for (g, row) in by_galaxy.iter().enumerate() {
        for &(a, ans) in row {
            mine[a as usize].push((g as u32, ans));
        }
    }
    let (lf, base) = (l as f64 / (l - 1) as f64, 1.0 / (l - 1) as f64);
    let mut common = vec![0u32; n * n];
    let mut cov = vec![0.0; n * n];
    common
        .par_chunks_mut(n)
        .zip(cov.par_chunks_mut(n))
        .enumerate()
        .for_each(|(a, (common, cov))| {
            let mut agree = vec![0u32; n];
            for &(g, ans) in &mine[a] {
                for &(b, ans_b) in &by_galaxy[g as usize] {
                    if b as usize != a {
                        common[b as usize] += 1;
                        agree[b as usize] += u32::from(ans == ans_b);
                    }
                }
            }
            for b in 0..n {
                let share = if common[b] > 0 {
                    f64::from(agree[b]) / f64::from(common[b])
                } else {
                    0.0
                };
                cov[b] = share * lf - base;
            }
        });
    Pairs {
        ids,
        common,
        cov,
        n_tasks,
    }
}

/// One half-round: `target[j] = mean of trimmed x[i][j] / by[i]` over observed `i` (`x` and the
/// observation pattern are symmetric, so rows serve as columns).
fn half_round(p: &Pairs, x: &[f64], by: &[f64], target: &mut [f64], f: i64) {
    let n = by.len();
    target.par_iter_mut().enumerate().for_each(|(j, t)| {
        let ratios: Vec<f64> = (0..n)
            .filter(|&i| p.common[i * n + j] != 0)
            .map(|i| x[i * n + j] / by[i])
            .collect();
        let y = trim(ratios, f, *t, p.n_tasks);
        if !y.is_empty() {
            *t = np_sum(&y) / y.len() as f64;
        }
    });
}

impl MMsr {
    /// Fits the skills and scores.
    pub fn fit(&self, votes: &QuestionVotes) -> Result<MMsrFit, CrowdError> {
        let err = |reason: String| CrowdError::Strategy {
            strategy: "m-msr",
            reason,
        };
        if votes.is_empty() {
            return Err(err("no votes to aggregate".into()));
        }
        let l = distinct_answers(votes);
        if l < 2 {
            return Err(err(
                "only one answer occurs; M-MSR needs at least two".into()
            ));
        }
        let init = match &self.init {
            Some(u) if u.len() == votes.n_volunteers => u.clone(),
            Some(u) => {
                return Err(err(format!(
                    "{} initial values for {} volunteers; expected one per volunteer id",
                    u.len(),
                    votes.n_volunteers
                )));
            }
            None => {
                let mut rng = stream(self.seed, "crowd/m-msr-init");
                (0..votes.n_volunteers)
                    .map(|_| rng.random::<f64>())
                    .collect()
            }
        };
        let p = pairs(votes, l);
        let n = p.ids.len();
        let partners = (0..n)
            .map(|b| (0..n).filter(|&a| p.common[a * n + b] != 0).count())
            .min()
            .unwrap_or(0);
        let f = (partners / 2) as i64 - 1;
        let x: Vec<f64> = p.cov.iter().map(|c| c.abs()).collect();
        let mut u: Vec<f64> = p.ids.iter().map(|&v| init[v]).collect();
        let mut v = u.clone();
        let mut loss_history = Vec::new();
        for _ in 0..self.n_iter {
            let (u_prev, v_prev) = (u.clone(), v.clone());
            half_round(&p, &x, &u, &mut v, f);
            half_round(&p, &x, &v, &mut u, f);
            let loss = (0..n)
                .into_par_iter()
                .map(|i| {
                    (0..n)
                        .map(|j| (u[i] * v[j] - u_prev[i] * v_prev[j]).powi(2))
                        .sum::<f64>()
                })
                .collect::<Vec<f64>>()
                .iter()
                .sum::<f64>()
                .sqrt();
            loss_history.push(loss);
            if loss < self.tol {
                break;
            }
        }
        let norm = |z: &[f64]| z.iter().map(|a| a * a).sum::<f64>().sqrt();
        let k = (norm(&u) / norm(&v)).sqrt();
        let s_abs: Vec<f64> = u.iter().map(|a| a / k).collect();
        let signed = sign_determination(&p.cov, n, &s_abs, self.seed);
        let sqrt_t = (p.n_tasks as f64).sqrt();
        let lf = l as f64;
        let mut skills = vec![0.0; votes.n_volunteers];
        for (a, &id) in p.ids.iter().enumerate() {
            let x = signed[a]
                .min(1.0 - 1.0 / sqrt_t)
                .max(-1.0 / (lf - 1.0) + 1.0 / sqrt_t);
            let prob = x * (lf - 1.0) / lf + 1.0 / lf;
            skills[id] = (prob * (lf - 1.0) / (1.0 - prob)).ln();
        }
        let (scores, labels) = weighted_scores(votes, &skills);
        Ok(MMsrFit {
            skills,
            scores,
            labels,
            loss_history,
        })
    }
}

/// crowd-kit's `MajorityVote` with (possibly negative) skills: per-answer weight sums divided by
/// their total, label = first maximum over the answers that occur (a zero total leaves the sums
/// as they are; crowd-kit divides by zero there).
pub(crate) fn weighted_scores(votes: &QuestionVotes, skills: &[f64]) -> (Vec<f64>, Vec<u32>) {
    let k = votes.n_classes;
    let mut occurs = vec![false; k];
    votes.answer.iter().for_each(|&a| occurs[a as usize] = true);
    let mut scores = vec![0.0; votes.n_galaxies * k];
    let labels = scores
        .par_chunks_mut(k)
        .enumerate()
        .map(|(g, row)| {
            for &i in votes.by_galaxy.row(g) {
                let i = i as usize;
                row[votes.answer[i] as usize] += skills[votes.volunteer[i] as usize];
            }
            let total: f64 = row.iter().sum();
            if total != 0.0 {
                row.iter_mut().for_each(|x| *x /= total);
            }
            let mut best: Option<usize> = None;
            for c in (0..k).filter(|&c| occurs[c]) {
                if best.is_none_or(|b| row[c] > row[b]) {
                    best = Some(c);
                }
            }
            best.unwrap_or(0) as u32
        })
        .collect();
    (scores, labels)
}

impl Aggregator for MMsr {
    fn name(&self) -> &'static str {
        "m-msr"
    }

    fn aggregate(&self, votes: &QuestionVotes) -> Result<Aggregate, CrowdError> {
        let fit = self.fit(votes)?;
        let k = votes.n_classes;
        let mut probs = vec![0.0; votes.n_galaxies * k];
        for (row, &l) in probs.chunks_mut(k).zip(&fit.labels) {
            row[l as usize] = 1.0;
        }
        let mut agg = Aggregate::from_probs(votes, probs);
        agg.labels = fit.labels;
        Ok(agg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_follows_crowdkit() {
        // F = 1 around a = 3: drop the smallest (1) and the largest (9).
        assert_eq!(
            trim(vec![9.0, 1.0, 3.0, 4.0, 2.0], 1, 3.0, 4),
            vec![2.0, 3.0, 4.0]
        );
        // Fewer than F values below a: keep only those >= a; then drop the largest.
        assert_eq!(trim(vec![5.0, 1.0, 6.0, 7.0], 2, 2.0, 4), vec![5.0]);
        // F = -1 (a volunteer with at most one partner): numpy keeps only the last value.
        assert_eq!(trim(vec![2.0, 1.0, 3.0], -1, 0.0, 4), vec![3.0]);
        // A lone zero becomes 1 / sqrt(T).
        assert_eq!(trim(vec![0.0], 0, 1.0, 4), vec![0.5]);
    }

    #[test]
    fn hand_computed_covariance_and_scores() {
        // 3 answers; v0, v1, v2 on g0 and g1, v3 only on g2 with v0.
        // g0: 0 0 1; g1: 2 2 2; g2: v0 -> 1, v3 -> 1.
        let v = QuestionVotes::new(
            3,
            3,
            4,
            vec![0, 0, 0, 1, 1, 1, 2, 2],
            vec![0, 1, 2, 0, 1, 2, 0, 3],
            vec![0, 0, 1, 2, 2, 2, 1, 1],
        )
        .unwrap();
        let p = pairs(&v, 3);
        assert_eq!((p.ids.clone(), p.n_tasks), (vec![0, 1, 2, 3], 3));
        // v0-v1 agree 2/2 -> 1.5 - 0.5 = 1; v0-v2 1/2 -> 0.25; v0-v3 1/1 -> 1;
        // v1-v3 no common galaxy -> -0.5; diagonal -0.5.
        let c = |a: usize, b: usize| p.cov[a * 4 + b];
        assert_eq!(
            [c(0, 1), c(0, 2), c(0, 3), c(1, 3), c(2, 2)],
            [1.0, 0.25, 1.0, -0.5, -0.5]
        );
        assert_eq!([p.common[1], p.common[3], p.common[7]], [2, 1, 0]);
        // Scores with weights [1, 2, -1, 0]: g0 = (3, -1, 0) / 2; g1 = (0, 0, 2) / 2.
        let (scores, labels) = weighted_scores(&v, &[1.0, 2.0, -1.0, 0.0]);
        assert_eq!(&scores[..6], &[1.5, -0.5, 0.0, 0.0, 0.0, 1.0]);
        assert_eq!(labels[..2], [0, 2]);
    }

    #[test]
    fn adversary_gets_negative_weight() {
        // Four honest volunteers answer the truth (g % 2) on 40 galaxies; v4 always answers the
        // other class. The adversary's covariance with everyone is -1: its sign is flipped.
        let (mut g, mut w, mut a) = (vec![], vec![], vec![]);
        for gal in 0..40u32 {
            for vol in 0..5u32 {
                g.push(gal);
                w.push(vol);
                a.push(if vol == 4 { 1 - gal % 2 } else { gal % 2 });
            }
        }
        let v = QuestionVotes::new(2, 40, 5, g, w, a).unwrap();
        let fit = MMsr::default().fit(&v).unwrap();
        assert!(fit.skills[..4].iter().all(|&s| s > 0.0), "{:?}", fit.skills);
        assert!(fit.skills[4] < 0.0, "{:?}", fit.skills);
        assert_eq!(fit.labels, (0..40).map(|g| g % 2).collect::<Vec<u32>>());
        assert!(fit.loss_history.len() < 100 && *fit.loss_history.last().unwrap() < 1e-10);
        let agg = MMsr::default().aggregate(&v).unwrap();
        assert_eq!((agg.row(1), &agg.labels), (&[0.0, 1.0][..], &fit.labels));
    }
}
