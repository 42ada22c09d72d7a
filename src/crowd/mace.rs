//! `mace` (Multi-Annotator Competence Estimation, Hovy et al. 2013), step for step as crowd-kit's
//! `MACE` with its variational-Bayes default: each volunteer spams with probability
//! `spamming[v][0]` (then answers from their own distribution `thetas[v]`) and otherwise gives the
//! true label (`spamming[v][1]`); true labels are uniform.
//!
//! * Classes: only the `L` classes that occur in the votes take part (as crowd-kit, which sees
//!   only those); the others get probability 0.
//! * Each of `n_restarts` restarts draws `spamming` (`V x 2`) then `thetas` (`V x L`) uniformly in
//!   `[1, 2 + default_noise]` (scipy's `uniform(1, 1 + default_noise)`), normalises each row,
//!   runs one E-step and then `n_iter` (VB M-step, E-step) pairs; the restart with the largest
//!   log marginal likelihood `sum_g ln(sum_c m[g][c] + 1e-8)` (first one on ties) is kept and one
//!   more E-step gives the posteriors `m[g] / sum_c m[g][c]`.
//! * E-step: `m[g][c] = prod over g's votes of (spam0 theta[answer] + spam1 [c = answer]) / L`
//!   (a plain product, as crowd-kit: it underflows for galaxies with several hundred votes);
//!   expected spamming counts and per-answer strategy counts per volunteer.
//! * VB M-step: `exp(digamma(count + prior)) / exp(digamma(sum over the row))` with priors
//!   `alpha`, `beta` on the spamming pair and 10 on every strategy cell.
//!
//! Randomness: restart `r` draws from the rand_chacha stream `crowd/mace-init#r` under `seed`.
//! crowd-kit reseeds every restart with the same `random_state`, so its restarts are identical;
//! ours differ, as MACE intends. [`Mace::init`] fixes the initialisation of every restart (the
//! parity test injects crowd-kit's draws). crowd-kit 1.4.2 also lines up its strategy counts
//! (grouped by worker name, sorted) positionally with arrays in order of first appearance, which
//! shuffles the volunteers' strategies unless names sort in order of appearance; this port keeps
//! each volunteer's own counts (see `benches/peers/crowdkit_check.py`).

use rand::Rng;
use rayon::prelude::*;
use statrs::function::gamma::digamma;

use super::{Aggregate, Aggregator, CrowdError, QuestionVotes};
use crate::rng::item_stream;

/// MACE with crowd-kit's defaults (`n_restarts = 10`, `n_iter = 50`, VB with `alpha = beta = 0.5`,
/// `default_noise = 0.5`) and stream seed 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Mace {
    pub n_restarts: usize,
    pub n_iter: usize,
    pub default_noise: f64,
    /// Beta prior on the spamming probability (`alpha`) and on knowing (`beta`).
    pub alpha: f64,
    pub beta: f64,
    /// Symmetric Dirichlet prior on each volunteer's strategy (crowd-kit hard-codes 10).
    pub strategy_prior: f64,
    /// Seed of the `crowd/mace-init` streams.
    pub seed: u64,
    /// Fixed initialisation used by every restart instead of the random draws.
    pub init: Option<MaceInit>,
}

impl Default for Mace {
    fn default() -> Self {
        Mace {
            n_restarts: 10,
            n_iter: 50,
            default_noise: 0.5,
            alpha: 0.5,
            beta: 0.5,
            strategy_prior: 10.0,
            seed: 0,
            init: None,
        }
    }
}

/// Initial parameters, rows normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct MaceInit {
    /// `V x 2`: (spamming, knowing) per volunteer.
    pub spamming: Vec<f64>,
    /// `V x L`: strategy per volunteer over the classes that occur, in class order.
    pub thetas: Vec<f64>,
}

/// The fitted model.
#[derive(Debug, Clone, PartialEq)]
pub struct MaceFit {
    /// Posteriors, row-major `n_galaxies x n_classes`.
    pub probs: Vec<f64>,
    /// The classes that occur (the columns of `thetas`).
    pub classes: Vec<u32>,
    pub spamming: Vec<f64>,
    pub thetas: Vec<f64>,
    /// Log marginal likelihood of the kept restart.
    pub log_marginal_likelihood: f64,
}

