//! Datasets: images plus targets, split into train / validation / test, from a registered source.
//!
//! A [`Dataset`] is a dense `N x C x H x W` f32 array with one target per image. A generated
//! (synthetic or shapes) test split depends on `data.data_seed` and the run seed: every arm of
//! one seed is tested on the same galaxies (so arms are compared paired, seed by seed), and each
//! seed on new ones (so the spread over seeds includes the sampling of the test set). A
//! catalogue's test split is fixed by the catalogue (`test_file`, `cv_folds` or `data_seed`).
//! The training draw depends on the run seed; the validation set is a seeded share
//! (`data.val_fraction`) of the labelled training galaxies, or a separate draw of `data.val_size`.

pub mod augment;
pub mod batches;
pub mod catalog;
pub mod clump_catalog;
pub mod fits;
mod memo;
pub mod pretrain;
pub mod rare;
mod shapes;
pub mod synthetic;
pub mod synthetic_catalog;

use crate::spec::{DataSource, RunSpec, Target, yaml_name};

/// Images and their targets: `target_len` values per image (1 for a binary label 0.0 / 1.0;
/// more for vote counts or fractions over a decision tree's answers).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub channels: usize,
    pub size: usize,
    /// `len() * channels * size * size` values, image-major.
    pub images: Vec<f32>,
    /// `len() * target_len` values, image-major.
    pub targets: Vec<f32>,
    pub target_len: usize,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.targets.len() / self.target_len.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The images at `rows`, in that order, as a dataset of the same layout.
    pub fn subset(&self, rows: &[usize]) -> Dataset {
        let (images, targets) = self.gather(rows);
        Dataset {
            channels: self.channels,
            size: self.size,
            images,
            targets,
            target_len: self.target_len,
        }
    }

    pub fn image_len(&self) -> usize {
        self.channels * self.size * self.size
    }

    /// The images at `indices`, in that order, as one contiguous batch.
    pub fn gather(&self, indices: &[usize]) -> (Vec<f32>, Vec<f32>) {
        let l = self.image_len();
        let mut x = Vec::with_capacity(indices.len() * l);
        let t = self.target_len;
        let mut y = Vec::with_capacity(indices.len() * t);
        for &i in indices {
            x.extend_from_slice(&self.images[i * l..(i + 1) * l]);
            y.extend_from_slice(&self.targets[i * t..(i + 1) * t]);
        }
        (x, y)
    }
}

pub struct Splits {
    pub train: Dataset,
    pub val: Dataset,
    pub test: Dataset,
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(
        "task.target `{target}` is not provided by data.source `{data_source}`; expected one of {expected}"
    )]
    Target {
        target: String,
        data_source: String,
        expected: String,
    },
    #[error(
        "data.positive_fraction: scanned {scanned} galaxies and still missing {missing} positives for task.target `{target}`; expected a smaller positive_fraction or split size"
    )]
    Scarce {
        target: String,
        scanned: u64,
        missing: usize,
    },
    #[error("data.catalog is required for data.source `catalog`")]
    NoCatalog,
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),
}

/// The targets each data source provides.
pub fn provides(source: DataSource) -> &'static [Target] {
    match source {
        DataSource::Shapes => &[Target::Elongated],
        DataSource::Synthetic => synthetic::TARGETS,
        DataSource::Catalog => &[
            Target::Label,
            Target::Class,
            Target::Votes,
            Target::Gz2Answers,
        ],
    }
}

