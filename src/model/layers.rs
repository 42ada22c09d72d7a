//! Layers shared by backbones and heads: convolution (including depthwise), batch-norm,
//! channel LayerNorm, linear and dropout. Every convolution of every backbone goes through
//! [`Conv2d`] and every batch-norm through [`BatchNorm`], so the engine's fused kernels can be
//! switched in here, in one place. Semantics follow PyTorch exactly (BatchNorm eps 1e-5,
//! momentum 0.1, biased variance to normalise, unbiased for the running variance).

pub use super::params::Params;

use crate::rng::stream;
use candle_core::{D, Device, Result, Tensor};
use rand::Rng;
use std::sync::atomic::{AtomicU64, Ordering};

/// `y = x W^T + b` (PyTorch's `nn.Linear`), its product by the engine's machine-independent
/// [`matmul`](crate::engine::matmul::matmul).
pub struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    /// PyTorch's default init: weight and bias uniform in `±1/sqrt(inp)`.
    pub fn new(p: &Params, name: &str, inp: usize, out: usize, dev: &Device) -> Result<Self> {
        let bound = 1.0 / (inp.max(1) as f64).sqrt();
        let w = p.uniform(&format!("{name}.weight"), &[out, inp], bound, dev)?;
        let b = p.uniform(&format!("{name}.bias"), &[out], bound, dev)?;
        Ok(Linear { weight: w, bias: b })
    }

    /// Weight uniform in `±weight_bound`, every bias `bias` (for output layers that need a
    /// particular start, like Dieleman's).
    pub fn with_init(
        p: &Params,
        name: &str,
        (inp, out): (usize, usize),
        weight_bound: f64,
        bias: f64,
        dev: &Device,
    ) -> Result<Self> {
        let w = p.uniform(&format!("{name}.weight"), &[out, inp], weight_bound, dev)?;
        let b = p.constant(&format!("{name}.bias"), &[out], bias, true, dev)?;
        Ok(Linear { weight: w, bias: b })
    }

    /// `x`: `N x inp` (or `... x inp`) -> `... x out`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (lead, inp) = match x.dims() {
            [lead @ .., inp] => (lead.to_vec(), *inp),
            [] => candle_core::bail!("linear: a scalar input"),
        };
        let rows = x.reshape((lead.iter().product::<usize>(), inp))?;
        let y =
            crate::engine::matmul::matmul(&rows, &self.weight.t()?)?.broadcast_add(&self.bias)?;
        let mut shape = lead;
        shape.push(y.dim(1)?);
        y.reshape(shape)
    }
}

/// Shape of one convolution: `out x (inp / groups) x k x k` kernel. Built from
/// [`ConvSpec::new`]'s defaults with the settings that differ, e.g.
/// `ConvSpec::new(3, 64, 7).stride(2)` or `ConvSpec::new(c, c, 7).groups(c).bias(true)`.
#[derive(Debug, Clone, Copy)]
pub struct ConvSpec {
    pub inp: usize,
    pub out: usize,
    pub k: usize,
    pub stride: usize,
    pub padding: usize,
    /// `inp` for a depthwise convolution.
    pub groups: usize,
    pub bias: bool,
}

impl ConvSpec {
    /// `k x k`, stride 1, "same" padding `k / 2`, no bias, one group.
    pub fn new(inp: usize, out: usize, k: usize) -> Self {
        ConvSpec {
            inp,
            out,
            k,
            stride: 1,
            padding: k / 2,
            groups: 1,
            bias: false,
        }
    }

    /// The same convolution with stride `stride`.
    pub fn stride(self, stride: usize) -> Self {
        ConvSpec { stride, ..self }
    }

    /// The same convolution with `padding` on each side.
    pub fn padding(self, padding: usize) -> Self {
        ConvSpec { padding, ..self }
    }

    /// The same convolution in `groups` groups (`inp` for a depthwise one).
    pub fn groups(self, groups: usize) -> Self {
        ConvSpec { groups, ..self }
    }

    /// The same convolution with (`true`) or without a bias.
    pub fn bias(self, bias: bool) -> Self {
        ConvSpec { bias, ..self }
    }
}

