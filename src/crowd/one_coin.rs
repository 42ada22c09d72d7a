//! `one-coin-dawid-skene`: Dawid-Skene with one skill per volunteer (probability of answering
//! correctly; errors spread evenly over the other K - 1 answers), as crowd-kit's
//! `OneCoinDawidSkene`: skill = mean posterior of the answers the volunteer gave; error cells
//! clipped to [1e-10, 1 - 1e-10] and not renormalised; same EM loop and stopping rule as
//! [`DawidSkene`](super::DawidSkene).

use rayon::prelude::*;

use super::dawid_skene::{EPS, EmFit, EmIndex, check_nonempty, run_em};
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

/// Per-volunteer skills: mean posterior of the given answers (0 for volunteers without votes).
pub(crate) fn skills(ix: &EmIndex, probs: &[f64]) -> Vec<f64> {
    let k = ix.k;
    (0..ix.vstart.len() - 1)
        .into_par_iter()
        .map(|v| {
            let n = ix.volunteer_len(v);
            if n == 0 {
                return 0.0;
            }
            let s: f64 = ix.volunteer_votes(v).map(|(g, a)| probs[g * k + a]).sum();
            s / n as f64
        })
        .collect()
}

fn m_step(ix: &EmIndex, probs: &[f64]) -> Vec<f64> {
    let k = ix.k;
    let sk = skills(ix, probs);
    let mut errors = vec![0.0; sk.len() * k * k];
    errors.par_chunks_mut(k * k).enumerate().for_each(|(v, e)| {
        let right = sk[v].clamp(EPS, 1.0 - EPS);
        let wrong = ((1.0 - sk[v]) / (k - 1) as f64).clamp(EPS, 1.0 - EPS);
        for a in 0..k {
            for c in 0..k {
                e[a * k + c] = if a == c { right } else { wrong };
            }
        }
    });
    errors
}

impl OneCoinDawidSkene {
    /// Fits the model.
    pub fn fit(&self, votes: &QuestionVotes) -> EmFit {
        run_em(votes, self.n_iter, self.tol, &m_step)
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
