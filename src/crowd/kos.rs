//! `kos` (Karger, Oh & Shah 2014, as crowd-kit's `KOS`; binary questions only): message passing
//! between galaxies and volunteers on the vote graph. The answer of the first vote (vote order)
//! is coded +1, the other -1; each vote starts with a reliability `y ~ Normal(1, 1)`; each of
//! `n_iter` rounds sets, per vote, the galaxy message `x = sum of A y over the galaxy's other
//! votes` and then `y = sum of A x over the volunteer's other votes`, stopping early (keeping the
//! previous reliabilities) once a galaxy or volunteer sum exceeds 1e300 in magnitude. The label is
//! the sign of `sum A y` over the galaxy's votes.
//!
//! crowd-kit returns labels only, so [`Aggregate::probs`] is the one-hot of the label; a galaxy
//! whose sum is exactly 0 (or that has no vote) gets probabilities 1/2 and label 0 (crowd-kit
//! fails there). The initial reliabilities come from the rand_chacha stream `crowd/kos-init`
//! under `seed`, one normal draw per vote in vote order; [`Kos::init`] overrides them (the
//! parity test injects numpy's draws). Only one of two answers occurring is an error, as in
//! crowd-kit.

use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

use super::classifications::Csr;
use super::{Aggregate, Aggregator, CrowdError, QuestionVotes};
use crate::rng::stream;

/// Messages larger than this stop the iteration (crowd-kit's `10 ** 300`).
const MAX: f64 = 1e300;

/// KOS (`n_iter = 100` as crowd-kit).
#[derive(Debug, Clone, PartialEq)]
pub struct Kos {
    pub n_iter: usize,
    /// Seed of the `crowd/kos-init` stream.
    pub seed: u64,
    /// Initial reliability per vote (vote order); drawn from the stream when `None`.
    pub init: Option<Vec<f64>>,
}

impl Default for Kos {
    /// KOS with crowd-kit's defaults and stream seed 0.
    fn default() -> Self {
        Kos {
            n_iter: 100,
            seed: 0,
            init: None,
        }
    }
}

/// The fitted model.
#[derive(Debug, Clone, PartialEq)]
pub struct KosFit {
    /// Per-galaxy `sum A y` (positive: the answer of the first vote).
    pub scores: Vec<f64>,
    pub labels: Vec<u32>,
    /// Rounds completed before `n_iter` or the overflow stop.
    pub iterations: usize,
}

/// Per-row sums of `values` over the vote indices of each CSR row, broadcast back to the votes
/// (`out[i] = sum over i's row`); returns whether any row sum exceeds [`MAX`].
fn row_sums(csr: &Csr, keys: &[u32], values: &[f64], out: &mut [f64]) -> bool {
    let sums: Vec<f64> = (0..csr.n_rows())
        .into_par_iter()
        .map(|r| csr.row(r).iter().map(|&i| values[i as usize]).sum())
        .collect();
    out.par_iter_mut()
        .zip(keys)
        .for_each(|(o, &k)| *o = sums[k as usize]);
    sums.iter().any(|s| s.abs() > MAX)
}

impl Kos {
    /// Runs the message passing.
    pub fn fit(&self, votes: &QuestionVotes) -> Result<KosFit, CrowdError> {
        let err = |reason: String| CrowdError::Strategy {
            strategy: "kos",
            reason,
        };
        if votes.n_classes != 2 {
            return Err(err(format!(
                "binary questions only; got {} answers (the runner maps a question to \
                 `crowd.positive_answer` vs the rest)",
                votes.n_classes
            )));
        }
        let Some(&first) = votes.answer.first() else {
            return Err(err("no votes to aggregate".into()));
        };
        if votes.answer.iter().all(|&a| a == first) {
            return Err(err(format!(
                "every vote is answer {first}; KOS needs both answers to occur"
            )));
        }
        let a: Vec<f64> = votes
            .answer
            .iter()
            .map(|&x| if x == first { 1.0 } else { -1.0 })
            .collect();
        let mut y = match &self.init {
            Some(init) if init.len() == votes.len() => init.clone(),
            Some(init) => {
                return Err(err(format!(
                    "{} initial reliabilities for {} votes; expected one per vote",
                    init.len(),
                    votes.len()
                )));
            }
            None => {
                let normal = Normal::new(1.0, 1.0).expect("valid normal");
                let mut rng = stream(self.seed, "crowd/kos-init");
                (0..votes.len()).map(|_| normal.sample(&mut rng)).collect()
            }
        };
        let n = votes.len();
        let (mut prod, mut sums, mut x) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let mut iterations = 0;
        for _ in 0..self.n_iter {
            prod.par_iter_mut()
                .enumerate()
                .for_each(|(i, p)| *p = a[i] * y[i]);
            if row_sums(&votes.by_galaxy, &votes.galaxy, &prod, &mut sums) {
                break;
            }
            x.par_iter_mut()
                .enumerate()
                .for_each(|(i, xi)| *xi = sums[i] - prod[i]);
            prod.par_iter_mut()
                .enumerate()
                .for_each(|(i, p)| *p = a[i] * x[i]);
            if row_sums(&votes.by_volunteer, &votes.volunteer, &prod, &mut sums) {
                break;
            }
            y.par_iter_mut()
                .enumerate()
                .for_each(|(i, yi)| *yi = sums[i] - prod[i]);
            iterations += 1;
        }
        let other = 1 - first;
        let scores: Vec<f64> = (0..votes.n_galaxies)
            .into_par_iter()
            .map(|g| {
                let row = votes.by_galaxy.row(g);
                row.iter().map(|&i| a[i as usize] * y[i as usize]).sum()
            })
            .collect();
        let labels = scores
            .iter()
            .map(|&s| {
                if s < 0.0 {
                    other
                } else if s > 0.0 {
                    first
                } else {
                    0
                }
            })
            .collect();
        Ok(KosFit {
            scores,
            labels,
            iterations,
        })
    }
}

