//! Optimizers with PyTorch's update rules and exportable state (for checkpoints): AdamW and SGD
//! with (Nesterov) momentum, plus the learning-rate schedules.
//!
//! Owned here rather than taken from candle-nn because a resumed run must continue bit-for-bit,
//! which needs the moment estimates and the step count, and candle's optimizers keep them private.
//! AdamW runs the engine's fused op ([`crate::engine::adamw`]); SGD is plain tensor ops on the
//! parameters' device.

use crate::engine::adamw;
use crate::spec::{Optimizer, Schedule, TrainConfig};
use candle_core::{Result, Tensor, Var, backprop::GradStore};
use std::collections::HashMap;

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

/// One optimizer over a fixed list of parameters.
pub struct Optim {
    kind: Optimizer,
    vars: Vec<Var>,
    lr: f64,
    weight_decay: f64,
    momentum: f64,
    nesterov: bool,
    /// Completed steps.
    step: u64,
    /// AdamW: first and second moments; SGD: the momentum buffer in `m` (`v` unused).
    m: Vec<Option<Tensor>>,
    v: Vec<Option<Tensor>>,
    /// Per-parameter multiplier of the learning rate (all 1 unless layer-wise rates are set).
    scales: Vec<f64>,
}

/// Learning-rate multiplier of each named parameter: 1 for the head; for the backbone
/// `backbone_lr_factor * layer_decay^depth`, where depth counts stages down from the head (the
/// stage is the first number in the parameter's name after `backbone.`, e.g. `stages.2` or
/// `layer3`; parameters without one, the stem, are the deepest).
pub fn lr_scales(names: &[String], cfg: &TrainConfig) -> Vec<f64> {
    let stage = |n: &str| -> Option<usize> {
        let rest = n.strip_prefix("backbone.")?;
        let digits: String = rest
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(|c| c.is_ascii_digit())
            .collect();
        digits.parse().ok().map(|s: usize| s + 1)
    };
    let deepest = names.iter().filter_map(|n| stage(n)).max().unwrap_or(0);
    let factor = cfg.backbone_lr_factor.unwrap_or(1.0);
    let decay = cfg.layer_decay.unwrap_or(1.0);
    names
        .iter()
        .map(|n| {
            if !n.starts_with("backbone.") {
                return 1.0;
            }
            let depth = deepest + 1 - stage(n).unwrap_or(0);
            factor * decay.powi(depth as i32)
        })
        .collect()
}

impl Optim {
    pub fn new(vars: Vec<Var>, cfg: &TrainConfig) -> Self {
        let scales = vec![1.0; vars.len()];
        Self::with_scales(vars, scales, cfg)
    }

    /// An optimizer whose parameter `i` trains at `lr * scales[i]`.
    pub fn with_scales(vars: Vec<Var>, scales: Vec<f64>, cfg: &TrainConfig) -> Self {
        let n = vars.len();
        Optim {
            scales,
            kind: cfg.optimizer,
            vars,
            lr: cfg.lr,
            weight_decay: cfg.weight_decay,
            momentum: cfg.momentum,
            nesterov: cfg.nesterov,
            step: 0,
            m: vec![None; n],
            v: vec![None; n],
        }
    }

    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Completed steps.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Backpropagate `loss` and update every parameter that received a gradient.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let grads = loss.backward()?;
        self.step(&grads)
    }

    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step += 1;
        match self.kind {
            Optimizer::Adamw => self.adamw(grads),
            Optimizer::Sgd => self.sgd(grads),
        }
    }

    /// AdamW through the engine's fused op (one kernel launch per distinct learning rate for
    /// all parameters on a GPU).
    fn adamw(&mut self, grads: &GradStore) -> Result<()> {
        let mut distinct: Vec<f64> = self.scales.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        for scale in distinct {
            self.adamw_group(grads, scale)?;
        }
        Ok(())
    }

    fn adamw_group(&mut self, grads: &GradStore, scale: f64) -> Result<()> {
        let h = adamw::Hyper {
            lr: self.lr * scale,
            weight_decay: self.weight_decay,
            beta1: BETA1,
            beta2: BETA2,
            eps: EPS,
            step: self.step as i32,
        };
        let mut slots = Vec::with_capacity(self.vars.len());
        let vars = self.vars.iter().zip(&self.scales);
        for (((param, s), m), v) in vars.zip(&mut self.m).zip(&mut self.v) {
            if *s != scale {
                continue;
            }
            let Some(grad) = grads.get(param) else {
                continue;
            };
            if m.is_none() {
                *m = Some(adamw::zero_moment(param)?);
            }
            if v.is_none() {
                *v = Some(adamw::zero_moment(param)?);
            }
            if let (Some(m), Some(v)) = (m.as_mut(), v.as_mut()) {
                slots.push(adamw::Slot { param, grad, m, v });
            }
        }
        adamw::step(&mut slots, &h)
    }

    fn sgd(&mut self, grads: &GradStore) -> Result<()> {
        for (i, var) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(var) else { continue };
            let p = var.as_tensor();
            let g = if self.weight_decay != 0.0 {
                (g + (p * self.weight_decay)?)?
            } else {
                g.clone()
            };
            let d = if self.momentum != 0.0 {
                let buf = match &self.m[i] {
                    Some(b) => ((b * self.momentum)? + &g)?,
                    None => g.clone(),
                };
                let d = if self.nesterov {
                    (&g + (&buf * self.momentum)?)?
                } else {
                    buf.clone()
                };
                self.m[i] = Some(buf);
                d
            } else {
                g
            };
            var.set(&(p - (d * (self.lr * self.scales[i]))?)?)?;
        }
        Ok(())
    }

    /// The state to checkpoint: `opt.<i>.m` / `opt.<i>.v` tensors and the step count.
    pub fn state(&self) -> (HashMap<String, Tensor>, u64) {
        let mut out = HashMap::new();
        for (i, (m, v)) in self.m.iter().zip(&self.v).enumerate() {
            if let Some(m) = m {
                out.insert(format!("opt.{i}.m"), m.clone());
            }
            if let Some(v) = v {
                out.insert(format!("opt.{i}.v"), v.clone());
            }
        }
        (out, self.step)
    }

    /// Restore what [`Optim::state`] returned (tensors already on the right device).
    pub fn restore(&mut self, tensors: &HashMap<String, Tensor>, step: u64) {
        self.step = step;
        for i in 0..self.vars.len() {
            self.m[i] = tensors.get(&format!("opt.{i}.m")).cloned();
            self.v[i] = tensors.get(&format!("opt.{i}.v")).cloned();
        }
    }
}

