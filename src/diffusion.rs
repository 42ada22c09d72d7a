//! Class-conditional denoising diffusion (the generator of GalaxySD, Ma et al. 2025, reduced to
//! what a CPU can train): a DDPM (Ho et al. 2020) with the noise-prediction loss, a
//! [`unet::UNet`] conditioned on a vector of Galaxy Zoo answers, condition dropout for
//! classifier-free guidance (Ho & Salimans 2022) and DDIM sampling (Song et al. 2021, `eta = 0`,
//! `x_0` clipped to `[-1, 1]`, the last step to `alpha_bar = 1`, as diffusers' `DDIMScheduler`).
//!
//! Images are `N x C x H x W` in `[-1, 1]`. Every random draw comes from a named stream: step `s`
//! of training from `diffusion/train-step#s` (steps, noise, dropped conditions), sample `i` from
//! `diffusion/sample#i` (its starting noise), so a resumed training continues bit for bit and a
//! sample does not depend on which others were drawn with it (for a given batch size).

pub mod saved;
pub mod schedule;
pub mod unet;

use crate::model::Params;
use crate::rng::item_stream;
pub use crate::spec::Prediction;
use crate::spec::TrainConfig;
use crate::train::History;
use crate::train::optim::Optim;
use candle_core::{Device, Result, Tensor};
use rand::Rng;
use rand_distr::StandardNormal;
use schedule::Schedule;
use std::collections::HashMap;
use std::path::Path;
use unet::{UNet, UNetSpec};

/// A diffusion model's shape and training settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffusionSpec {
    pub unet: UNetSpec,
    /// Noise steps `T`.
    pub steps: usize,
    pub prediction: Prediction,
    /// Probability that a training example's condition is dropped (the null condition).
    pub p_uncond: f64,
    /// AdamW learning rate.
    pub lr: f64,
}

/// The model: network, its parameters and the noise schedule.
pub struct Diffusion {
    pub params: Params,
    pub unet: UNet,
    pub schedule: Schedule,
    pub spec: DiffusionSpec,
    seed: u64,
    device: Device,
}

/// `n x dims` standard normal values from `rng` as a tensor.
fn normal(rng: &mut impl Rng, dims: &[usize], dev: &Device) -> Result<Tensor> {
    let n: usize = dims.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.sample(StandardNormal)).collect();
    Tensor::from_vec(v, dims, dev)
}

impl Diffusion {
    /// A freshly initialised model (parameters from the stream of `seed`).
    pub fn new(spec: &DiffusionSpec, seed: u64, dev: &Device) -> Result<Self> {
        if spec.steps < 2 {
            candle_core::bail!(
                "diffusion: needs at least 2 noise steps, got {}",
                spec.steps
            );
        }
        let params = Params::new(seed);
        let unet = UNet::new(&params, &spec.unet, dev)?;
        Ok(Diffusion {
            params,
            unet,
            schedule: Schedule::linear(spec.steps),
            spec: spec.clone(),
            seed,
            device: dev.clone(),
        })
    }

    /// Predicted noise with classifier-free guidance `w` (`eps_u + w (eps_c - eps_u)`; `w = 1`
    /// is the plain conditional model, `w = 0` the unconditional one). A `v` model's outputs are
    /// guided the same way and turned into noise (`eps = sqrt(1 - ab) x + sqrt(ab) v`).
    pub fn guided_eps(&self, x: &Tensor, t: usize, cond: &Tensor, w: f64) -> Result<Tensor> {
        let n = x.dim(0)?;
        let dev = x.device();
        let ts = vec![t; 2 * n];
        let keep = Tensor::cat(
            &[
                Tensor::ones(n, x.dtype(), dev)?,
                Tensor::zeros(n, x.dtype(), dev)?,
            ],
            0,
        )?;
        let out = self.unet.forward(
            &Tensor::cat(&[x, x], 0)?,
            &ts,
            &Tensor::cat(&[cond, cond], 0)?,
            &keep,
        )?;
        let (c, u) = (out.narrow(0, 0, n)?, out.narrow(0, n, n)?);
        let guided = (&u + ((c - &u)? * w)?)?;
        match self.spec.prediction {
            Prediction::Epsilon => Ok(guided),
            Prediction::V => {
                let ab = self.schedule.alpha_bar[t];
                (x * (1.0 - ab).sqrt())? + (guided * ab.sqrt())?
            }
        }
    }

    /// DDIM (`eta = 0`) with `steps` evenly spaced noise levels: images `first..first + n` of the
    /// condition rows `cond` (`n x cond_dim`) at guidance `w`, in `[-1, 1]`.
    pub fn sample(
        &self,
        cond: &Tensor,
        first: u64,
        steps: usize,
        w: f64,
        shape: [usize; 3],
    ) -> Result<Tensor> {
        let n = cond.dim(0)?;
        let dev = cond.device();
        let [c, h, wd] = shape;
        let noise: Vec<Tensor> = (0..n as u64)
            .map(|i| {
                normal(
                    &mut item_stream(self.seed, "diffusion/sample", first + i),
                    &[1, c, h, wd],
                    dev,
                )
            })
            .collect::<Result<_>>()?;
        let mut x = Tensor::cat(&noise, 0)?;
        let big_t = self.schedule.len();
        let steps = steps.clamp(1, big_t);
        let ts: Vec<usize> = (0..steps).map(|i| i * (big_t / steps)).collect();
        for i in (0..steps).rev() {
            let ab = self.schedule.alpha_bar[ts[i]];
            let ab_prev = if i > 0 {
                self.schedule.alpha_bar[ts[i - 1]]
            } else {
                1.0
            };
            let eps = self.guided_eps(&x, ts[i], cond, w)?;
            let x0 = ((&x - (&eps * (1.0 - ab).sqrt())?)? / ab.sqrt())?.clamp(-1f32, 1f32)?;
            // Detached: the weights are variables, so without it every step's output would keep
            // the graph of all earlier steps' U-Net passes alive (3.4 GB for 300 samples).
            x = ((x0 * ab_prev.sqrt())? + (eps * (1.0 - ab_prev).sqrt())?)?.detach();
        }
        Ok(x)
    }
}

