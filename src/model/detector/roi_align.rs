//! RoI Align (He et al. 2017) with torchvision's `ops.roi_align(..., aligned=True)` semantics,
//! written as a matrix product so gradients reach the feature map through candle's own matmul.
//!
//! For a box in image pixels, scaled by `spatial_scale` into feature-map coordinates and shifted
//! by half a cell (`aligned`: the centre of cell `i` is at `i + 0.5`), each of the `P x P` bins
//! averages `s x s` bilinear samples at regularly spaced points (`s = sampling_ratio`, or
//! `ceil(bin size)` when it is 0). torchvision's out-of-range rule: a sample with `y < -1`,
//! `y > h`, `x < -1` or `x > w` contributes 0 (but still counts in the average); otherwise
//! coordinates are clamped to `[0, h - 1]` / `[0, w - 1]`.
//!
//! The sampling weights depend only on the boxes (which carry no gradient, as in torchvision),
//! so they are built on the host as a dense matrix `W` (`h w x R P P`) per image and the pooled
//! features are `F W` with `F` the image's `C x h w` features.

use crate::geom::Rect;
use candle_core::{Result, Tensor};

/// The weights of the `P x P` bins of `rect` on an `h x w` map: `out[cell * stride + bin]`
/// gets each cell's weight (`cell = y * w + x`, `bin = ph * P + pw`), added to what is there.
/// `stride` is the row length of `out` (`R P P` for a whole image), `bin` is offset by
/// `first_bin`.
#[allow(clippy::too_many_arguments)]
fn add_weights(
    rect: &Rect,
    spatial_scale: f32,
    (h, w): (usize, usize),
    pool: usize,
    sampling_ratio: usize,
    out: &mut [f32],
    stride: usize,
    first_bin: usize,
) {
    let start_x = rect.x0 * spatial_scale - 0.5;
    let start_y = rect.y0 * spatial_scale - 0.5;
    let roi_w = rect.x1 * spatial_scale - 0.5 - start_x;
    let roi_h = rect.y1 * spatial_scale - 0.5 - start_y;
    let bin_w = roi_w / pool as f32;
    let bin_h = roi_h / pool as f32;
    let grid_h = if sampling_ratio > 0 {
        sampling_ratio
    } else {
        (roi_h / pool as f32).ceil().max(0.0) as usize
    };
    let grid_w = if sampling_ratio > 0 {
        sampling_ratio
    } else {
        (roi_w / pool as f32).ceil().max(0.0) as usize
    };
    let count = (grid_h * grid_w).max(1) as f32;
    let (hf, wf) = (h as f32, w as f32);
    for ph in 0..pool {
        for pw in 0..pool {
            let bin = first_bin + ph * pool + pw;
            for iy in 0..grid_h {
                let y = start_y + ph as f32 * bin_h + (iy as f32 + 0.5) * bin_h / grid_h as f32;
                for ix in 0..grid_w {
                    let x = start_x + pw as f32 * bin_w + (ix as f32 + 0.5) * bin_w / grid_w as f32;
                    if y < -1.0 || y > hf || x < -1.0 || x > wf {
                        continue;
                    }
                    let (y, x) = (y.max(0.0), x.max(0.0));
                    let (mut y_low, mut x_low) = (y as usize, x as usize);
                    let (y_high, x_high);
                    let (mut y, mut x) = (y, x);
                    if y_low >= h - 1 {
                        y_low = h - 1;
                        y_high = h - 1;
                        y = y_low as f32;
                    } else {
                        y_high = y_low + 1;
                    }
                    if x_low >= w - 1 {
                        x_low = w - 1;
                        x_high = w - 1;
                        x = x_low as f32;
                    } else {
                        x_high = x_low + 1;
                    }
                    let (ly, lx) = (y - y_low as f32, x - x_low as f32);
                    let (hy, hx) = (1.0 - ly, 1.0 - lx);
                    for (cy, cx, wt) in [
                        (y_low, x_low, hy * hx),
                        (y_low, x_high, hy * lx),
                        (y_high, x_low, ly * hx),
                        (y_high, x_high, ly * lx),
                    ] {
                        out[(cy * w + cx) * stride + bin] += wt / count;
                    }
                }
            }
        }
    }
}

