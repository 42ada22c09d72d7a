//! `glad`: GLAD (Whitehill et al. 2009), step for step as crowd-kit 1.4.2's `GLAD` (same
//! posteriors to 1e-11 and the same iteration count on the committed fixture). Volunteer `v` has an ability `alpha_v`, galaxy `g` an inverse difficulty
//! `exp(beta_g)`; a vote is right with probability `sigma(alpha_v * exp(beta_g))`, and each wrong
//! answer gets `(1 - sigma) / (K - 1)`. K counts the answers that occur in the votes (crowd-kit
//! knows no others; answers nobody gave get probability 0). Class priors are uniform and fixed;
//! `alpha` and `beta` start at 1 with standard-normal priors around 1.
//!
//! EM as crowd-kit: E-step = softmax over classes of `ln prior + sum of vote log-likelihoods`;
//! M-step = scipy's conjugate gradient ([`conjugate_gradient`](super::conjugate_gradient), a port
//! of `minimize(method="CG", tol=m_step_tol, maxiter=m_step_max_iter)`) on `-Q`, where
//! `Q = sum posterior * log-likelihood + log N(alpha - 1) + log N(beta - 1)` (crowd-kit's
//! `_softplus` cut-off at |x| > 30 included). Stopping, by default crowd-kit's rule: after each
//! M-step `Q / (votes * K)` must rise by `tol`, compared, the first time, with the *unnormalised*
//! `Q` of the initial E-step (so iteration 1 always continues), and since `Q` is not the EM
//! objective it often falls at iteration 2, which stops the fit long before convergence (2
//! iterations on the committed fixture). The returned posteriors are those of the last E-step.
//!
//! `converge: true` instead runs generalised EM on the log posterior (the marginal likelihood of
//! the votes plus the parameter priors, per vote), which each M-step can only raise, until it
//! rises by less than `tol`, and returns posteriors from a final E-step at the fitted parameters.
//!
//! Long fits are chaotic at rounding level (the M-step stops at `m_step_max_iter`, far from the
//! optimum, so the path matters): on 100,000 simulated votes crowd-kit disagrees with itself,
//! rows merely shuffled, by up to 0.03 in a posterior after 6 iterations, and ours falls within
//! that spread; so parity is pinned where it is reproducible, on the short fixture fit.
//!
//! Layout: votes in galaxy-CSR order; every sum over galaxies is cut into blocks fixed by the
//! data size and the block results are combined in order, so results never depend on the number
//! of rayon threads.

use rayon::prelude::*;

use super::conjugate_gradient::minimize_cg;
use super::dawid_skene::check_nonempty;
use super::fast_math::{exp_neg, ln_pos};
use super::{Aggregate, Aggregator, CrowdError, QuestionVotes};

/// GLAD with crowd-kit's defaults (`n_iter = 100`, `tol = 1e-5`, `m_step_max_iter = 25`,
/// `m_step_tol = 1e-2`) and crowd-kit's stopping rule (`converge = false`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Glad {
    pub n_iter: usize,
    pub tol: f64,
    pub m_step_max_iter: usize,
    pub m_step_tol: f64,
    /// Run EM to convergence of the log posterior per vote instead of crowd-kit's rule.
    pub converge: bool,
}

impl Default for Glad {
    fn default() -> Self {
        Glad {
            n_iter: 100,
            tol: 1e-5,
            m_step_max_iter: 25,
            m_step_tol: 1e-2,
            converge: false,
        }
    }
}

/// The fitted model.
#[derive(Debug, Clone, PartialEq)]
pub struct GladFit {
    /// Posteriors, row-major `n_galaxies x n_classes`.
    pub probs: Vec<f64>,
    /// Per volunteer id: ability (1, the prior mean, for volunteers without votes).
    pub alphas: Vec<f64>,
    /// Per galaxy: log inverse difficulty (1 for galaxies without votes).
    pub betas: Vec<f64>,
    /// Per EM iteration: crowd-kit's `Q / (votes * K)` (default) or the log posterior per vote
    /// (`converge`).
    pub loss_history: Vec<f64>,
}

/// `ln N(z; 0, 1)` as crowd-kit computes it, `log(scipy.stats.norm.pdf(z))`: the closed form
/// while the density is a normal number, then literally (-inf once it underflows).
fn ln_normal_pdf(z: f64) -> f64 {
    let c = (2.0 * std::f64::consts::PI).sqrt();
    if z.abs() < 37.0 {
        -z * z / 2.0 - c.ln()
    } else {
        ((-z * z / 2.0).exp() / c).ln()
    }
}

