//! Datasets: images plus targets, split into train / validation / test, from a registered source.
//!
//! A [`Dataset`] is a dense `N x C x H x W` f32 array with one target per image. The test split
//! depends only on `data.data_seed` (it is the same for every run of an experiment, so runs are
//! compared on the same galaxies); the training and validation draws depend on the run seed as
//! well, so error bars over seeds include the sampling of the training set.

pub mod augment;
pub mod catalog;
pub mod fits;
pub mod pretrain;
mod shapes;
pub mod synth;
pub mod synthetic;

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
        DataSource::Synthetic => &[
            Target::Ring,
            Target::Bar,
            Target::EdgeOn,
            Target::Featured,
            Target::Merger,
            Target::Clumpy,
            Target::Gz2Answers,
        ],
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

/// Why a run's data cannot be read on this machine (a catalogue file is absent), if so: such
/// runs are skipped with this message rather than failed.
pub fn unavailable(spec: &RunSpec) -> Option<String> {
    let c = spec.data.catalog.as_ref()?;
    if spec.data.source != DataSource::Catalog {
        return None;
    }
    let files = std::iter::once(&c.file).chain(&c.test_file);
    files
        .map(|f| catalog::resolve(spec.data.path.as_deref(), f))
        .find(|p| !p.is_file())
        .map(|p| {
            catalog::CatalogError::Missing {
                path: p.display().to_string(),
            }
            .to_string()
        })
}

/// Index ranges of the item streams: test items first, each seed's training pool after.
const TRAIN_OFFSET: u64 = 1 << 32;

/// Build the splits a run trains and tests on.
pub fn build(spec: &RunSpec) -> Result<Splits, DataError> {
    check(spec)?;
    let d = &spec.data;
    match d.source {
        DataSource::Shapes => {
            let make = |start: u64, n: usize| shapes::generate(d.data_seed, start, n, d.image_size);
            let train_start = TRAIN_OFFSET * (1 + spec.seed);
            Ok(Splits {
                test: make(0, d.test_size),
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
            Ok(Splits {
                test: synthetic::generate(&draw, 0, d.test_size)?,
                train: synthetic::generate(&draw, train_start, d.train_size)?,
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