/// One E-step's results.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EStep {
    pub llh: f64,
    /// Unnormalised label marginals `n_galaxies x L`.
    pub marginals: Vec<f64>,
    /// Expected (spamming, knowing) counts, `V x 2`.
    pub knowing: Vec<f64>,
    /// Expected strategy counts per answer, `V x L`.
    pub strategy: Vec<f64>,
}

/// Votes with answers renumbered over the classes that occur.
struct Compact<'a> {
    votes: &'a QuestionVotes,
    l: usize,
    classes: Vec<u32>,
    answer: Vec<usize>,
}

impl<'a> Compact<'a> {
    fn new(votes: &'a QuestionVotes) -> Self {
        let mut map = vec![usize::MAX; votes.n_classes];
        votes.answer.iter().for_each(|&a| map[a as usize] = 0);
        let mut classes = Vec::new();
        for (c, m) in map.iter_mut().enumerate() {
            if *m == 0 {
                *m = classes.len();
                classes.push(c as u32);
            }
        }
        let answer = votes.answer.iter().map(|&a| map[a as usize]).collect();
        Compact {
            votes,
            l: classes.len(),
            classes,
            answer,
        }
    }
}

/// Rayon work items per task in the per-vote and per-galaxy passes.
const MIN_LEN: usize = 512;

fn e_step(d: &Compact, spam: &[f64], th: &[f64]) -> EStep {
    let (v, l) = (d.votes, d.l);
    // Per vote: spam0 * theta[answer] and spam1 of its volunteer.
    let (base, know): (Vec<f64>, Vec<f64>) = (0..v.len())
        .into_par_iter()
        .with_min_len(MIN_LEN)
        .map(|i| {
            let w = v.volunteer[i] as usize;
            (spam[w * 2] * th[w * l + d.answer[i]], spam[w * 2 + 1])
        })
        .unzip();
    let mut marginals = vec![0.0; v.n_galaxies * l];
    marginals
        .par_chunks_mut(l)
        .with_min_len(MIN_LEN)
        .enumerate()
        .for_each(|(g, row)| {
            let votes = v.by_galaxy.row(g);
            for (c, m) in row.iter_mut().enumerate() {
                let mut p = 1.0;
                for &i in votes {
                    let i = i as usize;
                    let k = if d.answer[i] == c { know[i] } else { 0.0 };
                    p *= base[i] + k;
                }
                *m = p / l as f64;
            }
        });
    let inst: Vec<f64> = marginals.chunks(l).map(|r| r.iter().sum()).collect();
    let llh = inst.iter().map(|x| (x + 1e-8).ln()).sum();
    // Per vote: expected spamming (strategy) count and expected knowing count.
    let per_vote: Vec<(f64, f64)> = (0..v.len())
        .into_par_iter()
        .with_min_len(MIN_LEN)
        .map(|i| {
            let (g, w, a) = (v.galaxy[i] as usize, v.volunteer[i] as usize, d.answer[i]);
            let (s0, s1, t, b) = (spam[w * 2], know[i], th[w * l + a], base[i]);
            let mut acc = 0.0;
            for c in 0..l {
                acc += marginals[g * l + c] / if c == a { b + s1 } else { b };
            }
            let spamming = acc * s0 * t / inst[g];
            let knowing = marginals[g * l + a] * s1 / (b + s1) / inst[g];
            (spamming, knowing)
        })
        .collect();
    let mut knowing = vec![0.0; v.n_volunteers * 2];
    let mut strategy = vec![0.0; v.n_volunteers * l];
    knowing
        .par_chunks_mut(2)
        .zip(strategy.par_chunks_mut(l))
        .enumerate()
        .for_each(|(w, (k, s))| {
            for &i in v.by_volunteer.row(w) {
                let (sp, kn) = per_vote[i as usize];
                k[0] += sp;
                k[1] += kn;
                s[d.answer[i as usize]] += sp;
            }
        });
    EStep {
        llh,
        marginals,
        knowing,
        strategy,
    }
}

