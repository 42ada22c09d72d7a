//! The forward (noising) process of a DDPM (Ho et al. 2020): a linear variance schedule
//! `beta_t` from `1e-4` to `0.02` over `T` steps (scaled to `T`), `alpha_bar_t = prod_{s<=t}
//! (1 - beta_s)`, and the closed form `x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps`
//! that training samples directly.

use candle_core::{Result, Tensor};

/// The noise schedule of `T` steps (`t = 0..T`, step `t` adds variance `beta[t]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub betas: Vec<f64>,
    /// `alpha_bar[t] = prod_{s <= t} (1 - beta[s])`.
    pub alpha_bar: Vec<f64>,
}

impl Schedule {
    /// Ho et al.'s linear schedule, `beta` from `1e-4` to `0.02` at `T = 1000`, endpoints
    /// scaled by `1000 / T` for other lengths (as in improved-diffusion), so the total noise is
    /// comparable.
    pub fn linear(steps: usize) -> Self {
        let scale = 1000.0 / steps.max(1) as f64;
        let (lo, hi) = (1e-4 * scale, (0.02 * scale).min(0.999));
        let betas: Vec<f64> = (0..steps)
            .map(|i| lo + (hi - lo) * i as f64 / (steps.max(2) - 1) as f64)
            .collect();
        let mut acc = 1.0;
        let alpha_bar = betas
            .iter()
            .map(|b| {
                acc *= 1.0 - b;
                acc
            })
            .collect();
        Schedule { betas, alpha_bar }
    }

    pub fn len(&self) -> usize {
        self.betas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.betas.is_empty()
    }

    /// `x_t` for a batch: `x0` and `noise` are `N x ...`, `t` one step per image.
    pub fn q_sample(&self, x0: &Tensor, t: &[usize], noise: &Tensor) -> Result<Tensor> {
        let (a, s) = self.coefs(x0, t)?;
        x0.broadcast_mul(&a)? + noise.broadcast_mul(&s)?
    }

    /// The velocity `sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0` of each image (Salimans &
    /// Ho 2022), the target of a `v`-predicting model.
    pub fn velocity(&self, x0: &Tensor, t: &[usize], noise: &Tensor) -> Result<Tensor> {
        let (a, s) = self.coefs(x0, t)?;
        noise.broadcast_mul(&a)? - x0.broadcast_mul(&s)?
    }

    /// `sqrt(alpha_bar_t)` and `sqrt(1 - alpha_bar_t)` of each image of `x` (`N x ...`),
    /// shaped to broadcast against it.
    fn coefs(&self, x: &Tensor, t: &[usize]) -> Result<(Tensor, Tensor)> {
        let n = x.dim(0)?;
        if t.len() != n {
            candle_core::bail!("diffusion: {} steps for {n} images", t.len());
        }
        let mut bshape = vec![1usize; x.rank()];
        bshape[0] = n;
        let coef = |f: &dyn Fn(f64) -> f64| -> Result<Tensor> {
            let v: Vec<f32> = t.iter().map(|&s| f(self.alpha_bar[s]) as f32).collect();
            Tensor::from_vec(v, bshape.as_slice(), x.device())
        };
        Ok((coef(&|ab| ab.sqrt())?, coef(&|ab| (1.0 - ab).sqrt())?))
    }
}
