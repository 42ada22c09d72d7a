//! `dawid-skene`: EM over per-volunteer confusion matrices (Dawid & Skene 1979), step for step as
//! crowd-kit's `DawidSkene` so the two agree to 1e-5: initial posteriors = majority-vote
//! fractions; priors = mean posterior; M-step sums posteriors per (volunteer, observed answer),
//! clips observed cells at 1e-10 and normalises over the answers that volunteer gave; E-step
//! `log prior + sum log error`, softmax; stop after `n_iter` iterations or when the evidence
//! lower bound per vote improves by less than `tol`; the returned posteriors are clipped below at
//! 1e-10 (crowd-kit clips them in place while computing the entropy). Also hosts the shared EM
//! engine ([`run_em`]) used by `one-coin-dawid-skene`.
//!
//! **Speed.** One iteration is one pass over the votes in galaxy order (blocks of galaxies in
//! parallel), fusing what crowd-kit does in four: the per-galaxy sums of log errors, the evidence
//! lower bound of the current posteriors (its entropy term was computed when they were made, with
//! `ln p = x - max - ln sum`, one logarithm per galaxy), the E-step softmax (the row maximum's
//! `exp(0) = 1` is not computed) and the next M-step's sums, scattered into one small
//! (volunteer, answer, class) table per block. The pass after the last accepted iteration is
//! computed and dropped (its E-step is speculative). Buffers are allocated once. The number of
//! blocks depends on the data alone and per-block partial sums are added in block order, so the
//! results never depend on the number of threads.

use rayon::prelude::*;

use super::fast_math::{exp_neg, ln_pos};
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

/// Which answers each volunteer gave: `seen[v * K + a]`.
pub(crate) fn seen_answers(votes: &QuestionVotes) -> Vec<bool> {
    let k = votes.n_classes;
    let mut seen = vec![false; votes.n_volunteers * k];
    for i in 0..votes.len() {
        seen[votes.volunteer[i] as usize * k + votes.answer[i] as usize] = true;
    }
    seen
}

/// The per-volunteer M-step of an EM variant: `(volunteer, sums, errors)` where
/// `sums[a * K + c]` is the sum of P(truth = c) over the volunteer's votes answering `a`, and
/// `errors[a * K + c]` receives P(answer a | truth c).
pub(crate) type MStep<'a> = dyn Fn(usize, &[f64], &mut [f64]) + Sync + 'a;

/// The votes laid out for the EM passes: per galaxy (CSR order) the `volunteer * K + answer`
/// keys, and the block partition of the galaxies.
struct Layout<'a> {
    k: usize,
    n_gal: usize,
    n_vol: usize,
    gstart: &'a [u32],
    gkey: Vec<u32>,
    /// Galaxies per block (the last block may be shorter).
    per: usize,
    blocks: usize,
}

impl<'a> Layout<'a> {
    fn new(votes: &'a QuestionVotes) -> Self {
        let k = votes.n_classes;
        let gkey = votes
            .by_galaxy
            .items
            .par_iter()
            .map(|&i| votes.volunteer[i as usize] * k as u32 + votes.answer[i as usize])
            .collect();
        let (n_gal, n_vol) = (votes.n_galaxies, votes.n_volunteers);
        // One scatter table per block; as many blocks as keep zeroing and adding the tables
        // cheaper than the pass itself (at most 16): a function of the data size only.
        let table = (n_vol * k * k).max(1);
        let blocks = (votes.len() * k / table).clamp(1, 16).min(n_gal.max(1));
        let per = n_gal.div_ceil(blocks).max(1);
        Layout {
            k,
            n_gal,
            n_vol,
            gstart: &votes.by_galaxy.start,
            gkey,
            per,
            blocks: n_gal.div_ceil(per).max(1),
        }
    }

    fn table(&self) -> usize {
        self.n_vol * self.k * self.k
    }

    fn keys(&self, g: usize) -> &[u32] {
        &self.gkey[self.gstart[g] as usize..self.gstart[g + 1] as usize]
    }
}

/// What one fused pass returns besides the new posteriors and the scatter tables.
#[derive(Debug, Clone, Default)]
struct PassStats {
    /// Expected complete-data log likelihood of the current posteriors (the ELBO's first term).
    joint: f64,
    /// `sum p ln p` (p clipped below at `EPS`) of the new posteriors.
    neg_entropy: f64,
    /// Column sums of the new posteriors.
    col: Vec<f64>,
}

/// Galaxies per mini-batch of a pass: the exponentials and logarithms of a batch are computed
/// in one loop (vectorised).
const BATCH: usize = 64;

