//! The galaxies a detection run sees: Clump Scout's subjects drawn from the synthetic universe
//! (disk, irregular and merging galaxies, i.e. what Galaxy Zoo calls featured; ellipticals and
//! edge-on disks are left out as Clump Scout's pre-selection did), rendered as the network sees
//! them, with each galaxy's clumps as truth (`universe::ClumpTruth`: box, centre, class,
//! visibility, flux) and its redshift.
//!
//! Galaxy `id` is `sample_galaxy(data_seed, id, population)` and is kept when its type is one of
//! the subjects' types, so a set is a pure function of `(data_seed, first id, n, size, survey,
//! clump fractions)`.

use crate::data::synthetic::{display_images, survey};
use crate::spec::{DataConfig, DetectConfig};
use crate::universe::{
    ClumpTruth, Galaxy, GalaxyType, PopulationConfig, RenderConfig, sample_galaxy,
};
use rayon::prelude::*;

/// Galaxies, their network input and their truth.
pub struct ClumpSet {
    pub galaxies: Vec<Galaxy>,
    /// `3 x size x size` per galaxy, concatenated.
    pub images: Vec<f32>,
    pub size: usize,
    /// Every clump of each galaxy (visible or not, normal or odd).
    pub truth: Vec<Vec<ClumpTruth>>,
    /// The r-band PSF FWHM in pixels of each galaxy's cutout.
    pub fwhm_px: Vec<f32>,
}

impl ClumpSet {
    pub fn len(&self) -> usize {
        self.galaxies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.galaxies.is_empty()
    }

    /// The network input of galaxy `i`.
    pub fn image(&self, i: usize) -> &[f32] {
        let n = 3 * self.size * self.size;
        &self.images[i * n..(i + 1) * n]
    }

    /// The galaxies at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> ClumpSet {
        let n = 3 * self.size * self.size;
        ClumpSet {
            galaxies: idx.iter().map(|&i| self.galaxies[i].clone()).collect(),
            images: idx
                .iter()
                .flat_map(|&i| self.images[i * n..(i + 1) * n].iter().copied())
                .collect(),
            size: self.size,
            truth: idx.iter().map(|&i| self.truth[i].clone()).collect(),
            fwhm_px: idx.iter().map(|&i| self.fwhm_px[i]).collect(),
        }
    }
}

/// The population the subjects are drawn from: the universe's, with the detection run's clump
/// fractions.
pub fn population(d: &DetectConfig) -> PopulationConfig {
    PopulationConfig {
        clump_fraction: d.clump_fraction as f32,
        odd_clump_fraction: d.odd_clump_fraction as f32,
        ..PopulationConfig::default()
    }
}

/// The render settings of the run's cutouts: Galaxy Zoo's adaptive field divided by `zoom`.
pub fn render_config(data: &DataConfig, d: &DetectConfig) -> RenderConfig {
    RenderConfig::new(data.image_size, survey(data.survey)).zoomed(d.zoom as f32)
}

/// Whether a galaxy of type `kind` is a Clump Scout subject.
pub fn is_subject(kind: GalaxyType) -> bool {
    matches!(
        kind,
        GalaxyType::Disk | GalaxyType::Irregular | GalaxyType::Merger
    )
}

/// `n` subjects scanning ids from `start`.
pub fn draw(data: &DataConfig, d: &DetectConfig, start: u64, n: usize) -> ClumpSet {
    const CHUNK: u64 = 1024;
    let pop = population(d);
    let cfg = render_config(data, d);
    let mut galaxies = Vec::with_capacity(n);
    let mut next = start;
    while galaxies.len() < n {
        let chunk: Vec<Galaxy> = (next..next + CHUNK)
            .into_par_iter()
            .map(|id| sample_galaxy(data.data_seed, id, &pop))
            .collect();
        next += CHUNK;
        galaxies.extend(
            chunk
                .into_iter()
                .filter(|g| is_subject(g.kind))
                .take(n - galaxies.len()),
        );
    }
    let truth = galaxies.par_iter().map(|g| g.clump_truth(&cfg)).collect();
    let fwhm_px = galaxies
        .iter()
        .map(|g| crate::universe::clump_truth::psf_fwhm_px(g, &cfg))
        .collect();
    ClumpSet {
        images: display_images(&galaxies, &cfg, data.data_seed),
        galaxies,
        size: data.image_size,
        truth,
        fwhm_px,
    }
}
