//! The synthetic universe: a procedural galaxy population with known truth, rendered as
//! survey-like g/r/z cutouts.
//!
//! * [`population`] owns the truth ([`Galaxy`]), the population config and observation at a
//!   redshift; `population_sample` samples it ([`sample_population`], [`sample_galaxy`]: the
//!   per-class structural priors).
//! * [`answers`] derives the Galaxy Zoo style true answers ([`TrueAnswers`]) and blurred vote
//!   probabilities ([`VoteProbabilities`]) from that truth.
//! * [`mod@render`] owns [`RenderConfig`] and the pipeline light -> PSF -> noise; `model` draws the
//!   main body (bulge, disk, ring, arms, bar, dust), `render_extras` the compact and
//!   off-centre parts (clumps, tails, companion, artifacts, neighbouring field), `stamp` the
//!   lookup tables and Gaussian stamps they use.
//! * [`psf`] owns the point-spread functions (separable Gaussian sums).
//! * [`observe`] owns survey profiles, noise, the RGB stretch and PNG output.
//! * [`trees`] expresses the true answers and vote probabilities in a real Galaxy Zoo tree
//!   (GZ2's 37 Kaggle columns or GZ DECaLS's), via [`tree`](crate::tree).
//! * [`visibility`] says whether a ring, bar or clump of the truth can be seen in the cutout at
//!   a given size and survey (its size against the PSF, S/N against the noise, contrast against
//!   the galaxy under it): the labels an expert would give.
//! * [`terrestrial`] owns the non-astronomical proxy images (dead-leaves scenes in classes) used
//!   for ImageNet-style pretraining.
//!
//! Every random draw comes from [`crate::rng`]: galaxy `i` from
//! `item_stream(seed, "universe/population", i)`, its pixel noise from
//! `item_stream(seed, "universe/noise", id)` and its neighbouring field sources from
//! `item_stream(seed, "universe/field", id)`, so results never depend on order or threads.
//!
//! ```
//! use gzbench::universe::{PopulationConfig, RenderConfig, render_batch, sample_population};
//! let galaxies = sample_population(1, 4, &PopulationConfig::default());
//! let images = render_batch(&galaxies, &RenderConfig::default(), 1);
//! assert_eq!(images[0].width, 64);
//! let rgb = images[0].to_rgb8();
//! assert_eq!(rgb.dimensions(), (64, 64));
//! ```

pub mod answers;
pub mod clump_truth;
mod model;
pub mod observe;
pub mod population;
mod population_sample;
pub mod psf;
pub mod render;
mod render_extras;
mod stamp;
pub mod terrestrial;
#[cfg(test)]
mod tests;
pub mod trees;
pub mod visibility;

pub use answers::{
    ArmCount, BarStrength, BulgeSize, EdgeOnBulge, Merging, OddFeature, Question, Roundness,
    SmoothOrFeatured, TrueAnswers, VoteProbabilities, WindingClass,
};
pub use clump_truth::ClumpTruth;
pub use observe::{Survey, SurveyProfile, save_png};
pub use population::{
    Artifact, ArtifactKind, Bar, Bulge, Clump, Companion, Disk, DustLane, Galaxy, GalaxyType,
    PixelBox, PopulationConfig, Ring, Spiral, Tail, Tidal, Winding,
};
pub use population_sample::{sample_galaxy, sample_population};
pub use render::{Fov, RenderConfig, render, render_batch, render_noise_free};
pub use trees::TreeLink;
pub use visibility::{Signal, Visibility};

/// Errors from the universe module (only file output can fail).
#[derive(Debug, thiserror::Error)]
pub enum UniverseError {
    /// Writing or renaming the PNG file failed.
    #[error("writing {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The image encoder failed.
    #[error("encoding {path}: {source}")]
    Encode {
        path: String,
        #[source]
        source: image::ImageError,
    },
}

/// A three-band image: planes g, r, z (in that order), row-major, each `width * height` long.
///
/// Pixel values are sky-subtracted fluxes in nanomaggies per pixel; `pixel_scale` (arcsec per
/// pixel) says how large a pixel is, so that surface brightness is `value / pixel_scale^2`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Image3 {
    pub width: usize,
    pub height: usize,
    pub pixel_scale: f32,
    pub planes: [Vec<f32>; 3],
}

impl Image3 {
    /// An all-zero image.
    pub fn zeros(width: usize, height: usize, pixel_scale: f32) -> Self {
        let n = width * height;
        Image3 {
            width,
            height,
            pixel_scale,
            planes: [vec![0.0; n], vec![0.0; n], vec![0.0; n]],
        }
    }

    /// Plane `band` (0 = g, 1 = r, 2 = z).
    pub fn plane(&self, band: usize) -> &[f32] {
        &self.planes[band]
    }

    /// Total flux in one band (nanomaggies).
    pub fn total_flux(&self, band: usize) -> f64 {
        self.planes[band].iter().map(|&v| v as f64).sum()
    }

    /// Legacy Survey style asinh RGB (z -> red, r -> green, g -> blue); see [`observe::to_rgb8`].
    pub fn to_rgb8(&self) -> image::RgbImage {
        observe::to_rgb8(self)
    }
}