/// 2-D convolution (PyTorch `Conv2d` semantics, weight `out x inp/groups x k x k`).
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    spec: ConvSpec,
    /// A depthwise conv computed by [`crate::engine::depthwise`] (see [`Conv2d::depthwise`]).
    depthwise_kernel: bool,
}

impl Conv2d {
    /// `k x k`, stride 1, same padding, no bias (it is followed by batch-norm).
    pub fn new(
        p: &Params,
        name: &str,
        inp: usize,
        out: usize,
        k: usize,
        dev: &Device,
    ) -> Result<Self> {
        Self::with_spec(p, name, ConvSpec::new(inp, out, k), dev)
    }

    /// Any convolution; weight drawn Kaiming-uniform (`±sqrt(6 / fan_in)`), bias in
    /// `±1/sqrt(fan_in)`.
    pub fn with_spec(p: &Params, name: &str, spec: ConvSpec, dev: &Device) -> Result<Self> {
        if spec.groups == 0
            || !spec.inp.is_multiple_of(spec.groups)
            || !spec.out.is_multiple_of(spec.groups)
        {
            candle_core::bail!(
                "conv `{name}`: {} -> {} channels cannot be split into {} groups",
                spec.inp,
                spec.out,
                spec.groups
            );
        }
        let fan_in = (spec.inp / spec.groups * spec.k * spec.k).max(1) as f64;
        let shape = [spec.out, spec.inp / spec.groups, spec.k, spec.k];
        let weight = p.uniform(
            &format!("{name}.weight"),
            &shape,
            (6.0 / fan_in).sqrt(),
            dev,
        )?;
        let bias = if spec.bias {
            let b = 1.0 / fan_in.sqrt();
            Some(p.uniform(&format!("{name}.bias"), &[spec.out], b, dev)?)
        } else {
            None
        };
        Ok(Conv2d {
            weight,
            bias,
            spec,
            depthwise_kernel: false,
        })
    }

    /// A depthwise conv (`groups == inp == out`) computed by
    /// [`crate::engine::depthwise::depthwise_conv2d`] (fast on the CPU) rather than the grouped
    /// [`crate::engine::conv::conv2d`]; same parameters and initial values as
    /// [`Conv2d::with_spec`]. ConvNeXt keeps the grouped path, so its results do not change.
    pub fn depthwise(p: &Params, name: &str, spec: ConvSpec, dev: &Device) -> Result<Self> {
        if !(spec.groups == spec.inp && spec.inp == spec.out) {
            candle_core::bail!(
                "conv `{name}`: {} -> {} channels in {} groups is not depthwise",
                spec.inp,
                spec.out,
                spec.groups
            );
        }
        let mut c = Self::with_spec(p, name, spec, dev)?;
        c.depthwise_kernel = true;
        Ok(c)
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let s = &self.spec;
        let y = if self.depthwise_kernel {
            crate::engine::depthwise::depthwise_conv2d(x, &self.weight, s.stride, s.padding)?
        } else {
            crate::engine::conv::conv2d(x, &self.weight, s.stride, s.padding, s.groups)?
        };
        match &self.bias {
            Some(b) => crate::engine::bias::add_bias(&y, b),
            None => Ok(y),
        }
    }
}

/// `k x k` max-pool with stride `k` (PyTorch `max_pool2d(x, k)`: trailing rows/columns that do
/// not fill a window are dropped). Written as reshape + max so its gradient goes to the
/// maximum (candle 0.11's own `max_pool2d` backward scales gradients by `1/k^2` and misplaces
/// them for odd sizes).
pub fn max_pool2d(x: &Tensor, k: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    if k == 0 || h < k || w < k {
        candle_core::bail!("max-pool {k}x{k} on a {h}x{w} map");
    }
    let (oh, ow) = (h / k, w / k);
    x.narrow(2, 0, oh * k)?
        .narrow(3, 0, ow * k)?
        .contiguous()?
        .reshape((n, c, oh, k, ow, k))?
        .max(5)?
        .max(3)
}

