//! The EM engine shared by `dawid-skene` and `one-coin-dawid-skene` ([`run_em`]): crowd-kit's
//! loop (E-step, priors, M-step, evidence lower bound of the new posteriors with the new errors,
//! stop when it improves by less than `tol`), the variant's M-step given per volunteer.
//!
//! **Speed.** One iteration is one pass over the votes in galaxy order (blocks of galaxies in
//! parallel), fusing what crowd-kit does in four: the per-galaxy sums of log errors, the evidence
//! lower bound of the current posteriors (its entropy term was computed when they were made, with
//! `ln p = x - max - ln sum`, one logarithm per galaxy), the E-step softmax (batched, vectorised
//! [`exp_neg`] / [`ln_pos`]; the row maximum's `exp(0) = 1` exactly) and the next M-step's sums,
//! scattered into one small (volunteer, answer, class) table per block. The pass after the last
//! accepted iteration is computed and dropped (its E-step is speculative). Buffers are allocated
//! once; on x86-64 CPUs with AVX2 the pass runs an AVX2 build (bit-identical results). The
//! number of blocks depends on the data alone and per-block partial sums are added in block
//! order, so the results never depend on the number of threads.

use rayon::prelude::*;

use super::QuestionVotes;
use super::fast_math::{exp_neg, ln_pos};
use super::majority_vote::weighted_fractions;

pub(crate) const EPS: f64 = 1e-10;

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

/// The per-volunteer M-step of an EM variant: `(volunteer, sums, errors)` where
/// `sums[a * K + c]` is the sum of P(truth = c) over the volunteer's votes answering `a`, and
/// `errors[a * K + c]` receives P(answer a | truth c).
pub(crate) type MStep<'a> = dyn Fn(usize, &[f64], &mut [f64]) + Sync + 'a;

