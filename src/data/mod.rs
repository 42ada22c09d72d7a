//! Datasets: images plus targets, split into train / validation / test, from a registered source.
//!
//! A [`Dataset`] is a dense `N x C x H x W` f32 array with one target per image. The test split
//! depends only on `data.data_seed` (it is the same for every run of an experiment, so runs are
//! compared on the same galaxies); the training and validation draws depend on the run seed as
//! well, so error bars over seeds include the sampling of the training set.

mod shapes;
pub mod synth;
pub mod synthetic;

use crate::spec::{DataSource, RunSpec, Target};

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
        "task.target `{target:?}` is not provided by data.source `{data_source:?}`; expected one of {expected}"
    )]
    Target {
        target: Target,
        data_source: DataSource,
        expected: String,
    },
    #[error(
        "data.positive_fraction: scanned {scanned} galaxies and still missing {missing} positives for task.target `{target:?}`; expected a smaller positive_fraction or split size"
    )]
    Scarce {
        target: Target,
        scanned: u64,
        missing: usize,
    },
}

/// Index ranges of the item streams: test items first, each seed's training pool after.
const TRAIN_OFFSET: u64 = 1 << 32;

/// Build the splits a run trains and tests on.
pub fn build(spec: &RunSpec) -> Result<Splits, DataError> {
    let d = &spec.data;
    match d.source {
        DataSource::Shapes => {
            shapes::check_target(spec.task.target)?;
            let make = |start: u64, n: usize| shapes::generate(d.data_seed, start, n, d.image_size);
            let train_start = TRAIN_OFFSET * (1 + spec.seed);
            Ok(Splits {
                test: make(0, d.test_size),
                train: make(train_start, d.train_size),
                val: make(train_start + d.train_size as u64, d.val_size),
            })
        }
        DataSource::Synthetic => {
            synthetic::check_target(spec.task.target)?;
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
    }
}
