//! Every engine kernel on a device against its CPU twin, on the same seeded inputs: the
//! convolution (forward and both backwards, four shapes, one of them depthwise), EfficientNet's
//! depthwise convolution (forward and both backwards), batch norm
//! (forward, statistics, backward, and the running statistics updated in the forward), group
//! norm + SiLU (forward and the three gradients), the bias add and nearest upsampling (forward
//! and both gradients), ReLU + max-pool with its backward, `lgamma` / `digamma` (f32 and f64) and three fused AdamW steps
//! over several tensors. `gzbench bench parity --device cuda` prints these
//! beside the PyTorch fixture's comparisons. On the CPU every error is exactly 0 (the test
//! checks the plumbing).

use super::{adamw, batchnorm, bias, conv, depthwise, groupnorm, pool, special, upsample};
use crate::rng::stream;
use candle_core::{DType, Device, Result, Tensor, Var, bail};
use rand_distr::{Distribution, Normal};

/// One value compared with its reference: `max|value - reference| / max|reference|`.
#[derive(Debug, Clone)]
pub struct Check {
    pub what: String,
    pub rel_err: f64,
}

/// `max|a - b| / max|b|` over all elements, in `f64` on the host (normwise, so values near zero
/// do not dominate); infinite when either side holds a NaN or an infinity anywhere (a device
/// reduction's `max` skips NaN unless it comes first, so a kernel writing NaN could otherwise
/// pass); an error when the shapes differ.
pub fn rel_err(a: &Tensor, b: &Tensor) -> Result<f64> {
    let (a, b) = on_host(a, b)?;
    Ok(rel_err_host(&a, &b))
}

/// `max|a - b|` over all elements, in `f64` on the host; infinite when either side holds a NaN
/// or an infinity anywhere (as [`rel_err`]); an error when the shapes differ. For tests that
/// compare two computations of the same values.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    let (a, b) = on_host(a, b)?;
    Ok(max_abs_diff_host(&a, &b))
}

/// Both tensors as `f64` host vectors, after checking their shapes agree.
fn on_host(a: &Tensor, b: &Tensor) -> Result<(Vec<f64>, Vec<f64>)> {
    if a.dims() != b.dims() {
        bail!("shapes differ: {:?} vs {:?}", a.dims(), b.dims())
    }
    let host = |t: &Tensor| {
        t.to_device(&Device::Cpu)?
            .to_dtype(DType::F64)?
            .flatten_all()?
            .to_vec1::<f64>()
    };
    Ok((host(a)?, host(b)?))
}

/// [`max_abs_diff`] of two equally long host vectors.
fn max_abs_diff_host(a: &[f64], b: &[f64]) -> f64 {
    let mut d = 0f64;
    for (&x, &y) in a.iter().zip(b) {
        if !(x.is_finite() && y.is_finite()) {
            return f64::INFINITY;
        }
        d = d.max((x - y).abs());
    }
    d
}

/// [`rel_err`] of two equally long host vectors.
fn rel_err_host(a: &[f64], b: &[f64]) -> f64 {
    let s = b.iter().fold(0f64, |s, y| s.max(y.abs()));
    max_abs_diff_host(a, b) / s.max(1e-30)
}

/// `N(mu, sd)` values from the stream `(seed, name)` as a CPU tensor (also the inputs of the
/// kernels' unit tests).
pub(crate) fn normal(seed: u64, name: &str, shape: &[usize], mu: f32, sd: f32) -> Result<Tensor> {
    let mut r = stream(seed, name);
    let d = Normal::new(mu, sd).map_err(candle_core::Error::wrap)?;
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| d.sample(&mut r)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu)
}

fn randn(name: &str, shape: &[usize]) -> Result<Tensor> {
    normal(7, &format!("engine/crosscheck/{name}"), shape, 0.0, 1.0)
}