/// The votes laid out for the EM passes: per galaxy (CSR order) the `volunteer * K + answer`
/// keys, and the block partition of the galaxies.
struct Layout<'a> {
    k: usize,
    /// Row stride of the log-error and scatter tables: 4 for K = 3 (aligned 32-byte rows, one
    /// AVX2 load or store per vote; the pad is 0), else K.
    ks: usize,
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
            ks: if k == 3 { 4 } else { k },
            n_gal,
            n_vol,
            gstart: &votes.by_galaxy.start,
            gkey,
            per,
            blocks: n_gal.div_ceil(per).max(1),
        }
    }

    /// Length of a (padded) log-error or scatter table.
    fn table(&self) -> usize {
        self.n_vol * self.k * self.ks
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
#[inline(always)]
fn pass_block<const K: usize, const KS: usize>(
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
    // Per-class partial sums (class c in lane c % LANES): short dependency chains; the lanes
    // are added in order at the end.
    const LANES: usize = 8;
    let (mut joint, mut neg_entropy, mut col) = ([0.0; LANES], [0.0; LANES], vec![0.0; k]);
    let col_k = &mut col[..k];
    let mut xbuf = vec![0.0; BATCH * k];
    // Each galaxy's sum of exponentials, repeated K times (the division is one vector loop).
    let mut sum_rep = vec![0.0; BATCH * k];
    let mut ln_buf = [0.0; BATCH];
    let eps_term = EPS * EPS.ln();
    table.fill(0.0);
    for (j0, q_batch) in next.chunks_mut(BATCH * k).enumerate() {
        let gb = g0 + j0 * BATCH;
        let nb = q_batch.len() / k;
        // Sums of log errors, the ELBO's joint term, and the shifted E-step logits x - max.
        for (j, x) in xbuf[..nb * k].chunks_exact_mut(k).enumerate() {
            let x = &mut x[..k];
            let keys = ly.keys(gb + j);
            gather::<KS>(keys, log_err, x);
            let p = &cur[(gb + j) * k..][..k];
            let n = keys.len() as f64;
            let mut m = f64::NEG_INFINITY;
            for c in 0..k {
                joint[c % LANES] += p[c] * (x[c] + n * log_prior[c]);
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
        for ((r, l), q) in sum_rep[..nb * k]
            .chunks_exact_mut(k)
            .zip(ln_buf[..nb].iter_mut())
            .zip(q_batch.chunks_exact(k))
        {
            let s: f64 = q[..k].iter().sum();
            r[..k].fill(s);
            *l = s;
        }
        for l in ln_buf[..nb].iter_mut() {
            *l = ln_pos(*l);
        }
        for (q, &s) in q_batch.iter_mut().zip(&sum_rep[..nb * k]) {
            *q /= s;
        }
        // Entropy with ln q = (x - max) - ln sum; column sums; scatter.
        for (j, (q, x)) in q_batch
            .chunks_exact(k)
            .zip(xbuf.chunks_exact(k))
            .enumerate()
        {
            let (q, x) = (&q[..k], &x[..k]);
            let ln_sum = ln_buf[j];
            for c in 0..k {
                neg_entropy[c % LANES] += if q[c] >= EPS {
                    q[c] * (x[c] - ln_sum)
                } else {
                    eps_term
                };
                col_k[c] += q[c];
            }
            scatter_row::<KS>(ly.keys(gb + j), q, table);
        }
    }
    PassStats {
        joint: joint.iter().sum(),
        neg_entropy: neg_entropy.iter().sum(),
        col,
    }
}

/// [`pass_block`] compiled for AVX2 (4 doubles per instruction in the batched `exp`, `ln` and
/// row loops). No FMA is enabled and Rust never contracts `a * b + c`, so the results are
/// bit-identical to the baseline build's.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn pass_block_avx2<const K: usize, const KS: usize>(
    ly: &Layout,
    b: usize,
    log_err: &[f64],
    log_prior: &[f64],
    cur: &[f64],
    next: &mut [f64],
    table: &mut [f64],
) -> PassStats {
    pass_block::<K, KS>(ly, b, log_err, log_prior, cur, next, table)
}

/// [`pass_block`] with the widest vectors the CPU has.
fn pass_block_best<const K: usize, const KS: usize>(
    ly: &Layout,
    b: usize,
    log_err: &[f64],
    log_prior: &[f64],
    cur: &[f64],
    next: &mut [f64],
    table: &mut [f64],
) -> PassStats {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::level() >= crate::simd::Level::Avx2 {
        // SAFETY: the CPU supports AVX2 (`simd::level` detected it), the only feature enabled.
        return unsafe { pass_block_avx2::<K, KS>(ly, b, log_err, log_prior, cur, next, table) };
    }
    pass_block::<K, KS>(ly, b, log_err, log_prior, cur, next, table)
}

/// `x = sum of the log_err rows keys` (`x.len()` classes; rows of `KS` values, or of `x.len()`
/// when `KS = 0`). With `KS > 0` the sum stays in registers and a row costs one bounds check.
#[inline(always)]
fn gather<const KS: usize>(keys: &[u32], log_err: &[f64], x: &mut [f64]) {
    let k = x.len();
    if KS > 0 {
        let rows = log_err.as_chunks::<KS>().0;
        let mut acc = [0.0; KS];
        for &key in keys {
            let e = &rows[key as usize];
            for c in 0..KS {
                acc[c] += e[c];
            }
        }
        x.copy_from_slice(&acc[..k]);
    } else {
        x.fill(0.0);
        for &key in keys {
            let e = &log_err[key as usize * k..][..k];
            for c in 0..k {
                x[c] += e[c];
            }
        }
    }
}

/// Adds `q` (`q.len()` classes) to the `table` rows `keys` (rows of `KS` values, or of
/// `q.len()` when `KS = 0`; the pad gets 0).
#[inline(always)]
fn scatter_row<const KS: usize>(keys: &[u32], q: &[f64], table: &mut [f64]) {
    let k = q.len();
    if KS > 0 {
        let rows = table.as_chunks_mut::<KS>().0;
        let mut qp = [0.0; KS];
        qp[..k].copy_from_slice(q);
        for &key in keys {
            let row = &mut rows[key as usize];
            for c in 0..KS {
                row[c] += qp[c];
            }
        }
    } else {
        for &key in keys {
            let row = &mut table[key as usize * k..][..k];
            for c in 0..k {
                row[c] += q[c];
            }
        }
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
        2 => pass_block_best::<2, 2>,
        3 => pass_block_best::<3, 4>,
        4 => pass_block_best::<4, 4>,
        5 => pass_block_best::<5, 5>,
        _ => pass_block_best::<0, 0>,
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
    let (k, ks) = (ly.k, ly.ks);
    tables
        .par_chunks_mut(ly.table())
        .enumerate()
        .for_each(|(b, t)| {
            t.fill(0.0);
            for g in b * ly.per..((b + 1) * ly.per).min(ly.n_gal) {
                let p = &probs[g * k..][..k];
                for &key in ly.keys(g) {
                    let row = &mut t[key as usize * ks..][..k];
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
    let (k, ks, table) = (ly.k, ly.ks, ly.table());
    let (kk, kks) = (k * k, k * ks);
    const VOLS: usize = 64;
    errors
        .par_chunks_mut(VOLS * kk)
        .zip(log_err.par_chunks_mut(VOLS * kks))
        .enumerate()
        .for_each(|(chunk, (err, lerr))| {
            let off = chunk * VOLS * kks;
            let mut sums = tables[off..off + lerr.len()].to_vec();
            for b in 1..ly.blocks {
                let t = &tables[b * table + off..][..lerr.len()];
                sums.iter_mut().zip(t).for_each(|(s, x)| *s += x);
            }
            let mut dense = vec![0.0; kk];
            for (i, ((e, s), l)) in err
                .chunks_exact_mut(kk)
                .zip(sums.chunks_exact(kks))
                .zip(lerr.chunks_exact_mut(kks))
                .enumerate()
            {
                for a in 0..k {
                    dense[a * k..(a + 1) * k].copy_from_slice(&s[a * ks..a * ks + k]);
                }
                m(chunk * VOLS + i, &dense, e);
                for a in 0..k {
                    for c in 0..k {
                        let x = e[a * k + c];
                        l[a * ks + c] = if x > 0.0 {
                            ln_pos(x)
                        } else {
                            f64::NEG_INFINITY
                        };
                    }
                }
            }
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
    let mut errors = vec![0.0; ly.n_vol * k * k];
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

#[cfg(test)]
#[path = "em_tests.rs"]
mod tests;
