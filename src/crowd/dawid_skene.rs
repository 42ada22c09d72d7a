//! `dawid-skene`: EM over per-volunteer confusion matrices (Dawid & Skene 1979), step for step as
//! crowd-kit's `DawidSkene` so the two agree to 1e-5: initial posteriors = majority-vote
//! fractions; priors = mean posterior; M-step sums posteriors per (volunteer, observed answer),
//! clips observed cells at 1e-10 and normalises over the answers that volunteer gave; E-step
//! `log prior + sum log error`, softmax; stop after `n_iter` iterations or when the evidence
//! lower bound per vote improves by less than `tol`; the returned posteriors are clipped below at
//! 1e-10 (crowd-kit clips them in place while computing the entropy). Also hosts the shared EM
//! loop used by `one-coin-dawid-skene`.

use rayon::prelude::*;

use super::majority_vote::weighted_fractions;
use super::{Aggregate, Aggregator, CrowdError, QuestionVotes};

pub(crate) const EPS: f64 = 1e-10;

/// Dawid-Skene with crowd-kit's defaults (`n_iter = 100`, `tol = 1e-5`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DawidSkene {
    pub n_iter: usize,
    pub tol: f64,
}

impl Default for DawidSkene {
    fn default() -> Self {
        DawidSkene {
            n_iter: 100,
            tol: 1e-5,
        }
    }
}

/// The fitted model.
#[derive(Debug, Clone, PartialEq)]
pub struct EmFit {
    /// Posteriors, row-major `n_galaxies x K`.
    pub probs: Vec<f64>,
    pub priors: Vec<f64>,
    /// `errors[(v * K + observed) * K + truth] = P(observed | truth)` for volunteer `v`; only
    /// answers the volunteer gave are filled (others are 0).
    pub errors: Vec<f64>,
    /// Evidence lower bound per vote after each iteration.
    pub loss_history: Vec<f64>,
}

/// Column means.
pub(crate) fn priors_of(probs: &[f64], k: usize) -> Vec<f64> {
    let n = probs.len() / k;
    let mut p = vec![0.0; k];
    for row in probs.chunks(k) {
        for c in 0..k {
            p[c] += row[c];
        }
    }
    p.iter_mut().for_each(|x| *x /= n.max(1) as f64);
    p
}

/// Which answers each volunteer gave: `seen[v * K + a]`.
pub(crate) fn seen_answers(votes: &QuestionVotes) -> Vec<bool> {
    let k = votes.n_classes;
    let mut seen = vec![false; votes.n_volunteers * k];
    for i in 0..votes.len() {
        seen[votes.volunteer[i] as usize * k + votes.answer[i] as usize] = true;
    }
    seen
}

/// Vote ids laid out contiguously for the two EM passes: per galaxy the `volunteer * K + answer`
/// keys, per volunteer the (galaxy, answer) pairs, both in CSR order.
pub(crate) struct EmIndex<'a> {
    pub k: usize,
    pub gstart: &'a [u32],
    pub gkey: Vec<u32>,
    pub vstart: &'a [u32],
    pub vgal: Vec<u32>,
    pub vans: Vec<u32>,
}

impl<'a> EmIndex<'a> {
    pub fn new(votes: &'a QuestionVotes) -> Self {
        let k = votes.n_classes;
        let gkey = votes
            .by_galaxy
            .items
            .iter()
            .map(|&i| votes.volunteer[i as usize] * k as u32 + votes.answer[i as usize])
            .collect();
        let vgal = votes
            .by_volunteer
            .items
            .iter()
            .map(|&i| votes.galaxy[i as usize])
            .collect();
        let vans = votes
            .by_volunteer
            .items
            .iter()
            .map(|&i| votes.answer[i as usize])
            .collect();
        EmIndex {
            k,
            gstart: &votes.by_galaxy.start,
            gkey,
            vstart: &votes.by_volunteer.start,
            vgal,
            vans,
        }
    }

    /// (galaxy, answer) pairs of volunteer `v`.
    pub fn volunteer_votes(&self, v: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        let r = self.vstart[v] as usize..self.vstart[v + 1] as usize;
        self.vgal[r.clone()]
            .iter()
            .zip(&self.vans[r])
            .map(|(&g, &a)| (g as usize, a as usize))
    }

    /// Number of votes of volunteer `v`.
    pub fn volunteer_len(&self, v: usize) -> usize {
        (self.vstart[v + 1] - self.vstart[v]) as usize
    }
}

/// Sums `probs[g]` into `out[(volunteer * K + answer) * K + c]` for every vote, walking galaxies
/// in order (sequential reads, scattered writes into a small table). Galaxies are split into a
/// number of blocks fixed by the data size alone, each block sums into its own table, and the
/// tables are added in block order: the result never depends on the number of threads.
fn scatter_sums(ix: &EmIndex, probs: &[f64], n_vol: usize) -> Vec<f64> {
    let k = ix.k;
    let n_gal = ix.gstart.len() - 1;
    let table = n_vol * k * k;
    let blocks = (32_000_000 / table.max(1)).clamp(1, 16).min(n_gal.max(1));
    let per = n_gal.div_ceil(blocks);
    let parts: Vec<Vec<f64>> = (0..blocks)
        .into_par_iter()
        .map(|b| {
            let mut t = vec![0.0; table];
            for g in b * per..((b + 1) * per).min(n_gal) {
                let p = &probs[g * k..(g + 1) * k];
                for &key in &ix.gkey[ix.gstart[g] as usize..ix.gstart[g + 1] as usize] {
                    let row = &mut t[key as usize * k..][..k];
                    for c in 0..k {
                        row[c] += p[c];
                    }
                }
            }
            t
        })
        .collect();
    let mut out = vec![0.0; table];
    for part in &parts {
        out.par_iter_mut().zip(part).for_each(|(o, x)| *o += x);
    }
    out
}

