//! Dieleman's 16 parts (`model.views: 16`): the input views of the winning Galaxy Zoo network
//! (Dieleman, Willett & Dambre 2015, section 5.2.3 and their figure 4).
//!
//! From an `N x C x S x S` batch the paper's four views are made — the image, its mirror image
//! (`flip` of the columns), the image rotated by 45 degrees and that rotation's mirror image —
//! and from each view four overlapping corner parts of `P x P` pixels, `P = round(45 S / 69)` (45
//! of 69 px in the paper), each rotated so that the galaxy's centre sits in the part's
//! bottom-right corner. Part `k` of a view is the top-left `P x P` crop of the view rotated by
//! `90k` degrees counter-clockwise, so its re-orientation is exact. Part order is view-major:
//! rows `(4v + k) * N ..` hold part `k` of view `v` of every image.
//!
//! The 45-degree rotation is bilinear resampling about the image centre with coordinates clamped
//! to the image (the corners the rotated square does not cover repeat its edge, i.e. sky, where
//! the paper cut its views from a larger cutout). Bilinear sampling on the square grid commutes
//! with the grid's own 90-degree rotations and flips, so a 90-degree rotation or a flip of the
//! input only permutes the 16 parts (up to float rounding of the resampling weights): pooling
//! features over the parts (`cyclic-pool`) is invariant to them like the 8 exact views. Gathers
//! are `index_select`s, so the parts are differentiable and run on any device.

use candle_core::{D, Result, Tensor};

/// Number of parts per image.
pub const PARTS: usize = 16;

/// Side of each part for `size x size` inputs: 45/69 of the side, rounded, at least 1.
pub fn part_size(size: usize) -> usize {
    ((size as f64 * 45.0 / 69.0).round() as usize).max(1)
}

/// `x` rotated by 45 degrees counter-clockwise (row 0 at the top) about its centre by bilinear
/// resampling with clamped coordinates; same shape. Needs square images.
pub fn rot45(x: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    if h != w {
        candle_core::bail!("rotating images by 45 degrees needs square images, got {h} x {w}");
    }
    let s = h;
    let centre = (s as f64 - 1.0) / 2.0;
    let (sin, cos) = std::f64::consts::FRAC_PI_4.sin_cos();
    let mut idx: [Vec<u32>; 4] = std::array::from_fn(|_| Vec::with_capacity(s * s));
    let mut wts: [Vec<f32>; 4] = std::array::from_fn(|_| Vec::with_capacity(s * s));
    let clamp = |v: f64| v.clamp(0.0, (s - 1) as f64);
    for i in 0..s {
        for j in 0..s {
            // output (x right, y up) -> source = R(-45) (x, y)
            let (ox, oy) = (j as f64 - centre, centre - i as f64);
            let sx = clamp(centre + ox * cos + oy * sin);
            let sy = clamp(centre - (-ox * sin + oy * cos));
            let (r0, c0) = (sy.floor(), sx.floor());
            let (fr, fc) = (sy - r0, sx - c0);
            let (r0, c0) = (r0 as usize, c0 as usize);
            let (r1, c1) = ((r0 + 1).min(s - 1), (c0 + 1).min(s - 1));
            for (t, (r, cc, wt)) in [
                (r0, c0, (1.0 - fr) * (1.0 - fc)),
                (r0, c1, (1.0 - fr) * fc),
                (r1, c0, fr * (1.0 - fc)),
                (r1, c1, fr * fc),
            ]
            .into_iter()
            .enumerate()
            {
                idx[t].push((r * s + cc) as u32);
                wts[t].push(wt as f32);
            }
        }
    }
    let flat = x.contiguous()?.reshape((n, c, s * s))?;
    let dev = x.device();
    let mut out: Option<Tensor> = None;
    for (i, wt) in idx.into_iter().zip(wts) {
        let gathered = flat.index_select(&Tensor::new(i, dev)?, D::Minus1)?;
        let wt = Tensor::new(wt, dev)?
            .to_dtype(x.dtype())?
            .reshape((1, 1, s * s))?;
        let term = gathered.broadcast_mul(&wt)?;
        out = Some(match out {
            None => term,
            Some(o) => (o + term)?,
        });
    }
    out.expect("four bilinear taps").reshape((n, c, s, s))
}

