//! The samples figure of a `train` experiment with a `rare:` section: for the first seed's
//! `generated` arm, one row per condition — the rendered real positive whose Galaxy Zoo answers
//! were the condition, then samples the diffusion model drew with those answers. Read from the
//! run directory's `samples.png` (`generative::SAMPLES`: uncaptioned tiles, one row per
//! condition) and captioned here. Written as `<name>_samples_<point>.png`; nothing for runs
//! without the file.

use super::ReportError;
use super::figure_kit::{arm_png, first_seed_files};
use super::mosaic::write_grid;
use crate::generative::SAMPLES;
use crate::spec::{Experiment, ExperimentKind, RunSpec};
use crate::store::Store;
use image::RgbImage;
use image::imageops::{FilterType, crop_imm, resize};
use std::path::{Path, PathBuf};

/// Tiles are drawn this many times the cutout size (nearest pixel).
const ZOOM: u32 = 4;

pub(super) fn write(
    exp: &Experiment,
    runs: &[RunSpec],
    store: &Store,
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let mut files = Vec::new();
    for (spec, file) in first_seed_files(exp, ExperimentKind::Train, runs, store, SAMPLES) {
        let read_err = |msg: String| ReportError::Write {
            path: file.display().to_string(),
            msg,
        };
        let grid = image::open(&file)
            .map_err(|e| read_err(e.to_string()))?
            .to_rgb8();
        let s = spec.data.image_size as u32;
        let (cols, rows) = (grid.width() / s.max(1), grid.height() / s.max(1));
        if cols < 2 || rows == 0 {
            return Err(read_err(format!(
                "{}x{} pixels; expected rows of {s}-pixel tiles, at least 2 per row",
                grid.width(),
                grid.height()
            )));
        }
        let mut tiles: Vec<(RgbImage, String)> = Vec::new();
        for r in 0..rows {
            for c in 0..cols {
                let tile = crop_imm(&grid, c * s, r * s, s, s).to_image();
                let big = resize(&tile, s * ZOOM, s * ZOOM, FilterType::Nearest);
                let caption = match c {
                    0 => format!("real positive {}", r + 1),
                    _ => format!("generated {c}"),
                };
                tiles.push((big, caption));
            }
        }
        let path = arm_png(exp, spec, "samples", dir)?;
        write_grid(&tiles, cols as usize, &path)?;
        files.push(path);
    }
    Ok(files)
}