/// Learning rate at optimizer step `step` of `total` (epoch `epoch`).
pub fn lr_at(cfg: &TrainConfig, step: usize, total: usize, epoch: usize) -> f64 {
    match cfg.schedule {
        Schedule::Constant => cfg.lr,
        Schedule::Cosine => {
            cfg.lr * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / total.max(1) as f64).cos())
        }
        Schedule::Step => cfg.lr * cfg.step_gamma.powi((epoch / cfg.step_every.max(1)) as i32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn cfg(kind: Optimizer) -> TrainConfig {
        TrainConfig {
            optimizer: kind,
            lr: 0.1,
            weight_decay: 0.01,
            ..TrainConfig::default()
        }
    }

    /// f(p) = sum(p^2) / 2 has gradient p; two steps by hand, PyTorch's formulas.
    #[test]
    fn adamw_and_nesterov_sgd_match_hand_computed_steps() {
        let dev = Device::Cpu;
        let p0 = [1.0f64, -2.0];
        for kind in [Optimizer::Adamw, Optimizer::Sgd] {
            let var = Var::from_vec(p0.iter().map(|&x| x as f32).collect(), 2, &dev).unwrap();
            let mut opt = Optim::new(vec![var.clone()], &cfg(kind));
            for _ in 0..2 {
                let loss = (var.as_tensor().sqr().unwrap().sum_all().unwrap() * 0.5).unwrap();
                opt.backward_step(&loss).unwrap();
            }
            let got = var.as_tensor().to_vec1::<f32>().unwrap();
            let (lr, wd) = (0.1, 0.01);
            for (k, &x0) in p0.iter().enumerate() {
                let mut p = x0;
                let (mut m, mut v, mut buf) = (0.0, 0.0, None::<f64>);
                for t in 1..=2 {
                    let g = p;
                    match kind {
                        Optimizer::Adamw => {
                            m = BETA1 * m + (1.0 - BETA1) * g;
                            v = BETA2 * v + (1.0 - BETA2) * g * g;
                            let mh = m / (1.0 - BETA1.powi(t));
                            let vh = v / (1.0 - BETA2.powi(t));
                            p = p * (1.0 - lr * wd) - lr * mh / (vh.sqrt() + EPS);
                        }
                        Optimizer::Sgd => {
                            let g = g + wd * p;
                            let b = buf.map_or(g, |b| 0.9 * b + g);
                            buf = Some(b);
                            p -= lr * (g + 0.9 * b);
                        }
                    }
                }
                assert!(
                    (got[k] as f64 - p).abs() < 1e-6,
                    "{kind:?}: {} vs {p}",
                    got[k]
                );
            }
        }
    }

    #[test]
    fn step_schedule_drops_every_n_epochs() {
        let c = TrainConfig {
            schedule: Schedule::Step,
            step_every: 2,
            step_gamma: 0.5,
            lr: 1.0,
            ..TrainConfig::default()
        };
        let lrs: Vec<f64> = (0..5).map(|e| lr_at(&c, 0, 1, e)).collect();
        assert_eq!(lrs, [1.0, 1.0, 0.5, 0.5, 0.25]);
    }
}