/// `k x k` max-pool with stride `stride` and `pad` on each side (PyTorch
/// `nn.MaxPool2d(k, stride, pad)`, floor mode; ResNet's stem pool is `(3, 2, 1)`). Padding
/// repeats the edge values, which never changes a maximum (every window holds the row or
/// column it copies, as PyTorch's `pad <= k / 2` guarantees) and keeps any sign of input.
/// Written with narrow / reshape / `maximum` (rows, then columns), so the gradient goes to the
/// maximum of each window.
pub fn max_pool2d_padded(x: &Tensor, k: usize, stride: usize, pad: usize) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    if k == 0 || stride == 0 || 2 * pad > k || h + 2 * pad < k || w + 2 * pad < k {
        candle_core::bail!("max-pool {k}x{k} stride {stride} padding {pad} on a {h}x{w} map");
    }
    let mut y = x.clone();
    for (dim, len) in [(2, h), (3, w)] {
        let out = (len + 2 * pad - k) / stride + 1;
        // The window starting last reaches row `k - 1 + stride * (out - 1)`; the reshape in
        // `strided` reads up to `k - 1 + stride * out - 1`.
        let extra = (k - 1 + stride * out).saturating_sub(len + 2 * pad);
        let padded = y.pad_with_same(dim, pad, pad + extra)?;
        let mut m = crate::engine::depthwise::strided(&padded, dim, 0, stride, out)?;
        for d in 1..k {
            m = m.maximum(&crate::engine::depthwise::strided(
                &padded, dim, d, stride, out,
            )?)?;
        }
        y = m;
    }
    Ok(y)
}

/// Spatial batch normalisation with running statistics stored as buffers (momentum 0.1).
pub struct BatchNorm {
    weight: Tensor,
    bias: Tensor,
    running: crate::engine::batchnorm::Running,
}

impl BatchNorm {
    const EPS: f64 = 1e-5;
    const MOMENTUM: f64 = 0.1;

    pub fn new(p: &Params, name: &str, c: usize, dev: &Device) -> Result<Self> {
        let weight = p.constant(&format!("{name}.weight"), &[c], 1.0, true, dev)?;
        let bias = p.constant(&format!("{name}.bias"), &[c], 0.0, true, dev)?;
        p.constant(&format!("{name}.running_mean"), &[c], 0.0, false, dev)?;
        p.constant(&format!("{name}.running_var"), &[c], 1.0, false, dev)?;
        let mean = p
            .var(&format!("{name}.running_mean"))
            .expect("just inserted");
        let var = p
            .var(&format!("{name}.running_var"))
            .expect("just inserted");
        Ok(BatchNorm {
            weight,
            bias,
            running: crate::engine::batchnorm::Running {
                mean,
                var,
                momentum: Self::MOMENTUM,
            },
        })
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_act(x, train, crate::engine::batchnorm::Act::None)
    }

    /// [`BatchNorm::forward`] then `act` (ReLU, SiLU, or ReLU + max-pool): one op in training on the
    /// CPU (the same bits as the separate ops, without their autograd passes).
    pub fn forward_act(
        &self,
        x: &Tensor,
        train: bool,
        act: crate::engine::batchnorm::Act,
    ) -> Result<Tensor> {
        use crate::engine::batchnorm as bn;
        if train {
            return bn::batch_norm_train_act(
                x,
                &self.weight,
                &self.bias,
                Self::EPS,
                &self.running,
                act,
            );
        }
        let stats = (self.running.mean.as_tensor(), self.running.var.as_tensor());
        bn::batch_norm_eval_act(x, stats, &self.weight, &self.bias, Self::EPS, act)
    }
}

