//! Simulated Clump Scout volunteers: people who look at a galaxy image and click where they see
//! clumps, optionally flagging a click as an "odd" clump (Adams et al. 2022; Dickinson et al.
//! 2022). The input is the truth of each image ([`ClumpTruth`]) and its r-band light (to place
//! false clicks); the module renders nothing itself.
//!
//! A volunteer marks each clump of an image independently with chance
//! `attentiveness * logistic(slope * (s - threshold))`, where the clump's strength `s` (dex) is
//! the weakest of its three visibility ratios against [`visibility::CLUMP`](crate::universe::visibility::CLUMP):
//! `log10(contrast / 0.5)`, `log10(snr / 8)` and `log10(distance from the centre / fwhm_eff)`
//! with `fwhm_eff = sqrt(fwhm_px^2 + 1)` (the definitions of `universe::visibility`), so
//! `s >= 0` is exactly "visible" and a typical volunteer sees what the truth calls visible.
//! Invisible clumps are still marked with the small chance the logistic gives. A mark lands at
//! the clump centre plus a Gaussian error of `sigma_fwhm * fwhm_px` per axis, so it scales with
//! the image; a mark of an odd clump is flagged odd with chance `odd_tpr`, any other mark with
//! `odd_fpr`. On top, a volunteer adds `Poisson(false_rate)` spurious marks per image, placed
//! with probability proportional to the r light above the sky (pixel value minus a 3-sigma sky
//! cut, `median + 3 * 1.4826 MAD`, so noise rarely attracts a mark; uniform if nothing is above
//! it), so bulges and bright arm knots attract false marks as they do for real volunteers.
//!
//! Distributions of the pool (volunteer `j` from `item_stream(seed, "crowd/clicks/volunteers",
//! j)`), chosen so that the typical volunteer's 50 % point is the visibility limit:
//! * threshold ~ Normal(0, 0.1) dex: volunteers disagree by about 25 % in the contrast they need;
//! * slope ~ LogNormal(ln 8, 0.3) per dex: from 50 % to 90 % of the attentive rate within a
//!   factor ~1.3-1.5 in contrast, a soft limit as in real completeness curves;
//! * attentiveness ~ Beta(18, 2) (mean 0.9): even clear clumps are missed now and then;
//! * sigma_fwhm ~ LogNormal(ln 0.3, 0.35): clicks within about a third of the PSF FWHM;
//! * false_rate ~ Gamma(2, 0.15) (mean 0.3 spurious marks per image);
//! * odd_tpr ~ Beta(6, 3) (mean 0.67), odd_fpr ~ Beta(1, 30) (mean 0.03);
//! * 10 % careless volunteers: half lazy (threshold + U(0.4, 1.0) dex, attentiveness
//!   ~ Beta(5, 5)), half over-clickers (false_rate ~ U(2, 5), twice the position error).
//!
//! Each galaxy is shown to `per_galaxy` distinct volunteers of the pool, drawn with all of its
//! marks from `item_stream(seed, "crowd/clicks/galaxy", g)`, so galaxies are simulated in
//! parallel with results independent of order and threads.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Gamma, LogNormal, Normal, Poisson, StandardNormal};
use rayon::prelude::*;
use serde::Serialize;

use crate::geom::Point;
use crate::rng::item_stream;
use crate::universe::ClumpTruth;
use crate::universe::visibility::CLUMP;

/// What kind of clicker a volunteer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ClickerKind {
    Normal,
    /// Needs a much stronger clump and often misses clear ones.
    Lazy,
    /// Adds many spurious marks, placed carelessly.
    OverClicker,
}

/// One simulated volunteer's clicking behaviour (distributions in the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClickVolunteer {
    pub kind: ClickerKind,
    /// Clump strength (dex, 0 = the visibility limit) at which the chance of a mark is half
    /// the attentiveness.
    pub threshold: f32,
    /// Logistic slope per dex of strength.
    pub slope: f32,
    /// Chance of marking a clump far above the threshold.
    pub attentiveness: f32,
    /// Position error sigma per axis in units of the PSF FWHM.
    pub sigma_fwhm: f32,
    /// Mean number of spurious marks per image (Poisson).
    pub false_rate: f32,
    /// Chance of flagging a mark of an odd clump as odd.
    pub odd_tpr: f32,
    /// Chance of flagging any other mark as odd.
    pub odd_fpr: f32,
}