impl Aggregator for Kos {
    fn name(&self) -> &'static str {
        "kos"
    }

    fn binary_only(&self) -> bool {
        true
    }

    fn aggregate(&self, votes: &QuestionVotes) -> Result<Aggregate, CrowdError> {
        let fit = self.fit(votes)?;
        let probs = fit
            .scores
            .iter()
            .zip(&fit.labels)
            .flat_map(|(&s, &l)| match s != 0.0 && !s.is_nan() {
                true if l == 0 => [1.0, 0.0],
                true => [0.0, 1.0],
                false => [0.5, 0.5],
            })
            .collect();
        let mut agg = Aggregate::from_probs(votes, probs);
        agg.labels = fit.labels;
        Ok(agg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// g0: v0 -> 0, v1 -> 0; g1: v0 -> 1, v1 -> 0 (answer 0 comes first: coded +1).
    fn tiny() -> QuestionVotes {
        QuestionVotes::new(
            2,
            2,
            2,
            vec![0, 0, 1, 1],
            vec![0, 1, 0, 1],
            vec![0, 0, 1, 0],
        )
        .unwrap()
    }

    #[test]
    fn hand_computed_messages() {
        // A = [+1, +1, -1, +1], y0 = [1, 2, 3, 4].
        // Round 1: A y = [1, 2, -3, 4]; galaxy sums 3, 1; x = [2, 1, 4, -3]; A x = [2, 1, -4, -3];
        // volunteer sums v0 = -2, v1 = -2; y = [-4, -3, 2, 1]; scores g0 = -7, g1 = -2 + 1 = -1.
        // Round 2: A y = [-4, -3, -2, 1]; sums -7, -1; x = [-3, -4, 1, -2]; A x = [-3, -4, -1, -2];
        // sums v0 = -4, v1 = -6; y = [-1, -2, -3, -4]; scores g0 = -3, g1 = 3 - 4 = -1.
        let v = tiny();
        let fit = |n_iter| {
            Kos {
                n_iter,
                seed: 0,
                init: Some(vec![1.0, 2.0, 3.0, 4.0]),
            }
            .fit(&v)
            .unwrap()
        };
        let one = fit(1);
        assert_eq!(
            (one.scores, one.labels, one.iterations),
            (vec![-7.0, -1.0], vec![1, 1], 1)
        );
        let two = fit(2);
        assert_eq!(
            (two.scores, two.labels, two.iterations),
            (vec![-3.0, -1.0], vec![1, 1], 2)
        );
        // Overflow: the first galaxy sum (2e300) stops the loop before round 1; the scores are
        // those of the initial reliabilities: g0 = 2e300 -> answer 0, g1 = 0 -> tie.
        let big = Kos {
            n_iter: 5,
            seed: 0,
            init: Some(vec![1e300; 4]),
        };
        let f = big.fit(&v).unwrap();
        assert_eq!((f.iterations, f.labels.clone()), (0, vec![0, 0]));
        let a = big.aggregate(&v).unwrap();
        assert_eq!(a.probs, vec![1.0, 0.0, 0.5, 0.5]);
    }

    #[test]
    fn binary_only_and_seeded() {
        let three = QuestionVotes::new(3, 1, 1, vec![0], vec![0], vec![2]).unwrap();
        assert!(
            Kos::default()
                .aggregate(&three)
                .unwrap_err()
                .to_string()
                .contains("binary")
        );
        let same = QuestionVotes::new(2, 2, 1, vec![0, 1], vec![0, 0], vec![1, 1]).unwrap();
        assert!(
            Kos::default()
                .aggregate(&same)
                .unwrap_err()
                .to_string()
                .contains("both")
        );
        let v = tiny();
        assert_eq!(
            Kos::default().fit(&v).unwrap(),
            Kos::default().fit(&v).unwrap()
        );
        let other = Kos {
            seed: 1,
            ..Kos::default()
        };
        assert_ne!(
            Kos::default().fit(&v).unwrap().scores,
            other.fit(&v).unwrap().scores
        );
    }
}
