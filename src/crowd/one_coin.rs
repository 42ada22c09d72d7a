//! `one-coin-dawid-skene`: Dawid-Skene with one skill per volunteer (probability of answering
//! correctly; errors spread evenly over the other K - 1 answers), as crowd-kit's
//! `OneCoinDawidSkene`: skill = mean posterior of the answers the volunteer gave; error cells
//! clipped to [1e-10, 1 - 1e-10] and not renormalised; same EM loop and stopping rule as
//! [`DawidSkene`](super::DawidSkene).

use super::dawid_skene::{EPS, EmFit, check_nonempty, run_em};
use super::{Aggregate, Aggregator, CrowdError, QuestionVotes};

/// One-coin Dawid-Skene (`n_iter = 100`, `tol = 1e-5` as crowd-kit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OneCoinDawidSkene {
    pub n_iter: usize,
    pub tol: f64,
}

impl Default for OneCoinDawidSkene {
    fn default() -> Self {
        OneCoinDawidSkene {
            n_iter: 100,
            tol: 1e-5,
        }
    }
}

impl OneCoinDawidSkene {
    /// Fits the model.
    pub fn fit(&self, votes: &QuestionVotes) -> EmFit {
        let k = votes.n_classes;
        let start = &votes.by_volunteer.start;
        // Skill = mean posterior of the answers given = (sum over a of sums[a][a]) / votes.
        run_em(votes, self.n_iter, self.tol, &|v, sums, e| {
            let n = (start[v + 1] - start[v]) as f64;
            let skill = if n > 0.0 {
                (0..k).map(|a| sums[a * k + a]).sum::<f64>() / n
            } else {
                0.0
            };
            let right = skill.clamp(EPS, 1.0 - EPS);
            let wrong = ((1.0 - skill) / (k - 1) as f64).clamp(EPS, 1.0 - EPS);
            for a in 0..k {
                for c in 0..k {
                    e[a * k + c] = if a == c { right } else { wrong };
                }
            }
        })
    }
}

impl Aggregator for OneCoinDawidSkene {
    fn name(&self) -> &'static str {
        "one-coin-dawid-skene"
    }

    fn aggregate(&self, votes: &QuestionVotes) -> Result<Aggregate, CrowdError> {
        check_nonempty(votes, self.name())?;
        Ok(Aggregate::from_probs(votes, self.fit(votes).probs))
    }
}