/// One click: volunteer `volunteer` marked galaxy `galaxy` at `at` (pixels).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Mark {
    pub galaxy: usize,
    pub volunteer: usize,
    pub at: Point,
    pub odd: bool,
}

/// One image shown to volunteers: its clumps, its r-band light (`size * size`, row-major,
/// as rendered and shown, noise included or not) and its r-band PSF FWHM in pixels
/// (`universe::clump_truth::psf_fwhm_px`).
#[derive(Debug, Clone, Copy)]
pub struct ClickImage<'a> {
    pub truth: &'a [ClumpTruth],
    pub r_plane: &'a [f32],
    pub size: usize,
    pub fwhm_px: f32,
}

/// The simulated clicks: every mark (galaxy order, then volunteer order) and, for galaxy `g`,
/// the volunteers it was shown to (`shown_to[g]`, ascending), needed to count non-marks.
#[derive(Debug, Clone, PartialEq)]
pub struct Clicks {
    pub marks: Vec<Mark>,
    pub shown_to: Vec<Vec<usize>>,
}

fn beta(rng: &mut ChaCha8Rng, a: f32, b: f32) -> f32 {
    Beta::new(a, b).map_or(a / (a + b), |d| d.sample(rng))
}

fn lognormal(rng: &mut ChaCha8Rng, median: f32, sd: f32) -> f32 {
    LogNormal::new(median.ln(), sd).map_or(median, |d| d.sample(rng))
}

/// Draw a pool of `n` volunteers; volunteer `j` depends only on `(seed, j)`.
pub fn click_volunteers(n: usize, seed: u64) -> Vec<ClickVolunteer> {
    (0..n)
        .map(|j| {
            let mut rng = item_stream(seed, "crowd/clicks/volunteers", j as u64);
            let u: f32 = rng.random();
            let kind = match u {
                u if u < 0.05 => ClickerKind::Lazy,
                u if u < 0.10 => ClickerKind::OverClicker,
                _ => ClickerKind::Normal,
            };
            let mut v = ClickVolunteer {
                kind,
                threshold: Normal::new(0.0, 0.1).map_or(0.0, |d| d.sample(&mut rng)),
                slope: lognormal(&mut rng, 8.0, 0.3),
                attentiveness: beta(&mut rng, 18.0, 2.0),
                sigma_fwhm: lognormal(&mut rng, 0.3, 0.35),
                false_rate: Gamma::new(2.0, 0.15).map_or(0.3, |d| d.sample(&mut rng)),
                odd_tpr: beta(&mut rng, 6.0, 3.0),
                odd_fpr: beta(&mut rng, 1.0, 30.0),
            };
            match kind {
                ClickerKind::Lazy => {
                    v.threshold += rng.random_range(0.4..1.0);
                    v.attentiveness = beta(&mut rng, 5.0, 5.0);
                }
                ClickerKind::OverClicker => {
                    v.false_rate = rng.random_range(2.0..5.0);
                    v.sigma_fwhm *= 2.0;
                }
                ClickerKind::Normal => {}
            }
            v
        })
        .collect()
}

/// Strength of a clump (dex, 0 = the visibility limit) in an image of `size` pixels: the
/// weakest of its contrast, S/N and distance-from-centre ratios to [`CLUMP`].
pub fn strength(t: &ClumpTruth, size: usize, fwhm_px: f32) -> f32 {
    let fwhm_eff = (fwhm_px * fwhm_px + 1.0).sqrt();
    let c = size as f32 / 2.0;
    let dist = t.centre.distance(&Point::new(c, c));
    let ratio = |v: f32, limit: f32| (v.max(1e-6) / limit).log10();
    ratio(t.contrast, CLUMP.contrast)
        .min(ratio(t.snr, CLUMP.snr))
        .min(ratio(dist / fwhm_eff, CLUMP.size))
}

impl ClickVolunteer {
    /// Chance that this volunteer marks a clump of strength `s` (dex).
    pub fn mark_chance(&self, s: f32) -> f32 {
        self.attentiveness / (1.0 + (-self.slope * (s - self.threshold)).exp())
    }
}

