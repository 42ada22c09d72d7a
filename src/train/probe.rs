//! Linear probes done properly: a head-only fit on frozen features solved as the convex problem
//! it is, not by a few dozen optimizer steps.
//!
//! ```text
//! features  f = backbone(x)  (evaluation mode, once per image)
//! standardise with the training mean and standard deviation
//! for lambda in 1 .. 1e-4 (half-decade grid, largest first, warm-started):
//!     minimise  mean cross-entropy + lambda/2 |W|^2  by damped Newton (exact Hessian)
//!     validation cross-entropy of the fit
//! keep the lambda with the lowest validation loss; fold the standardisation into the head
//! ```
//! One logit (sigmoid) for a binary head, `k` logits (softmax) for a `k`-class head. The bias is
//! not penalised (a tiny ridge keeps the softmax's flat direction out of the solve). Reads the
//! model and datasets only; writes only the `head.weight` / `head.bias` parameters.
//!
//! Why: a head started from random weights on unstandardised features and trained for 20-60
//! AdamW steps need not turn around: its ranking can stay on the side the random start put it,
//! below chance (seen in `pretraining_transfer`, frozen astro seed 0: AUC 0.29). The test
//! `few_steps_from_a_random_start_can_invert_the_ranking` reproduces that and shows the probe
//! does not.

use crate::data::Dataset;
use crate::model::{Model, Params};
use candle_core::{Device, Tensor};

/// Penalties tried, largest first (half-decade steps from 1 down to 1e-4). On standardised
/// features with the mean loss, 1 already shrinks every weight to a few hundredths; larger
/// penalties only reproduce the intercept-only guess, which a noisy small validation set would
/// otherwise pick by chance.
pub fn lambdas() -> Vec<f64> {
    (0..=8).map(|i| 10f64.powf(-0.5 * i as f64)).collect()
}

/// Ridge on the unpenalised biases (numerical only).
const BIAS_RIDGE: f64 = 1e-8;
const MAX_NEWTON: usize = 100;
/// Convergence: largest gradient component of the penalised objective.
const GRAD_TOL: f64 = 1e-7;

/// What a probe fit chose and reached.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeFit {
    pub lambda: f64,
    /// Mean training cross-entropy (data term only) at the chosen penalty.
    pub train_loss: f64,
    /// Mean validation cross-entropy at the chosen penalty (NaN without a validation set).
    pub val_loss: f64,
    /// Newton iterations of the chosen fit.
    pub iterations: usize,
    /// Largest gradient component at the end of the chosen fit.
    pub grad_norm: f64,
}

/// Multinomial (k >= 2) or binary (k = 1, sigmoid) logistic regression on rows of `d` features.
#[derive(Debug, Clone, PartialEq)]
pub struct Logistic {
    pub k: usize,
    pub d: usize,
    /// `k x (d + 1)`: weights then the bias, per output.
    pub theta: Vec<f64>,
}

impl Logistic {
    pub fn zeros(k: usize, d: usize) -> Self {
        Logistic {
            k,
            d,
            theta: vec![0.0; k * (d + 1)],
        }
    }

    fn logits(&self, x: &[f64], out: &mut [f64]) {
        let w = self.d + 1;
        for (c, o) in out.iter_mut().enumerate() {
            let row = &self.theta[c * w..(c + 1) * w];
            *o = row[self.d] + row[..self.d].iter().zip(x).map(|(a, b)| a * b).sum::<f64>();
        }
    }

    /// Class probabilities of one row (k = 1: probability of the positive class).
    pub fn probs(&self, x: &[f64]) -> Vec<f64> {
        let mut z = vec![0.0; self.k];
        self.logits(x, &mut z);
        if self.k == 1 {
            return vec![sigmoid(z[0])];
        }
        let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        e.into_iter().map(|v| v / s).collect()
    }

    /// Mean cross-entropy over rows (`y`: 0/1 for k = 1, class index otherwise).
    pub fn loss(&self, x: &[Vec<f64>], y: &[usize]) -> f64 {
        let mut sum = 0.0;
        let mut z = vec![0.0; self.k];
        for (row, &t) in x.iter().zip(y) {
            self.logits(row, &mut z);
            sum += if self.k == 1 {
                // ln(1 + e^z) - t z, stably
                z[0].max(0.0) + (-z[0].abs()).exp().ln_1p() - t as f64 * z[0]
            } else {
                let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                lse - z[t]
            };
        }
        sum / x.len().max(1) as f64
    }

    fn objective(&self, x: &[Vec<f64>], y: &[usize], lambda: f64) -> f64 {
        self.loss(x, y) + 0.5 * lambda * self.penalty() + 0.5 * BIAS_RIDGE * self.bias_sq()
    }

    fn penalty(&self) -> f64 {
        let w = self.d + 1;
        (0..self.k)
            .map(|c| {
                self.theta[c * w..c * w + self.d]
                    .iter()
                    .map(|v| v * v)
                    .sum::<f64>()
            })
            .sum()
    }

    fn bias_sq(&self) -> f64 {
        let w = self.d + 1;
        (0..self.k)
            .map(|c| self.theta[c * w + self.d].powi(2))
            .sum()
    }