/// One fused EM pass over block `b` (see the module doc): reads `cur` posteriors, `log_err` and
/// `log_prior`, writes this block's rows of the new posteriors into `next` and their
/// (volunteer, answer, class) sums into `table`. `K` is the number of classes when known at
/// compile time (0: use `ly.k`).
#[allow(clippy::too_many_arguments)]
fn pass_block<const K: usize>(
    ly: &Layout,
    b: usize,
    log_err: &[f64],
    log_prior: &[f64],
    cur: &[f64],
    next: &mut [f64],
    table: &mut [f64],
) -> PassStats {
    let k = if K > 0 { K } else { ly.k };
    let g0 = b * ly.per;
    let log_prior = &log_prior[..k];
    let mut col = vec![0.0; k];
    let col_k = &mut col[..k];
    let mut xbuf = vec![0.0; BATCH * k];
    let (mut sum_buf, mut ln_buf) = ([0.0; BATCH], [0.0; BATCH]);
    let eps_term = EPS * EPS.ln();
    let (mut joint, mut neg_entropy) = (0.0, 0.0);
    table.fill(0.0);
    for (j0, q_batch) in next.chunks_mut(BATCH * k).enumerate() {
        let gb = g0 + j0 * BATCH;
        let nb = q_batch.len() / k;
        // Sums of log errors, the ELBO's joint term, and the shifted E-step logits x - max.
        for (j, x) in xbuf[..nb * k].chunks_exact_mut(k).enumerate() {
            let x = &mut x[..k];
            let keys = ly.keys(gb + j);
            x.fill(0.0);
            for &key in keys {
                let e = &log_err[key as usize * k..][..k];
                for c in 0..k {
                    x[c] += e[c];
                }
            }
            let p = &cur[(gb + j) * k..][..k];
            let n = keys.len() as f64;
            let mut m = f64::NEG_INFINITY;
            for c in 0..k {
                joint += p[c] * (x[c] + n * log_prior[c]);
                x[c] += log_prior[c];
                m = m.max(x[c]);
            }
            for v in x.iter_mut() {
                *v -= m;
            }
        }
        for (q, &x) in q_batch.iter_mut().zip(&xbuf[..nb * k]) {
            *q = exp_neg(x);
        }
        for (s, q) in sum_buf[..nb].iter_mut().zip(q_batch.chunks_exact(k)) {
            *s = q[..k].iter().sum();
        }
        for (l, &s) in ln_buf[..nb].iter_mut().zip(&sum_buf[..nb]) {
            *l = ln_pos(s);
        }
        // Normalise; entropy with ln q = (x - max) - ln sum; column sums; scatter.
        for (j, (q, x)) in q_batch
            .chunks_exact_mut(k)
            .zip(xbuf.chunks_exact(k))
            .enumerate()
        {
            let (q, x) = (&mut q[..k], &x[..k]);
            let (sum, ln_sum) = (sum_buf[j], ln_buf[j]);
            for c in 0..k {
                q[c] /= sum;
                neg_entropy += if q[c] >= EPS {
                    q[c] * (x[c] - ln_sum)
                } else {
                    eps_term
                };
                col_k[c] += q[c];
            }
            for &key in ly.keys(gb + j) {
                let row = &mut table[key as usize * k..][..k];
                for c in 0..k {
                    row[c] += q[c];
                }
            }
        }
    }
    PassStats {
        joint,
        neg_entropy,
        col,
    }
}

/// Runs [`pass_block`] over every block (in parallel) and adds the block results in order.
fn pass(
    ly: &Layout,
    log_err: &[f64],
    log_prior: &[f64],
    cur: &[f64],
    next: &mut [f64],
    tables: &mut [f64],
) -> PassStats {
    let f = match ly.k {
        2 => pass_block::<2>,
        3 => pass_block::<3>,
        4 => pass_block::<4>,
        5 => pass_block::<5>,
        _ => pass_block::<0>,
    };
    let parts: Vec<PassStats> = next
        .par_chunks_mut(ly.per * ly.k)
        .zip(tables.par_chunks_mut(ly.table()))
        .enumerate()
        .map(|(b, (next, table))| f(ly, b, log_err, log_prior, cur, next, table))
        .collect();
    let mut out = PassStats {
        col: vec![0.0; ly.k],
        ..PassStats::default()
    };
    for p in &parts {
        out.joint += p.joint;
        out.neg_entropy += p.neg_entropy;
        for (o, x) in out.col.iter_mut().zip(&p.col) {
            *o += x;
        }
    }
    out
}

/// Scatters the initial posteriors into the block tables (the first M-step's sums).
fn scatter(ly: &Layout, probs: &[f64], tables: &mut [f64]) {
    let k = ly.k;
    tables
        .par_chunks_mut(ly.table())
        .enumerate()
        .for_each(|(b, t)| {
            t.fill(0.0);
            for g in b * ly.per..((b + 1) * ly.per).min(ly.n_gal) {
                let p = &probs[g * k..][..k];
                for &key in ly.keys(g) {
                    let row = &mut t[key as usize * k..][..k];
                    for c in 0..k {
                        row[c] += p[c];
                    }
                }
            }
        });
}

