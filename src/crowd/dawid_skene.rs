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
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, the only feature the function enables.
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

#[cfg(test)]
mod tests {
    use rand::Rng;

    use super::*;
    use crate::crowd::OneCoinDawidSkene;

    /// Random votes: `n_gal` galaxies x `per` votes from `n_vol` volunteers on `k` answers,
    /// each volunteer right with probability 0.5..0.95 (else a uniform wrong answer).
    fn random_votes(k: usize, n_gal: usize, per: usize, n_vol: usize) -> QuestionVotes {
        let mut rng = crate::rng::stream(11, "crowd/test-em-votes");
        let skill: Vec<f64> = (0..n_vol).map(|_| rng.random_range(0.5..0.95)).collect();
        let (mut g, mut v, mut a) = (Vec::new(), Vec::new(), Vec::new());
        for gi in 0..n_gal {
            let truth = rng.random_range(0..k as u32);
            for _ in 0..per {
                let vi = rng.random_range(0..n_vol);
                let ans = if rng.random::<f64>() < skill[vi] {
                    truth
                } else {
                    (truth + rng.random_range(1..k as u32)) % k as u32
                };
                g.push(gi as u32);
                v.push(vi as u32);
                a.push(ans);
            }
        }
        QuestionVotes::new(k, n_gal, n_vol, g, v, a).unwrap()
    }

    /// Dawid-Skene written the plain way (libm exp and ln, one loop per step), the reference
    /// for the fused engine.
    fn reference_ds(votes: &QuestionVotes, n_iter: usize, tol: f64) -> (Vec<f64>, usize) {
        let k = votes.n_classes;
        let seen = seen_answers(votes);
        let mut probs = weighted_fractions(votes, None);
        let mean = |p: &[f64]| -> Vec<f64> {
            (0..k)
                .map(|c| p.chunks(k).map(|r| r[c]).sum::<f64>() / votes.n_galaxies as f64)
                .collect()
        };
        let m_step = |p: &[f64]| -> Vec<f64> {
            let mut e = vec![0.0; votes.n_volunteers * k * k];
            for i in 0..votes.len() {
                let (v, a, g) = (
                    votes.volunteer[i] as usize,
                    votes.answer[i] as usize,
                    votes.galaxy[i] as usize,
                );
                for c in 0..k {
                    e[(v * k + a) * k + c] += p[g * k + c];
                }
            }
            for v in 0..votes.n_volunteers {
                for c in 0..k {
                    let idx = |a: usize| (v * k + a) * k + c;
                    let mut s = 0.0;
                    for a in (0..k).filter(|&a| seen[v * k + a]) {
                        e[idx(a)] = e[idx(a)].max(EPS);
                        s += e[idx(a)];
                    }
                    for a in (0..k).filter(|&a| seen[v * k + a]) {
                        e[idx(a)] /= s;
                    }
                }
            }
            e
        };
        let sums = |e: &[f64]| -> Vec<f64> {
            let mut s = vec![0.0; votes.n_galaxies * k];
            for i in 0..votes.len() {
                let key = votes.volunteer[i] as usize * k + votes.answer[i] as usize;
                for c in 0..k {
                    s[votes.galaxy[i] as usize * k + c] += e[key * k + c].ln();
                }
            }
            s
        };
        let mut priors = mean(&probs);
        let mut errors = m_step(&probs);
        let (mut loss, mut iters) = (f64::NEG_INFINITY, 0);
        for _ in 0..n_iter {
            let s = sums(&errors);
            for (row, srow) in probs.chunks_mut(k).zip(s.chunks(k)) {
                let x: Vec<f64> = (0..k).map(|c| srow[c] + priors[c].max(EPS).ln()).collect();
                let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = x.iter().map(|x| (x - m).exp()).sum();
                for c in 0..k {
                    row[c] = (x[c] - m).exp() / z;
                }
            }
            priors = mean(&probs);
            errors = m_step(&probs);
            let s = sums(&errors);
            let mut elbo = 0.0;
            for g in 0..votes.n_galaxies {
                let n = votes.by_galaxy.row(g).len() as f64;
                for c in 0..k {
                    let p = probs[g * k + c];
                    elbo += p * (s[g * k + c] + n * priors[c].max(EPS).ln());
                    elbo -= p.max(EPS) * p.max(EPS).ln();
                }
            }
            let elbo = elbo / votes.len() as f64;
            iters += 1;
            if elbo - loss < tol {
                break;
            }
            loss = elbo;
        }
        (probs.iter().map(|p| p.max(EPS)).collect(), iters)
    }

    #[test]
    fn fused_engine_matches_the_plain_algorithm() {
        // K = 3 (padded rows, vector path), K = 2 and K = 7 (the generic path).
        for (k, n_gal) in [(3, 400), (2, 300), (7, 300)] {
            let votes = random_votes(k, n_gal, 6, 30);
            let fit = DawidSkene::default().fit(&votes);
            let (want, iters) = reference_ds(&votes, 100, 1e-5);
            assert_eq!(fit.loss_history.len(), iters, "K = {k}: iterations");
            assert!(iters > 2, "K = {k}: {iters} iterations");
            let worst = fit
                .probs
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-9, "K = {k}: max |dp| = {worst:e}");
        }
    }

    #[test]
    fn results_do_not_depend_on_threads_or_vector_width() {
        let votes = random_votes(3, 2000, 8, 50);
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    (
                        DawidSkene::default().fit(&votes),
                        OneCoinDawidSkene::default().fit(&votes),
                    )
                })
        };
        let (one, three) = (run(1), run(3));
        assert_eq!(one, three);
        // The AVX2 build of a pass equals the baseline build bit for bit.
        let ly = Layout::new(&votes);
        assert!(ly.blocks > 1, "{} blocks", ly.blocks);
        let cur = weighted_fractions(&votes, None);
        let log_err: Vec<f64> = (0..ly.table()).map(|i| -((i % 13) as f64) * 0.37).collect();
        let log_prior = [-1.2, -0.9, -1.3];
        let (mut n1, mut n2) = (vec![0.0; cur.len()], vec![0.0; cur.len()]);
        let (mut t1, mut t2) = (vec![0.0; ly.table()], vec![0.0; ly.table()]);
        let per = ly.per * 3;
        let s1 = pass_block::<3, 4>(
            &ly,
            1,
            &log_err,
            &log_prior,
            &cur,
            &mut n1[per..2 * per],
            &mut t1,
        );
        let s2 = pass_block_best::<3, 4>(
            &ly,
            1,
            &log_err,
            &log_prior,
            &cur,
            &mut n2[per..2 * per],
            &mut t2,
        );
        assert_eq!(
            (s1.joint, s1.neg_entropy, &s1.col),
            (s2.joint, s2.neg_entropy, &s2.col)
        );
        assert_eq!((&n1, &t1), (&n2, &t2));
        assert!(n1[per..2 * per].iter().all(|&p| p > 0.0));
    }
}