    /// Gradient and Hessian of the penalised objective.
    fn grad_hess(&self, x: &[Vec<f64>], y: &[usize], lambda: f64) -> (Vec<f64>, Vec<f64>) {
        let (k, w) = (self.k, self.d + 1);
        let m = k * w;
        let mut g = vec![0.0; m];
        let mut h = vec![0.0; m * m];
        let mut xt = vec![1.0; w];
        let n = x.len().max(1) as f64;
        for (row, &t) in x.iter().zip(y) {
            xt[..self.d].copy_from_slice(row);
            let p = self.probs(row);
            for c in 0..k {
                let target = if k == 1 {
                    t as f64
                } else {
                    (t == c) as usize as f64
                };
                let r = p[c] - target;
                for a in 0..w {
                    g[c * w + a] += r * xt[a] / n;
                }
                for c2 in 0..k {
                    let s = if k == 1 {
                        p[0] * (1.0 - p[0])
                    } else {
                        p[c] * ((c == c2) as usize as f64 - p[c2])
                    };
                    if s == 0.0 {
                        continue;
                    }
                    for a in 0..w {
                        let sa = s * xt[a] / n;
                        let base = (c * w + a) * m + c2 * w;
                        for (b, xb) in xt.iter().enumerate() {
                            h[base + b] += sa * xb;
                        }
                    }
                }
            }
        }
        for c in 0..k {
            for a in 0..w {
                let i = c * w + a;
                let l = if a == self.d { BIAS_RIDGE } else { lambda };
                g[i] += l * self.theta[i];
                h[i * m + i] += l;
            }
        }
        (g, h)
    }

    /// Minimise the penalised cross-entropy by damped Newton from the current parameters;
    /// returns (iterations, largest gradient component at the end).
    pub fn fit(&mut self, x: &[Vec<f64>], y: &[usize], lambda: f64) -> (usize, f64) {
        let mut f = self.objective(x, y, lambda);
        for it in 0..MAX_NEWTON {
            let (g, h) = self.grad_hess(x, y, lambda);
            let gmax = g.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            if gmax < GRAD_TOL {
                return (it, gmax);
            }
            let step = solve_spd(&h, &g);
            let mut t = 1.0;
            let old = self.theta.clone();
            loop {
                for (th, (o, s)) in self.theta.iter_mut().zip(old.iter().zip(&step)) {
                    *th = o - t * s;
                }
                let fnew = self.objective(x, y, lambda);
                if fnew <= f || t < 1e-10 {
                    f = fnew.min(f);
                    break;
                }
                t *= 0.5;
            }
        }
        let (g, _) = self.grad_hess(x, y, lambda);
        (MAX_NEWTON, g.iter().fold(0.0f64, |a, v| a.max(v.abs())))
    }
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Solve `H s = g` for a symmetric positive definite `H` (Cholesky, with growing jitter if the
/// factorisation meets a non-positive pivot).
fn solve_spd(h: &[f64], g: &[f64]) -> Vec<f64> {
    let m = g.len();
    let mut jitter = 0.0;
    loop {
        let mut l = vec![0.0; m * m];
        let mut ok = true;
        'outer: for i in 0..m {
            for j in 0..=i {
                let mut s = h[i * m + j] + if i == j { jitter } else { 0.0 };
                for p in 0..j {
                    s -= l[i * m + p] * l[j * m + p];
                }
                if i == j {
                    if s <= 0.0 || !s.is_finite() {
                        ok = false;
                        break 'outer;
                    }
                    l[i * m + i] = s.sqrt();
                } else {
                    l[i * m + j] = s / l[j * m + j];
                }
            }
        }
        if ok {
            let mut z = g.to_vec();
            for i in 0..m {
                for p in 0..i {
                    z[i] -= l[i * m + p] * z[p];
                }
                z[i] /= l[i * m + i];
            }
            for i in (0..m).rev() {
                for p in i + 1..m {
                    z[i] -= l[p * m + i] * z[p];
                }
                z[i] /= l[i * m + i];
            }
            return z;
        }
        jitter = if jitter == 0.0 { 1e-10 } else { jitter * 10.0 };
    }
}

/// Per-feature mean and scale (standard deviation, 1 where a feature is constant).
#[derive(Debug, Clone, PartialEq)]
pub struct Standardiser {
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
}

impl Standardiser {
    /// Mean and population standard deviation of every feature of `x` (f64 or f32 rows,
    /// accumulated in f64).
    pub fn fit<T: Copy + Into<f64>>(x: &[Vec<T>]) -> Self {
        let d = x.first().map_or(0, |r| r.len());
        let n = x.len().max(1) as f64;
        let mut mean = vec![0.0; d];
        for r in x {
            for (m, v) in mean.iter_mut().zip(r) {
                *m += (*v).into() / n;
            }
        }
        let mut var = vec![0.0; d];
        for r in x {
            for ((s, v), m) in var.iter_mut().zip(r).zip(&mean) {
                *s += ((*v).into() - m).powi(2) / n;
            }
        }
        let scale = var
            .into_iter()
            .map(|v| if v.sqrt() > 1e-12 { v.sqrt() } else { 1.0 })
            .collect();
        Standardiser { mean, scale }
    }