/// Adds the block tables in block order and applies the M-step per volunteer: fills `errors`
/// and `log_err = ln(errors)`.
fn m_step(ly: &Layout, tables: &[f64], m: &MStep, errors: &mut [f64], log_err: &mut [f64]) {
    let (kk, table) = (ly.k * ly.k, ly.table());
    const VOLS: usize = 64;
    errors
        .par_chunks_mut(VOLS * kk)
        .zip(log_err.par_chunks_mut(VOLS * kk))
        .enumerate()
        .for_each(|(chunk, (err, lerr))| {
            let off = chunk * VOLS * kk;
            let mut sums = tables[off..off + err.len()].to_vec();
            for b in 1..ly.blocks {
                let t = &tables[b * table + off..][..err.len()];
                sums.iter_mut().zip(t).for_each(|(s, x)| *s += x);
            }
            for (i, (e, s)) in err
                .chunks_exact_mut(kk)
                .zip(sums.chunks_exact(kk))
                .enumerate()
            {
                m(off / kk + i, s, e);
            }
            lerr.iter_mut().zip(err.iter()).for_each(|(l, &e)| {
                *l = if e > 0.0 {
                    ln_pos(e)
                } else {
                    f64::NEG_INFINITY
                }
            });
        });
}

fn log_priors(priors: &[f64]) -> Vec<f64> {
    priors.iter().map(|p| p.max(EPS).ln()).collect()
}

/// The EM loop shared by both Dawid-Skene variants (crowd-kit's order: E-step, priors, M-step,
/// ELBO of the new posteriors with the new errors, stop test); `m_step` is the variant's
/// per-volunteer M-step.
pub(crate) fn run_em(votes: &QuestionVotes, n_iter: usize, tol: f64, m: &MStep) -> EmFit {
    let mut cur = weighted_fractions(votes, None);
    if votes.is_empty() || votes.n_volunteers == 0 {
        let k = votes.n_classes;
        return EmFit {
            probs: cur,
            priors: vec![1.0 / k as f64; k],
            errors: vec![0.0; votes.n_volunteers * k * k],
            loss_history: Vec::new(),
        };
    }
    let ly = Layout::new(votes);
    let (k, n_gal) = (ly.k, ly.n_gal);
    let mut next = vec![0.0; cur.len()];
    let mut priors = vec![0.0; k];
    for row in cur.chunks_exact(k) {
        priors.iter_mut().zip(row).for_each(|(p, x)| *p += x);
    }
    priors.iter_mut().for_each(|p| *p /= n_gal.max(1) as f64);
    let mut tables = vec![0.0; ly.blocks * ly.table()];
    let mut errors = vec![0.0; ly.table()];
    let mut log_err = vec![0.0; ly.table()];
    scatter(&ly, &cur, &mut tables);
    m_step(&ly, &tables, m, &mut errors, &mut log_err);
    let mut loss = f64::NEG_INFINITY;
    let mut loss_history = Vec::new();
    let mut neg_entropy = 0.0;
    for t in 0..=n_iter {
        if n_iter == 0 {
            break;
        }
        // Posteriors of iteration t+1 (speculative) and the ELBO of iteration t.
        let st = pass(
            &ly,
            &log_err,
            &log_priors(&priors),
            &cur,
            &mut next,
            &mut tables,
        );
        if t >= 1 {
            let new_loss = (st.joint - neg_entropy) / votes.len().max(1) as f64;
            loss_history.push(new_loss);
            if new_loss - loss < tol || t == n_iter {
                break;
            }
            loss = new_loss;
        }
        std::mem::swap(&mut cur, &mut next);
        neg_entropy = st.neg_entropy;
        priors = st.col.iter().map(|c| c / n_gal.max(1) as f64).collect();
        m_step(&ly, &tables, m, &mut errors, &mut log_err);
    }
    if !loss_history.is_empty() {
        cur.par_iter_mut().for_each(|x| *x = x.max(EPS));
    }
    EmFit {
        probs: cur,
        priors,
        errors,
        loss_history,
    }
}

impl DawidSkene {
    /// Fits the model.
    pub fn fit(&self, votes: &QuestionVotes) -> EmFit {
        let k = votes.n_classes;
        let seen = seen_answers(votes);
        run_em(votes, self.n_iter, self.tol, &|v, sums, e| {
            let seen = &seen[v * k..(v + 1) * k];
            for c in 0..k {
                let mut s = 0.0;
                for a in 0..k {
                    e[a * k + c] = if seen[a] {
                        let x = sums[a * k + c].max(EPS);
                        s += x;
                        x
                    } else {
                        0.0
                    };
                }
                if s > 0.0 {
                    for a in 0..k {
                        e[a * k + c] /= s;
                    }
                }
            }
        })
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