/// The 16 parts of every image of `x`, stacked part-major: `(16 N) x C x P x P`.
pub fn stack_parts(x: &Tensor) -> Result<Tensor> {
    let (_, _, h, _) = x.dims4()?;
    let p = part_size(h);
    let x = x.contiguous()?;
    let r = rot45(&x)?;
    let views = [x.flip(&[3])?, r.flip(&[3])?];
    let views = [&x, &views[0], &r, &views[1]];
    let mut parts = Vec::with_capacity(PARTS);
    for v in views {
        let mut turned = v.clone();
        for k in 0..4 {
            if k > 0 {
                turned = super::rotate::rot90(&turned)?.contiguous()?;
            }
            parts.push(turned.narrow(2, 0, p)?.narrow(3, 0, p)?.contiguous()?);
        }
    }
    Tensor::cat(&parts, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rotate::dihedral;
    use candle_core::{DType, Device, Var};

    fn host(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    #[test]
    fn part_size_follows_the_paper() {
        assert_eq!(part_size(69), 45);
        assert_eq!(part_size(32), 21);
        assert_eq!(part_size(64), 42);
        assert_eq!(part_size(1), 1);
    }

    #[test]
    fn rot45_hand_computed() {
        // 3x3, centre 1: output pixel (0, 1) (x = 0, y = 1) samples the source at
        // R(-45)(0, 1) = (sin 45, cos 45) = (0.7071, 0.7071) -> col 1.7071, row 0.2929.
        let x = Tensor::arange(0f32, 9.0, &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 3, 3))
            .unwrap();
        let y = host(&rot45(&x).unwrap());
        let (fr, fc) = (
            1.0 - std::f32::consts::FRAC_1_SQRT_2,
            std::f32::consts::FRAC_1_SQRT_2,
        );
        // taps rows 0/1, cols 1/2 of 0 1 2 / 3 4 5 / 6 7 8
        let expect = (1.0 - fr) * (1.0 - fc) * 1.0
            + (1.0 - fr) * fc * 2.0
            + fr * (1.0 - fc) * 4.0
            + fr * fc * 5.0;
        assert!((y[1] - expect).abs() < 1e-5, "{} vs {expect}", y[1]);
        // the centre stays; the corner (0, 0) lies outside the rotated square: it samples the
        // source at col 1, row 1 - 1.4142 clamped to 0 (the top edge's middle pixel)
        assert!((y[4] - 4.0).abs() < 1e-6);
        assert!((y[0] - 1.0).abs() < 1e-5, "{}", y[0]);
        assert!(rot45(&Tensor::zeros((1, 1, 2, 3), DType::F32, &Device::Cpu).unwrap()).is_err());
    }

    #[test]
    fn parts_are_corner_crops_reoriented_and_permuted_by_the_group() {
        let x = crate::model::Params::new(3)
            .uniform("x", &[2, 3, 13, 13], 1.0, &Device::Cpu)
            .unwrap();
        let p = part_size(13);
        let parts = stack_parts(&x).unwrap();
        assert_eq!(parts.dims(), &[32, 3, p, p]);
        // part 0 is the top-left crop; part 2 the bottom-right crop turned by 180 degrees
        let crop =
            |t: &Tensor, r: usize, c: usize| t.narrow(2, r, p).unwrap().narrow(3, c, p).unwrap();
        assert_eq!(host(&parts.narrow(0, 0, 2).unwrap()), host(&crop(&x, 0, 0)));
        let br = dihedral(&crop(&x, 13 - p, 13 - p), 2).unwrap();
        assert_eq!(host(&parts.narrow(0, 4, 2).unwrap()), host(&br));
        // every D4 transform of the input permutes the 16 parts of each image
        let per_image = |t: &Tensor, img: usize| -> Vec<Vec<f32>> {
            (0..PARTS)
                .map(|k| host(&t.narrow(0, 2 * k + img, 1).unwrap()))
                .collect()
        };
        for k in 1..8 {
            let moved = stack_parts(&dihedral(&x, k).unwrap()).unwrap();
            for img in 0..2 {
                let a = per_image(&parts, img);
                let b = per_image(&moved, img);
                for (i, pa) in a.iter().enumerate() {
                    let best = b
                        .iter()
                        .map(|pb| {
                            pa.iter()
                                .zip(pb)
                                .map(|(u, v)| (u - v).abs())
                                .fold(0f32, f32::max)
                        })
                        .fold(f32::INFINITY, f32::min);
                    assert!(best < 1e-5, "transform {k} image {img} part {i}: {best}");
                }
            }
        }
    }

    #[test]
    fn parts_pass_gradients() {
        let v = Var::from_tensor(&Tensor::ones((1, 1, 6, 6), DType::F32, &Device::Cpu).unwrap())
            .unwrap();
        let g = stack_parts(v.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let grad = host(g.get(v.as_tensor()).unwrap());
        // every part pixel is a convex combination of inputs: the gradient sums to the count
        let p = part_size(6);
        let total: f32 = grad.iter().sum();
        assert!((total - (PARTS * p * p) as f32).abs() < 1e-3, "{total}");
    }
}
