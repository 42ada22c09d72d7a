//! `glad`: GLAD (Whitehill et al. 2009), step for step as crowd-kit 1.4.2's `GLAD`, so the two
//! agree to 1e-6. Volunteer `v` has an ability `alpha_v`, galaxy `g` an inverse difficulty
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
//! Layout: votes in galaxy-CSR order; every sum over galaxies is cut into blocks fixed by the
//! data size and the block results are combined in order, so results never depend on the number
//! of rayon threads.

use rayon::prelude::*;

use super::conjugate_gradient::minimize_cg;
use super::dawid_skene::check_nonempty;
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

/// `ln N(z; 0, 1)` as crowd-kit computes it: `log(scipy.stats.norm.pdf(z))` (so it is -inf once
/// the density underflows).
fn ln_normal_pdf(z: f64) -> f64 {
    ((-z * z / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt()).ln()
}

/// For `x = alpha * exp(beta)`: `(ln sigma(x), ln(1 - sigma(x)), sigma(x))`, the logs through
/// crowd-kit's `-_softplus(-x)` / `-_softplus(x)` (exact `x` / 0 beyond |x| > 30).
#[inline]
fn vote_terms(x: f64) -> (f64, f64, f64) {
    let e = (-x.abs()).exp();
    let sigma = if x >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    };
    let (ls, l1m) = if x > 30.0 {
        (0.0, -x)
    } else if x < -30.0 {
        (x, 0.0)
    } else {
        let t = e.ln_1p();
        if x >= 0.0 {
            (-t, -(x + t))
        } else {
            (x - t, -t)
        }
    };
    (ls, l1m, sigma)
}

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

    /// E-step at parameters `x = [alphas, betas]`: posteriors (`n_gal x K`) and the log
    /// marginal likelihood of all votes.
    fn e_step(&self, x: &[f64]) -> (Vec<f64>, f64) {
        let (k, n_vol) = (self.k(), self.n_vol);
        let ln_prior = (1.0 / k as f64).ln();
        let mut post = vec![0.0; self.n_gal() * k];
        let evidence: Vec<f64> = post
            .par_chunks_mut(self.per_block * k)
            .enumerate()
            .map(|(b, rows)| {
                let mut total = 0.0;
                for (r, row) in rows.chunks_mut(k).enumerate() {
                    let j = b * self.per_block + r;
                    let eb = x[n_vol + j].exp();
                    for i in self.start[j]..self.start[j + 1] {
                        let (ls, l1m, _) = vote_terms(x[self.vol[i] as usize] * eb);
                        let a = self.class[i] as usize;
                        for (c, s) in row.iter_mut().enumerate() {
                            *s += if c == a { ls } else { l1m - self.ln_km1 };
                        }
                    }
                    row.iter_mut().for_each(|s| *s += ln_prior);
                    let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let lse = m + row.iter().map(|s| (s - m).exp()).sum::<f64>().ln();
                    row.iter_mut().for_each(|s| *s = (*s - lse).exp());
                    total += lse;
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

    /// crowd-kit's `-Q` at `x` for posteriors `post`, and its gradient into `grad`.
    fn objective(&self, x: &[f64], post: &[f64], grad: &mut [f64]) -> f64 {
        let (k, n_vol) = (self.k(), self.n_vol);
        let (ga, gb) = grad.split_at_mut(n_vol);
        let parts: Vec<(f64, Vec<f64>)> = gb
            .par_chunks_mut(self.per_block)
            .enumerate()
            .map(|(b, gb)| {
                let mut dqa = vec![0.0; n_vol];
                let mut q = 0.0;
                for (r, dqb) in gb.iter_mut().enumerate() {
                    let j = b * self.per_block + r;
                    let eb = x[n_vol + j].exp();
                    let p = &post[j * k..(j + 1) * k];
                    let mut db = 0.0;
                    for i in self.start[j]..self.start[j + 1] {
                        let v = self.vol[i] as usize;
                        let alpha = x[v];
                        let (ls, l1m, sigma) = vote_terms(alpha * eb);
                        let a = self.class[i] as usize;
                        let (mut qi, mut ri) = (0.0, 0.0);
                        for (c, &pc) in p.iter().enumerate() {
                            let hit = c == a;
                            qi += pc * if hit { ls } else { l1m - self.ln_km1 };
                            ri += pc * (f64::from(u8::from(hit)) - sigma);
                        }
                        q += qi;
                        db += ri * alpha * eb;
                        dqa[v] += ri * eb;
                    }
                    *dqb = -(db - (x[n_vol + j] - 1.0));
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
mod tests {
    use rand::Rng;

    use super::super::crowdkit_parity::{compare_within, fixture_votes, reference};
    use super::super::{MajorityVote, argmax};
    use super::*;

    #[test]
    fn matches_crowdkit_glad() {
        let r = reference();
        let (votes, names) = fixture_votes();
        let fit = Glad::default().fit(&votes).unwrap();
        let agg = Aggregate::from_probs(&votes, fit.probs.clone());
        compare_within("glad", &votes, &names, &agg, &r, 1e-6);
        let iterations = r["glad"]["iterations"].as_u64().expect("iterations");
        assert_eq!(fit.loss_history.len() as u64, iterations);
    }

    #[test]
    fn e_step_by_hand() {
        // Galaxy 0: both volunteers say 0; galaxy 1: volunteer 0 says 1, volunteer 1 says 2.
        let votes = QuestionVotes::new(
            3,
            2,
            2,
            vec![0, 0, 1, 1],
            vec![0, 1, 0, 1],
            vec![0, 0, 1, 2],
        )
        .unwrap();
        let model = Model::new(&votes);
        let (post, evidence) = model.e_step(&[1.0; 4]);
        // alpha = beta = 1: right with sigma(e), each wrong answer (1 - sigma(e)) / 2.
        let right = 1.0 / (1.0 + (-std::f64::consts::E).exp());
        let wrong = (1.0 - right) / 2.0;
        let g0 = [right * right, wrong * wrong, wrong * wrong];
        let g1 = [wrong * wrong, wrong * right, wrong * right];
        let (z0, z1) = (g0.iter().sum::<f64>(), g1.iter().sum::<f64>());
        let want: Vec<f64> = g0
            .iter()
            .map(|p| p / z0)
            .chain(g1.iter().map(|p| p / z1))
            .collect();
        for (a, b) in post.iter().zip(&want) {
            assert!((a - b).abs() < 1e-14, "{post:?} vs {want:?}");
        }
        let want_evidence = (z0 / 3.0).ln() + (z1 / 3.0).ln();
        assert!((evidence - want_evidence).abs() < 1e-12);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (votes, _) = fixture_votes();
        let model = Model::new(&votes);
        let n = model.n_vol + model.n_gal();
        let mut rng = crate::rng::stream(1, "crowd/glad-test/params");
        let x: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..2.0)).collect();
        let post = model.e_step(&x).0;
        let mut grad = vec![0.0; n];
        model.objective(&x, &post, &mut grad);
        let mut scratch = vec![0.0; n];
        for i in [0, 7, model.n_vol - 1, model.n_vol, n / 2, n - 1] {
            let h = 1e-5;
            let (mut up, mut down) = (x.clone(), x.clone());
            up[i] += h;
            down[i] -= h;
            let fd = (model.objective(&up, &post, &mut scratch)
                - model.objective(&down, &post, &mut scratch))
                / (2.0 * h);
            assert!(
                (fd - grad[i]).abs() < 1e-5 * (1.0 + fd.abs()),
                "{i}: {fd} vs {}",
                grad[i]
            );
        }
    }

    /// GLAD's own generative model: per-volunteer ability (15 % adversarial), per-galaxy
    /// inverse difficulty, `votes` votes per galaxy from random volunteers; returns the votes
    /// and the true classes.
    fn glad_world(
        seed: u64,
        n_gal: usize,
        n_vol: usize,
        votes: usize,
    ) -> (QuestionVotes, Vec<u32>) {
        let mut rng = crate::rng::stream(seed, "crowd/glad-test/world");
        let alpha: Vec<f64> = (0..n_vol)
            .map(|_| {
                let a = rng.random_range(0.3..3.0);
                if rng.random::<f64>() < 0.15 { -a } else { a }
            })
            .collect();
        let (mut gal, mut vol, mut ans, mut truth) = (vec![], vec![], vec![], vec![]);
        for g in 0..n_gal {
            let t = rng.random_range(0..3u32);
            truth.push(t);
            let inv_difficulty = rng.random_range(-1.5f64..1.5).exp();
            for _ in 0..votes {
                let v = rng.random_range(0..n_vol);
                let p = 1.0 / (1.0 + (-alpha[v] * inv_difficulty).exp());
                let a = if rng.random::<f64>() < p {
                    t
                } else {
                    (t + rng.random_range(1..3u32)) % 3
                };
                gal.push(g as u32);
                vol.push(v as u32);
                ans.push(a);
            }
        }
        (
            QuestionVotes::new(3, n_gal, n_vol, gal, vol, ans).unwrap(),
            truth,
        )
    }

    fn accuracy(agg: &Aggregate, truth: &[u32]) -> f64 {
        let hits = agg.labels.iter().zip(truth).filter(|(a, b)| a == b).count();
        hits as f64 / truth.len() as f64
    }

    /// The log posterior per vote at a fit's parameters.
    fn log_posterior(votes: &QuestionVotes, fit: &GladFit) -> f64 {
        let model = Model::new(votes);
        let mut x: Vec<f64> = fit.alphas.clone();
        x.extend(&fit.betas);
        (model.e_step(&x).1 + model.log_prior(&x)) / votes.len() as f64
    }

    #[test]
    fn converging_raises_the_log_posterior() {
        // On the fixture crowd-kit's rule stops after 2 iterations (Q falls at the second).
        let (votes, _) = fixture_votes();
        let default = Glad::default().fit(&votes).unwrap();
        assert_eq!(default.loss_history.len(), 2);
        let converge = Glad {
            converge: true,
            ..Glad::default()
        };
        let conv = converge.fit(&votes).unwrap();
        // Generalised EM: the log posterior never falls, and it ends above crowd-kit's stop.
        let h = &conv.loss_history;
        assert!(h.windows(2).all(|w| w[1] >= w[0] - 1e-12), "{h:?}");
        assert!(h.len() > 2, "{h:?}");
        let (lp_default, lp_conv) = (
            log_posterior(&votes, &default),
            log_posterior(&votes, &conv),
        );
        assert!((lp_conv - h[h.len() - 1]).abs() < 1e-12);
        eprintln!(
            "log posterior per vote: crowd-kit stop {lp_default:.5} ({} iterations), converged \
             {lp_conv:.5} ({} iterations)",
            default.loss_history.len(),
            h.len()
        );
        assert!(lp_conv > lp_default + 1e-3, "{lp_conv} vs {lp_default}");
    }

    #[test]
    fn beats_majority_vote_on_its_own_model() {
        let (votes, truth) = glad_world(3, 3000, 150, 5);
        let fit = |converge| {
            let glad = Glad {
                converge,
                ..Glad::default()
            };
            Aggregate::from_probs(&votes, glad.fit(&votes).unwrap().probs)
        };
        let a_mv = accuracy(&MajorityVote.aggregate(&votes).unwrap(), &truth);
        let (a_def, a_conv) = (accuracy(&fit(false), &truth), accuracy(&fit(true), &truth));
        eprintln!("accuracy: majority vote {a_mv:.4}, glad {a_def:.4}, converged {a_conv:.4}");
        assert!(
            a_def > a_mv + 0.01 && a_conv > a_mv + 0.01,
            "{a_def} {a_conv} vs {a_mv}"
        );
    }

    #[test]
    fn independent_of_thread_count() {
        let (votes, _) = glad_world(4, 5000, 200, 4);
        assert!(Model::new(&votes).n_gal() / Model::new(&votes).per_block >= 4);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| Glad::default().fit(&votes).unwrap())
        };
        let one = run(1);
        assert_eq!(one, run(3));
        assert_eq!(one, run(4));
    }

    #[test]
    fn edge_cases() {
        assert!(
            Glad::default()
                .fit(&QuestionVotes::new(3, 1, 1, vec![], vec![], vec![]).unwrap())
                .is_err()
        );
        // One answer only: certain.
        let one = QuestionVotes::new(3, 2, 2, vec![0, 1], vec![0, 1], vec![2, 2]).unwrap();
        let fit = Glad::default().fit(&one).unwrap();
        assert_eq!(fit.probs, vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
        // Answers nobody gave, galaxies and volunteers without votes change nothing else.
        let (votes, _) = glad_world(5, 60, 10, 4);
        let base = Glad::default().fit(&votes).unwrap();
        let pad = |x: &[u32], by: u32| x.iter().map(|&i| i + by).collect::<Vec<_>>();
        let answers: Vec<u32> = votes
            .answer
            .iter()
            .map(|&a| [0, 2, 3][a as usize])
            .collect();
        let padded = QuestionVotes::new(
            4,
            61,
            12,
            pad(&votes.galaxy, 1),
            pad(&votes.volunteer, 2),
            answers,
        )
        .unwrap();
        let fit = Glad::default().fit(&padded).unwrap();
        assert_eq!(fit.loss_history, base.loss_history);
        assert_eq!(&fit.probs[..4], &[1.0 / 3.0, 0.0, 1.0 / 3.0, 1.0 / 3.0]);
        for g in 0..60 {
            let p = &fit.probs[(g + 1) * 4..(g + 2) * 4];
            let b = &base.probs[g * 3..(g + 1) * 3];
            assert_eq!((p[0], p[1], p[2], p[3]), (b[0], 0.0, b[1], b[2]));
            assert_eq!(argmax(p), [0, 2, 3][argmax(b) as usize]);
        }
        assert_eq!(&fit.alphas[..2], &[1.0, 1.0]);
        assert_eq!(fit.alphas[2..], base.alphas[..]);
    }
}
