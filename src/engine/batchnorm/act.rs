//! The activation a CPU training-mode batch norm (or a group norm, [`super::super::groupnorm`])
//! applies to its own output in the same op: none, ReLU, SiLU, or ReLU + `k x k` max-pool
//! (stride `k`, the [`super::super::pool`] kernel's rule). The scale `a` and shift `b` come per
//! channel, or per plane (image and channel) when there are as many as planes.
//!
//! Fusing them removes the activation's input from candle's autograd graph: candle's backward
//! gives every graph node a gradient by allocating zeros and adding the incoming gradient
//! (two passes over a tensor as large as the activation), and its ReLU backward is four more
//! (a comparison, a cast, a product, the sum). Here the batch-norm output `z = x·a + b` is
//! recomputed per plane from the saved per-channel `a`, `b` (the same `f32` formula, so the same
//! bits), the gradient reaching `z` is built in one pass, and the batch-norm backward runs on it.
//!
//! Bit-identical to the composed ops: forward `z.max(0)` (candle's ReLU) and the pool's first
//! window maximum; backward `0 + dy·[z >= 0]` (candle's ReLU gradient added to its zero-filled
//! sum), SiLU's `z / (1 + exp(-z))` and its gradient in candle's order of operations
//! (`0 + dy·(s·(1 - silu) + silu)`, `s = 1 / (exp(-z) + 1)`), and, for the pool, `dy` at the
//! first maximum of windows with a positive maximum, `0` elsewhere (the pool backward's
//! output, which candle's `0 +` leaves unchanged: it is never `-0`, since `dy` reached it
//! through such a sum).

use candle_core::{Result, Shape, Tensor, bail};
use rayon::prelude::*;
use std::borrow::Cow;

/// What follows the batch norm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    None,
    Relu,
    /// `z·sigmoid(z)`, candle's `silu`.
    Silu,
    /// ReLU then a `k x k` max-pool with stride `k` (trailing rows and columns dropped).
    ReluMaxPool(usize),
}

/// `(planes, h, w)` of an `N x C x ...` shape (`h·w` = everything after `C`; `w = 1` unless 4-d).
fn planes(s: &Shape) -> Result<(usize, usize, usize)> {
    match s.dims() {
        &[n, c, h, w] => Ok((n * c, h, w)),
        d if d.len() >= 2 => Ok((d[0] * d[1], d[2..].iter().product(), 1)),
        d => bail!("batch_norm: expected N x C x ..., got {d:?}"),
    }
}

impl Act {
    /// The output shape for an input of shape `x`.
    pub fn out_shape(self, x: &Shape) -> Result<Shape> {
        let Act::ReluMaxPool(k) = self else {
            return Ok(x.clone());
        };
        let (n, c, h, w) = x.dims4()?;
        if k == 0 || h < k || w < k {
            bail!("relu_max_pool2d: window {k} does not fit a {h}x{w} input")
        }
        Ok((n, c, h / k, w / k).into())
    }

    /// The activation of `y` as separate ops (where the fused ones do not run): candle's
    /// `relu`, [`super::super::pool::relu_max_pool2d`].
    pub fn composed(self, y: Tensor) -> Result<Tensor> {
        match self {
            Act::None => Ok(y),
            Act::Relu => y.relu(),
            Act::Silu => y.silu(),
            Act::ReluMaxPool(k) => super::super::pool::relu_max_pool2d(&y, k),
        }
    }
}

/// candle's `silu`: `z / (1 + exp(-z))`.
#[inline(always)]
fn silu(z: f32) -> f32 {
    z / (1f32 + (-z).exp())
}

/// `z = x·a + b` of one plane into `z`.
#[inline(always)]
fn bn_plane(x: &[f32], a: f32, b: f32, z: &mut [f32]) {
    super::super::vectorised(|| {
        for (o, v) in z.iter_mut().zip(x) {
            *o = v * a + b;
        }
    })
}