/// Cumulative weights of false-mark positions: light above a 3-sigma sky cut, or `None` when
/// nothing is above it (then positions are uniform).
fn light_cdf(plane: &[f32], size: usize) -> Option<Vec<f64>> {
    if plane.len() != size * size || plane.is_empty() {
        return None;
    }
    let mut sorted: Vec<f32> = plane.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_unstable_by(f32::total_cmp);
    let median = sorted[sorted.len() / 2];
    let mut dev: Vec<f32> = sorted.iter().map(|v| (v - median).abs()).collect();
    dev.sort_unstable_by(f32::total_cmp);
    let cut = median + 3.0 * 1.4826 * dev[dev.len() / 2];
    let mut acc = 0f64;
    let cdf: Vec<f64> = plane
        .iter()
        .map(|&v| {
            if v.is_finite() && v > cut {
                acc += (v - cut) as f64;
            }
            acc
        })
        .collect();
    (acc > 0.0).then_some(cdf)
}

fn simulate_galaxy(
    g: usize,
    img: &ClickImage,
    volunteers: &[ClickVolunteer],
    per_galaxy: usize,
    seed: u64,
) -> (Vec<Mark>, Vec<usize>) {
    let mut rng = item_stream(seed, "crowd/clicks/galaxy", g as u64);
    let k = per_galaxy.min(volunteers.len());
    let mut viewers = rand::seq::index::sample(&mut rng, volunteers.len(), k).into_vec();
    viewers.sort_unstable();
    let cdf = light_cdf(img.r_plane, img.size);
    let n = img.size as f32;
    let strengths: Vec<f32> = (img.truth.iter())
        .map(|t| strength(t, img.size, img.fwhm_px))
        .collect();
    let mut marks = Vec::new();
    for &j in &viewers {
        let v = &volunteers[j];
        let sigma = v.sigma_fwhm * img.fwhm_px;
        let mut push = |rng: &mut ChaCha8Rng, x: f32, y: f32, odd_chance: f32| {
            let at = Point::new(x.clamp(0.0, n), y.clamp(0.0, n));
            let odd = rng.random::<f32>() < odd_chance;
            marks.push(Mark {
                galaxy: g,
                volunteer: j,
                at,
                odd,
            });
        };
        for (t, &s) in img.truth.iter().zip(&strengths) {
            if rng.random::<f32>() < v.mark_chance(s) {
                let dx = sigma * rng.sample::<f32, _>(StandardNormal);
                let dy = sigma * rng.sample::<f32, _>(StandardNormal);
                let odd_chance = if t.odd { v.odd_tpr } else { v.odd_fpr };
                push(&mut rng, t.centre.x + dx, t.centre.y + dy, odd_chance);
            }
        }
        let count = match Poisson::new(v.false_rate) {
            Ok(d) if v.false_rate > 0.0 => d.sample(&mut rng) as usize,
            _ => 0,
        };
        for _ in 0..count {
            let (x, y) = match &cdf {
                Some(cdf) => {
                    let total = cdf[cdf.len() - 1];
                    let u = rng.random::<f64>() * total;
                    let i = cdf.partition_point(|&c| c <= u).min(cdf.len() - 1);
                    ((i % img.size) as f32, (i / img.size) as f32)
                }
                None => (
                    (rng.random::<f32>() * n).floor(),
                    (rng.random::<f32>() * n).floor(),
                ),
            };
            let (jx, jy) = (rng.random::<f32>(), rng.random::<f32>());
            push(&mut rng, x + jx, y + jy, v.odd_fpr);
        }
    }
    (marks, viewers)
}

/// Show each image to `per_galaxy` distinct volunteers of the pool (all of them if the pool is
/// smaller) and collect their marks (see the module docs). Deterministic per seed.
pub fn simulate_clicks(
    images: &[ClickImage],
    volunteers: &[ClickVolunteer],
    per_galaxy: usize,
    seed: u64,
) -> Clicks {
    let per: Vec<(Vec<Mark>, Vec<usize>)> = images
        .par_iter()
        .enumerate()
        .map(|(g, img)| simulate_galaxy(g, img, volunteers, per_galaxy, seed))
        .collect();
    let mut clicks = Clicks {
        marks: Vec::new(),
        shown_to: Vec::with_capacity(per.len()),
    };
    for (m, v) in per {
        clicks.marks.extend(m);
        clicks.shown_to.push(v);
    }
    clicks
}

#[cfg(test)]
#[path = "clicks_tests.rs"]
mod tests;
