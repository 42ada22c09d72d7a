//! Catalogue datasets (`data.source: catalog`): a CSV or Parquet catalogue read with polars,
//! one row per galaxy, plus a folder of cutouts (PNG, JPEG or FITS), mapped by the
//! `data.catalog` section onto ids, image files and labels.
//!
//! Every image is centre-cropped (optional), resized to the model's size with a triangle
//! filter (which averages, like the box filter survey cutouts are binned with) and enters the
//! network as 3 bands in 0..1: PNG / JPEG pixels / 255 (grey images as 3 equal bands); FITS
//! fluxes through the configured stretch (a 2-D image as 3 equal bands). The test split is the
//! `test_file` catalogue when given, else `data.test_size` rows held out by `data.data_seed`;
//! training and validation galaxies are drawn from the rest without replacement by the run seed
//! (stream `data/real/pool`). Everything is checked before training, and every error names the
//! file, the row (CSV line) and what was expected. This module trains nothing.

mod frame;

use super::Dataset;
use super::fits::{Stretch, read_fits, stretch};
use crate::rng::stream;
use crate::spec::CatalogConfig;
use crate::tree::Tree;
use frame::read_frame;
use polars::prelude::*;
use rand::seq::SliceRandom;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(
        "{path}: catalogue not found; set data.path (the folder catalogue paths are relative to), or GZBENCH_SHARED_DATA for the shared fixtures"
    )]
    Missing { path: String },
    #[error("{path}: {msg}")]
    Read { path: String, msg: String },
    #[error("{path}: no column `{column}` ({key}); the catalogue has: {available}")]
    Column {
        path: String,
        column: String,
        key: &'static str,
        available: String,
    },
    #[error("{path}:{row}: {msg}")]
    Row {
        path: String,
        row: String,
        msg: String,
    },
    #[error("{path}: {count} image files are missing, e.g. {first}; expected them under {folder}")]
    MissingImages {
        path: String,
        count: usize,
        first: String,
        folder: String,
    },
    #[error(
        "{path}: the pool holds {available} galaxies but data.train_size + data.val_size = {wanted}; expected at most {available}"
    )]
    TooFew {
        path: String,
        available: usize,
        wanted: usize,
    },
}

/// One galaxy of a catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: String,
    pub image: PathBuf,
    /// The binary label (one value), the vote counts of every answer of the tree, or nothing.
    pub target: Vec<f32>,
}

