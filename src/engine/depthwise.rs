//! Depthwise 2-D convolution (one `k x k` filter per channel, PyTorch `groups == channels`) for
//! backbones with many wide depthwise layers (EfficientNet's MBConv blocks).
//!
//! On the CPU it is written as `k * k` shifted multiply-adds of candle ops (each tap: a strided
//! view of the zero-padded input times that tap's per-channel weight), so candle's autograd gives
//! the backward; candle's own grouped convolution splits a `C`-channel depthwise layer into `C`
//! one-channel convolutions, which made a 1152-channel layer hundreds of times slower. On a GPU,
//! and under [`super::use_candle_kernels`], it is [`super::conv::conv2d`] with `groups == C`
//! (cuDNN's depthwise kernels). The sums run in another order than `conv2d`'s, so results agree
//! to float rounding, not bit for bit; the CPU result does not depend on the thread count.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! let x = Tensor::ones((2, 4, 9, 9), candle_core::DType::F32, &Device::Cpu).unwrap();
//! let w = Tensor::ones((4, 1, 3, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
//! let y = gzbench::engine::depthwise::depthwise_conv2d(&x, &w, 2, 1).unwrap();
//! assert_eq!(y.dims(), &[2, 4, 5, 5]);
//! ```

use candle_core::{Result, Tensor, bail};

/// Rows `start`, `start + stride`, ... (`n` of them) of dim `dim` of `x`, which holds at least
/// `start + stride * n` rows.
pub(crate) fn strided(
    x: &Tensor,
    dim: usize,
    start: usize,
    stride: usize,
    n: usize,
) -> Result<Tensor> {
    let y = x.narrow(dim, start, stride * n)?;
    if stride == 1 {
        return Ok(y);
    }
    let mut shape = y.dims().to_vec();
    shape[dim] = n;
    shape.insert(dim + 1, stride);
    y.contiguous()?
        .reshape(shape)?
        .narrow(dim + 1, 0, 1)?
        .squeeze(dim + 1)
}

/// `x: N x C x H x W` convolved channel by channel with `w: C x 1 x k x k` (stride, zero
/// padding on each side, no bias): `N x C x H' x W'` with `H' = (H + 2 pad - k) / stride + 1`.
pub fn depthwise_conv2d(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    let (_, c, h, wd) = x.dims4()?;
    let (wc, one, kh, kw) = w.dims4()?;
    if wc != c || one != 1 || kh != kw || kh == 0 || stride == 0 {
        bail!(
            "depthwise conv: input {:?} and weight {:?} (expected C x 1 x k x k, stride >= 1)",
            x.dims(),
            w.dims()
        );
    }
    if h + 2 * padding < kh || wd + 2 * padding < kw {
        bail!("depthwise conv: {kh}x{kw} kernel on a {h}x{wd} map padded by {padding}");
    }
    if x.device().is_cuda() || super::candle_kernels() {
        return super::conv::conv2d(x, w, stride, padding, c);
    }
    let k = kh;
    let (oh, ow) = (
        (h + 2 * padding - k) / stride + 1,
        (wd + 2 * padding - k) / stride + 1,
    );
    // Zero padding, plus rows / columns the strided views read past the last window (never
    // used: they fall on the positions `strided` drops).
    let extra = |len: usize, out: usize| (k - 1 + stride * out).saturating_sub(len + 2 * padding);
    let xp = x
        .pad_with_zeros(2, padding, padding + extra(h, oh))?
        .pad_with_zeros(3, padding, padding + extra(wd, ow))?;
    let taps = w.reshape((c, k * k))?;
    let mut acc: Option<Tensor> = None;
    for dy in 0..k {
        let rows = strided(&xp, 2, dy, stride, oh)?;
        for dx in 0..k {
            let v = strided(&rows, 3, dx, stride, ow)?;
            let t = taps.narrow(1, dy * k + dx, 1)?.reshape((1, c, 1, 1))?;
            let term = v.broadcast_mul(&t)?;
            acc = Some(match acc {
                Some(a) => (a + term)?,
                None => term,
            });
        }
    }
    acc.ok_or_else(|| candle_core::Error::Msg("depthwise conv: empty kernel".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    /// Seeded normal-ish values (uniform in +-1.7) of `shape`.
    fn draw(shape: &[usize], name: &str) -> Tensor {
        use rand::Rng;
        let mut r = crate::rng::stream(7, name);
        let n = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| r.random_range(-1.7f32..1.7)).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        crate::engine::crosscheck::max_abs_diff(a, b).unwrap()
    }

    #[test]
    fn matches_the_fused_conv_channel_by_channel_with_gradients() {
        let dev = Device::Cpu;
        for (n, c, h, w, k, stride, pad) in [
            (2, 3, 9, 7, 3, 1, 1),
            (2, 4, 9, 8, 3, 2, 1),
            (1, 5, 11, 11, 5, 2, 2),
            (2, 2, 6, 6, 5, 1, 2),
            (1, 3, 1, 1, 3, 2, 1),
            (1, 2, 4, 4, 3, 1, 0),
        ] {
            let x = Var::from_tensor(&draw(&[n, c, h, w], "x")).unwrap();
            let wt = Var::from_tensor(&draw(&[c, 1, k, k], "w")).unwrap();
            let ours = depthwise_conv2d(x.as_tensor(), wt.as_tensor(), stride, pad).unwrap();
            // One channel at a time through the fused conv (its own backward; candle's grouped
            // conv backward fails on odd sizes with stride 2).
            let theirs: Vec<Tensor> = (0..c)
                .map(|i| {
                    let xi = x.as_tensor().narrow(1, i, 1).unwrap();
                    let wi = wt.as_tensor().narrow(0, i, 1).unwrap();
                    crate::engine::conv::conv2d(&xi, &wi, stride, pad, 1).unwrap()
                })
                .collect();
            let theirs = Tensor::cat(&theirs, 1).unwrap();
            assert_eq!(ours.dims(), theirs.dims());
            assert!(max_diff(&ours, &theirs) < 1e-5, "{:?}", (h, w, k, stride));
            // Gradients of a weighted sum.
            let r = draw(ours.dims(), "r");
            let g1 = (ours * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = (theirs * &r)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for v in [&x, &wt] {
                let (a, b) = (
                    g1.get(v.as_tensor()).unwrap(),
                    g2.get(v.as_tensor()).unwrap(),
                );
                assert!(max_diff(a, b) < 1e-4, "grad {:?}", (h, w, k, stride));
            }
        }
        let x = Tensor::zeros((1, 3, 4, 4), DType::F32, &dev).unwrap();
        let bad = Tensor::zeros((2, 1, 3, 3), DType::F32, &dev).unwrap();
        assert!(depthwise_conv2d(&x, &bad, 1, 1).is_err());
        let w = Tensor::zeros((3, 1, 7, 7), DType::F32, &dev).unwrap();
        assert!(depthwise_conv2d(&x, &w, 1, 1).is_err());
    }
}