/// LayerNorm over the last dimension (PyTorch `nn.LayerNorm(c)`: biased variance, affine).
/// Applied to `N x C x H x W` through [`LayerNorm::forward_nchw`] it is timm's `LayerNorm2d`
/// (channels-last semantics: each pixel normalised over its channels).
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    pub fn new(p: &Params, name: &str, c: usize, eps: f64, dev: &Device) -> Result<Self> {
        let weight = p.constant(&format!("{name}.weight"), &[c], 1.0, true, dev)?;
        let bias = p.constant(&format!("{name}.bias"), &[c], 0.0, true, dev)?;
        Ok(LayerNorm { weight, bias, eps })
    }

    /// Normalise over the last dimension.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        centred
            .broadcast_div(&(var + self.eps)?.sqrt()?)?
            .broadcast_mul(&self.weight)?
            .broadcast_add(&self.bias)
    }

    /// Normalise `N x C x H x W` over `C` at each pixel.
    pub fn forward_nchw(&self, x: &Tensor) -> Result<Tensor> {
        let c = x.dim(1)?;
        let shape = (1, c, 1, 1);
        let mean = x.mean_keepdim(1)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(1)?;
        centred
            .broadcast_div(&(var + self.eps)?.sqrt()?)?
            .broadcast_mul(&self.weight.reshape(shape)?)?
            .broadcast_add(&self.bias.reshape(shape)?)
    }
}

/// Inverted dropout (train only). Masks come from the named stream
/// `model/dropout/<name>/<call>` under the model seed, where `<call>` counts this layer's
/// training forwards, so a run is deterministic (candle's own dropout is not seeded).
pub struct Dropout {
    p: f64,
    seed: u64,
    name: String,
    calls: AtomicU64,
}

impl Dropout {
    pub fn new(params: &Params, name: &str, p: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            candle_core::bail!("dropout `{name}`: rate {p} is not in [0, 1)");
        }
        Ok(Dropout {
            p,
            seed: params.seed(),
            name: name.to_string(),
            calls: AtomicU64::new(0),
        })
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        if !train || self.p == 0.0 {
            return Ok(x.clone());
        }
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        let mut r = stream(self.seed, &format!("model/dropout/{}/{call}", self.name));
        let keep = 1.0 - self.p;
        let scale = (1.0 / keep) as f32;
        let mask: Vec<f32> = (0..x.elem_count())
            .map(|_| if r.random::<f64>() < keep { scale } else { 0.0 })
            .collect();
        let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
        x * mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depthwise_conv_shapes_and_bias() {
        let p = Params::new(0);
        let d = Device::Cpu;
        let spec = ConvSpec::new(4, 4, 7).groups(4).bias(true);
        let c = Conv2d::with_spec(&p, "dw", spec, &d).unwrap();
        assert_eq!(p.var("dw.weight").unwrap().dims(), &[4, 1, 7, 7]);
        let y = c.forward(&Tensor::zeros((2, 4, 9, 9), candle_core::DType::F32, &d).unwrap());
        assert_eq!(y.unwrap().dims(), &[2, 4, 9, 9]);
        let bad = spec.groups(3);
        assert!(Conv2d::with_spec(&p, "bad", bad, &d).is_err());
    }

    #[test]
    fn max_pool_gradient_goes_to_the_maximum() {
        let d = Device::Cpu;
        let v: Vec<f32> = (0..15).map(|i| ((i * 7) % 15) as f32).collect();
        let x = candle_core::Var::from_vec(v, (1, 1, 3, 5), &d).unwrap();
        let y = max_pool2d(x.as_tensor(), 2).unwrap();
        assert_eq!(y.dims(), &[1, 1, 1, 2]);
        assert_eq!(
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![12.0, 14.0]
        );
        let g = y.sum_all().unwrap().backward().unwrap();
        let g = g.get(x.as_tensor()).unwrap().flatten_all().unwrap();
        let g = g.to_vec1::<f32>().unwrap();
        // 12 sits at index 6 (row 1, col 1), 14 at index 2 (row 0, col 2).
        let mut want = vec![0.0; 15];
        want[6] = 1.0;
        want[2] = 1.0;
        assert_eq!(g, want);
        assert!(max_pool2d(x.as_tensor(), 4).is_err());
    }