/// Checks that the run's data source provides its target (no I/O; `validate` calls this).
pub fn check(spec: &RunSpec) -> Result<(), DataError> {
    let ok = provides(spec.data.source);
    if ok.contains(&spec.task.target) {
        return Ok(());
    }
    Err(DataError::Target {
        target: yaml_name(&spec.task.target),
        data_source: yaml_name(&spec.data.source),
        expected: ok
            .iter()
            .map(|t| format!("`{}`", yaml_name(t)))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The first catalogue file of a catalogue run that is not on this machine: the key naming it
/// (`file` or `test_file` of `data.catalog`), its value and the path looked for.
fn missing_catalogue(spec: &RunSpec) -> Option<(&'static str, &str, std::path::PathBuf)> {
    let c = spec.data.catalog.as_ref()?;
    if spec.data.source != DataSource::Catalog {
        return None;
    }
    let files =
        std::iter::once(("file", &c.file)).chain(c.test_file.iter().map(|t| ("test_file", t)));
    files
        .map(|(key, f)| {
            (
                key,
                f.as_str(),
                catalog::resolve(spec.data.path.as_deref(), f),
            )
        })
        .find(|(_, _, p)| !p.is_file())
}

/// Why a run's data cannot be read on this machine, if its data is marked `data.optional` and a
/// catalogue file (or a detection run's real evaluation set) is absent: such runs are skipped
/// with this message rather than failed, or computed without it under the same id. (Absent
/// data not marked optional is an error of the experiment: [`missing_data`].)
pub fn unavailable(spec: &RunSpec) -> Option<String> {
    if !spec.data.optional {
        return None;
    }
    if let Some((_, _, p)) = missing_catalogue(spec) {
        return Some(
            catalog::CatalogError::Missing {
                path: p.display().to_string(),
            }
            .to_string(),
        );
    }
    missing_real_set(spec)
        .map(|(real, p)| crate::shared_data::missing_message(&format!("detect.real `{real}`"), &p))
}

/// A detection run's evaluation-only real set (`detect.real`) whose catalogue is absent.
fn missing_real_set(spec: &RunSpec) -> Option<(&str, std::path::PathBuf)> {
    let d = spec.detect.as_ref().filter(|d| d.has_real())?;
    let file = crate::shared_data::root()
        .join(&d.real)
        .join(clump_catalog::FILE);
    (!file.is_file()).then_some((d.real.as_str(), file))
}

/// A data file of a run whose data is not marked `data.optional` that is absent: the
/// experiment is wrong (a mistyped `data.path` or file name), not the machine. Returns the
/// section and key to point at in the experiment file (`data.path` when it is set, else the
/// catalogue key, or `detect.real`) with its value, and the message naming the path looked
/// for and the fixes.
pub fn missing_data(spec: &RunSpec) -> Option<(&'static str, &'static str, String, String)> {
    if spec.data.optional {
        return None;
    }
    let optional =
        "or mark external data `data.optional: true` to skip its runs where it is absent";
    let Some((key, value, path)) = missing_catalogue(spec) else {
        let (real, file) = missing_real_set(spec)?;
        let what = format!("detect.real `{real}`");
        let msg = crate::shared_data::missing_message(&what, &file);
        return Some((
            "detect",
            "real",
            real.to_string(),
            format!("{msg}; or set detect.real: none, {optional}"),
        ));
    };
    let found = format!("data.catalog.{key} `{value}`: {} not found", path.display());
    Some(match &spec.data.path {
        Some(base) => (
            "data",
            "path",
            base.clone(),
            format!(
                "{found} (under data.path `{base}`); expected an existing file: fix data.path or the file name, {optional}"
            ),
        ),
        None => (
            "data",
            key,
            value.to_string(),
            format!(
                "{found} (in the shared data folder, ${}); expected an existing file: set data.path to the folder holding it or {} to the shared data folder, {optional}",
                crate::shared_data::ENV,
                crate::shared_data::ENV
            ),
        ),
    })
}

/// Index ranges of the item streams: each seed's test items first (`TEST_STRIDE` apart), each
/// seed's training pool after.
const TRAIN_OFFSET: u64 = 1 << 32;
const TEST_STRIDE: u64 = 1 << 24;

/// Galaxies of the validation set carved out of `train_size` labelled ones.
pub fn val_count(d: &crate::spec::DataConfig) -> usize {
    if d.val_size > 0 {
        return 0;
    }
    let k = (d.val_fraction * d.train_size as f64).round() as usize;
    k.min(d.train_size.saturating_sub(2))
}

/// Split `k` galaxies (a seeded draw) off `data` as the validation set; the rest keep their order.
pub fn split_validation(data: Dataset, k: usize, seed: u64) -> (Dataset, Dataset) {
    let (train, val) = hold_out_indices(data.len(), k, seed, "data/validation-split");
    (data.subset(&train), data.subset(&val))
}

/// A seeded hold-out of `k` of the indices `0..n`, drawn from the stream `(seed, name)`:
/// (the rest, the held-out ones), each ascending.
pub fn hold_out_indices(n: usize, k: usize, seed: u64, name: &str) -> (Vec<usize>, Vec<usize>) {
    use rand::seq::SliceRandom;
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut crate::rng::stream(seed, name));
    let mut held: Vec<usize> = idx[..k.min(n)].to_vec();
    held.sort_unstable();
    let rest = (0..n).filter(|i| held.binary_search(i).is_err()).collect();
    (rest, held)
}

/// Where the seed's item streams start: (its test items, its training items). Every source of
/// synthetic items (and kinds that draw their own, as `detection`) uses these ranges.
pub fn id_starts(seed: u64) -> (u64, u64) {
    (TEST_STRIDE * seed, TRAIN_OFFSET * (1 + seed))
}

/// Build the splits a run trains and tests on.
pub fn build(spec: &RunSpec) -> Result<Splits, DataError> {
    let s = build_pools(spec)?;
    let k = val_count(&spec.data);
    if k == 0 {
        return Ok(s);
    }
    let (train, val) = split_validation(s.train, k, spec.seed);
    Ok(Splits { train, val, ..s })
}

/// The splits before the validation share is carved out of the training galaxies.
fn build_pools(spec: &RunSpec) -> Result<Splits, DataError> {
    check(spec)?;
    let d = &spec.data;
    let test_start = TEST_STRIDE * spec.seed;
    match d.source {
        DataSource::Shapes => {
            let make = |start: u64, n: usize| shapes::generate(d.data_seed, start, n, d.image_size);
            let train_start = TRAIN_OFFSET * (1 + spec.seed);
            Ok(Splits {
                test: make(test_start, d.test_size),
                train: make(train_start, d.train_size),
                val: make(train_start + d.train_size as u64, d.val_size),
            })
        }
        DataSource::Synthetic => {
            let draw = synthetic::Draw {
                seed: d.data_seed,
                size: d.image_size,
                survey: d.survey,
                target: spec.task.target,
                positive_fraction: d.positive_fraction,
            };
            // Validation galaxies come after the training pool's ids; with balanced draws the
            // pool scans ahead, so the validation set starts half-way between pools.
            let train_start = TRAIN_OFFSET * (1 + spec.seed);
            // every arm of a seed draws the same test set and, per size, the same training pool
            let key = |start: u64, n: usize| {
                format!(
                    "synthetic {} {} {:?} {:?} {:?} {start} {n}",
                    d.data_seed, d.image_size, d.survey, spec.task.target, d.positive_fraction
                )
            };
            let make = |start: u64, n: usize| {
                memo::get(key(start, n), || synthetic::generate(&draw, start, n))
            };
            Ok(Splits {
                test: make(test_start, d.test_size)?,
                train: make(train_start, d.train_size)?,
                val: synthetic::generate(&draw, train_start + TRAIN_OFFSET / 2, d.val_size)?,
            })
        }
        DataSource::Catalog => {
            let c = d.catalog.as_ref().ok_or(DataError::NoCatalog)?;
            let (pool, test, path) = catalog_splits(spec, c)?;
            let (train, val) =
                catalog::draw_pool(&pool, &path, spec.seed, d.train_size, d.val_size)?;
            let opt = catalog::ImageOptions::new(d.image_size, c);
            Ok(Splits {
                train: catalog::load(&train, &opt)?,
                val: catalog::load(&val, &opt)?,
                test: catalog::load(&test, &opt)?,
            })
        }
    }
}

/// The training pool and test rows of a catalogue run (the `test_file` catalogue, or
/// `test_size` rows held out by `data_seed`), checked: ids unique across both, every image file
/// present. Also the catalogue's path, for messages.
pub fn catalog_splits(
    spec: &RunSpec,
    c: &crate::spec::CatalogConfig,
) -> Result<(Vec<catalog::Entry>, Vec<catalog::Entry>, std::path::PathBuf), DataError> {
    let base = spec.data.path.as_deref();
    let (rows, path) = catalog_rows(spec, c)?;
    catalog::check_files(&path, &rows)?;
    let (test, pool) = match &c.test_file {
        Some(t) => {
            let tp = catalog::resolve(base, t);
            let test = read_rows(spec, c, &tp, None)?;
            let ids: std::collections::HashSet<&str> = rows.iter().map(|e| e.id.as_str()).collect();
            if let Some(dup) = test.iter().find(|e| ids.contains(e.id.as_str())) {
                return Err(catalog::CatalogError::Read {
                    path: tp.display().to_string(),
                    msg: format!(
                        "test galaxy `{}` is also in {}; expected disjoint training and test catalogues",
                        dup.id,
                        path.display()
                    ),
                }
                .into());
            }
            catalog::check_files(&tp, &test)?;
            (test, rows)
        }
        None => match c.cv_folds {
            Some(k) => catalog::cv_fold(rows, k, spec.seed as usize, spec.data.data_seed),
            None => catalog::hold_out(rows, spec.data.test_size, spec.data.data_seed),
        },
    };
    Ok((pool, test, path))
}

/// The rows of a run's catalogue (`data.catalog.file`) with the targets its task needs, not
/// checking that the image files exist; and the catalogue's path.
pub fn catalog_rows(
    spec: &RunSpec,
    c: &crate::spec::CatalogConfig,
) -> Result<(Vec<catalog::Entry>, std::path::PathBuf), DataError> {
    let base = spec.data.path.as_deref();
    let path = catalog::resolve(base, &c.file);
    let images = c.images.as_ref().map(|i| catalog::resolve(base, i));
    Ok((read_rows(spec, c, &path, images.as_deref())?, path))
}

fn read_rows(
    spec: &RunSpec,
    c: &crate::spec::CatalogConfig,
    path: &std::path::Path,
    images: Option<&std::path::Path>,
) -> Result<Vec<catalog::Entry>, DataError> {
    let tree = c.votes.map(|t| match t {
        crate::spec::VoteTree::Decals => crate::tree::Tree::decals(),
    });
    let classes: Vec<(String, Vec<String>)> =
        c.classes.clone().unwrap_or_default().into_iter().collect();
    let gz2 = crate::tree::Tree::gz2();
    let want = match (spec.task.target, &c.label_column, &tree) {
        (Target::Gz2Answers, ..) => catalog::Want::Fractions(&gz2),
        (Target::Label, Some(col), _) => catalog::Want::Label(col),
        (Target::Class, Some(col), _) => catalog::Want::Class(col, &classes, &c.exclude),
        (Target::Votes, _, Some(t)) => catalog::Want::Votes(t),
        _ => catalog::Want::Nothing,
    };
    Ok(catalog::read_catalogue(path, images, c, want)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_is_a_seeded_share_of_the_training_galaxies() {
        let data = Dataset {
            channels: 1,
            size: 1,
            images: (0..10).map(|i| i as f32).collect(),
            targets: (0..10).map(|i| (i % 2) as f32).collect(),
            target_len: 1,
        };
        let (train, val) = split_validation(data.clone(), 3, 7);
        assert_eq!((train.len(), val.len()), (7, 3));
        let mut all: Vec<f32> = train.images.iter().chain(&val.images).copied().collect();
        all.sort_by(f32::total_cmp);
        assert_eq!(all, data.images, "every galaxy in exactly one split");
        assert_eq!(
            split_validation(data.clone(), 3, 7),
            (train.clone(), val.clone())
        );
        assert_ne!(
            split_validation(data, 3, 8).1,
            val,
            "the draw depends on the seed"
        );
        let d = crate::spec::DataConfig {
            train_size: 25,
            ..Default::default()
        };
        assert_eq!(val_count(&d), 5);
        let d = crate::spec::DataConfig { val_size: 40, ..d };
        assert_eq!(
            val_count(&d),
            0,
            "a separate validation set replaces the share"
        );
    }
}
