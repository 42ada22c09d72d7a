//! The denoising network: a small U-Net (Ronneberger et al. 2015, as in Ho et al. 2020) that
//! predicts the noise in `x_t` given the step `t` and a condition vector.
//!
//! ```text
//! emb = MLP(sinusoid(t)) + Linear([cond * keep, keep])      keep = 0: unconditional (CFG)
//! h = conv_in(x)
//! level l = 0..L:  h = Res_l(h, emb) -> skip_l; h = conv3x3/2(h)    (not after the last)
//! h = Res_mid(h, emb)
//! level l = L-1..0: h = Res'_l(cat(h, skip_l), emb); h = conv3x3(upsample2(h))  (not at 0)
//! eps = conv_out(SiLU(GroupNorm(h)))                        conv_out starts at zero
//! Res(x, emb) = skip(x) + conv(SiLU(GN(conv(SiLU(GN(x))) + Linear(SiLU(emb)))))
//! ```
//!
//! Channels per level are `base * mults[l]`; group norm uses `min(groups, channels)` groups
//! (eps `1e-5`). The condition is a vector of Galaxy Zoo answer fractions (any combination can
//! be asked for); `keep = 0` and a zero vector is the null condition of classifier-free guidance.

use crate::engine::batchnorm::Act;
use crate::engine::groupnorm::group_norm;
use crate::engine::upsample::upsample_nearest;
use crate::model::layers::{Conv2d, ConvSpec, Linear, Params};
use candle_core::{Device, Result, Tensor};

/// The shape of a U-Net.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UNetSpec {
    /// Image channels in and out.
    pub channels: usize,
    /// Channels of the first level.
    pub base: usize,
    /// Channel multiplier per level (one down-sampling between consecutive levels).
    pub mults: Vec<usize>,
    /// Length of the condition vector.
    pub cond_dim: usize,
    /// Group-norm groups (capped by the channel count).
    pub groups: usize,
}

/// Group normalisation (Wu & He 2018; PyTorch `nn.GroupNorm`, biased variance, eps `1e-5`).
pub struct GroupNorm {
    weight: Tensor,
    bias: Tensor,
    groups: usize,
}

impl GroupNorm {
    pub fn new(
        p: &Params,
        name: &str,
        channels: usize,
        groups: usize,
        dev: &Device,
    ) -> Result<Self> {
        let groups = groups.min(channels).max(1);
        if !channels.is_multiple_of(groups) {
            candle_core::bail!("group norm `{name}`: {channels} channels in {groups} groups");
        }
        Ok(GroupNorm {
            weight: p.constant(&format!("{name}.weight"), &[channels], 1.0, true, dev)?,
            bias: p.constant(&format!("{name}.bias"), &[channels], 0.0, true, dev)?,
            groups,
        })
    }

    /// `SiLU(GroupNorm(x))`, in one fused op on the CPU ([`group_norm`]).
    pub fn silu(&self, x: &Tensor) -> Result<Tensor> {
        group_norm(x, &self.weight, &self.bias, self.groups, 1e-5, Act::Silu)
    }
}

/// A `k x k` "same" convolution with bias.
fn conv(p: &Params, name: &str, inp: usize, out: usize, k: usize, dev: &Device) -> Result<Conv2d> {
    Conv2d::with_spec(p, name, ConvSpec::new(inp, out, k).bias(true), dev)
}

/// The residual block with the embedding added between its two convolutions.
struct ResBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    emb: Linear,
    norm2: GroupNorm,
    conv2: Conv2d,
    skip: Option<Conv2d>,
}

impl ResBlock {
    fn new(
        p: &Params,
        name: &str,
        (inp, out, emb): (usize, usize, usize),
        groups: usize,
        dev: &Device,
    ) -> Result<Self> {
        Ok(ResBlock {
            norm1: GroupNorm::new(p, &format!("{name}.norm1"), inp, groups, dev)?,
            conv1: conv(p, &format!("{name}.conv1"), inp, out, 3, dev)?,
            emb: Linear::new(p, &format!("{name}.emb"), emb, out, dev)?,
            norm2: GroupNorm::new(p, &format!("{name}.norm2"), out, groups, dev)?,
            conv2: conv(p, &format!("{name}.conv2"), out, out, 3, dev)?,
            skip: if inp == out {
                None
            } else {
                Some(conv(p, &format!("{name}.skip"), inp, out, 1, dev)?)
            },
        })
    }

    fn forward(&self, x: &Tensor, emb: &Tensor) -> Result<Tensor> {
        let h = self.conv1.forward(&self.norm1.silu(x)?)?;
        let e = self.emb.forward(&emb.silu()?)?;
        let h = h.broadcast_add(&e.unsqueeze(2)?.unsqueeze(3)?)?;
        let h = self.conv2.forward(&self.norm2.silu(&h)?)?;
        match &self.skip {
            Some(s) => s.forward(x)? + h,
            None => x + h,
        }
    }
}

/// The noise-prediction network.
pub struct UNet {
    spec: UNetSpec,
    time1: Linear,
    time2: Linear,
    cond: Linear,
    conv_in: Conv2d,
    down: Vec<(ResBlock, Option<Conv2d>)>,
    mid: ResBlock,
    up: Vec<(ResBlock, Option<Conv2d>)>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
}