/// The RoI Align matrix of one image: `h w x R P P`, row-major, column `r P P + ph P + pw`.
pub fn weight_matrix(
    rois: &[Rect],
    spatial_scale: f32,
    (h, w): (usize, usize),
    pool: usize,
    sampling_ratio: usize,
) -> Vec<f32> {
    let cols = rois.len() * pool * pool;
    let mut out = vec![0f32; h * w * cols];
    for (r, rect) in rois.iter().enumerate() {
        let first = r * pool * pool;
        add_weights(
            rect,
            spatial_scale,
            (h, w),
            pool,
            sampling_ratio,
            &mut out,
            cols,
            first,
        );
    }
    out
}

/// Pooled features `R x C x P x P` of `features` (`N x C x h x w`) over the boxes of each image
/// (`rois[i]` in image pixels for image `i`, concatenated in image order), differentiable with
/// respect to `features`. `None` when there are no boxes at all.
pub fn roi_align(
    features: &Tensor,
    rois: &[Vec<Rect>],
    spatial_scale: f32,
    pool: usize,
    sampling_ratio: usize,
) -> Result<Option<Tensor>> {
    let (n, c, h, w) = features.dims4()?;
    if rois.len() != n {
        candle_core::bail!(
            "roi_align: {} images of boxes for {n} feature maps",
            rois.len()
        );
    }
    if pool == 0 || h == 0 || w == 0 {
        candle_core::bail!("roi_align: pool size {pool} on a {h}x{w} map");
    }
    let mut parts = Vec::with_capacity(n);
    for (i, boxes) in rois.iter().enumerate() {
        if boxes.is_empty() {
            continue;
        }
        let r = boxes.len();
        let wm = weight_matrix(boxes, spatial_scale, (h, w), pool, sampling_ratio);
        let wm = Tensor::from_vec(wm, (h * w, r * pool * pool), features.device())?
            .to_dtype(features.dtype())?;
        let f = features.get(i)?.reshape((c, h * w))?;
        let pooled = crate::engine::matmul::matmul(&f, &wm)?.reshape((c, r, pool, pool))?;
        parts.push(pooled.permute((1, 0, 2, 3))?);
    }
    if parts.is_empty() {
        return Ok(None);
    }
    Ok(Some(Tensor::cat(&parts, 0)?.contiguous()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn map(h: usize, w: usize, f: impl Fn(usize, usize) -> f32) -> Tensor {
        let v: Vec<f32> = (0..h * w).map(|i| f(i / w, i % w)).collect();
        Tensor::from_vec(v, (1, 1, h, w), &Device::Cpu).unwrap()
    }

    fn pooled(t: &Tensor, r: Rect, scale: f32, pool: usize, s: usize) -> Vec<f32> {
        roi_align(t, &[vec![r]], scale, pool, s)
            .unwrap()
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn integer_grid_and_the_half_pixel_shift() {
        // f = column index: bilinear sampling is exact, so a bin gives its centre's value
        // shifted by the aligned half pixel: bins of [0, 4] x [0, 4] have centres 1 and 3.
        let f = map(4, 4, |_, x| x as f32);
        close(
            &pooled(&f, Rect::new(0.0, 0.0, 4.0, 4.0), 1.0, 2, 2),
            &[0.5, 2.5, 0.5, 2.5],
        );
        // the same box in image pixels of a 2x-downsampled map: scale 0.5
        close(
            &pooled(&f, Rect::new(0.0, 0.0, 8.0, 8.0), 0.5, 2, 2),
            &[0.5, 2.5, 0.5, 2.5],
        );
    }

    #[test]
    fn box_straddling_pixels_and_sampling_ratio() {
        // a single 1 at cell (1, 1)
        let f = map(4, 4, |y, x| (y == 1 && x == 1) as u8 as f32);
        // box [1, 2]^2, one bin, 2x2 samples at 1.25, 1.75 -> cell coords 0.75, 1.25: the
        // weight of cell 1 is 0.75 at both, so each sample gets 0.75^2 = 9/16.
        close(
            &pooled(&f, Rect::new(1.0, 1.0, 2.0, 2.0), 1.0, 1, 2),
            &[0.5625],
        );
        // one sample at 1.5 -> cell coordinate 1.0 exactly
        close(
            &pooled(&f, Rect::new(1.0, 1.0, 2.0, 2.0), 1.0, 1, 1),
            &[1.0],
        );
        // adaptive (0): ceil(bin size 1) = 1 sample
        close(
            &pooled(&f, Rect::new(1.0, 1.0, 2.0, 2.0), 1.0, 1, 0),
            &[1.0],
        );
        // box [2, 6]^2 at scale 0.5 = [1, 3]^2, 2x2 bins. Bin (0, 0) is the case above: 9/16.
        // Bin (0, 1): x samples at 2.25, 2.75 -> 1.75, 2.25: weights of column 1 are 0.25, 0
        // -> mean 0.125; rows as before 0.75 -> 0.09375. Bin (1, 1): 0.125^2.
        close(
            &pooled(&f, Rect::new(2.0, 2.0, 6.0, 6.0), 0.5, 2, 2),
            &[0.5625, 0.09375, 0.09375, 0.015625],
        );
    }

    #[test]
    fn out_of_range_samples() {
        let ones = map(4, 4, |_, _| 1.0);
        // all x samples at -3.5, -1.5 (cell coords): < -1, contribute 0
        close(
            &pooled(&ones, Rect::new(-4.0, 0.0, 0.0, 4.0), 1.0, 1, 2),
            &[0.0],
        );
        // x at -1.5 (dropped) and 0.5: half the samples
        close(
            &pooled(&ones, Rect::new(-2.0, 0.0, 2.0, 4.0), 1.0, 1, 2),
            &[0.5],
        );
        // x at -1.0 (kept, clamped to 0) and 0.0
        close(
            &pooled(&ones, Rect::new(-1.0, 0.0, 1.0, 4.0), 1.0, 1, 2),
            &[1.0],
        );
        // bottom edge: y at 3.5 (clamped to row 3) and 5.5 (> h: dropped)
        let rows = map(4, 4, |y, _| y as f32);
        close(
            &pooled(&rows, Rect::new(0.0, 3.0, 4.0, 7.0), 1.0, 1, 2),
            &[1.5],
        );
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let dev = Device::Cpu;
        let (c, h, w) = (2, 5, 6);
        let v: Vec<f32> = (0..2 * c * h * w)
            .map(|i| ((i * 37) % 17) as f32 / 7.0)
            .collect();
        let x = Var::from_vec(v.clone(), (2, c, h, w), &dev).unwrap();
        let rois = vec![
            vec![
                Rect::new(1.3, 0.7, 9.1, 6.2),
                Rect::new(-2.0, 3.0, 4.0, 12.5),
            ],
            vec![Rect::new(4.4, 4.4, 7.9, 8.8)],
        ];
        let probe: Vec<f32> = (0..3 * c * 9)
            .map(|i| ((i * 13) % 11) as f32 - 5.0)
            .collect();
        let probe = Tensor::from_vec(probe, (3, c, 3, 3), &dev).unwrap();
        let loss = |t: &Tensor| -> f64 {
            let y = roi_align(t, &rois, 0.5, 3, 2).unwrap().unwrap();
            let t = (y.to_dtype(candle_core::DType::F64).unwrap()
                * probe.to_dtype(candle_core::DType::F64).unwrap())
            .unwrap();
            t.sum_all().unwrap().to_scalar::<f64>().unwrap()
        };
        let y = roi_align(x.as_tensor(), &rois, 0.5, 3, 2).unwrap().unwrap();
        assert_eq!(y.dims(), &[3, c, 3, 3]);
        let g = (y * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let g = g.get(x.as_tensor()).unwrap().flatten_all().unwrap();
        let g = g.to_vec1::<f32>().unwrap();
        let eps = 0.5f32;
        let mut nonzero = 0;
        for i in 0..v.len() {
            let mut up = v.clone();
            up[i] += eps;
            let mut dn = v.clone();
            dn[i] -= eps;
            let t = |u: Vec<f32>| Tensor::from_vec(u, (2, c, h, w), &dev).unwrap();
            let fd = (loss(&t(up)) - loss(&t(dn))) / (2.0 * eps as f64);
            assert!(
                (fd - g[i] as f64).abs() < 1e-3 * (1.0 + fd.abs()),
                "{i}: {fd} vs {}",
                g[i]
            );
            nonzero += (fd.abs() > 1e-6) as usize;
        }
        assert!(nonzero > 20, "{nonzero}");
    }
}