/// Variational normalisation of each `width`-wide row of `counts` with `priors` (per column).
pub(crate) fn variational_normalize(counts: &[f64], width: usize, priors: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; counts.len()];
    out.par_chunks_mut(width)
        .zip(counts.par_chunks(width))
        .for_each(|(o, c)| {
            let norm: f64 = c.iter().zip(priors).map(|(x, p)| x + p).sum();
            let norm = digamma(norm).exp();
            for ((o, x), p) in o.iter_mut().zip(c).zip(priors) {
                *o = digamma(x + p).exp() / norm;
            }
        });
    out
}

/// Normalises each `width`-wide row to sum to one.
fn normalize_rows(x: &mut [f64], width: usize) {
    for row in x.chunks_mut(width) {
        let s: f64 = row.iter().sum();
        row.iter_mut().for_each(|v| *v /= s);
    }
}

impl Mace {
    fn initial(&self, d: &Compact, restart: usize) -> Result<(Vec<f64>, Vec<f64>), CrowdError> {
        let nv = d.votes.n_volunteers;
        if let Some(init) = &self.init {
            if init.spamming.len() != nv * 2 || init.thetas.len() != nv * d.l {
                return Err(CrowdError::Strategy {
                    strategy: "mace",
                    reason: format!(
                        "init has {} spamming and {} theta values; expected {} volunteers x 2 \
                         and x {} occurring classes",
                        init.spamming.len(),
                        init.thetas.len(),
                        nv,
                        d.l
                    ),
                });
            }
            return Ok((init.spamming.clone(), init.thetas.clone()));
        }
        let mut rng = item_stream(self.seed, "crowd/mace-init", restart as u64);
        let scale = 1.0 + self.default_noise;
        let mut draw =
            |n: usize| -> Vec<f64> { (0..n).map(|_| 1.0 + scale * rng.random::<f64>()).collect() };
        let mut spam = draw(nv * 2);
        let mut th = draw(nv * d.l);
        normalize_rows(&mut spam, 2);
        normalize_rows(&mut th, d.l);
        Ok((spam, th))
    }

    /// Fits the model.
    pub fn fit(&self, votes: &QuestionVotes) -> Result<MaceFit, CrowdError> {
        if votes.is_empty() {
            return Err(CrowdError::Strategy {
                strategy: "mace",
                reason: "no votes to aggregate".into(),
            });
        }
        let d = Compact::new(votes);
        let theta_priors = [self.alpha, self.beta];
        let strategy_priors = vec![self.strategy_prior; d.l];
        let mut best: Option<(f64, Vec<f64>, Vec<f64>)> = None;
        for restart in 0..self.n_restarts.max(1) {
            let (mut spam, mut th) = self.initial(&d, restart)?;
            let mut e = e_step(&d, &spam, &th);
            for _ in 0..self.n_iter {
                spam = variational_normalize(&e.knowing, 2, &theta_priors);
                th = variational_normalize(&e.strategy, d.l, &strategy_priors);
                e = e_step(&d, &spam, &th);
            }
            if best.as_ref().is_none_or(|b| e.llh > b.0) {
                best = Some((e.llh, spam, th));
            }
        }
        let (llh, spamming, thetas) = best.expect("at least one restart");
        let e = e_step(&d, &spamming, &thetas);
        let k = votes.n_classes;
        let mut probs = vec![0.0; votes.n_galaxies * k];
        for (row, m) in probs.chunks_mut(k).zip(e.marginals.chunks(d.l)) {
            let s: f64 = m.iter().sum();
            for (c, &x) in d.classes.iter().zip(m) {
                row[*c as usize] = x / s;
            }
        }
        Ok(MaceFit {
            probs,
            classes: d.classes,
            spamming,
            thetas,
            log_marginal_likelihood: llh,
        })
    }
}