/// Which targets to read from a catalogue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Want<'a> {
    /// Ids and images only.
    Nothing,
    /// A binary label from this column.
    Label(&'a str),
    /// Vote counts of every answer of this tree, checked against it.
    Votes(&'a Tree),
    /// Weighted vote fractions of every answer of this tree in its column names (Galaxy Zoo 2
    /// in Kaggle form: `Class1.1` ... `Class11.6`), each in 0..1.
    Fractions(&'a Tree),
    /// A class index from this column: class names (numbered in this order) with the column
    /// values meaning each, and values whose rows are left out.
    Class(&'a str, &'a [(String, Vec<String>)], &'a [String]),
}

/// How images become network input (shared by every split).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageOptions {
    pub size: usize,
    pub centre_crop: Option<u32>,
    pub fits_hdu: Option<String>,
    pub stretch: Stretch,
}

impl ImageOptions {
    /// The options of catalogue mapping `c` for `size x size` network input.
    pub fn new(size: usize, c: &CatalogConfig) -> Self {
        ImageOptions {
            size,
            centre_crop: c.centre_crop,
            fits_hdu: c.fits_hdu.clone(),
            stretch: c.stretch,
        }
    }
}

/// `rel` resolved against `base` (`data.path`) or the shared data folder
/// ([`crate::shared_data::root`]).
pub fn resolve(base: Option<&str>, rel: &str) -> PathBuf {
    let p = Path::new(rel);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    match base {
        Some(b) => Path::new(b).join(p),
        None => crate::shared_data::root().join(p),
    }
}

/// Where data row `i` (0-based) is, for messages: `(suffix after "path:", "line N" / "row N")`
/// (CSV: the file line, header = line 1; Parquet: the 1-based row).
fn row_name(path: &Path, i: usize) -> (String, String) {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
    {
        (format!(" row {}", i + 1), format!("row {}", i + 1))
    } else {
        ((i + 2).to_string(), format!("line {}", i + 2))
    }
}

fn column(
    df: &DataFrame,
    path: &Path,
    name: &str,
    key: &'static str,
) -> Result<Vec<Option<String>>, CatalogError> {
    let col = df.column(name).map_err(|_| CatalogError::Column {
        path: path.display().to_string(),
        column: name.into(),
        key,
        available: df
            .get_column_names()
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    let text = col
        .cast(&DataType::String)
        .map_err(|e| CatalogError::Read {
            path: path.display().to_string(),
            msg: format!("column `{name}`: {e}"),
        })?;
    let s = text.str().map_err(|e| CatalogError::Read {
        path: path.display().to_string(),
        msg: format!("column `{name}`: {e}"),
    })?;
    Ok(s.iter().map(|v| v.map(str::to_string)).collect())
}

/// A binary label from a cell: 1/0, true/false, yes/no (any case), or a number equal to 1 or 0.
pub fn parse_label(cell: &str) -> Option<f32> {
    match cell.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Some(1.0),
        "0" | "false" | "no" => Some(0.0),
        other => match other.parse::<f64>() {
            Ok(v) if v == 1.0 || v == 0.0 => Some(v as f32),
            _ => None,
        },
    }
}

/// Read the rows of catalogue `path` as the mapping `cfg` says, with the targets `want` asks
/// for and image paths under `images` (default: the catalogue's folder). Checks ids (present,
/// unique), file names, labels and votes (finite, >= 0, obeying the tree); not the images.
pub fn read_catalogue(
    path: &Path,
    images: Option<&Path>,
    cfg: &CatalogConfig,
    want: Want,
) -> Result<Vec<Entry>, CatalogError> {
    let df = read_frame(path)?;
    let shown = path.display().to_string();
    let folder = images
        .map(Path::to_path_buf)
        .unwrap_or_else(|| path.parent().unwrap_or(Path::new(".")).to_path_buf());
    let ids = column(&df, path, &cfg.id_column, "data.catalog.id_column")?;
    let files = match &cfg.file_column {
        Some(c) => Some(column(&df, path, c, "data.catalog.file_column")?),
        None => None,
    };
    let labels = match want {
        Want::Label(c) | Want::Class(c, ..) => {
            Some(column(&df, path, c, "data.catalog.label_column")?)
        }
        _ => None,
    };
    let votes = match want {
        Want::Votes(tree) | Want::Fractions(tree) => tree
            .answer_columns()
            .into_iter()
            .map(|c| {
                let v = column(&df, path, &c, "data.catalog.votes")?;
                Ok((c, v))
            })
            .collect::<Result<Vec<_>, CatalogError>>()?,
        _ => Vec::new(),
    };
    let bad = |i: usize, msg: String| CatalogError::Row {
        path: shown.clone(),
        row: row_name(path, i).0,
        msg,
    };
    let mut seen = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let id = id.as_deref().map(str::trim).unwrap_or("");
        if id.is_empty() {
            return Err(bad(
                i,
                format!("column `{}` is empty; expected an id", cfg.id_column),
            ));
        }
        if let Some(first) = seen.insert(id.to_string(), i) {
            return Err(bad(
                i,
                format!(
                    "duplicate id `{id}` (also on {}); expected unique ids",
                    row_name(path, first).1
                ),
            ));
        }
        let file = match (&files, &cfg.file_pattern) {
            (Some(f), _) => f[i].as_deref().map(str::trim).unwrap_or("").to_string(),
            (None, Some(p)) => p.replace("{id}", id),
            (None, None) => String::new(),
        };
        if file.is_empty() && cfg.file_column.is_some() {
            return Err(bad(i, "no image file name; expected a path".into()));
        }
        let target = match want {
            Want::Nothing => Vec::new(),
            Want::Label(name) => {
                let cell = labels.as_ref().and_then(|l| l[i].as_deref()).unwrap_or("");
                vec![parse_label(cell).ok_or_else(|| {
                    bad(
                        i,
                        format!("column `{name}` = {cell:?}; expected 0 or 1 (or true/false)"),
                    )
                })?]
            }
            Want::Class(name, classes, exclude) => {
                let cell = labels.as_ref().and_then(|l| l[i].as_deref()).unwrap_or("");
                let cell = cell.trim();
                if exclude.iter().any(|x| x == cell) {
                    continue;
                }
                let Some(k) = classes
                    .iter()
                    .position(|(_, v)| v.iter().any(|x| x == cell))
                else {
                    let known: Vec<&str> = classes
                        .iter()
                        .flat_map(|(_, v)| v.iter().map(String::as_str))
                        .chain(exclude.iter().map(String::as_str))
                        .collect();
                    return Err(bad(
                        i,
                        format!(
                            "column `{name}` = {cell:?}; expected one of {} (data.catalog.classes or exclude)",
                            known.join(", ")
                        ),
                    ));
                };
                vec![k as f32]
            }
            Want::Votes(tree) | Want::Fractions(tree) => {
                let fractions = matches!(want, Want::Fractions(_));
                let mut values = Vec::with_capacity(votes.len());
                for (name, col) in &votes {
                    let cell = col[i].as_deref().unwrap_or("").trim();
                    match cell.parse::<f64>() {
                        Ok(v) if v.is_finite() && v >= 0.0 && (!fractions || v <= 1.0) => {
                            values.push(v)
                        }
                        _ => {
                            let want = if fractions {
                                "a vote fraction in 0..1"
                            } else {
                                "a finite vote count >= 0"
                            };
                            return Err(bad(
                                i,
                                format!("column `{name}` = {cell:?}; expected {want}"),
                            ));
                        }
                    }
                }
                if !fractions {
                    tree.check_votes(&values).map_err(|e| {
                        bad(i, format!("votes break the {} tree: {e}", tree.name()))
                    })?;
                }
                values.iter().map(|&v| v as f32).collect()
            }
        };
        out.push(Entry {
            id: id.to_string(),
            image: folder.join(file),
            target,
        });
    }
    if out.is_empty() {
        return Err(CatalogError::Read {
            path: shown,
            msg: "no rows; expected one row per galaxy".into(),
        });
    }
    Ok(out)
}

/// An error listing the image files of `entries` that do not exist (first few and the count).
pub fn check_files(catalogue: &Path, entries: &[Entry]) -> Result<(), CatalogError> {
    let missing: Vec<&Entry> = entries.iter().filter(|e| !e.image.is_file()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let folder = missing[0]
        .image
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    Err(CatalogError::MissingImages {
        path: catalogue.display().to_string(),
        count: missing.len(),
        first: missing
            .iter()
            .take(3)
            .map(|e| format!("`{}` (id {})", e.image.display(), e.id))
            .collect::<Vec<_>>()
            .join(", "),
        folder,
    })
}

fn is_fits(p: &Path) -> bool {
    p.extension().is_some_and(|e| {
        ["fits", "fit", "fts"]
            .iter()
            .any(|x| e.eq_ignore_ascii_case(x))
    })
}

/// One image as `3 x size x size` values in 0..1 (band-major).
pub fn load_image(path: &Path, opt: &ImageOptions) -> Result<Vec<f32>, CatalogError> {
    let shown = path.display().to_string();
    let read = |msg: String| CatalogError::Read {
        path: shown.clone(),
        msg,
    };
    let rgb: image::Rgb32FImage = if is_fits(path) {
        let img = read_fits(path, opt.fits_hdu.as_deref()).map_err(|e| CatalogError::Read {
            path: shown.clone(),
            msg: e
                .to_string()
                .trim_start_matches(&format!("{shown}: "))
                .into(),
        })?;
        let v = stretch(&img, &opt.stretch).map_err(&read)?;
        let (h, w) = (img.height, img.width);
        let n = h * w;
        let band = |b: usize, i: usize| v[if img.bands == 3 { b * n + i } else { i }];
        let mut buf = Vec::with_capacity(3 * n);
        for i in 0..n {
            for b in 0..3 {
                buf.push(band(b, i));
            }
        }
        image::Rgb32FImage::from_raw(w as u32, h as u32, buf)
            .ok_or_else(|| read(format!("{w} x {h} image does not fit its data")))?
    } else {
        image::open(path)
            .map_err(|e| read(format!("{e}; expected a readable PNG, JPEG or FITS image")))?
            .to_rgb32f()
    };
    let rgb = match opt.centre_crop {
        Some(c) => {
            let (w, h) = rgb.dimensions();
            if c > w || c > h {
                return Err(read(format!(
                    "image is {w} x {h}, smaller than data.catalog.centre_crop = {c}; expected at least {c} x {c}"
                )));
            }
            image::imageops::crop_imm(&rgb, (w - c) / 2, (h - c) / 2, c, c).to_image()
        }
        None => rgb,
    };
    let s = opt.size as u32;
    let small = image::imageops::resize(&rgb, s, s, image::imageops::FilterType::Triangle);
    let n = opt.size * opt.size;
    let mut planar = vec![0f32; 3 * n];
    for (i, px) in small.pixels().enumerate() {
        for c in 0..3 {
            planar[c * n + i] = px[c].clamp(0.0, 1.0);
        }
    }
    Ok(planar)
}

/// `entries` as a dataset of `3 x size x size` images with their targets.
pub fn load(entries: &[Entry], opt: &ImageOptions) -> Result<Dataset, CatalogError> {
    use rayon::prelude::*;
    let images: Vec<Vec<f32>> = entries
        .par_iter()
        .map(|e| load_image(&e.image, opt))
        .collect::<Result<_, _>>()?;
    let target_len = entries.first().map_or(1, |e| e.target.len());
    Ok(Dataset {
        channels: 3,
        size: opt.size,
        images: images.concat(),
        targets: entries
            .iter()
            .flat_map(|e| e.target.iter().copied())
            .collect(),
        target_len,
    })
}

/// Cross-validation: rows of fold `fold` (of `k`, cut by `data_seed`, stream
/// `data/catalog/folds`) as the test split and the rest as the training pool, both in
/// catalogue order.
pub fn cv_fold(
    rows: Vec<Entry>,
    k: usize,
    fold: usize,
    data_seed: u64,
) -> (Vec<Entry>, Vec<Entry>) {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.shuffle(&mut stream(data_seed, "data/catalog/folds"));
    let mut in_fold = vec![false; rows.len()];
    for (rank, &i) in order.iter().enumerate() {
        in_fold[i] = rank % k == fold % k;
    }
    split_by(rows, &in_fold)
}

fn split_by(rows: Vec<Entry>, first: &[bool]) -> (Vec<Entry>, Vec<Entry>) {
    let (a, b): (Vec<_>, Vec<_>) = rows.into_iter().zip(first).partition(|(_, t)| **t);
    (
        a.into_iter().map(|(e, _)| e).collect(),
        b.into_iter().map(|(e, _)| e).collect(),
    )
}

/// The `n` test rows held out from `rows` by `data_seed` (stream `data/catalog/test`), and the
/// rest as the training pool, both in catalogue order.
pub fn hold_out(rows: Vec<Entry>, n: usize, data_seed: u64) -> (Vec<Entry>, Vec<Entry>) {
    let (_, test) = super::hold_out_indices(rows.len(), n, data_seed, "data/catalog/test");
    let mut is_test = vec![false; rows.len()];
    for i in test {
        is_test[i] = true;
    }
    split_by(rows, &is_test)
}

/// Train and validation entries drawn from the pool by `seed`, without replacement.
pub fn draw_pool(
    pool: &[Entry],
    catalogue: &Path,
    seed: u64,
    train: usize,
    val: usize,
) -> Result<(Vec<Entry>, Vec<Entry>), CatalogError> {
    if train + val > pool.len() {
        return Err(CatalogError::TooFew {
            path: catalogue.display().to_string(),
            available: pool.len(),
            wanted: train + val,
        });
    }
    let mut order: Vec<usize> = (0..pool.len()).collect();
    order.shuffle(&mut stream(seed, "data/real/pool"));
    let pick = |r: &[usize]| r.iter().map(|&i| pool[i].clone()).collect();
    Ok((pick(&order[..train]), pick(&order[train..train + val])))
}

#[cfg(test)]
mod tests;
