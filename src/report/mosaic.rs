//! Mosaics: labelled image grids of galaxies. [`write_grid`] lays out any RGB cutouts (synthetic renders
//! or real cutouts) with a caption under each; [`universe_grid`] is the paper's figure of the
//! synthetic universe: rendered galaxies only, one row per type, captions from their truth.
//! Captions stay inside their tile: catalogue numbers are rounded to 3 significant digits
//! (`style::caption_value`) and a line still too wide is cut with an ellipsis.

use super::{ReportError, figure_kit::write_png, style};
use crate::universe::{
    Galaxy, GalaxyType, PopulationConfig, RenderConfig, Survey, render, sample_population,
};
use image::RgbImage;
use plotters::prelude::*;
use std::path::Path;

const CAPTION_PX: u32 = 32;

/// Write `tiles` (equal-sized cutouts with captions of up to two lines) as a `cols`-wide grid PNG.
pub fn write_grid(
    tiles: &[(RgbImage, String)],
    cols: usize,
    path: &Path,
) -> Result<(), ReportError> {
    let err = |msg: String| ReportError::Write {
        path: path.display().to_string(),
        msg,
    };
    let Some((first, _)) = tiles.first() else {
        return Err(err("no images to lay out".into()));
    };
    let (tw, th) = first.dimensions();
    if tiles.iter().any(|(t, _)| t.dimensions() != (tw, th)) {
        return Err(err(
            "grid tiles differ in size; expected equal cutouts".into()
        ));
    }
    let cols = cols.max(1);
    let rows = tiles.len().div_ceil(cols);
    let (w, h) = (cols as u32 * tw, rows as u32 * (th + CAPTION_PX));
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    for (i, (t, _)) in tiles.iter().enumerate() {
        let (x0, y0) = (
            (i % cols) as u32 * tw,
            (i / cols) as u32 * (th + CAPTION_PX),
        );
        for (x, y, p) in t.enumerate_pixels() {
            let o = (((y0 + y) * w + x0 + x) * 3) as usize;
            rgb[o..o + 3].copy_from_slice(&p.0);
        }
    }
    style::init();
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        let font = (style::FONT, 12).into_font();
        for (i, (_, caption)) in tiles.iter().enumerate() {
            let x0 = (i % cols) as i32 * tw as i32;
            let y0 = (i / cols) as i32 * (th + CAPTION_PX) as i32;
            // a caption is at most two lines: `first line\nsecond line`
            for (k, line) in caption.lines().take(2).enumerate() {
                let at = (x0 + 3, y0 + th as i32 + 2 + 14 * k as i32);
                let fits = |t: &str| {
                    root.estimate_text_size(t, &TextStyle::from(font.clone()))
                        .is_ok_and(|(w, _)| w + 6 <= tw)
                };
                let text = fit_width(line, fits);
                root.draw(&Text::new(text, at, font.clone()))
                    .map_err(|e| err(e.to_string()))?;
            }
        }
        root.present().map_err(|e| err(e.to_string()))?;
    }
    write_png(path, &rgb, w, h)
}

/// `line`, or its longest prefix with an ellipsis that `fits`.
fn fit_width(line: &str, fits: impl Fn(&str) -> bool) -> String {
    if fits(line) {
        return line.to_string();
    }
    let chars: Vec<char> = line.chars().collect();
    (1..chars.len())
        .rev()
        .map(|k| format!("{}\u{2026}", chars[..k].iter().collect::<String>()))
        .find(|t| fits(t))
        .unwrap_or_default()
}

fn caption(g: &Galaxy) -> String {
    let kind = match g.kind {
        GalaxyType::Elliptical => "elliptical",
        GalaxyType::Disk => "disk",
        GalaxyType::EdgeOnDisk => "edge-on",
        GalaxyType::Irregular => "irregular",
        GalaxyType::Merger => "merger",
    };
    let mut parts = Vec::new();
    if g.bar.is_some() {
        parts.push("bar".to_string());
    }
    if g.ring.is_some() {
        parts.push("ring".into());
    }
    if g.spiral.count > 0 {
        parts.push(format!("{} arms", g.spiral.count));
    }
    if !g.clumps.is_empty() {
        parts.push("clumps".into());
    }
    // the redshift on the first line: a second line too wide for its tile is cut
    let z = style::caption_value(&g.redshift.to_string());
    format!("{kind}, z={z}\n{}", parts.join(", "))
}