    pub fn apply(&self, x: &[Vec<f64>]) -> Vec<Vec<f64>> {
        x.iter()
            .map(|r| {
                r.iter()
                    .zip(&self.mean)
                    .zip(&self.scale)
                    .map(|((v, m), s)| (v - m) / s)
                    .collect()
            })
            .collect()
    }
}

/// Fit on standardised training rows along the penalty grid, keeping the penalty with the
/// lowest validation loss (the larger penalty on ties); without validation rows, the largest
/// penalty whose training loss is within 1% of the smallest penalty's.
pub fn select(
    train: (&[Vec<f64>], &[usize]),
    val: (&[Vec<f64>], &[usize]),
    k: usize,
) -> (Logistic, ProbeFit) {
    let d = train.0.first().map_or(0, |r| r.len());
    let mut model = Logistic::zeros(k, d);
    let mut best: Option<(Logistic, ProbeFit)> = None;
    let mut fits: Vec<(Logistic, ProbeFit)> = Vec::new();
    for lambda in lambdas() {
        let (iterations, grad_norm) = model.fit(train.0, train.1, lambda);
        let fit = ProbeFit {
            lambda,
            train_loss: model.loss(train.0, train.1),
            val_loss: if val.0.is_empty() {
                f64::NAN
            } else {
                model.loss(val.0, val.1)
            },
            iterations,
            grad_norm,
        };
        if !val.0.is_empty() && best.as_ref().is_none_or(|(_, b)| fit.val_loss < b.val_loss) {
            best = Some((model.clone(), fit.clone()));
        }
        fits.push((model.clone(), fit));
    }
    if let Some(b) = best {
        return b;
    }
    let floor = fits.last().map_or(0.0, |(_, f)| f.train_loss);
    fits.into_iter()
        .find(|(_, f)| f.train_loss <= floor * 1.01 + 1e-9)
        .expect("the grid is not empty")
}

/// Frozen-backbone features of every image of `data`, in order (evaluation mode).
pub fn features(
    model: &Model,
    data: &Dataset,
    device: &Device,
) -> candle_core::Result<Vec<Vec<f64>>> {
    let mut out = Vec::with_capacity(data.len());
    super::for_each_batch(data, 256, device, |_, x, _| {
        let f = model
            .features(x, false)?
            .to_dtype(candle_core::DType::F32)?;
        out.extend(
            f.to_vec2::<f32>()?
                .into_iter()
                .map(|r| r.into_iter().map(f64::from).collect::<Vec<f64>>()),
        );
        Ok(())
    })?;
    Ok(out)
}

fn labels(data: &Dataset) -> Vec<usize> {
    data.targets
        .iter()
        .map(|&t| t.round().max(0.0) as usize)
        .collect()
}

/// Fit the head of `model` (one logit or `k` softmax logits over the backbone's features) as a
/// converged, penalised linear probe on `train`, the penalty chosen on `val`; writes the fitted
/// weights (standardisation folded in) into `head.weight` / `head.bias`.
pub fn fit_head(
    model: &Model,
    params: &Params,
    train: &Dataset,
    val: &Dataset,
    device: &Device,
) -> anyhow::Result<ProbeFit> {
    let k = model.outputs();
    let (ftr, fva) = (
        features(model, train, device)?,
        features(model, val, device)?,
    );
    let (ytr, yva) = (labels(train), labels(val));
    if let Some(&bad) = ytr.iter().chain(&yva).find(|&&t| t >= k.max(2)) {
        anyhow::bail!("linear probe: label {bad} but the head has {k} outputs");
    }
    let st = Standardiser::fit(&ftr);
    let (xtr, xva) = (st.apply(&ftr), st.apply(&fva));
    let (probe, fit) = select((&xtr, &ytr), (&xva, &yva), k);
    // logits = W (f - mu) / s + b = (W / s) f + (b - sum W mu / s)
    let d = probe.d;
    let mut w = vec![0f32; k * d];
    let mut b = vec![0f32; k];
    for c in 0..k {
        let row = &probe.theta[c * (d + 1)..(c + 1) * (d + 1)];
        let mut bias = row[d];
        for j in 0..d {
            let wj = row[j] / st.scale[j];
            w[c * d + j] = wj as f32;
            bias -= wj * st.mean[j];
        }
        b[c] = bias as f32;
    }
    let set = |name: &str, v: Vec<f32>, shape: &[usize]| -> anyhow::Result<()> {
        let var = params
            .var(name)
            .ok_or_else(|| anyhow::anyhow!("linear probe: the model has no `{name}`"))?;
        let t = Tensor::from_vec(v, shape, device)?.to_dtype(var.dtype())?;
        var.set(&t)?;
        Ok(())
    };
    set("head.weight", w, &[k, d])?;
    set("head.bias", b, &[k])?;
    Ok(fit)
}

#[cfg(test)]
mod tests;
