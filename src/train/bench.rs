//! Timing of the real training step (forward, BCE loss, backward, the trainer's AdamW step), or of
//! the evaluation forward pass, on seeded random images, for `gzbench bench train-step`. `benches/peers/torch_train_step.py` times the same
//! model in PyTorch; `benches/peers/train_step_ratio.sh` runs both and prints the ratio.
//! Only measures: nothing here is stored or reported as a result of an experiment.

use crate::model::{Model, Params};
use crate::rng::stream;
use crate::spec::{ModelConfig, Optimizer, TrainConfig};
use crate::train::optim::Optim;
use candle_core::{Device, Result, Tensor};
use rand::Rng;
use std::time::Instant;

/// What to time.
#[derive(Debug, Clone)]
pub struct StepBench {
    pub model: ModelConfig,
    pub batch: usize,
    pub channels: usize,
    pub size: usize,
    /// Untimed steps first.
    pub warmup: usize,
    pub steps: usize,
    pub seed: u64,
    /// Time the evaluation forward pass instead (eval-mode batch norm, no backward); the
    /// "loss" reported is then the mean logit.
    pub forward_only: bool,
}

/// Milliseconds per timed step, in order.
#[derive(Debug, Clone)]
pub struct StepTimes {
    pub ms: Vec<f64>,
    pub last_loss: f32,
}

impl StepTimes {
    pub fn mean(&self) -> f64 {
        self.ms.iter().sum::<f64>() / self.ms.len().max(1) as f64
    }
    pub fn median(&self) -> f64 {
        let mut v = self.ms.clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    }
}

/// Build the model and run `warmup + steps` training steps on one fixed random batch.
pub fn time_train_step(b: &StepBench, device: &Device) -> Result<StepTimes> {
    let params = Params::new(b.seed);
    let model = Model::build(&b.model, b.channels, b.size, &params, device)?;
    let mut r = stream(b.seed, "bench/train-step/batch");
    let n = b.batch * b.channels * b.size * b.size;
    let x: Vec<f32> = (0..n).map(|_| r.random::<f32>()).collect();
    let y: Vec<f32> = (0..b.batch).map(|_| r.random_range(0..2) as f32).collect();
    let x = Tensor::from_vec(x, (b.batch, b.channels, b.size, b.size), device)?;
    let y = Tensor::from_vec(y, b.batch, device)?;
    // The trainer's optimizer (the engine's fused AdamW), with PyTorch's AdamW settings of the
    // peer script.
    let cfg = TrainConfig {
        optimizer: Optimizer::Adamw,
        lr: 1e-3,
        weight_decay: 1e-2,
        ..Default::default()
    };
    let mut opt = Optim::new(params.trainable(), &cfg);
    let mut ms = Vec::with_capacity(b.steps);
    let mut last_loss = f32::NAN;
    for i in 0..b.warmup + b.steps {
        let t = Instant::now();
        if b.forward_only {
            last_loss = model.forward(&x, false)?.mean_all()?.to_scalar::<f32>()?;
        } else {
            let logits = model.forward(&x, true)?;
            let loss = candle_nn::loss::binary_cross_entropy_with_logit(&logits, &y)?;
            opt.backward_step(&loss)?;
            last_loss = loss.to_scalar::<f32>()?;
        }
        if i >= b.warmup {
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(StepTimes { ms, last_loss })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Backbone;

    #[test]
    fn runs_the_requested_steps() {
        let b = StepBench {
            model: ModelConfig {
                backbone: Backbone::CnnSmall,
                widths: vec![4, 8],
                ..Default::default()
            },
            batch: 4,
            channels: 3,
            size: 8,
            warmup: 1,
            steps: 3,
            seed: 0,
            forward_only: false,
        };
        let t = time_train_step(&b, &Device::Cpu).unwrap();
        assert_eq!(t.ms.len(), 3);
        assert!(t.last_loss.is_finite());
    }
}