/// `[sin(t f_i), cos(t f_i)]` with `f_i = 10000^(-i / half)` (the transformer's encoding).
pub fn sinusoid(t: &[usize], dim: usize, dev: &Device) -> Result<Tensor> {
    let half = dim / 2;
    let mut v = Vec::with_capacity(t.len() * dim);
    for &s in t {
        let f = |i: usize| (-(10000f64.ln()) * i as f64 / half.max(1) as f64).exp();
        v.extend((0..half).map(|i| (s as f64 * f(i)).sin() as f32));
        v.extend((0..half).map(|i| (s as f64 * f(i)).cos() as f32));
        v.extend(std::iter::repeat_n(0f32, dim - 2 * half));
    }
    Tensor::from_vec(v, (t.len(), dim), dev)
}

impl UNet {
    /// Parameters are drawn into `p` under `unet.`.
    pub fn new(p: &Params, spec: &UNetSpec, dev: &Device) -> Result<Self> {
        if spec.mults.is_empty() || spec.base == 0 {
            candle_core::bail!("unet: needs a base width and at least one level");
        }
        let (b, g) = (spec.base, spec.groups);
        let emb = 4 * b;
        let ch: Vec<usize> = spec.mults.iter().map(|m| m * b).collect();
        let last = ch.len() - 1;
        let mut down = Vec::new();
        let mut prev = b;
        for (l, &c) in ch.iter().enumerate() {
            let res = ResBlock::new(p, &format!("unet.down{l}.res"), (prev, c, emb), g, dev)?;
            let ds = if l < last {
                let s = ConvSpec::new(c, c, 3).stride(2).bias(true);
                Some(Conv2d::with_spec(p, &format!("unet.down{l}.down"), s, dev)?)
            } else {
                None
            };
            down.push((res, ds));
            prev = c;
        }
        let mid = ResBlock::new(p, "unet.mid", (prev, prev, emb), g, dev)?;
        let mut up = Vec::new();
        for l in (0..ch.len()).rev() {
            let res = ResBlock::new(
                p,
                &format!("unet.up{l}.res"),
                (2 * ch[l], ch[l], emb),
                g,
                dev,
            )?;
            let us = if l > 0 {
                Some(conv(
                    p,
                    &format!("unet.up{l}.up"),
                    ch[l],
                    ch[l - 1],
                    3,
                    dev,
                )?)
            } else {
                None
            };
            up.push((res, us));
        }
        let conv_out = conv(p, "unet.conv_out", b, spec.channels, 3, dev)?;
        // The output starts at zero (the initial prediction is "no noise"), as in Ho et al.
        for part in ["weight", "bias"] {
            if let Some(v) = p.var(&format!("unet.conv_out.{part}")) {
                v.set(&v.zeros_like()?)?;
            }
        }
        Ok(UNet {
            spec: spec.clone(),
            time1: Linear::new(p, "unet.time1", b, emb, dev)?,
            time2: Linear::new(p, "unet.time2", emb, emb, dev)?,
            cond: Linear::new(p, "unet.cond", spec.cond_dim + 1, emb, dev)?,
            conv_in: conv(p, "unet.conv_in", spec.channels, b, 3, dev)?,
            down,
            mid,
            up,
            norm_out: GroupNorm::new(p, "unet.norm_out", b, g, dev)?,
            conv_out,
        })
    }

    pub fn spec(&self) -> &UNetSpec {
        &self.spec
    }

    /// Predicted noise for `x_t` (`N x C x H x W`, `H` and `W` divisible by `2^(L-1)`), steps
    /// `t` and conditions `cond` (`N x cond_dim`) with `keep` (`N`, 1 = conditional, 0 = null).
    pub fn forward(&self, x: &Tensor, t: &[usize], cond: &Tensor, keep: &Tensor) -> Result<Tensor> {
        let dev = x.device();
        let temb = sinusoid(t, self.spec.base, dev)?;
        let temb = self.time2.forward(&self.time1.forward(&temb)?.silu()?)?;
        let keep = keep.unsqueeze(1)?;
        let c = Tensor::cat(&[cond.broadcast_mul(&keep)?, keep], 1)?;
        let emb = (temb + self.cond.forward(&c)?)?;
        let mut h = self.conv_in.forward(x)?;
        let mut skips = Vec::with_capacity(self.down.len());
        for (res, ds) in &self.down {
            h = res.forward(&h, &emb)?;
            skips.push(h.clone());
            if let Some(ds) = ds {
                h = ds.forward(&h)?;
            }
        }
        h = self.mid.forward(&h, &emb)?;
        for (res, us) in &self.up {
            let skip = skips.pop().expect("one skip per level");
            h = res.forward(&Tensor::cat(&[&h, &skip], 1)?, &emb)?;
            if let Some(us) = us {
                h = us.forward(&upsample_nearest(&h, 2)?)?;
            }
        }
        self.conv_out.forward(&self.norm_out.silu(&h)?)
    }
}