/// `exp(x)` through the vectorisable [`exp_neg`] (within a few ulp of libm).
#[inline(always)]
fn exp_any(x: f64) -> f64 {
    let e = exp_neg(-x.abs());
    if x <= 0.0 { e } else { 1.0 / e }
}

/// Per-vote terms of a run of votes, for `x = alpha * exp(beta)`: `ln sigma(x)` and
/// `ln(1 - sigma(x))` as crowd-kit's `-_softplus(-x)` / `-_softplus(x)` (exactly `x` / 0 beyond
/// |x| > 30), and `sigma(x)` (crowd-kit's `expit`, no cut-off).
#[derive(Default)]
struct Terms {
    ab: Vec<f64>,
    ls: Vec<f64>,
    l1m: Vec<f64>,
    sigma: Vec<f64>,
}

impl Terms {
    /// Fills the terms from `ab`, with AVX-512 or AVX2 where the CPU has it ([`crate::simd`]) (same operations, no FMA, so
    /// the same results bit for bit).
    fn compute(&mut self) {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::level() == crate::simd::Level::Avx512 {
            // SAFETY: the CPU supports AVX-512F (`simd::level` detected it).
            unsafe { self.compute_avx512() };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if crate::simd::level() >= crate::simd::Level::Avx2 {
            // SAFETY: the CPU supports AVX2 (`simd::level` detected it).
            unsafe { self.compute_avx2() };
            return;
        }
        self.compute_portable();
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn compute_avx2(&mut self) {
        self.compute_portable();
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn compute_avx512(&mut self) {
        self.compute_portable();
    }

    /// Branch-free, so the loop vectorises. `log1p(e)` is `ln(1 + e)` corrected for the
    /// rounding of `1 + e`.
    #[inline(always)]
    fn compute_portable(&mut self) {
        let n = self.ab.len();
        self.ls.resize(n, 0.0);
        self.l1m.resize(n, 0.0);
        self.sigma.resize(n, 0.0);
        let out = self.ls.iter_mut().zip(&mut self.l1m).zip(&mut self.sigma);
        for (((ls, l1m), sigma), &x) in out.zip(&self.ab) {
            let e = exp_neg(-x.abs());
            let u = 1.0 + e;
            let inv = 1.0 / u;
            let t = ln_pos(u) - ((u - 1.0) - e) * inv;
            let pos = x >= 0.0;
            // `+ x * 0.0` keeps NaN inputs NaN.
            *sigma = if pos { inv } else { e * inv } + x * 0.0;
            let (a, b) = if pos { (-t, -(x + t)) } else { (x - t, -t) };
            *ls = if x > 30.0 {
                0.0
            } else if x < -30.0 {
                x
            } else {
                a
            };
            *l1m = if x > 30.0 {
                -x
            } else if x < -30.0 {
                0.0
            } else {
                b + x * 0.0
            };
        }
    }
}

/// Galaxies per batch of vote terms (a few thousand votes: the buffers stay in cache).
const CHUNK: usize = 256;

/// The votes of the galaxies and volunteers that have some, over the answers that occur.
struct Model {
    /// Answers that occur (increasing); the model's classes.
    classes: Vec<usize>,
    ln_km1: f64,
    n_vol: usize,
    /// Local galaxy of each model galaxy, and the model volunteer of each volunteer id.
    galaxies: Vec<usize>,
    vol_index: Vec<u32>,
    /// Galaxy CSR: votes `start[j]..start[j + 1]` have model volunteer `vol` and class `class`.
    start: Vec<usize>,
    vol: Vec<u32>,
    class: Vec<u8>,
    /// Model galaxies per block.
    per_block: usize,
}

impl Model {
    fn new(votes: &QuestionVotes) -> Model {
        let mut seen = vec![false; votes.n_classes];
        votes.answer.iter().for_each(|&a| seen[a as usize] = true);
        let classes: Vec<usize> = (0..votes.n_classes).filter(|&c| seen[c]).collect();
        let mut class_of = vec![0u8; votes.n_classes];
        for (i, &c) in classes.iter().enumerate() {
            class_of[c] = i as u8;
        }
        let mut vol_index = vec![u32::MAX; votes.n_volunteers];
        let mut n_vol = 0;
        for (v, slot) in vol_index.iter_mut().enumerate() {
            if !votes.by_volunteer.row(v).is_empty() {
                *slot = n_vol;
                n_vol += 1;
            }
        }
        let galaxies: Vec<usize> = (0..votes.n_galaxies)
            .filter(|&g| !votes.by_galaxy.row(g).is_empty())
            .collect();
        let mut start = vec![0];
        let (mut vol, mut class) = (Vec::new(), Vec::new());
        for &g in &galaxies {
            for &i in votes.by_galaxy.row(g) {
                vol.push(vol_index[votes.volunteer[i as usize] as usize]);
                class.push(class_of[votes.answer[i as usize] as usize]);
            }
            start.push(vol.len());
        }
        // At most 64 blocks, at least ~1,000 galaxies each, and a bounded total size of the
        // per-block volunteer tables.
        let blocks = (galaxies.len() / 1024)
            .min(8_000_000 / n_vol.max(1) as usize)
            .clamp(1, 64);
        Model {
            ln_km1: ((classes.len() as f64) - 1.0).ln(),
            classes,
            n_vol: n_vol as usize,
            per_block: galaxies.len().div_ceil(blocks).max(1),
            galaxies,
            vol_index,
            start,
            vol,
            class,
        }
    }

    fn k(&self) -> usize {
        self.classes.len()
    }

    fn n_gal(&self) -> usize {
        self.galaxies.len()
    }

    /// Vote terms of model galaxies `js` into `t`, and `exp(beta)` of each into `eb`.
    fn terms(&self, x: &[f64], js: std::ops::Range<usize>, eb: &mut Vec<f64>, t: &mut Terms) {
        eb.clear();
        eb.extend(
            x[self.n_vol + js.start..self.n_vol + js.end]
                .iter()
                .map(|&b| exp_any(b)),
        );
        t.ab.clear();
        for (j, &e) in js.zip(eb.iter()) {
            let votes = self.start[j]..self.start[j + 1];
            t.ab.extend(self.vol[votes].iter().map(|&v| x[v as usize] * e));
        }
        t.compute();
    }

    /// E-step at parameters `x = [alphas, betas]`: posteriors (`n_gal x K`) and the log
    /// marginal likelihood of all votes.
    fn e_step(&self, x: &[f64]) -> (Vec<f64>, f64) {
        let k = self.k();
        let ln_prior = (1.0 / k as f64).ln();
        let mut post = vec![0.0; self.n_gal() * k];
        let evidence: Vec<f64> = post
            .par_chunks_mut(self.per_block * k)
            .enumerate()
            .map(|(b, rows)| {
                let (mut t, mut eb, mut total) = (Terms::default(), Vec::new(), 0.0);
                for (ci, chunk) in rows.chunks_mut(CHUNK * k).enumerate() {
                    let j0 = b * self.per_block + ci * CHUNK;
                    self.terms(x, j0..j0 + chunk.len() / k, &mut eb, &mut t);
                    for (r, row) in chunk.chunks_mut(k).enumerate() {
                        let j = j0 + r;
                        for i in self.start[j]..self.start[j + 1] {
                            let ti = i - self.start[j0];
                            let a = self.class[i] as usize;
                            for (c, s) in row.iter_mut().enumerate() {
                                *s += if c == a {
                                    t.ls[ti]
                                } else {
                                    t.l1m[ti] - self.ln_km1
                                };
                            }
                        }
                        row.iter_mut().for_each(|s| *s += ln_prior);
                        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        let lse = m + row.iter().map(|s| (s - m).exp()).sum::<f64>().ln();
                        row.iter_mut().for_each(|s| *s = (*s - lse).exp());
                        total += lse;
                    }
                }
                total
            })
            .collect();
        (post, evidence.iter().sum())
    }

    /// Sum of the parameters' log prior densities.
    fn log_prior(&self, x: &[f64]) -> f64 {
        x.iter().map(|&p| ln_normal_pdf(p - 1.0)).sum()
    }

    /// crowd-kit's `-Q` at `x` for posteriors `post`, and its gradient into `grad`. Per vote,
    /// with `p` the galaxy's posterior, `S = sum p` and `pa = p[answer]`: the Q term is
    /// `pa ln sigma + (S - pa)(ln(1 - sigma) - ln(K - 1))` and `d/d(alpha exp(beta))` is
    /// `pa - sigma S` (crowd-kit's sums over the K rows of the vote).
    fn objective(&self, x: &[f64], post: &[f64], grad: &mut [f64]) -> f64 {
        let (k, n_vol) = (self.k(), self.n_vol);
        let (ga, gb) = grad.split_at_mut(n_vol);
        let parts: Vec<(f64, Vec<f64>)> = gb
            .par_chunks_mut(self.per_block)
            .enumerate()
            .map(|(b, gb)| {
                let mut dqa = vec![0.0; n_vol];
                let (mut t, mut eb, mut q) = (Terms::default(), Vec::new(), 0.0);
                for (ci, chunk) in gb.chunks_mut(CHUNK).enumerate() {
                    let j0 = b * self.per_block + ci * CHUNK;
                    self.terms(x, j0..j0 + chunk.len(), &mut eb, &mut t);
                    for (r, dqb) in chunk.iter_mut().enumerate() {
                        let j = j0 + r;
                        let p = &post[j * k..(j + 1) * k];
                        let s: f64 = p.iter().sum();
                        let (mut db, mut qg, e) = (0.0, 0.0, eb[r]);
                        let votes = self.start[j]..self.start[j + 1];
                        let off = votes.start - self.start[j0]..votes.end - self.start[j0];
                        let each = self.class[votes.clone()].iter().zip(&self.vol[votes]);
                        let terms = t.ls[off.clone()].iter().zip(&t.l1m[off.clone()]);
                        for ((&a, &v), ((&ls, &l1m), &sigma)) in each.zip(terms.zip(&t.sigma[off]))
                        {
                            let pa = p[a as usize];
                            qg += pa * ls + (s - pa) * (l1m - self.ln_km1);
                            let ri = pa - sigma * s;
                            db += ri * x[v as usize];
                            dqa[v as usize] += ri * e;
                        }
                        q += qg;
                        *dqb = -(db * e - (x[n_vol + j] - 1.0));
                    }
                }
                (q, dqa)
            })
            .collect();
        ga.iter_mut()
            .zip(x)
            .for_each(|(g, &alpha)| *g = alpha - 1.0);
        let mut q = self.log_prior(x);
        for (qb, dqa) in &parts {
            q += qb;
            ga.iter_mut().zip(dqa).for_each(|(g, d)| *g -= d);
        }
        if q.is_nan() { f64::INFINITY } else { -q }
    }

    fn m_step(&self, glad: &Glad, x: &[f64], post: &[f64]) -> Vec<f64> {
        let f = |x: &[f64], g: &mut [f64]| self.objective(x, post, g);
        minimize_cg(f, x, glad.m_step_tol, glad.m_step_max_iter).x
    }
}

impl Glad {
    /// Fits the model (see the module doc).
    pub fn fit(&self, votes: &QuestionVotes) -> Result<GladFit, CrowdError> {
        check_nonempty(votes, "glad")?;
        let model = Model::new(votes);
        let (k, n_vol) = (model.k(), model.n_vol);
        let mut x = vec![1.0; n_vol + model.n_gal()];
        let mut loss_history = Vec::new();
        let post = if k < 2 {
            // One answer only: crowd-kit divides by log(K - 1) = -inf and returns NaN.
            vec![1.0; model.n_gal()]
        } else if self.converge {
            let n_votes = votes.len() as f64;
            let (mut post, ev) = model.e_step(&x);
            let mut lp = (ev + model.log_prior(&x)) / n_votes;
            for _ in 0..self.n_iter {
                x = model.m_step(self, &x, &post);
                let (p, ev) = model.e_step(&x);
                post = p;
                let new = (ev + model.log_prior(&x)) / n_votes;
                loss_history.push(new);
                if new - lp < self.tol {
                    break;
                }
                lp = new;
            }
            post
        } else {
            let rows = (votes.len() * k) as f64;
            let mut grad = vec![0.0; x.len()];
            let mut post = model.e_step(&x).0;
            let mut q = -model.objective(&x, &post, &mut grad);
            for it in 0..self.n_iter {
                let last = q;
                if it > 0 {
                    post = model.e_step(&x).0;
                }
                x = model.m_step(self, &x, &post);
                q = -model.objective(&x, &post, &mut grad) / rows;
                loss_history.push(q);
                if q - last < self.tol {
                    break;
                }
            }
            post
        };
        let nc = votes.n_classes;
        let mut probs = vec![0.0; votes.n_galaxies * nc];
        for g in 0..votes.n_galaxies {
            for &c in &model.classes {
                probs[g * nc + c] = 1.0 / k as f64;
            }
        }
        let mut betas = vec![1.0; votes.n_galaxies];
        for (j, &g) in model.galaxies.iter().enumerate() {
            for (ci, &c) in model.classes.iter().enumerate() {
                probs[g * nc + c] = post[j * k + ci];
            }
            betas[g] = x[n_vol + j];
        }
        let alphas = model
            .vol_index
            .iter()
            .map(|&i| if i == u32::MAX { 1.0 } else { x[i as usize] })
            .collect();
        Ok(GladFit {
            probs,
            alphas,
            betas,
            loss_history,
        })
    }
}

impl Aggregator for Glad {
    fn name(&self) -> &'static str {
        "glad"
    }

    fn aggregate(&self, votes: &QuestionVotes) -> Result<Aggregate, CrowdError> {
        Ok(Aggregate::from_probs(votes, self.fit(votes)?.probs))
    }
}

#[cfg(test)]
mod tests;
