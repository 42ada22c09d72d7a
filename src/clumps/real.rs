//! The evaluation-only real check: a trained detector run on the 92 real SDSS Stripe 82
//! galaxies of `gzh-s82-clumps` (Galaxy Zoo: Hubble clump catalogue, 543 clumps), scored by
//! completeness and purity within a match radius at the run's score threshold. Nothing here
//! trains, tunes or selects on it: the detector and its threshold are fixed before it is read.
//!
//! Geometry: the cutouts are Galaxy Zoo's 424 pixels at 0.02 R90 arcsec per pixel; their central
//! `1 / zoom` (as the synthetic cutouts) is resized to the network's input, so a pixel spans
//! `424 * 0.02 * R90 / (zoom * size)` arcsec; the match radius
//! is `match_radius_fwhm` times the SDSS r-band PSF FWHM (the universe's `sdss-like` profile) in
//! those pixels, at least `match_radius_min_px` (the catalogue positions are good to a few
//! 424-pixel pixels), as for the synthetic galaxies.

use super::fit::detect_all;
use super::score::{entries, merge};
use crate::data::clump_catalog;
use crate::eval::detection::{Counts, Criterion, Scored, Truth, found_at};
use crate::geom::Rect;
use crate::model::detector::Detector;
use crate::spec::DetectConfig;
use crate::store::Metrics;
use candle_core::Device;

/// Completeness and purity of `det` on the real set at `folder` (metrics `real_*`), or an error
/// naming what is missing.
pub fn evaluate(
    det: &Detector,
    folder: &std::path::Path,
    size: usize,
    d: &DetectConfig,
    device: &Device,
) -> anyhow::Result<Metrics> {
    let galaxies = clump_catalog::read(folder)?;
    let (images, clumps) = clump_catalog::load(&galaxies, size, d.zoom)?;
    let total_clumps: usize = galaxies.iter().map(|g| g.clumps.len()).sum();
    let dets = detect_all(det, &images, size, 32, device)?;
    let fwhm = crate::universe::Survey::SdssLike.profile().psf_fwhm[1];
    let mut total = Counts::default();
    for ((g, pts), found) in galaxies.iter().zip(&clumps).zip(&dets) {
        let arcsec_per_px = 424.0 * 0.02 * g.r90_arcsec / (d.zoom as f32 * size as f32);
        let radius = d.match_radius_px(fwhm / arcsec_per_px);
        let truth: Vec<Truth> = pts
            .iter()
            .map(|p| Truth {
                rect: Rect::around(*p, 1.0, 1.0),
                ignore: false,
            })
            .collect();
        let scored: Vec<Scored> = merge(&entries(found), radius)
            .iter()
            .map(|d| Scored {
                rect: d.rect,
                score: d.score,
            })
            .collect();
        total.add(
            found_at(
                &truth,
                &scored,
                Criterion::Radius(radius),
                d.score_threshold as f32,
            )
            .1,
        );
    }
    let mut m = Metrics::new();
    m.insert("real_completeness".into(), total.completeness());
    // catalogued clumps outside the zoomed crop cannot be found: the share kept
    m.insert(
        "real_clumps_in_view".into(),
        total.objects as f64 / total_clumps.max(1) as f64,
    );
    m.insert("real_purity".into(), total.purity());
    m.insert(
        "real_detections_per_galaxy".into(),
        total.detections as f64 / galaxies.len().max(1) as f64,
    );
    Ok(m)
}
