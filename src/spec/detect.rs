//! The `detect:` section of a `detection` experiment (Galaxy Zoo: Clump Scout, Popp et al.
//! 2023): where the training boxes come from (the universe's truth or the aggregated clicks of
//! simulated volunteers), how the clicks are simulated and aggregated, how detections are
//! matched when scored, the evaluation-only real set, and the detector's own settings
//! ([`DetectorConfig`]: anchors, proposals, RoI sampling, NMS). Only names and numbers live here;
//! `model::detector` and `clumps` implement them. The images are the `data:` section's (synthetic
//! universe, `image_size`, `survey`, `train_size`, `test_size`), the backbone the `model:` and
//! `pretrain:` sections, the optimiser the `train:` section.

use super::DetectorConfig;
use serde::{Deserialize, Serialize};

/// Where the training boxes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ClumpLabels {
    /// The universe's visible clumps with their true boxes and classes.
    #[default]
    Truth,
    /// The consensus of simulated Clump Scout volunteers' clicks: a box of `box_fwhm` PSF FWHM
    /// around each consensus position scoring at least `consensus_threshold`, odd when the
    /// weighted share of odd flags is at least a half.
    Volunteers,
}

/// How volunteers' clicks are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ClickWeighting {
    /// Each volunteer weighted by their estimated reliability (true- and false-positive rates
    /// fitted by EM over all galaxies).
    #[default]
    Reliability,
    /// The plain share of the galaxy's viewers who marked the position.
    Share,
}

/// One detection run. Defaults follow Popp et al. where they apply (score threshold 0.3, two
/// classes); click simulation after Clump Scout (about 20 volunteers per galaxy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    pub labels: ClumpLabels,
    /// Share of the universe's disk galaxies given giant star-forming clumps (the population's
    /// default is 0.2; Clump Scout's subjects were pre-selected featured galaxies).
    pub clump_fraction: f64,
    /// Share of galaxies with an odd clump (a foreground star over the disk).
    pub odd_clump_fraction: f64,
    /// The cutouts show the central `1 / zoom` of Galaxy Zoo's field (17 half-light radii
    /// across, Willett et al.), so the disk where clumps live fills more of the network's
    /// pixels; the real set is centre-cropped the same way.
    pub zoom: f64,
    /// Volunteers who mark each galaxy.
    pub volunteers_per_galaxy: usize,
    /// Size of the volunteer pool.
    pub volunteer_pool: usize,
    pub weighting: ClickWeighting,
    /// Marks closer than this many PSF FWHM are one candidate clump.
    pub link_radius_fwhm: f64,
    /// Consensus score a candidate needs to become a training box (labels `volunteers`).
    pub consensus_threshold: f64,
    /// Side of a box made from a click position, in PSF FWHM.
    pub box_fwhm: f64,
    /// ... but never less than this many pixels (the truth's smallest box, a point source's
    /// +-2.5 sigma of the PSF, is at least 3 pixels).
    pub box_min_px: f64,
    /// A detection finds a clump when their centres are within this many PSF FWHM.
    pub match_radius_fwhm: f64,
    /// ... but never less than this many pixels (Galaxy Zoo's adaptive field makes the PSF
    /// 0.3-1.8 pixels wide in 64-pixel cutouts, finer than a box centre can be placed).
    pub match_radius_min_px: f64,
    /// Detections scoring at least this form the catalogue (completeness and purity).
    pub score_threshold: f64,
    /// Evaluation-only real set under the shared data folder (`gzh-s82-clumps`), or `none`.
    pub real: String,
    /// The detector's own settings.
    pub detector: DetectorConfig,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            labels: ClumpLabels::Truth,
            clump_fraction: 0.6,
            odd_clump_fraction: 0.15,
            zoom: 2.0,
            volunteers_per_galaxy: 20,
            volunteer_pool: 300,
            weighting: ClickWeighting::Reliability,
            link_radius_fwhm: 1.0,
            consensus_threshold: 0.5,
            box_fwhm: 2.1,
            box_min_px: 3.0,
            match_radius_fwhm: 1.5,
            match_radius_min_px: 2.0,
            score_threshold: 0.3,
            real: "gzh-s82-clumps".into(),
            detector: DetectorConfig::default(),
        }
    }
}

impl DetectConfig {
    /// The first out-of-range value: (key, message).
    pub fn check(&self) -> Option<(&'static str, String)> {
        let share = |v: f64| (0.0..=1.0).contains(&v);
        let positive = |v: f64| v.is_finite() && v > 0.0;
        let bad = [
            (
                "clump_fraction",
                !share(self.clump_fraction),
                format!(
                    "clump_fraction = {}; expected in [0, 1]",
                    self.clump_fraction
                ),
            ),
            (
                "odd_clump_fraction",
                !share(self.odd_clump_fraction),
                format!(
                    "odd_clump_fraction = {}; expected in [0, 1]",
                    self.odd_clump_fraction
                ),
            ),
            (
                "zoom",
                !(self.zoom.is_finite() && self.zoom >= 1.0),
                format!("zoom = {}; expected >= 1", self.zoom),
            ),
            (
                "volunteers_per_galaxy",
                self.volunteers_per_galaxy == 0 || self.volunteers_per_galaxy > self.volunteer_pool,
                format!(
                    "volunteers_per_galaxy = {}; expected 1 to volunteer_pool ({})",
                    self.volunteers_per_galaxy, self.volunteer_pool
                ),
            ),
            (
                "link_radius_fwhm",
                !positive(self.link_radius_fwhm),
                format!("link_radius_fwhm = {}; expected > 0", self.link_radius_fwhm),
            ),
            (
                "consensus_threshold",
                !share(self.consensus_threshold),
                format!(
                    "consensus_threshold = {}; expected in [0, 1]",
                    self.consensus_threshold
                ),
            ),
            (
                "box_fwhm",
                !positive(self.box_fwhm),
                format!("box_fwhm = {}; expected > 0", self.box_fwhm),
            ),
            (
                "box_min_px",
                !(self.box_min_px.is_finite() && self.box_min_px >= 0.0),
                format!("box_min_px = {}; expected >= 0", self.box_min_px),
            ),
            (
                "match_radius_fwhm",
                !positive(self.match_radius_fwhm),
                format!(
                    "match_radius_fwhm = {}; expected > 0",
                    self.match_radius_fwhm
                ),
            ),
            (
                "match_radius_min_px",
                !(self.match_radius_min_px.is_finite() && self.match_radius_min_px >= 0.0),
                format!(
                    "match_radius_min_px = {}; expected >= 0",
                    self.match_radius_min_px
                ),
            ),
            (
                "score_threshold",
                !share(self.score_threshold),
                format!(
                    "score_threshold = {}; expected in [0, 1]",
                    self.score_threshold
                ),
            ),
        ];
        if let Some((k, _, m)) = bad.into_iter().find(|(_, b, _)| *b) {
            return Some((k, m));
        }
        self.detector
            .validate()
            .err()
            .map(|e| (e.key, format!("detector.{} {}", e.key, e.message)))
    }

    /// The match radius in pixels for a cutout whose PSF is `fwhm_px` wide.
    pub fn match_radius_px(&self, fwhm_px: f32) -> f32 {
        (self.match_radius_fwhm * fwhm_px as f64).max(self.match_radius_min_px) as f32
    }

    /// Whether the evaluation-only real set is asked for.
    pub fn has_real(&self) -> bool {
        self.real != "none"
    }
}
