//! The training loop: seeded mini-batches, an optimizer and LR schedule, one visible step at a time.
//!
//! ```text
//! for epoch: shuffle (stream "train/shuffle/epoch-<e>") -> for batch: forward, BCE loss, backward, step
//! ```
//! Reads only the run's `train:` section and a dataset; returns the loss history.

pub mod bench;

use crate::data::Dataset;
use crate::model::{Model, Params};
use crate::rng::stream;
use crate::spec::{Optimizer, Schedule, TrainConfig};
use candle_core::{Device, Result, Tensor};
use candle_nn::{AdamW, Optimizer as _, ParamsAdamW, SGD};
use rand::seq::SliceRandom;

/// Called after every epoch with (epoch, mean training loss).
pub type OnEpoch<'a> = &'a mut dyn FnMut(usize, f64);

enum Opt {
    AdamW(AdamW),
    Sgd(SGD),
}

impl Opt {
    fn step(&mut self, loss: &Tensor) -> Result<()> {
        match self {
            Opt::AdamW(o) => o.backward_step(loss),
            Opt::Sgd(o) => o.backward_step(loss),
        }
    }

    fn set_lr(&mut self, lr: f64) {
        match self {
            Opt::AdamW(o) => o.set_learning_rate(lr),
            Opt::Sgd(o) => o.set_learning_rate(lr),
        }
    }
}

fn lr_at(cfg: &TrainConfig, step: usize, total: usize) -> f64 {
    match cfg.schedule {
        Schedule::Constant => cfg.lr,
        Schedule::Cosine => {
            cfg.lr * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / total.max(1) as f64).cos())
        }
    }
}

/// A batch of the dataset as tensors on `device`.
pub fn batch(data: &Dataset, idx: &[usize], device: &Device) -> Result<(Tensor, Tensor)> {
    let (x, y) = data.gather(idx);
    let x = Tensor::from_vec(x, (idx.len(), data.channels, data.size, data.size), device)?;
    let y = Tensor::from_vec(y, idx.len(), device)?;
    Ok((x, y))
}

/// Train `model` on `data`; returns the mean training loss of each epoch.
pub fn fit(
    model: &Model,
    params: &Params,
    data: &Dataset,
    cfg: &TrainConfig,
    seed: u64,
    device: &Device,
    on_epoch: OnEpoch,
) -> Result<Vec<f64>> {
    let vars = params.trainable();
    let mut opt = match cfg.optimizer {
        Optimizer::Adamw => Opt::AdamW(AdamW::new(
            vars,
            ParamsAdamW {
                lr: cfg.lr,
                weight_decay: cfg.weight_decay,
                ..Default::default()
            },
        )?),
        Optimizer::Sgd => Opt::Sgd(SGD::new(vars, cfg.lr)?),
    };
    let steps_per_epoch = data.len().div_ceil(cfg.batch_size);
    let total = steps_per_epoch * cfg.epochs;
    let mut history = Vec::with_capacity(cfg.epochs);
    let mut step = 0;
    for epoch in 0..cfg.epochs {
        let mut order: Vec<usize> = (0..data.len()).collect();
        order.shuffle(&mut stream(seed, &format!("train/shuffle/epoch-{epoch}")));
        let mut sum = 0.0;
        for idx in order.chunks(cfg.batch_size) {
            opt.set_lr(lr_at(cfg, step, total));
            let (x, y) = batch(data, idx, device)?;
            let logits = model.forward(&x, true)?;
            let loss = candle_nn::loss::binary_cross_entropy_with_logit(&logits, &y)?;
            opt.step(&loss)?;
            sum += loss.to_scalar::<f32>()? as f64 * idx.len() as f64;
            step += 1;
        }
        let mean = sum / data.len() as f64;
        history.push(mean);
        on_epoch(epoch, mean);
    }
    Ok(history)
}

/// Predicted probabilities for every image of `data`, in order, in evaluation mode.
pub fn predict(
    model: &Model,
    data: &Dataset,
    batch_size: usize,
    device: &Device,
) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(data.len());
    let all: Vec<usize> = (0..data.len()).collect();
    for idx in all.chunks(batch_size.max(1)) {
        let (x, _) = batch(data, idx, device)?;
        let p = candle_nn::ops::sigmoid(&model.forward(&x, false)?)?;
        out.extend(p.to_vec1::<f32>()?);
    }
    Ok(out)
}
