//! The `generated` arm: a class-conditional diffusion model ([`crate::diffusion`]) trained on the
//! run's real training split, each image conditioned on its galaxy's Galaxy Zoo answers, then
//! sampled with the answers of the real positives (sample `i` with those of positive
//! `i mod P`), as GalaxySD prompts its model with a rare class's description.
//!
//! Training oversamples the positives (`diffusion.positive_share` of each batch, drawn with
//! replacement; the rest from the whole split), with a cosine learning-rate decay, and
//! checkpoints every [`CHECKPOINT_EVERY`] steps under the run's checkpoint folder, so an
//! interrupted run resumes bit for bit. Step `s`'s batch comes from the stream
//! `rare/diffusion-batch#s` of the run seed. Samples come from the moving average of the weights
//! (`diffusion.ema`).

use crate::data::Dataset;
use crate::diffusion::saved::{self, ConditionRow, SavedModel};
use crate::diffusion::unet::UNetSpec;
use crate::diffusion::{Diffusion, DiffusionSpec, Trainer};
use crate::rng::item_stream;
use crate::spec::RareConfig;
use crate::store::Metrics;
use candle_core::{Device, Tensor};
use rand::Rng;
use std::path::Path;

/// Optimizer steps between checkpoints of the diffusion training.
pub const CHECKPOINT_EVERY: u64 = 250;
/// Conditions shown per row of the samples grid, and rows.
const GRID_ROWS: usize = 6;
const GRID_SAMPLES: usize = 4;

/// What the `generated` arm made.
pub struct Generated {
    /// The extra positives (display stretch, target 1).
    pub images: Dataset,
    /// How the diffusion training went: `diffusion_loss` (mean of the last 100 steps' loss),
    /// `diffusion_steps`.
    pub record: Metrics,
    /// The model, to be kept with the run (`diffusion::saved`).
    pub model: Diffusion,
    pub meta: SavedModel,
    pub rows: Vec<ConditionRow>,
}

/// The training split's images, conditions and galaxy ids, as the diffusion model sees them.
pub struct Conditioned<'a> {
    pub train: &'a Dataset,
    /// One condition vector per training image.
    pub conditions: &'a [Vec<f32>],
    pub names: &'a [String],
    pub ids: &'a [u64],
    /// The target's name (the label of `conditions.csv`).
    pub label: &'a str,
}