/// Dawid-Skene M-step (see the module doc).
fn m_step(ix: &EmIndex, probs: &[f64], seen: &[bool]) -> Vec<f64> {
    let k = ix.k;
    let n_vol = ix.vstart.len() - 1;
    let mut errors = scatter_sums(ix, probs, n_vol);
    errors.par_chunks_mut(k * k).enumerate().for_each(|(v, e)| {
        for c in 0..k {
            let mut s = 0.0;
            for a in 0..k {
                if seen[v * k + a] {
                    e[a * k + c] = e[a * k + c].max(EPS);
                    s += e[a * k + c];
                }
            }
            if s > 0.0 {
                for a in 0..k {
                    e[a * k + c] /= s;
                }
            }
        }
    });
    errors
}

/// Per-galaxy sums of log error over the galaxy's votes, row-major `n_galaxies x K`.
fn galaxy_sums(ix: &EmIndex, log_err: &[f64]) -> Vec<f64> {
    let k = ix.k;
    let n_gal = ix.gstart.len() - 1;
    let mut out = vec![0.0; n_gal * k];
    out.par_chunks_mut(k).enumerate().for_each(|(g, row)| {
        for &key in &ix.gkey[ix.gstart[g] as usize..ix.gstart[g + 1] as usize] {
            let e = &log_err[key as usize * k..][..k];
            for c in 0..k {
                row[c] += e[c];
            }
        }
    });
    out
}

/// E-step: posteriors = softmax(log prior + per-galaxy sums).
fn e_step(k: usize, sums: &[f64], priors: &[f64]) -> Vec<f64> {
    let log_prior: Vec<f64> = priors.iter().map(|p| p.max(EPS).ln()).collect();
    let mut probs = sums.to_vec();
    probs.par_chunks_mut(k).for_each(|row| {
        for c in 0..k {
            row[c] += log_prior[c];
        }
        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut s = 0.0;
        for x in row.iter_mut() {
            *x = (*x - m).exp();
            s += *x;
        }
        row.iter_mut().for_each(|x| *x /= s);
    });
    probs
}

/// Evidence lower bound per vote from the per-galaxy log-error sums of the same errors;
/// deterministic (per-galaxy terms added in order).
fn elbo(ix: &EmIndex, sums: &[f64], probs: &[f64], priors: &[f64], n_votes: usize) -> f64 {
    let k = ix.k;
    let log_prior: Vec<f64> = priors.iter().map(|p| p.max(EPS).ln()).collect();
    let parts: Vec<f64> = (0..ix.gstart.len() - 1)
        .into_par_iter()
        .map(|g| {
            let n = (ix.gstart[g + 1] - ix.gstart[g]) as f64;
            let p = &probs[g * k..(g + 1) * k];
            let mut s = 0.0;
            for c in 0..k {
                s += p[c] * (sums[g * k + c] + n * log_prior[c]);
            }
            for &x in p {
                let x = x.max(EPS);
                s -= x * x.ln();
            }
            s
        })
        .collect();
    parts.iter().sum::<f64>() / n_votes.max(1) as f64
}

/// The EM loop shared by both Dawid-Skene variants; `m_step` maps posteriors to errors. The
/// log-error sums computed for one iteration's ELBO are reused by the next E-step (same errors).
pub(crate) fn run_em(
    votes: &QuestionVotes,
    n_iter: usize,
    tol: f64,
    m_step: &dyn Fn(&EmIndex, &[f64]) -> Vec<f64>,
) -> EmFit {
    let k = votes.n_classes;
    let ix = EmIndex::new(votes);
    let mut probs = weighted_fractions(votes, None);
    let mut priors = priors_of(&probs, k);
    let mut errors = m_step(&ix, &probs);
    let ln = |e: &[f64]| -> Vec<f64> { e.iter().map(|&x| x.ln()).collect() };
    let mut sums = galaxy_sums(&ix, &ln(&errors));
    let mut loss = f64::NEG_INFINITY;
    let mut loss_history = Vec::new();
    for _ in 0..n_iter {
        probs = e_step(k, &sums, &priors);
        priors = priors_of(&probs, k);
        errors = m_step(&ix, &probs);
        sums = galaxy_sums(&ix, &ln(&errors));
        let new_loss = elbo(&ix, &sums, &probs, &priors, votes.len());
        loss_history.push(new_loss);
        if new_loss - loss < tol {
            break;
        }
        loss = new_loss;
    }
    if !loss_history.is_empty() {
        probs.par_iter_mut().for_each(|x| *x = x.max(EPS));
    }
    EmFit {
        probs,
        priors,
        errors,
        loss_history,
    }
}

impl DawidSkene {
    /// Fits the model.
    pub fn fit(&self, votes: &QuestionVotes) -> EmFit {
        let seen = seen_answers(votes);
        run_em(votes, self.n_iter, self.tol, &|ix, p| m_step(ix, p, &seen))
    }
}

pub(crate) fn check_nonempty(
    votes: &QuestionVotes,
    strategy: &'static str,
) -> Result<(), CrowdError> {
    if votes.is_empty() {
        return Err(CrowdError::Strategy {
            strategy,
            reason: "no votes to aggregate".into(),
        });
    }
    Ok(())
}

impl Aggregator for DawidSkene {
    fn name(&self) -> &'static str {
        "dawid-skene"
    }

    fn aggregate(&self, votes: &QuestionVotes) -> Result<Aggregate, CrowdError> {
        check_nonempty(votes, self.name())?;
        Ok(Aggregate::from_probs(votes, self.fit(votes).probs))
    }
}
