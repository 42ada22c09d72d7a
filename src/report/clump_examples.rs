//! The clump-detection figure of a `detection` experiment: for each arm of the first seed at the
//! largest training set, one row per example test galaxy with three copies of its cutout: the
//! visible true clumps (green; odd clumps magenta), the volunteers' consensus (yellow, positions
//! scoring at least the run's consensus threshold) and the detector's catalogue (cyan; odd-clump
//! detections magenta; detections scoring at least the run's score threshold). Read from the run
//! directory's `examples.json` (`clumps::run::EXAMPLES`), the galaxies rendered again from the
//! universe as the run rendered them. Written as `<name>_detections_<point>.png`; nothing for
//! runs without the file.

use super::ReportError;
use super::figure_kit::{arm_png, first_seed_files};
use super::mosaic::write_grid;
use crate::clumps::run::{EXAMPLES, Example};
use crate::clumps::sample::{population, render_config};
use crate::geom::Rect;
use crate::spec::{Experiment, ExperimentKind, RunSpec};
use crate::store::{Store, read_json};
use crate::universe::{render, sample_galaxy};
use image::imageops::{FilterType, resize};
use image::{Rgb, RgbImage};
use std::path::{Path, PathBuf};

/// Tiles are drawn this many times the cutout size (nearest pixel), so small boxes show.
const ZOOM: u32 = 4;
/// Example galaxies per figure.
const ROWS: usize = 4;

const TRUTH: Rgb<u8> = Rgb([60, 220, 60]);
const ODD: Rgb<u8> = Rgb([240, 60, 240]);
const CROWD: Rgb<u8> = Rgb([250, 220, 40]);
const DETECTOR: Rgb<u8> = Rgb([60, 220, 250]);

/// The figures of the module doc, one per arm of the first seed at the largest training set.
pub(super) fn write(
    exp: &Experiment,
    runs: &[RunSpec],
    store: &Store,
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let mut files = Vec::new();
    let kind = ExperimentKind::Detection;
    let found = first_seed_files(exp, kind, runs, store, EXAMPLES);
    let largest = found.iter().map(|(r, _)| r.data.train_size).max();
    for (spec, file) in found {
        if Some(spec.data.train_size) != largest {
            continue;
        }
        let examples: Vec<Example> = read_json(&file)?;
        let tiles = tiles(spec, &examples);
        if tiles.is_empty() {
            continue;
        }
        let path = arm_png(exp, spec, "detections", dir)?;
        write_grid(&tiles, 3, &path)?;
        files.push(path);
    }
    Ok(files)
}

/// Three captioned tiles per example: truth, consensus, detections.
fn tiles(spec: &RunSpec, examples: &[Example]) -> Vec<(RgbImage, String)> {
    let Some(d) = spec.detect.as_ref() else {
        return Vec::new();
    };
    let pop = population(d);
    let rc = render_config(&spec.data, d);
    let size = spec.data.image_size as u32;
    let mut out = Vec::new();
    for e in examples.iter().take(ROWS) {
        let g = sample_galaxy(spec.data.data_seed, e.id, &pop);
        let base = resize(
            &render(&g, &rc, spec.data.data_seed).to_rgb8(),
            size * ZOOM,
            size * ZOOM,
            FilterType::Nearest,
        );
        let mut truth = base.clone();
        for (r, odd) in &e.truth {
            outline(&mut truth, r, if *odd { ODD } else { TRUTH });
        }
        let mut crowd = base.clone();
        let kept: Vec<_> = e
            .consensus
            .iter()
            .filter(|(_, s)| *s as f64 >= d.consensus_threshold)
            .collect();
        for (r, _) in &kept {
            outline(&mut crowd, r, CROWD);
        }
        let mut det = base;
        let found: Vec<_> = e
            .detections
            .iter()
            .filter(|(_, _, s)| *s as f64 >= d.score_threshold)
            .collect();
        for (r, class, _) in &found {
            outline(&mut det, r, if *class == 2 { ODD } else { DETECTOR });
        }
        out.push((truth, format!("truth: {} visible", e.truth.len())));
        out.push((crowd, format!("volunteers: {}", kept.len())));
        out.push((det, format!("detector: {}", found.len())));
    }
    out
}

/// Draws the outline of `r` (cutout pixels) on the zoomed tile.
fn outline(img: &mut RgbImage, r: &Rect, c: Rgb<u8>) {
    let (w, h) = img.dimensions();
    let px = |v: f32, max: u32| ((v * ZOOM as f32).round().max(0.0) as u32).min(max - 1);
    let (x0, x1) = (px(r.x0, w), px(r.x1, w));
    let (y0, y1) = (px(r.y0, h), px(r.y1, h));
    for x in x0..=x1 {
        img.put_pixel(x, y0, c);
        img.put_pixel(x, y1, c);
    }
    for y in y0..=y1 {
        img.put_pixel(x0, y, c);
        img.put_pixel(x1, y, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outlines_stay_inside_and_mark_the_box() {
        let mut img = RgbImage::new(16, 16);
        outline(&mut img, &Rect::new(1.0, 1.0, 2.0, 3.0), TRUTH);
        assert_eq!(img.get_pixel(4, 4), &TRUTH);
        assert_eq!(img.get_pixel(8, 12), &TRUTH);
        assert_eq!(img.get_pixel(6, 8), &Rgb([0, 0, 0]));
        // a box past the edge is clipped, not a panic
        outline(&mut img, &Rect::new(-3.0, -3.0, 9.0, 9.0), CROWD);
        assert_eq!(img.get_pixel(15, 15), &CROWD);
    }
}