/// Train the model of `cfg.diffusion` on `data` (checkpoints under `checkpoint`, if given) and
/// draw `cfg.extra` positives.
pub fn generated(
    cfg: &RareConfig,
    data: &Conditioned,
    seed: u64,
    checkpoint: Option<&Path>,
    device: &Device,
) -> anyhow::Result<Generated> {
    let (train, d) = (data.train, &cfg.diffusion);
    let pos = super::positive_rows(train);
    if pos.is_empty() {
        anyhow::bail!(
            "rare.source `generated`: the training split has no positive to condition on"
        );
    }
    let (c, size) = (train.channels, train.size);
    let levels = d.mults.len().saturating_sub(1) as u32;
    if !size.is_multiple_of(1 << levels) {
        anyhow::bail!(
            "rare.diffusion.mults: {} levels halve the image {levels} times, but data.image_size {size} is not divisible by {}",
            d.mults.len(),
            1 << levels
        );
    }
    let spec = DiffusionSpec {
        unet: UNetSpec {
            channels: c,
            base: d.base,
            mults: d.mults.clone(),
            cond_dim: data.names.len(),
            groups: d.groups,
        },
        steps: d.noise_steps,
        prediction: d.prediction,
        p_uncond: d.p_uncond,
        lr: d.lr,
    };
    let mut trainer = Trainer::new(Diffusion::new(&spec, seed, device)?).with_ema(d.ema);
    if let Some(dir) = checkpoint {
        trainer.resume(dir)?;
    }
    let cond_of = |rows: &[usize]| -> candle_core::Result<Tensor> {
        let v: Vec<f32> = rows
            .iter()
            .flat_map(|&r| data.conditions[r].clone())
            .collect();
        Tensor::from_vec(v, (rows.len(), data.names.len()), device)
    };
    let total = d.train_steps as u64;
    let k_pos = (d.batch_size as f64 * d.positive_share).round() as usize;
    while trainer.steps() < total {
        let s = trainer.steps();
        let mut r = item_stream(seed, "rare/diffusion-batch", s);
        let rows: Vec<usize> = (0..d.batch_size)
            .map(|j| match j < k_pos {
                true => pos[r.random_range(0..pos.len())],
                false => r.random_range(0..train.len()),
            })
            .collect();
        let (x, _) = train.gather(&rows);
        let x = Tensor::from_vec(x, (rows.len(), c, size, size), device)?.affine(2.0, -1.0)?;
        let progress_frac = s as f64 / total as f64;
        trainer.set_lr(d.lr * 0.5 * (1.0 + (std::f64::consts::PI * progress_frac).cos()));
        trainer.step(&x, &cond_of(&rows)?)?;
        if let Some(dir) = checkpoint.filter(|_| (s + 1).is_multiple_of(CHECKPOINT_EVERY)) {
            trainer.save(dir)?;
        }
    }
    let losses = &trainer.history.train_loss;
    let tail = &losses[losses.len().saturating_sub(100)..];
    let mut record = Metrics::new();
    record.insert(
        "diffusion_loss".into(),
        tail.iter().sum::<f64>() / tail.len().max(1) as f64,
    );
    record.insert("diffusion_steps".into(), trainer.steps() as f64);
    let model = trainer.into_sampler()?;
    let l = train.image_len();
    let mut images = Vec::with_capacity(cfg.extra * l);
    for first in (0..cfg.extra).step_by(d.batch_size.max(1)) {
        let end = (first + d.batch_size).min(cfg.extra);
        let rows: Vec<usize> = (first..end).map(|i| pos[i % pos.len()]).collect();
        let x = model.sample(
            &cond_of(&rows)?,
            first as u64,
            d.sample_steps,
            d.guidance,
            [c, size, size],
        )?;
        let shown = ((x + 1.0)? / 2.0)?.clamp(0f32, 1f32)?;
        images.extend(shown.flatten_all()?.to_vec1::<f32>()?);
    }
    let meta = SavedModel {
        unet: spec.unet.clone(),
        noise_steps: d.noise_steps,
        prediction: d.prediction,
        image_size: size,
        condition_names: data.names.to_vec(),
        label: data.label.to_string(),
        sample_steps: d.sample_steps,
        guidance: d.guidance,
        train_steps: d.train_steps,
    };
    let rows = (0..train.len())
        .map(|i| ConditionRow {
            id: data.ids[i],
            label: train.targets[i * train.target_len] >= 0.5,
            values: data.conditions[i].clone(),
        })
        .collect();
    Ok(Generated {
        images: Dataset {
            channels: c,
            size,
            targets: vec![1.0; cfg.extra],
            images,
            target_len: 1,
        },
        record,
        model,
        meta,
        rows,
    })
}

/// Keep the model in `dir` (`diffusion::saved`) and write `samples.png` beside it: one row per
/// condition (the first positives of the split), the real positive then the samples drawn with
/// its answers (samples `i, i + P, ...` of `extra`; white where there are fewer), tiles of
/// `size` pixels without captions (the report captions them).
pub fn keep(g: &Generated, train: &Dataset, dir: &Path) -> anyhow::Result<()> {
    saved::save(&dir.join("diffusion"), &g.model, &g.meta, &g.rows)?;
    let pos = super::positive_rows(train);
    let (l, s, c) = (train.image_len(), train.size, train.channels);
    let tile = |d: &Dataset, i: usize| {
        let img = d.images.get(i * l..(i + 1) * l)?;
        Some(crate::universe::observe::display_planes_to_rgb8(img, c, s))
    };
    let cols = 1 + GRID_SAMPLES;
    let rows = pos.len().min(GRID_ROWS);
    let white = image::Rgb([255u8; 3]);
    let mut png = image::RgbImage::from_pixel((cols * s) as u32, (rows * s) as u32, white);
    for (j, &row) in pos.iter().take(GRID_ROWS).enumerate() {
        let samples = (0..GRID_SAMPLES).map(|k| tile(&g.images, j + k * pos.len()));
        for (k, t) in std::iter::once(tile(train, row)).chain(samples).enumerate() {
            if let Some(t) = t {
                image::imageops::replace(&mut png, &t, (k * s) as i64, (j * s) as i64);
            }
        }
    }
    let path = dir.join(SAMPLES);
    png.save(&path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The samples grid of a `generated` run, in its run folder.
pub const SAMPLES: &str = "samples.png";