    #[test]
    fn padded_max_pool_is_pytorchs() {
        let d = Device::Cpu;
        // torch.nn.MaxPool2d(3, 2, 1)(x) for x = (arange(35) * 11 % 35 - 17).reshape(1, 1, 5, 7)
        let v: Vec<f32> = (0..35).map(|i| ((i * 11) % 35) as f32 - 17.0).collect();
        let x = candle_core::Var::from_vec(v, (1, 1, 5, 7), &d).unwrap();
        let y = max_pool2d_padded(x.as_tensor(), 3, 2, 1).unwrap();
        assert_eq!(y.dims(), &[1, 1, 3, 4]);
        let want = [
            1.0, 16.0, 16.0, 14.0, 15.0, 15.0, 17.0, 17.0, 15.0, 15.0, 13.0, 7.0,
        ];
        assert_eq!(y.flatten_all().unwrap().to_vec1::<f32>().unwrap(), want);
        // Negative inputs: the padding never wins.
        let neg = (x.as_tensor() - 100.0).unwrap();
        let yn = max_pool2d_padded(&neg, 3, 2, 1).unwrap();
        let yn = yn.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(yn, want.map(|v| v - 100.0));
        // Each window's gradient goes to its maximum, summed where windows share it.
        let g = y.sum_all().unwrap().backward().unwrap();
        let g = g.get(x.as_tensor()).unwrap().flatten_all().unwrap();
        let g = g.to_vec1::<f32>().unwrap();
        // x.grad of PyTorch's pool
        let mut want_grad = [0.0f32; 35];
        for (i, v) in [
            (3, 2.0),
            (6, 1.0),
            (8, 1.0),
            (19, 2.0),
            (22, 4.0),
            (25, 1.0),
            (34, 1.0),
        ] {
            want_grad[i] = v;
        }
        assert_eq!(g, want_grad);
        assert!(max_pool2d_padded(x.as_tensor(), 3, 2, 2).is_err());
        // 32 -> 16, 31 -> 16 (floor mode), 1 -> 1
        for (side, out) in [(32, 16), (31, 16), (1, 1)] {
            let x = Tensor::zeros((1, 2, side, side), candle_core::DType::F32, &d).unwrap();
            let y = max_pool2d_padded(&x, 3, 2, 1).unwrap();
            assert_eq!(y.dims(), &[1, 2, out, out]);
        }
    }

    #[test]
    fn layer_norm_nchw_matches_channels_last() {
        let p = Params::new(0);
        let d = Device::Cpu;
        let ln = LayerNorm::new(&p, "ln", 3, 1e-6, &d).unwrap();
        let x = Tensor::arange(0f32, 24.0, &d)
            .unwrap()
            .reshape((1, 3, 2, 4))
            .unwrap()
            .sqr()
            .unwrap();
        let a = ln.forward_nchw(&x).unwrap();
        let b = ln
            .forward(&x.permute((0, 2, 3, 1)).unwrap())
            .unwrap()
            .permute((0, 3, 1, 2))
            .unwrap();
        let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-5);
    }

    #[test]
    fn dropout_is_seeded_and_train_only() {
        let d = Device::Cpu;
        let x = Tensor::ones((4, 50), candle_core::DType::F32, &d).unwrap();
        let run = |seed| {
            let p = Params::new(seed);
            let drop = Dropout::new(&p, "head.dropout", 0.5).unwrap();
            let a = drop.forward(&x, true).unwrap().flatten_all().unwrap();
            let b = drop.forward(&x, true).unwrap().flatten_all().unwrap();
            (a.to_vec1::<f32>().unwrap(), b.to_vec1::<f32>().unwrap())
        };
        let (a, b) = run(1);
        assert_eq!((a.clone(), b.clone()), run(1));
        assert_ne!(a, b, "each call draws a fresh mask");
        assert!(a.iter().all(|&v| v == 0.0 || v == 2.0));
        let zeros = a.iter().filter(|&&v| v == 0.0).count();
        assert!((50..150).contains(&zeros), "{zeros}");
        let p = Params::new(1);
        let drop = Dropout::new(&p, "d", 0.5).unwrap();
        let y = drop.forward(&x, false).unwrap().sum_all().unwrap();
        assert_eq!(y.to_scalar::<f32>().unwrap(), 200.0);
        assert!(Dropout::new(&p, "d", 1.0).is_err());
    }
}
