//! `dawid-skene`: EM over per-volunteer confusion matrices (Dawid & Skene 1979), step for step as
//! crowd-kit's `DawidSkene` so the two agree to 1e-5: initial posteriors = majority-vote
//! fractions; priors = mean posterior; M-step sums posteriors per (volunteer, observed answer),
//! clips observed cells at 1e-10 and normalises over the answers that volunteer gave; E-step
//! `log prior + sum log error`, softmax; stop after `n_iter` iterations or when the evidence
//! lower bound per vote improves by less than `tol`; the returned posteriors are clipped below at
//! 1e-10 (crowd-kit clips them in place while computing the entropy). The loop itself (fused
//! into one pass over the votes per iteration) is [`run_em`] in `em.rs`, shared with
//! `one-coin-dawid-skene`.

pub(crate) use super::em::{EPS, EmFit, run_em};
use super::{Aggregate, Aggregator, CrowdError, QuestionVotes};

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

/// Which answers each volunteer gave: `seen[v * K + a]`.
pub(crate) fn seen_answers(votes: &QuestionVotes) -> Vec<bool> {
    let k = votes.n_classes;
    let mut seen = vec![false; votes.n_volunteers * k];
    for i in 0..votes.len() {
        seen[votes.volunteer[i] as usize * k + votes.answer[i] as usize] = true;
    }
    seen
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