/// The synthetic universe at a glance: `per_row` DECaLS-like renders (`size` px) of each galaxy
/// type, the first ones of the population of `seed`, captioned with type, features and redshift.
pub fn universe_grid(
    path: &Path,
    seed: u64,
    size: usize,
    per_row: usize,
) -> Result<(), ReportError> {
    let cfg = PopulationConfig {
        artifact_fraction: 0.0,
        ..PopulationConfig::default()
    };
    let pop = sample_population(seed, 4000, &cfg);
    let rc = RenderConfig::new(size, Survey::DecalsLike);
    let mut tiles = Vec::new();
    for kind in GalaxyType::ALL {
        for g in pop.iter().filter(|g| g.kind == kind).take(per_row) {
            tiles.push((render(g, &rc, seed).to_rgb8(), caption(g)));
        }
    }
    write_grid(&tiles, per_row, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_has_one_captioned_cell_per_tile() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.png");
        universe_grid(&p, 1, 48, 3).unwrap();
        let img = image::open(&p).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (3 * 48, 5 * (48 + CAPTION_PX)));
        // caption strips are white with dark text
        let strip = (0..3 * 48)
            .flat_map(|x| (48..48 + CAPTION_PX).map(move |y| (x, y)))
            .map(|(x, y)| img.get_pixel(x, y)[0])
            .min()
            .unwrap();
        assert!(strip < 128, "caption text drawn");
        let unequal = [
            (RgbImage::new(4, 4), "a".to_string()),
            (RgbImage::new(5, 4), "b".to_string()),
        ];
        assert!(write_grid(&unequal, 2, &p).is_err());
    }
}

/// Grid of the first `n` cutouts listed in a catalogue CSV (real or synthetic): the image path is
/// in column `image_column` (relative to the catalogue's folder), the caption is the galaxy's
/// `label_columns` as `name=value`. Cutouts are resized to `size` px (triangle filter).
pub fn catalogue_grid(
    catalogue: &Path,
    image_column: &str,
    label_columns: &[String],
    n: usize,
    cols: usize,
    size: u32,
    out: &Path,
) -> Result<(), ReportError> {
    let err = |msg: String| ReportError::Write {
        path: catalogue.display().to_string(),
        msg,
    };
    let mut r = csv::Reader::from_path(catalogue).map_err(|e| err(e.to_string()))?;
    let header = r.headers().map_err(|e| err(e.to_string()))?.clone();
    let col = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            let known = crate::spec::names(header.iter());
            err(format!("no column `{name}`; expected one of {known}"))
        })
    };
    let image = col(image_column)?;
    let labels: Vec<(String, usize)> = label_columns
        .iter()
        .map(|c| col(c).map(|i| (c.clone(), i)))
        .collect::<Result<_, _>>()?;
    let root = catalogue.parent().unwrap_or(Path::new("."));
    let mut tiles = Vec::new();
    for (row, rec) in r.records().take(n).enumerate() {
        let rec = rec.map_err(|e| err(format!("row {}: {e}", row + 2)))?;
        let path = root.join(rec.get(image).unwrap_or(""));
        let img = image::open(&path).map_err(|e| ReportError::Write {
            path: path.display().to_string(),
            msg: format!("{e}; expected a PNG or JPEG cutout"),
        })?;
        let rgb = image::imageops::resize(
            &img.to_rgb8(),
            size,
            size,
            image::imageops::FilterType::Triangle,
        );
        let caption: Vec<String> = labels
            .iter()
            .map(|(name, i)| format!("{name}={}", style::caption_value(rec.get(*i).unwrap_or(""))))
            .collect();
        tiles.push((rgb, caption.join("\n")));
    }
    write_grid(&tiles, cols, out)
}

#[cfg(test)]
mod catalogue_tests {
    use super::*;

    #[test]
    fn grids_a_synthetic_catalogue_and_names_bad_columns() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::data::synthetic_catalog::SyntheticCatalog {
            n: 4,
            size: 32,
            survey: Survey::DecalsLike,
            seed: 1,
            out: dir.path().to_path_buf(),
        };
        crate::data::synthetic_catalog::write(&cfg, &|_| {}).unwrap();
        let cat = dir.path().join("catalogue.csv");
        let out = dir.path().join("grid.png");
        let labels = vec!["type".to_string(), "has_ring".to_string()];
        catalogue_grid(&cat, "file", &labels, 4, 2, 40, &out).unwrap();
        let img = image::open(&out).unwrap();
        assert_eq!((img.width(), img.height()), (80, 2 * (40 + CAPTION_PX)));
        let e = catalogue_grid(&cat, "nope", &labels, 4, 2, 40, &out)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no column `nope`"), "{e}");
        // the columns are listed plainly, not as a Debug dump of the CSV record
        assert!(e.contains("expected one of `file`, "), "{e}");
        assert!(!e.contains("StringRecord") && !e.contains("[\""), "{e}");
    }

    #[test]
    fn long_captions_are_cut_to_fit() {
        let fits = |t: &str| t.chars().count() <= 6;
        assert_eq!(fit_width("z=0.08", fits), "z=0.08");
        assert_eq!(fit_width("redshift=0.0833", fits), "redsh\u{2026}");
        assert_eq!(fit_width("abc", |_| false), "");
    }
}
