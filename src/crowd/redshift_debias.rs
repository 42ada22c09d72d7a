//! `redshift-debias`: vote fractions corrected for redshift / surface-brightness bias by quantile
//! mapping (in the spirit of Hart et al. 2016). Galaxies are binned by surface brightness
//! (`n_sb_bins` quantile bins) and, within each, by redshift (`n_z_bins` quantile bins); in every
//! cell each answer's fraction is replaced by the value at the same mid-rank in the lowest-redshift
//! cell of the same surface-brightness bin (the baseline), then rows are renormalised. Cells with
//! fewer than `min_cell` galaxies, and baselines that small, are left uncorrected. Needs
//! [`QuestionVotes::covariates`].

use super::majority_vote::weighted_fractions;
use super::{Aggregate, Aggregator, CrowdError, QuestionVotes};

/// Redshift debiasing of vote fractions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RedshiftDebias {
    pub n_z_bins: usize,
    pub n_sb_bins: usize,
    pub min_cell: usize,
}

impl Default for RedshiftDebias {
    fn default() -> Self {
        RedshiftDebias {
            n_z_bins: 5,
            n_sb_bins: 3,
            min_cell: 10,
        }
    }
}

/// Quantile-bin index of each value (bins of equal count by rank; ties by index).
fn quantile_bins(x: &[f32], n_bins: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]).then(a.cmp(&b)));
    let mut bin = vec![0; x.len()];
    for (rank, &i) in order.iter().enumerate() {
        bin[i] = (rank * n_bins / x.len().max(1)).min(n_bins - 1);
    }
    bin
}

/// Value of sorted `base` at quantile `u` in [0, 1] (linear interpolation).
fn quantile(base: &[f64], u: f64) -> f64 {
    let pos = u * (base.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(base.len() - 1);
    base[lo] + (pos - lo as f64) * (base[hi] - base[lo])
}

/// Mid-rank of `x` in sorted `cell`, as a quantile in [0, 1].
fn mid_rank(cell: &[f64], x: f64) -> f64 {
    let below = cell.partition_point(|&v| v < x);
    let upto = cell.partition_point(|&v| v <= x);
    let r = (below + upto) as f64 / 2.0;
    if cell.len() <= 1 {
        0.5
    } else {
        ((r - 0.5) / (cell.len() - 1) as f64).clamp(0.0, 1.0)
    }
}

impl Aggregator for RedshiftDebias {
    fn name(&self) -> &'static str {
        "redshift-debias"
    }

    fn aggregate(&self, votes: &QuestionVotes) -> Result<Aggregate, CrowdError> {
        let f = weighted_fractions(votes, None);
        Ok(Aggregate::from_probs(votes, self.debias(votes, &f)?))
    }
}

impl RedshiftDebias {
    /// Debiased copy of the per-galaxy fractions `f` (row-major `n_galaxies x n_classes`, e.g.
    /// the raw or the consistency-weighted vote fractions), rows renormalised.
    pub fn debias(&self, votes: &QuestionVotes, f: &[f64]) -> Result<Vec<f64>, CrowdError> {
        let cov = votes
            .covariates
            .as_ref()
            .ok_or_else(|| CrowdError::Strategy {
                strategy: "redshift-debias",
                reason:
                    "needs per-galaxy redshift and surface brightness (covariates); real exports \
                     carry none"
                        .into(),
            })?;
        if cov.len() != votes.n_galaxies || self.n_z_bins == 0 || self.n_sb_bins == 0 {
            return Err(CrowdError::Strategy {
                strategy: "redshift-debias",
                reason: format!(
                    "{} covariates for {} galaxies, {} z bins, {} sb bins; expected one per \
                     galaxy and >= 1 bin each",
                    cov.len(),
                    votes.n_galaxies,
                    self.n_z_bins,
                    self.n_sb_bins
                ),
            });
        }
        let k = votes.n_classes;
        let sb: Vec<f32> = cov.iter().map(|c| c.surface_brightness).collect();
        let sb_bin = quantile_bins(&sb, self.n_sb_bins);
        let mut out = f.to_vec();
        for s in 0..self.n_sb_bins {
            let members: Vec<usize> = (0..votes.n_galaxies).filter(|&g| sb_bin[g] == s).collect();
            let z: Vec<f32> = members.iter().map(|&g| cov[g].redshift).collect();
            let z_bin = quantile_bins(&z, self.n_z_bins);
            let cell_of = |zb: usize| -> Vec<usize> {
                members
                    .iter()
                    .zip(&z_bin)
                    .filter(|&(_, &b)| b == zb)
                    .map(|(&g, _)| g)
                    .collect()
            };
            let base_cell = cell_of(0);
            if base_cell.len() < self.min_cell {
                continue;
            }
            for zb in 1..self.n_z_bins {
                let cell = cell_of(zb);
                if cell.len() < self.min_cell {
                    continue;
                }
                for c in 0..k {
                    let mut base: Vec<f64> = base_cell.iter().map(|&g| f[g * k + c]).collect();
                    base.sort_by(f64::total_cmp);
                    let mut here: Vec<f64> = cell.iter().map(|&g| f[g * k + c]).collect();
                    here.sort_by(f64::total_cmp);
                    for &g in &cell {
                        out[g * k + c] = quantile(&base, mid_rank(&here, f[g * k + c]));
                    }
                }
            }
        }
        for row in out.chunks_mut(k) {
            let s: f64 = row.iter().sum();
            if s > 0.0 {
                row.iter_mut().for_each(|x| *x /= s);
            } else {
                row.iter_mut().for_each(|x| *x = 1.0 / k as f64);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crowd::Covariates;

    #[test]
    fn maps_high_z_fractions_onto_low_z_distribution() {
        // 40 galaxies, 1 sb bin, 2 z bins; each galaxy 4 votes on a binary question. Low-z
        // galaxies have positive fraction 1.0 or 0.0 (half each); high-z ones 0.75 or 0.25.
        let n = 40;
        let (mut gal, mut vol, mut ans) = (vec![], vec![], vec![]);
        let mut cov = vec![];
        for g in 0..n {
            let high = g >= n / 2;
            let pos = g % 2 == 0;
            let yes = match (high, pos) {
                (false, true) => 4,
                (false, false) => 0,
                (true, true) => 3,
                (true, false) => 1,
            };
            for j in 0..4 {
                gal.push(g as u32);
                vol.push(j as u32);
                ans.push(if j < yes { 0 } else { 1 });
            }
            cov.push(Covariates {
                redshift: if high { 0.2 } else { 0.05 } + g as f32 * 1e-4,
                surface_brightness: 21.0,
            });
        }
        let mut v = QuestionVotes::new(2, n, 4, gal, vol, ans).unwrap();
        assert!(RedshiftDebias::default().aggregate(&v).is_err());
        v.covariates = Some(cov);
        let d = RedshiftDebias {
            n_z_bins: 2,
            n_sb_bins: 1,
            min_cell: 5,
        };
        let a = d.aggregate(&v).unwrap();
        for g in n / 2..n {
            let want = if g % 2 == 0 { 1.0 } else { 0.0 };
            assert!(
                (a.row(g)[0] - want).abs() < 1e-12,
                "galaxy {g}: {:?}",
                a.row(g)
            );
        }
    }
}
