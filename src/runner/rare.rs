//! A `train` run with a `rare:` section: the real training split plus `rare.extra` positives
//! from the arm's source ([`ExtraSource`]), then trained and scored as any `train` run on the
//! same real validation and test sets. Besides the run's metrics it records `train_positives`
//! (real ones in the training split) and `n_extra`; the `generated` arm also how its diffusion
//! model trained and how good its samples are:
//!
//! * `fid`: Fréchet distance between the generated positives and `extra` fresh real positives
//!   (the `oracle` arm's images) in the features of the galaxy-pretrained backbone
//!   `rare.features`; `fid_real` the same between two fresh real sets (what a perfect
//!   generator would score, the floor at this sample size); `fid_classic` for the `classic`
//!   arm's copies.
//! * `condition_accuracy`: the share of generated positives that a classifier trained on the
//!   real split alone (the `real-only` arm's model, retrained here: same seed, same data) calls
//!   positive; `condition_accuracy_real` the same classifier on the fresh real positives.
//!
//! The model is kept in the run folder (`diffusion/`, for `gzbench generate`) with a grid of
//! samples (`samples.png`).

use super::train::{fit, predict, score};
use crate::data::{self, Splits};
use crate::generative::{self, Conditioned, quality};
use crate::spec::{ExtraSource, RareConfig, RunSpec};
use crate::store::{Bootstrap, Metrics};
use candle_core::Device;
use std::path::Path;

pub fn run(
    spec: &RunSpec,
    rare: &RareConfig,
    splits: Splits,
    dir: Option<&Path>,
    cache: Option<&Path>,
    device: &Device,
    on_epoch: &mut dyn FnMut(usize, f64, f64),
) -> anyhow::Result<(Metrics, Bootstrap)> {
    let mut record = Metrics::new();
    let positives = generative::positive_rows(&splits.train).len();
    record.insert("train_positives".into(), positives as f64);
    let extra = match rare.source {
        ExtraSource::RealOnly => None,
        ExtraSource::Classic => Some(generative::classic(&splits.train, rare.extra, spec.seed)),
        ExtraSource::Oracle => Some(data::rare::fresh_positives(spec, rare.extra, 0)?),
        ExtraSource::Generated => {
            let (images, quality) = generated(spec, rare, &splits, dir, cache, device)?;
            record.extend(quality);
            Some(images)
        }
    };
    let splits = match extra {
        Some(extra) => {
            record.insert("n_extra".into(), extra.len() as f64);
            Splits {
                train: generative::concat(&splits.train, &extra),
                ..splits
            }
        }
        None => {
            record.insert("n_extra".into(), 0.0);
            splits
        }
    };
    let fitted = fit(spec, &splits, dir, cache, device, on_epoch)?;
    let (mut m, boot) = score(spec, &fitted, &splits, device)?;
    m.extend(record);
    // the diffusion training's checkpoint is for resuming this run only (the model is kept)
    if let Some(ckpt) = dir.map(diffusion_checkpoint).filter(|c| c.is_dir()) {
        std::fs::remove_dir_all(&ckpt).map_err(|e| anyhow::anyhow!("{}: {e}", ckpt.display()))?;
    }
    Ok((m, boot))
}

/// The `generated` arm's extra positives and the quality record (see the module doc).
fn generated(
    spec: &RunSpec,
    rare: &RareConfig,
    splits: &Splits,
    dir: Option<&Path>,
    cache: Option<&Path>,
    device: &Device,
) -> anyhow::Result<(data::Dataset, Metrics)> {
    let galaxies = data::rare::train_galaxies(spec)?;
    let (names, conditions) = data::rare::gz2_conditions(spec, &galaxies);
    let ids: Vec<u64> = galaxies.iter().map(|g| g.id).collect();
    let label = crate::spec::yaml_name(&spec.task.target);
    let input = Conditioned {
        train: &splits.train,
        conditions: &conditions,
        names: &names,
        ids: &ids,
        label: &label,
    };
    let checkpoint = dir.map(diffusion_checkpoint);
    let g = generative::generated(rare, &input, spec.seed, checkpoint.as_deref(), device)?;
    if let Some(dir) = dir {
        generative::keep(&g, &splits.train, dir)?;
    }
    let mut m = g.record.clone();
    // condition accuracy: the real-only classifier on the generated and on fresh real positives
    let real = data::rare::fresh_positives(spec, rare.extra, 0)?;
    let real_only = fit(spec, splits, None, cache, device, &mut |_, _, _| {})?;
    let share = |d: &data::Dataset| -> anyhow::Result<f64> {
        let p: Vec<f32> = predict(&real_only, d, device)?
            .into_iter()
            .map(|r| r[0])
            .collect();
        Ok(quality::condition_accuracy(&p))
    };
    m.insert("condition_accuracy".into(), share(&g.images)?);
    m.insert("condition_accuracy_real".into(), share(&real)?);
    // Fréchet distances in the galaxy-pretrained backbone's features
    let features = RunSpec {
        pretrain: rare.features.clone(),
        ..spec.clone()
    };
    let head = super::task::Task::of(spec)?.head();
    let (c, size) = (splits.train.channels, splits.train.size);
    let (backbone, _, _) =
        crate::train::pretrain::run_model(&features, &head, c, size, cache, device)?;
    let other = data::rare::fresh_positives(spec, rare.extra, 1)?;
    let copies = generative::classic(&splits.train, rare.extra, spec.seed);
    m.insert(
        "fid".into(),
        quality::frechet(&backbone, &g.images, &real, device)?,
    );
    m.insert(
        "fid_real".into(),
        quality::frechet(&backbone, &other, &real, device)?,
    );
    m.insert(
        "fid_classic".into(),
        quality::frechet(&backbone, &copies, &real, device)?,
    );
    Ok((g.images, m))
}

/// Where the `generated` arm checkpoints its diffusion training.
fn diffusion_checkpoint(run: &Path) -> std::path::PathBuf {
    run.join(crate::store::CHECKPOINT).join("diffusion")
}
