//! `gz2-weighting`: the Galaxy Zoo 2 consistency weighting (Willett et al. 2013, sect. 3.3).
//! For each vote, consistency `kappa = mean over answers j of (f_j if j was chosen else 1 - f_j)`
//! with `f` the galaxy's current weighted vote fractions; a volunteer's kappa is the mean over
//! their votes and their weight `w = min(1, (kappa / 0.6)^8.5)`. Starting from unit weights this
//! is iterated `n_iter` times (GZ2 used 3); the output is the weighted vote fractions.

use rayon::prelude::*;

use super::majority_vote::{weighted_fractions, weighted_vote};
use super::{Aggregate, Aggregator, CrowdError, QuestionVotes};

/// GZ2 consistency weighting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gz2Weighting {
    pub n_iter: usize,
}

impl Default for Gz2Weighting {
    fn default() -> Self {
        Gz2Weighting { n_iter: 3 }
    }
}

impl Gz2Weighting {
    /// Final per-volunteer weights (1 for volunteers without votes).
    pub fn weights(&self, votes: &QuestionVotes) -> Vec<f64> {
        let k = votes.n_classes;
        let mut w = vec![1.0; votes.n_volunteers];
        for _ in 0..self.n_iter {
            let f = weighted_fractions(votes, Some(&w));
            w = (0..votes.n_volunteers)
                .into_par_iter()
                .map(|v| {
                    let row = votes.by_volunteer.row(v);
                    if row.is_empty() {
                        return 1.0;
                    }
                    let mut total = 0.0;
                    for &i in row {
                        let i = i as usize;
                        let fg = &f[votes.galaxy[i] as usize * k..][..k];
                        let a = votes.answer[i] as usize;
                        let kappa: f64 = (0..k)
                            .map(|j| if j == a { fg[j] } else { 1.0 - fg[j] })
                            .sum::<f64>()
                            / k as f64;
                        total += kappa;
                    }
                    let kappa = total / row.len() as f64;
                    (kappa / 0.6).powf(8.5).min(1.0)
                })
                .collect();
        }
        w
    }
}

impl Aggregator for Gz2Weighting {
    fn name(&self) -> &'static str {
        "gz2-weighting"
    }

    fn aggregate(&self, votes: &QuestionVotes) -> Result<Aggregate, CrowdError> {
        let w = self.weights(votes);
        Ok(weighted_vote(votes, &w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_single_iteration() {
        // Binary question, 2 galaxies, 3 volunteers.
        // g0: v0 -> 0, v1 -> 0, v2 -> 1   => f = (2/3, 1/3)
        // g1: v0 -> 1, v1 -> 1, v2 -> 1   => f = (0, 1)
        // kappa(v0 on g0) = (2/3 + (1 - 1/3)) / 2 = 2/3; on g1 = ((1 - 0) + 1) / 2 = 1
        //   => kappa_v0 = 5/6, w = 1 (capped); same for v1.
        // kappa(v2 on g0) = ((1 - 2/3) + 1/3) / 2 = 1/3; on g1 = 1 => kappa_v2 = 2/3
        //   => w = min(1, (2/3 / 0.6)^8.5) = 1 (2/3 > 0.6).
        let v = QuestionVotes::new(
            2,
            2,
            3,
            vec![0, 0, 0, 1, 1, 1],
            vec![0, 1, 2, 0, 1, 2],
            vec![0, 0, 1, 1, 1, 1],
        )
        .unwrap();
        let w = Gz2Weighting { n_iter: 1 }.weights(&v);
        assert_eq!(w, vec![1.0, 1.0, 1.0]);
        // A lone dissenter on two galaxies: v3 says 1 where everyone says 0, twice.
        // g0: v0,v1,v2 -> 0, v3 -> 1 => f = (3/4, 1/4); g1 the same.
        // kappa(v3) = ((1 - 3/4) + 1/4) / 2 = 1/4 => w3 = (0.25/0.6)^8.5.
        // kappa(v0..v2) = (3/4 + 3/4) / 2 = 3/4 => w = 1.
        let v = QuestionVotes::new(
            2,
            2,
            4,
            vec![0, 0, 0, 0, 1, 1, 1, 1],
            vec![0, 1, 2, 3, 0, 1, 2, 3],
            vec![0, 0, 0, 1, 0, 0, 0, 1],
        )
        .unwrap();
        let w3 = (0.25f64 / 0.6).powf(8.5);
        let w = Gz2Weighting { n_iter: 1 }.weights(&v);
        assert_eq!(w[..3], [1.0, 1.0, 1.0]);
        assert!((w[3] - w3).abs() < 1e-15);
        let a = Gz2Weighting { n_iter: 1 }.aggregate(&v).unwrap();
        let f1 = w3 / (3.0 + w3);
        assert!((a.row(0)[1] - f1).abs() < 1e-15);
        // Second iteration: f = (1 - f1, f1); kappa(v3) = f1, weight (f1 / 0.6)^8.5.
        let w = Gz2Weighting { n_iter: 2 }.weights(&v);
        assert!((w[3] - (f1 / 0.6).powf(8.5)).abs() < 1e-15);
    }
}