impl Aggregator for Mace {
    fn name(&self) -> &'static str {
        "mace"
    }

    fn aggregate(&self, votes: &QuestionVotes) -> Result<Aggregate, CrowdError> {
        Ok(Aggregate::from_probs(votes, self.fit(votes)?.probs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One galaxy: v0 answers 0, v1 answers 1 (3 classes, class 2 never given).
    fn tiny() -> QuestionVotes {
        QuestionVotes::new(3, 1, 2, vec![0, 0], vec![0, 1], vec![0, 1]).unwrap()
    }

    fn init() -> MaceInit {
        MaceInit {
            spamming: vec![0.2, 0.8, 0.6, 0.4],
            thetas: vec![0.5, 0.5, 0.3, 0.7],
        }
    }

    #[test]
    fn hand_computed_e_step() {
        // v0 (answer 0): spam0 theta = 0.2 * 0.5 = 0.1, factors 0.1 + 0.8 (class 0) and 0.1.
        // v1 (answer 1): 0.6 * 0.7 = 0.42, factors 0.42 and 0.42 + 0.4 (class 1).
        // m = [0.9 * 0.42, 0.1 * 0.82] / 2 = [0.189, 0.041]; sum 0.23.
        let v = tiny();
        let d = Compact::new(&v);
        assert_eq!((d.l, d.classes.clone()), (2, vec![0, 1]));
        let i = init();
        let e = e_step(&d, &i.spamming, &i.thetas);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(e.marginals[0], 0.189) && close(e.marginals[1], 0.041));
        assert!(close(e.llh, (0.23f64 + 1e-8).ln()));
        // v0 spammed: (0.189 / 0.9 + 0.041 / 0.1) * 0.1 / 0.23; knew: 0.189 * 0.8 / 0.9 / 0.23.
        assert!(close(e.knowing[0], 0.062 / 0.23) && close(e.knowing[1], 0.168 / 0.23));
        assert!(close(e.strategy[0], 0.062 / 0.23) && e.strategy[1] == 0.0);
        let fit = Mace {
            n_iter: 0,
            n_restarts: 3,
            init: Some(i),
            ..Mace::default()
        }
        .fit(&v)
        .unwrap();
        let want = [0.189 / 0.23, 0.041 / 0.23, 0.0];
        assert!(fit.probs.iter().zip(want).all(|(a, b)| close(*a, b)));
    }

    #[test]
    fn hand_computed_vb_step() {
        // digamma(n) = H(n - 1) - gamma, so exp(digamma(a) - digamma(b)) = exp(H(a-1) - H(b-1)).
        let h = |n: usize| (1..=n).map(|k| 1.0 / k as f64).sum::<f64>();
        let spam = variational_normalize(&[0.5, 1.5], 2, &[0.5, 0.5]);
        assert!((spam[0] - (h(0) - h(2)).exp()).abs() < 1e-12, "{spam:?}");
        assert!((spam[1] - (h(1) - h(2)).exp()).abs() < 1e-12, "{spam:?}");
        let th = variational_normalize(&[0.0, 1.0], 2, &[10.0, 10.0]);
        assert!((th[0] - (h(9) - h(20)).exp()).abs() < 1e-12, "{th:?}");
        assert!((th[1] - (h(10) - h(20)).exp()).abs() < 1e-12, "{th:?}");
    }

    #[test]
    fn seeded_restarts_and_bad_init() {
        let v = QuestionVotes::new(
            2,
            3,
            3,
            vec![0, 0, 0, 1, 1, 1, 2, 2],
            vec![0, 1, 2, 0, 1, 2, 0, 2],
            vec![0, 0, 1, 1, 1, 0, 1, 0],
        )
        .unwrap();
        let a = Mace::default().fit(&v).unwrap();
        assert_eq!(a, Mace::default().fit(&v).unwrap());
        let one = |seed, restarts| {
            Mace {
                seed,
                n_restarts: restarts,
                ..Mace::default()
            }
            .fit(&v)
            .unwrap()
        };
        assert_ne!(one(0, 1).spamming, one(1, 1).spamming);
        // The kept restart is the best of them.
        assert!(a.log_marginal_likelihood >= one(0, 1).log_marginal_likelihood);
        assert!(a.probs.chunks(2).all(|r| (r[0] + r[1] - 1.0).abs() < 1e-12));
        let bad = Mace {
            init: Some(init()),
            ..Mace::default()
        };
        assert!(bad.fit(&v).unwrap_err().to_string().contains("expected 3"));
    }
}
