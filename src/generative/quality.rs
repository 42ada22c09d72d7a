//! How close generated galaxies are to real ones: the Fréchet distance between the features of
//! two image sets in a galaxy-pretrained backbone (FID, Heusel et al. 2017, with the harness's
//! `astro` backbone in place of Inception: [`frechet`]), and condition accuracy — the share of
//! images asked to be positive that a classifier trained on real images calls positive
//! ([`condition_accuracy`]).

use crate::data::Dataset;
use crate::model::Model;
use candle_core::Device;

/// The Fréchet distance between the backbone features of `a` and `b` (evaluation mode).
pub fn frechet(backbone: &Model, a: &Dataset, b: &Dataset, device: &Device) -> anyhow::Result<f64> {
    let fa = crate::train::probe::features(backbone, a, device)?;
    let fb = crate::train::probe::features(backbone, b, device)?;
    Ok(crate::eval::frechet::frechet_distance(&fa, &fb)?)
}

/// Condition accuracy of the probabilities `p` a classifier gives images asked to be positive:
/// their completeness (the share at or above 0.5); NaN for none.
pub fn condition_accuracy(p: &[f32]) -> f64 {
    crate::eval::completeness(p, &vec![1.0; p.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_accuracy_counts_half_and_above() {
        assert_eq!(condition_accuracy(&[0.5, 0.49, 0.9, 0.1]), 0.5);
        assert!(condition_accuracy(&[]).is_nan());
    }
}