/// The forward: `act(x·a + b)` per channel, with its shape.
pub fn forward(
    act: Act,
    x: &[f32],
    shape: &Shape,
    a: &[f32],
    b: &[f32],
) -> Result<(Vec<f32>, Shape)> {
    let (np, h, w) = planes(shape)?;
    let c = a.len().max(1);
    let plane = h * w;
    let out_shape = act.out_shape(shape)?;
    let y = match act {
        Act::None => super::super::par_planes(np, plane, |i, o| {
            let (a, b, xi) = (a[i % c], b[i % c], &x[i * plane..(i + 1) * plane]);
            super::super::vectorised(|| {
                for (o, v) in o.iter_mut().zip(xi) {
                    o.write(v * a + b);
                }
            })
        }),
        Act::Relu => super::super::par_planes(np, plane, |i, o| {
            let (a, b, xi) = (a[i % c], b[i % c], &x[i * plane..(i + 1) * plane]);
            super::super::vectorised(|| {
                for (o, v) in o.iter_mut().zip(xi) {
                    o.write((v * a + b).max(0f32));
                }
            })
        }),
        Act::Silu => super::super::par_planes(np, plane, |i, o| {
            let (a, b, xi) = (a[i % c], b[i % c], &x[i * plane..(i + 1) * plane]);
            for (o, v) in o.iter_mut().zip(xi) {
                o.write(silu(v * a + b));
            }
        }),
        Act::ReluMaxPool(k) => {
            let (oh, ow) = (h / k, w / k);
            let mut out = Vec::with_capacity(np * oh * ow);
            if oh * ow > 0 && plane > 0 {
                out.spare_capacity_mut()[..np * oh * ow]
                    .par_chunks_mut(oh * ow)
                    .enumerate()
                    .for_each_init(
                        || vec![0f32; plane],
                        |z, (i, o)| {
                            bn_plane(&x[i * plane..(i + 1) * plane], a[i % c], b[i % c], z);
                            super::super::pool::for_each_window(z, w, oh, ow, k, |j, best, _| {
                                o[j].write(best.max(0.0));
                            });
                        },
                    );
            }
            // SAFETY: `for_each_window` visits every output of each plane once.
            unsafe { out.set_len(np * oh * ow) };
            out
        }
    };
    Ok((y, out_shape))
}

/// The gradient reaching the batch norm's output `z = x·a + b`, from `dy`, the gradient of
/// the activation's output.
pub fn grad_in<'a>(
    act: Act,
    x: &[f32],
    shape: &Shape,
    a: &[f32],
    b: &[f32],
    dy: &'a [f32],
) -> Result<Cow<'a, [f32]>> {
    let (np, h, w) = planes(shape)?;
    let c = a.len().max(1);
    let plane = h * w;
    let want = act.out_shape(shape)?.elem_count();
    if dy.len() != want || x.len() != np * plane {
        bail!(
            "gzbench-batchnorm-bwd: gradient of {} values for an output of {want}",
            dy.len()
        )
    }
    Ok(match act {
        Act::None => Cow::Borrowed(dy),
        Act::Relu => Cow::Owned(super::super::par_planes(np, plane, |i, o| {
            let (a, b) = (a[i % c], b[i % c]);
            let (xi, gi) = (
                &x[i * plane..(i + 1) * plane],
                &dy[i * plane..(i + 1) * plane],
            );
            super::super::vectorised(|| {
                for ((o, v), g) in o.iter_mut().zip(xi).zip(gi) {
                    let z = v * a + b;
                    // candle: sum (zeros) + grad · (z >= 0) as f32.
                    o.write(0f32 + g * ((z >= 0f32) as u8 as f32));
                }
            })
        })),
        Act::Silu => Cow::Owned(super::super::par_planes(np, plane, |i, o| {
            let (a, b) = (a[i % c], b[i % c]);
            let (xi, gi) = (
                &x[i * plane..(i + 1) * plane],
                &dy[i * plane..(i + 1) * plane],
            );
            for ((o, v), g) in o.iter_mut().zip(xi).zip(gi) {
                let z = v * a + b;
                let e = (-z).exp();
                let (s, node) = (1f32 / (e + 1f32), z / (1f32 + e));
                // candle: sum (zeros) + grad · (sigmoid · (1 - silu) + silu).
                o.write(0f32 + g * (s * (1f32 - node) + node));
            }
        })),
        Act::ReluMaxPool(k) => {
            let (oh, ow) = (h / k, w / k);
            let mut out = Vec::with_capacity(np * plane);
            out.spare_capacity_mut()[..np * plane]
                .par_chunks_mut(plane)
                .enumerate()
                .for_each_init(
                    || vec![0f32; plane],
                    |z, (i, o)| {
                        bn_plane(&x[i * plane..(i + 1) * plane], a[i % c], b[i % c], z);
                        for v in o.iter_mut() {
                            v.write(0.0);
                        }
                        let gi = &dy[i * oh * ow..(i + 1) * oh * ow];
                        super::super::pool::for_each_window(z, w, oh, ow, k, |j, best, at| {
                            if best > 0.0 {
                                o[at].write(gi[j]);
                            }
                        });
                    },
                );
            // SAFETY: every value of every plane was written (zeros first).
            unsafe { out.set_len(np * plane) };
            Cow::Owned(out)
        }
    })
}