/// Run `f` on the CPU and on `dev` with the same inputs; compare each output.
fn both(
    out: &mut Vec<Check>,
    what: &str,
    names: &[&str],
    dev: &Device,
    f: impl Fn(&Device) -> Result<Vec<Tensor>>,
) -> Result<()> {
    let cpu = f(&Device::Cpu)?;
    let on = f(dev)?;
    if cpu.len() != on.len() || cpu.len() != names.len() {
        bail!(
            "{what}: {} outputs on the CPU, {} on the device, {} names; every output must be \
             compared",
            cpu.len(),
            on.len(),
            names.len()
        )
    }
    for ((c, d), n) in cpu.iter().zip(&on).zip(names) {
        out.push(Check {
            what: format!("{what} {n}"),
            rel_err: rel_err(d, c)?,
        });
    }
    Ok(())
}

/// A differentiable input on `dev`.
fn var(t: &Tensor, dev: &Device) -> Result<Var> {
    Var::from_tensor(&t.to_device(dev)?)
}

/// Every comparison on `dev`.
pub fn run(dev: &Device) -> Result<Vec<Check>> {
    let mut out = Vec::new();
    for (xs, ws, stride, pad, groups) in [
        (
            [8usize, 16, 32, 32],
            [32usize, 16, 3, 3],
            1usize,
            1usize,
            1usize,
        ),
        ([4, 32, 17, 17], [64, 32, 3, 3], 2, 1, 1),
        ([4, 32, 16, 16], [64, 32, 1, 1], 2, 0, 1),
        // ConvNeXt's depthwise 7x7 (grouped: candle's conv on the CPU, cuDNN on a GPU)
        ([4, 16, 14, 14], [16, 1, 7, 7], 1, 3, 16),
    ] {
        let (x0, w0) = (randn("conv/x", &xs)?, randn("conv/w", &ws)?);
        both(
            &mut out,
            &format!("conv {xs:?}*{ws:?}/{stride} groups {groups}"),
            &["y", "dx", "dw"],
            dev,
            |d| {
                let (x, w) = (var(&x0, d)?, var(&w0, d)?);
                let y = conv::conv2d(x.as_tensor(), w.as_tensor(), stride, pad, groups)?;
                let g = (y.sqr()? * 0.5)?.sum_all()?.backward()?;
                let gx = g.get(x.as_tensor()).cloned();
                let gw = g.get(w.as_tensor()).cloned();
                Ok(vec![y].into_iter().chain(gx).chain(gw).collect::<Vec<_>>())
            },
        )?;
    }
    // EfficientNet's depthwise 5x5 stride 2 (shifted multiply-adds on the CPU, cuDNN on a GPU)
    let (x0, w0) = (
        randn("dw/x", &[4, 24, 17, 17])?,
        randn("dw/w", &[24, 1, 5, 5])?,
    );
    both(
        &mut out,
        "depthwise [4, 24, 17, 17]*[24, 1, 5, 5]/2",
        &["y", "dx", "dw"],
        dev,
        |d| {
            let (x, w) = (var(&x0, d)?, var(&w0, d)?);
            let y = depthwise::depthwise_conv2d(x.as_tensor(), w.as_tensor(), 2, 2)?;
            let g = (y.sqr()? * 0.5)?.sum_all()?.backward()?;
            let gx = g.get(x.as_tensor()).cloned();
            let gw = g.get(w.as_tensor()).cloned();
            Ok(vec![y].into_iter().chain(gx).chain(gw).collect::<Vec<_>>())
        },
    )?;
    let (x0, g0, b0) = (
        randn("bn/x", &[16, 8, 12, 12])?,
        randn("bn/g", &[8])?,
        randn("bn/b", &[8])?,
    );
    let wt = randn("bn/weights", &[16, 8, 12, 12])?;
    both(
        &mut out,
        "batch-norm",
        &["y", "mean", "var", "dx", "dgamma", "dbeta"],
        dev,
        |d| {
            let (x, g, b) = (var(&x0, d)?, var(&g0, d)?, var(&b0, d)?);
            let o = batchnorm::batch_norm_train(x.as_tensor(), g.as_tensor(), b.as_tensor(), 1e-5)?;
            let grads = (&o.y * wt.to_device(d)?)?.sum_all()?.backward()?;
            let mut v = vec![o.y.clone(), o.mean.clone(), o.var.clone()];
            for t in [&x, &g, &b] {
                v.extend(grads.get(t.as_tensor()).cloned());
            }
            Ok(v)
        },
    )?;
    both(
        &mut out,
        "batch-norm with running statistics",
        &["y", "running mean", "running var"],
        dev,
        |d| {
            let running = batchnorm::Running {
                mean: var(&randn("bn/running-mean", &[8])?, d)?,
                var: var(&randn("bn/running-var", &[8])?.abs()?, d)?,
                momentum: 0.1,
            };
            let (g, b) = (g0.to_device(d)?, b0.to_device(d)?);
            let y = batchnorm::batch_norm_train_update(&x0.to_device(d)?, &g, &b, 1e-5, &running)?;
            Ok(vec![
                y,
                running.mean.as_tensor().clone(),
                running.var.as_tensor().clone(),
            ])
        },
    )?;
    let (x0, w0, b0) = (
        randn("gn/x", &[6, 16, 10, 10])?,
        randn("gn/w", &[16])?,
        randn("gn/b", &[16])?,
    );
    let gw = randn("gn/weights", &[6, 16, 10, 10])?;
    both(
        &mut out,
        "group-norm + SiLU",
        &["y", "dx", "dweight", "dbias"],
        dev,
        |d| {
            let (x, w, b) = (var(&x0, d)?, var(&w0, d)?, var(&b0, d)?);
            let (xt, wt, bt) = (x.as_tensor(), w.as_tensor(), b.as_tensor());
            let y = groupnorm::group_norm(xt, wt, bt, 4, 1e-5, batchnorm::Act::Silu)?;
            let grads = (&y * gw.to_device(d)?)?.sum_all()?.backward()?;
            let mut v = vec![y];
            for t in [xt, wt, bt] {
                v.extend(grads.get(t).cloned());
            }
            Ok(v)
        },
    )?;
    let (x0, b0) = (randn("bias/x", &[5, 12, 9, 7])?, randn("bias/b", &[12])?);
    let uw = randn("bias/weights", &[5, 12, 18, 14])?;
    both(
        &mut out,
        "bias add + upsample x2",
        &["y", "dx", "dbias"],
        dev,
        |d| {
            let (x, b) = (var(&x0, d)?, var(&b0, d)?);
            let z = bias::add_bias(x.as_tensor(), b.as_tensor())?;
            let y = upsample::upsample_nearest(&z, 2)?;
            let grads = (&y * uw.to_device(d)?)?.sum_all()?.backward()?;
            let mut v = vec![y];
            for t in [&x, &b] {
                v.extend(grads.get(t.as_tensor()).cloned());
            }
            Ok(v)
        },
    )?;
    let p0 = randn("pool/x", &[4, 6, 16, 16])?;
    let pw = randn("pool/weights", &[4, 6, 8, 8])?;
    both(&mut out, "relu-max-pool", &["y", "dx"], dev, |d| {
        let x = var(&p0, d)?;
        let y = pool::relu_max_pool2d(x.as_tensor(), 2)?;
        let g = (&y * pw.to_device(d)?)?.sum_all()?.backward()?;
        Ok(vec![y]
            .into_iter()
            .chain(g.get(x.as_tensor()).cloned())
            .collect())
    })?;
    let grid: Vec<f64> = (0..1000).map(|i| 0.01 + 0.13 * i as f64).collect();
    for dtype in [DType::F32, DType::F64] {
        let x0 = Tensor::new(grid.as_slice(), &Device::Cpu)?.to_dtype(dtype)?;
        both(
            &mut out,
            &format!("special {dtype:?}"),
            &["lgamma", "digamma"],
            dev,
            |d| {
                let x = x0.to_device(d)?;
                Ok(vec![special::lgamma(&x)?, special::digamma(&x)?])
            },
        )?;
    }
    let shapes: [&[usize]; 4] = [&[64, 32, 3, 3], &[64], &[10, 64], &[7]];
    both(
        &mut out,
        "adamw 3 steps",
        &["p0", "p1", "p2", "p3"],
        dev,
        |d| {
            let params: Vec<Var> = shapes
                .iter()
                .enumerate()
                .map(|(i, s)| var(&randn(&format!("adamw/p{i}"), s)?, d))
                .collect::<Result<_>>()?;
            let mut ms: Vec<Tensor> = params
                .iter()
                .map(adamw::zero_moment)
                .collect::<Result<_>>()?;
            let mut vs: Vec<Tensor> = params
                .iter()
                .map(adamw::zero_moment)
                .collect::<Result<_>>()?;
            for t in 1..=3 {
                let grads: Vec<Tensor> = shapes
                    .iter()
                    .enumerate()
                    .map(|(i, s)| randn(&format!("adamw/g{i}/{t}"), s)?.to_device(d))
                    .collect::<Result<_>>()?;
                let mut slots: Vec<adamw::Slot> = params
                    .iter()
                    .zip(&grads)
                    .zip(ms.iter_mut().zip(vs.iter_mut()))
                    .map(|((param, grad), (m, v))| adamw::Slot { param, grad, m, v })
                    .collect();
                let h = adamw::Hyper {
                    lr: 1e-2,
                    weight_decay: 0.05,
                    beta1: 0.9,
                    beta2: 0.999,
                    eps: 1e-8,
                    step: t,
                };
                adamw::step(&mut slots, &h)?;
            }
            Ok(params.iter().map(|p| p.as_tensor().clone()).collect())
        },
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_the_cpu_every_kernel_matches_itself_exactly() {
        let c = run(&Device::Cpu).unwrap();
        // 4 convs x 3, depthwise 3, batch norm 6 + 3, group norm 4, bias + upsample 3, pool 2,
        // special 2 x 2, adamw 4
        assert_eq!(c.len(), 12 + 3 + 9 + 4 + 3 + 2 + 4 + 4, "{c:?}");
        assert!(c.iter().all(|c| c.rel_err == 0.0), "{c:?}");
    }

    #[test]
    fn a_nan_anywhere_fails_the_comparison() {
        let r = Tensor::new(&[1f32, -2.0, 3.0, 0.5], &Device::Cpu).unwrap();
        // a NaN in the middle, not first: a reduction's max would skip it
        let bad = Tensor::new(&[1f32, f32::NAN, 3.0, 0.5], &Device::Cpu).unwrap();
        assert_eq!(rel_err(&bad, &r).unwrap(), f64::INFINITY);
        assert_eq!(rel_err(&r, &bad).unwrap(), f64::INFINITY);
        let inf = Tensor::new(&[1f32, -2.0, f32::INFINITY, 0.5], &Device::Cpu).unwrap();
        assert_eq!(rel_err(&inf, &r).unwrap(), f64::INFINITY);
        // hand-computed: max |diff| 0.5, max |reference| 3
        let near = Tensor::new(&[1.5f32, -2.0, 3.0, 0.5], &Device::Cpu).unwrap();
        assert!((rel_err(&near, &r).unwrap() - 0.5 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn a_missing_output_is_an_error_not_a_skipped_comparison() {
        let mut out = Vec::new();
        let e = both(&mut out, "k", &["y", "dx"], &Device::Cpu, |_| {
            Ok(vec![Tensor::new(&[1f32], &Device::Cpu)?])
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("1 outputs on the CPU") && e.contains("2 names"),
            "{e}"
        );
        assert!(out.is_empty());
    }
}
