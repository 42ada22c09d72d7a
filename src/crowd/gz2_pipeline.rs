//! `gz2-pipeline`: Galaxy Zoo 2's published reduction (Willett et al. 2013, sect. 3.3-3.4), both
//! steps together: the consistency-weighted vote fractions of [`Gz2Weighting`] are debiased for
//! redshift and surface brightness by [`RedshiftDebias`]'s quantile mapping (which on its own
//! debiases the raw, unweighted fractions). Needs [`QuestionVotes::covariates`].

use super::majority_vote::weighted_fractions;
use super::{Aggregate, Aggregator, CrowdError, Gz2Weighting, QuestionVotes, RedshiftDebias};

/// Consistency weighting, then redshift debiasing.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Gz2Pipeline {
    pub weighting: Gz2Weighting,
    pub debias: RedshiftDebias,
}

impl Aggregator for Gz2Pipeline {
    fn name(&self) -> &'static str {
        "gz2-pipeline"
    }

    fn aggregate(&self, votes: &QuestionVotes) -> Result<Aggregate, CrowdError> {
        let w = self.weighting.weights(votes);
        let f = weighted_fractions(votes, Some(&w));
        Ok(Aggregate::from_probs(votes, self.debias.debias(votes, &f)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crowd::Covariates;

    #[test]
    fn debiases_the_weighted_fractions() {
        // 40 galaxies on a binary question, two redshift cells; volunteers 0-3 vote the truth
        // (answer 0 on even galaxies), volunteer 4 always dissents, so consistency weighting
        // moves the fractions and the pipeline must differ from debiasing the raw fractions.
        let n = 40;
        let (mut gal, mut vol, mut ans, mut cov) = (vec![], vec![], vec![], vec![]);
        for g in 0..n {
            let truth = (g % 2) as u32;
            let honest = if g >= n / 2 { 3 } else { 4 };
            for v in 0..5u32 {
                gal.push(g as u32);
                vol.push(v);
                let right = v < honest || (v == 3 && g % 4 == 0);
                ans.push(if v == 4 || !right { 1 - truth } else { truth });
            }
            cov.push(Covariates {
                redshift: if g >= n / 2 { 0.2 } else { 0.05 } + g as f32 * 1e-4,
                surface_brightness: 21.0,
            });
        }
        let mut v = QuestionVotes::new(2, n, 5, gal, vol, ans).unwrap();
        assert!(Gz2Pipeline::default().aggregate(&v).is_err());
        v.covariates = Some(cov);
        let debias = RedshiftDebias {
            n_z_bins: 2,
            n_sb_bins: 1,
            min_cell: 5,
        };
        let p = Gz2Pipeline {
            weighting: Gz2Weighting::default(),
            debias,
        };
        let got = p.aggregate(&v).unwrap();
        let w = Gz2Weighting::default().weights(&v);
        assert!(w[4] < 0.5, "the dissenter is down-weighted: {w:?}");
        let want = debias
            .debias(&v, &weighted_fractions(&v, Some(&w)))
            .unwrap();
        assert_eq!(got.probs, want);
        let raw = debias.aggregate(&v).unwrap();
        assert_ne!(got.probs, raw.probs);
    }
}
