//! The `data.catalog:` section of `data.source: catalog`: which catalogue file and image folder
//! make a dataset, and how its columns map to ids, image files and labels. Only names live
//! here; `data::catalog` reads and checks the files.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A dataset from a catalogue (CSV or Parquet, one row per galaxy) plus an image folder.
///
/// Relative paths resolve against `data.path` when it is set, else against the shared data
/// folder (`$GZBENCH_SHARED_DATA`, default `../shared/data`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// The catalogue: `.csv` or `.parquet`.
    pub file: String,
    /// Folder the image file names are relative to; absent = the catalogue's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<String>,
    /// Column with a unique galaxy id.
    #[serde(default = "d_id")]
    pub id_column: String,
    /// Column with each galaxy's image file name; or use `file_pattern`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_column: Option<String>,
    /// Image file name built from the id, e.g. `"{id}.png"` or `"cutouts/{id}.fits"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_pattern: Option<String>,
    /// `task.target: label`: the column with the binary label (1/0, true/false, yes/no).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_column: Option<String>,
    /// `task.target: class`: class name -> the `label_column` values that mean it, e.g.
    /// `{ spiral: ["1", "2"], elliptical: ["0"] }`. Classes are numbered in alphabetical order
    /// of their names; a value listed in no class and not in `exclude` is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<BTreeMap<String, Vec<String>>>,
    /// `task.target: class`: `label_column` values whose galaxies are left out (e.g. Galaxy Zoo
    /// 1's "don't know").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Cross-validation instead of a test split: the catalogue is cut into `cv_folds` folds by
    /// `data.data_seed`, and the run with seed `s` tests on fold `s mod cv_folds` and trains on
    /// the rest (so `seeds: [0, 1, 2, 3, 4]` with 5 folds is 5-fold cross-validation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cv_folds: Option<usize>,
    /// `task.target: votes`: the decision tree whose vote-count columns the catalogue holds:
    /// `decals` (GZ DECaLS names, `<question>_<answer>`, e.g. `has-spiral-arms_yes`). Counts
    /// are checked against the tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub votes: Option<VoteTree>,
    /// A fixed test catalogue in the same format (its images are relative to its own folder);
    /// absent = `data.test_size` galaxies held out from `file` by `data.data_seed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_file: Option<String>,
    /// Keep only the central `centre_crop` x `centre_crop` pixels of every image before
    /// resizing (Dieleman et al. 2015 cropped 424 px cutouts to 207 px).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub centre_crop: Option<u32>,
    /// FITS images: the HDU to read (extension name or index); absent = the primary HDU, or
    /// the first image extension when the primary has no data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fits_hdu: Option<String>,
    /// FITS images: how fluxes map to 0..1 (PNG / JPEG pixels are divided by 255).
    #[serde(default = "d_stretch", skip_serializing_if = "is_d_stretch")]
    pub stretch: Stretch,
}

/// A decision tree whose vote counts a catalogue holds (the same names as the model heads'
/// `tree`). Only GZ DECaLS so far: GZ2 catalogues in Kaggle form hold weighted fractions, not
/// counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VoteTree {
    Decals,
}

fn default_lo() -> f64 {
    0.5
}
fn default_hi() -> f64 {
    99.5
}
fn default_softening() -> f64 {
    0.1
}

/// How to map an image to display range 0..1, per band. `lo` and `hi` are the band's
/// `lo_percentile` and `hi_percentile` over its finite pixels (linear interpolation between
/// order statistics, as numpy's default), and `x = clamp((v - lo) / (hi - lo), 0, 1)`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", deny_unknown_fields)]
pub enum Stretch {
    /// `out = x`.
    Linear {
        #[serde(default = "default_lo")]
        lo_percentile: f64,
        #[serde(default = "default_hi")]
        hi_percentile: f64,
    },
    /// Lupton-style: `out = asinh(x / softening) / asinh(1 / softening)`; small softening
    /// brightens faint structure, large softening approaches linear.
    Asinh {
        #[serde(default = "default_lo")]
        lo_percentile: f64,
        #[serde(default = "default_hi")]
        hi_percentile: f64,
        #[serde(default = "default_softening")]
        softening: f64,
    },
}

fn d_id() -> String {
    "id".into()
}

fn d_stretch() -> Stretch {
    Stretch::Asinh {
        lo_percentile: 0.5,
        hi_percentile: 99.5,
        softening: 0.1,
    }
}

fn is_d_stretch(s: &Stretch) -> bool {
    *s == d_stretch()
}

impl CatalogConfig {
    /// What is wrong with the column mapping, if anything (no I/O). A catalogue without
    /// `file_column` or `file_pattern` has no images (kind `votes` reads only its columns).
    pub fn problem(&self) -> Option<&'static str> {
        match (&self.file_column, &self.file_pattern) {
            (Some(_), Some(_)) => Some("data.catalog: give file_column or file_pattern, not both"),
            (None, Some(p)) if !p.contains("{id}") => {
                Some("data.catalog.file_pattern must contain {id}")
            }
            _ if self.centre_crop == Some(0) => Some("data.catalog.centre_crop must be positive"),
            _ if self.cv_folds.is_some_and(|k| k < 2) => {
                Some("data.catalog.cv_folds must be at least 2")
            }
            _ if self.cv_folds.is_some() && self.test_file.is_some() => {
                Some("data.catalog: give cv_folds or test_file, not both")
            }
            _ if self.classes.as_ref().is_some_and(|c| c.len() < 2) => {
                Some("data.catalog.classes needs at least 2 classes")
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_problems() {
        let c: CatalogConfig =
            serde_yaml::from_str("{ file: a.csv, file_column: file, label_column: ring }").unwrap();
        assert_eq!(c.id_column, "id");
        assert_eq!(c.problem(), None);
        let text = serde_json::to_string(&c).unwrap();
        assert!(
            !text.contains("stretch") && !text.contains("images"),
            "{text}"
        );
        let p: CatalogConfig =
            serde_yaml::from_str("{ file: a.csv, file_pattern: 'x.png' }").unwrap();
        assert!(p.problem().unwrap().contains("{id}"));
        let n: CatalogConfig =
            serde_yaml::from_str("{ file: a.csv, file_column: f, file_pattern: '{id}' }").unwrap();
        assert!(n.problem().unwrap().contains("not both"));
        let s: CatalogConfig = serde_yaml::from_str(
            "{ file: a.fits, file_pattern: '{id}.fits', stretch: { kind: linear } }",
        )
        .unwrap();
        assert!(matches!(s.stretch, Stretch::Linear { .. }));
        assert!(serde_yaml::from_str::<CatalogConfig>("{ file: a.csv, colum: x }").is_err());
    }
}