/// Training: AdamW on the noise-prediction loss, checkpointed with [`crate::train::checkpoint`].
/// With [`Trainer::with_ema`], an exponential moving average of the weights is kept beside them
/// (Ho et al. 2020 sample from it; decay `min(decay, (1 + s) / (10 + s))` after step `s`, the
/// warm-up of diffusers' `EMAModel`) and saved in the checkpoint's second weight set.
pub struct Trainer {
    pub model: Diffusion,
    optim: Optim,
    pub history: History,
    ema_decay: f64,
    ema: Option<HashMap<String, Tensor>>,
}

impl Trainer {
    pub fn new(model: Diffusion) -> Self {
        let cfg = TrainConfig {
            lr: model.spec.lr,
            ..TrainConfig::default()
        };
        let optim = Optim::new(model.params.trainable(), &cfg);
        Trainer {
            model,
            optim,
            history: History::default(),
            ema_decay: 0.0,
            ema: None,
        }
    }

    /// Keep an exponential moving average of the weights with this decay (0 = none).
    pub fn with_ema(self, decay: f64) -> Self {
        Trainer {
            ema_decay: decay,
            ..self
        }
    }

    /// The model to sample from: the moving average of the weights if one is kept, else the
    /// trained weights.
    pub fn into_sampler(self) -> Result<Diffusion> {
        let Some(ema) = self.ema else {
            return Ok(self.model);
        };
        let m = self.model;
        for (name, t) in ema {
            if let Some(v) = m.params.var(&name) {
                v.set(&t)?;
            }
        }
        Ok(m)
    }

    /// The learning rate of the next steps (a schedule is the caller's).
    pub fn set_lr(&mut self, lr: f64) {
        self.optim.set_lr(lr);
    }

    /// Optimizer steps taken.
    pub fn steps(&self) -> u64 {
        self.optim.steps()
    }

    /// One step on a batch `x0` (`N x C x H x W` in `[-1, 1]`) with conditions `cond`
    /// (`N x cond_dim`): `|eps - eps_theta(x_t, t, c)|^2` averaged (the velocity in place of
    /// `eps` for a `v` model); returns the loss.
    pub fn step(&mut self, x0: &Tensor, cond: &Tensor) -> Result<f64> {
        let m = &self.model;
        let n = x0.dim(0)?;
        let dev = x0.device();
        let mut rng = item_stream(m.seed, "diffusion/train-step", self.steps());
        let t: Vec<usize> = (0..n)
            .map(|_| rng.random_range(0..m.schedule.len()))
            .collect();
        let noise = normal(&mut rng, x0.dims(), dev)?;
        let keep: Vec<f32> = (0..n)
            .map(|_| {
                if rng.random::<f64>() < m.spec.p_uncond {
                    0.0
                } else {
                    1.0
                }
            })
            .collect();
        let keep = Tensor::from_vec(keep, n, dev)?;
        let xt = m.schedule.q_sample(x0, &t, &noise)?;
        let out = m.unet.forward(&xt, &t, cond, &keep)?;
        let target = match m.spec.prediction {
            Prediction::Epsilon => noise,
            Prediction::V => m.schedule.velocity(x0, &t, &noise)?,
        };
        let loss = (out - target)?.sqr()?.mean_all()?;
        let value = loss.to_scalar::<f32>()? as f64;
        if !value.is_finite() {
            candle_core::bail!(
                "diffusion training diverged: the loss is {value} at step {}; lower the learning rate",
                self.steps() + 1
            );
        }
        self.optim.backward_step(&loss)?;
        self.history.train_loss.push(value);
        self.history.steps += 1;
        if self.ema_decay > 0.0 {
            let s = self.steps() as f64;
            let d = self.ema_decay.min((1.0 + s) / (10.0 + s));
            let ema = self.ema.get_or_insert_with(HashMap::new);
            for (name, var) in self.model.params.trainable_named() {
                let p = var.as_tensor();
                // Detached: computed from a variable, the average would otherwise record its
                // op and keep every earlier step's average (three weight-sized tensors per step)
                // alive through the graph.
                let next = match ema.get(&name) {
                    Some(e) => ((e * d)? + (p * (1.0 - d))?)?,
                    None => p.copy()?,
                }
                .detach();
                ema.insert(name, next);
            }
        }
        Ok(value)
    }

    /// Write the weights, the optimizer state and the loss history into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let ema = self.ema.as_ref().map(|e| (self.ema_decay, e));
        crate::train::checkpoint::save(dir, &self.model.params, &self.optim, &self.history, ema)
    }

    /// Continue from the checkpoint in `dir`, if there is one; whether it was loaded.
    pub fn resume(&mut self, dir: &Path) -> Result<bool> {
        let dev = self.model.device.clone();
        match crate::train::checkpoint::load(dir, &self.model.params, &mut self.optim, &dev)? {
            Some(loaded) => {
                self.history = loaded.meta.history;
                self.ema = loaded.best;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests;
