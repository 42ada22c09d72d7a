//! Dieleman et al. (2015) training augmentation for `model.invariance: augment`: per image and
//! epoch a random rotation (0-360 degrees), horizontal flip, translation and log-uniform zoom,
//! applied on the CPU by bilinear resampling.
//!
//! Pure functions on host vectors; every draw comes from
//! `rng::item_stream(seed, "data/augment/epoch-<e>", image_index)`, so an image's augmentation
//! depends only on (seed, epoch, its index in the dataset) — not on the batch it lands in or on
//! the order batches run. Draw order per image: angle, shift y, shift x, log zoom, flip.
//!
//! Geometry (rows down, columns right, centre `c = (size - 1) / 2`): output pixel `(i, j)` samples
//! the input at `c + R(angle) (p - shift) / zoom` with `p = (i - c, j - c)`, its column mirrored
//! first when flipped. Angle 90 is the exact counter-clockwise rotation of
//! `model::rotate::rot90`. Samples outside the image reflect back into it (`symmetric`
//! mode: the edge pixel repeats), so the noise background continues instead of turning to zero.
//! This module does not decide when augmentation is used; the runner does.
//!
//! ```
//! let img = vec![1f32; 2 * 8 * 8];
//! let out = gzbench::data::augment::augment(&img, 1, 8, 0, 3, &[10, 11]).unwrap();
//! assert!(out.iter().all(|&v| (v - 1.0).abs() < 1e-5)); // a flat image stays flat
//! ```

use crate::rng::item_stream;
use rand::Rng;
use rayon::prelude::*;

/// Largest translation in pixels at 64 x 64; scaled linearly with the image size.
pub const MAX_SHIFT_AT_64: f64 = 4.0;
/// Zoom is log-uniform in `[1 / MAX_ZOOM, MAX_ZOOM]`.
pub const MAX_ZOOM: f64 = 1.3;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AugmentError {
    #[error(
        "augment: {values} image values for {images} images of {channels} x {size} x {size} \
         (expected {expected})"
    )]
    Length {
        values: usize,
        images: usize,
        channels: usize,
        size: usize,
        expected: usize,
    },
}

/// One image's random transform.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    /// Counter-clockwise rotation in degrees.
    pub angle_deg: f64,
    /// Translation of the content in pixels, (down, right).
    pub shift: (f64, f64),
    /// Magnification (> 1 enlarges the galaxy).
    pub zoom: f64,
    /// Mirror the columns of the result.
    pub flip: bool,
}

impl Transform {
    pub const IDENTITY: Transform = Transform {
        angle_deg: 0.0,
        shift: (0.0, 0.0),
        zoom: 1.0,
        flip: false,
    };

    /// The transform of dataset image `index` in `epoch` under `seed`, for `size x size` images.
    pub fn draw(seed: u64, epoch: usize, index: u64, size: usize) -> Transform {
        Self::draw_from(seed, &format!("data/augment/epoch-{epoch}"), index, size)
    }

    /// The transform of item `index` of the stream `(seed, name)`, for `size x size` images.
    pub fn draw_from(seed: u64, name: &str, index: u64, size: usize) -> Transform {
        let mut r = item_stream(seed, name, index);
        let max_shift = MAX_SHIFT_AT_64 * size as f64 / 64.0;
        let log_zoom = MAX_ZOOM.ln();
        let angle_deg = r.random_range(0.0..360.0);
        let dy = r.random_range(-max_shift..=max_shift);
        let dx = r.random_range(-max_shift..=max_shift);
        let zoom = r.random_range(-log_zoom..=log_zoom).exp();
        let flip = r.random_bool(0.5);
        Transform {
            angle_deg,
            shift: (dy, dx),
            zoom,
            flip,
        }
    }
}

/// Augment a batch: `images` holds `indices.len()` images of `c x size x size` (image-major,
/// as `Dataset::gather` returns them) and `indices` their indices in the dataset, which pick
/// the random streams. Returns the transformed batch, same layout.
pub fn augment(
    images: &[f32],
    c: usize,
    size: usize,
    seed: u64,
    epoch: usize,
    indices: &[usize],
) -> Result<Vec<f32>, AugmentError> {
    let len = c * size * size;
    if images.len() != indices.len() * len {
        return Err(AugmentError::Length {
            values: images.len(),
            images: indices.len(),
            channels: c,
            size,
            expected: indices.len() * len,
        });
    }
    let mut out = vec![0f32; images.len()];
    if len == 0 {
        return Ok(out);
    }
    out.par_chunks_mut(len)
        .zip(images.par_chunks(len))
        .zip(indices.par_iter())
        .for_each(|((o, img), &index)| {
            let t = Transform::draw(seed, epoch, index as u64, size);
            apply_into(img, c, size, &t, o);
        });
    Ok(out)
}

/// One `c x size x size` image under `t`. `image` must hold `c * size * size` values.
pub fn apply(
    image: &[f32],
    c: usize,
    size: usize,
    t: &Transform,
) -> Result<Vec<f32>, AugmentError> {
    let len = c * size * size;
    if image.len() != len {
        return Err(AugmentError::Length {
            values: image.len(),
            images: 1,
            channels: c,
            size,
            expected: len,
        });
    }
    let mut out = vec![0f32; len];
    apply_into(image, c, size, t, &mut out);
    Ok(out)
}

/// Index `i` reflected into `0..n` (symmetric: `-1 -> 0`, `n -> n - 1`).
fn reflect(i: i64, n: usize) -> usize {
    let n = n as i64;
    let m = i.rem_euclid(2 * n);
    (if m >= n { 2 * n - 1 - m } else { m }) as usize
}

fn apply_into(image: &[f32], c: usize, size: usize, t: &Transform, out: &mut [f32]) {
    let centre = (size as f64 - 1.0) / 2.0;
    let (sin, cos) = t.angle_deg.to_radians().sin_cos();
    let zoom = if t.zoom.is_finite() && t.zoom > 0.0 {
        t.zoom
    } else {
        1.0
    };
    let plane = size * size;
    for i in 0..size {
        for j in 0..size {
            let mut x = j as f64 - centre;
            if t.flip {
                x = -x;
            }
            let y = (i as f64 - centre - t.shift.0) / zoom;
            let x = (x - t.shift.1) / zoom;
            let sy = centre + cos * y + sin * x;
            let sx = centre - sin * y + cos * x;
            let (fy, fx) = (sy.floor(), sx.floor());
            let (wy, wx) = ((sy - fy) as f32, (sx - fx) as f32);
            let (y0, x0) = (fy as i64, fx as i64);
            let (r0, r1) = (reflect(y0, size), reflect(y0 + 1, size));
            let (c0, c1) = (reflect(x0, size), reflect(x0 + 1, size));
            for ch in 0..c {
                let p = &image[ch * plane..(ch + 1) * plane];
                let top = p[r0 * size + c0] * (1.0 - wx) + p[r0 * size + c1] * wx;
                let bottom = p[r1 * size + c0] * (1.0 - wx) + p[r1 * size + c1] * wx;
                out[ch * plane + i * size + j] = top * (1.0 - wy) + bottom * wy;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn random_images(n: usize, c: usize, size: usize) -> Vec<f32> {
        let mut r = crate::rng::stream(1, "test/augment");
        (0..n * c * size * size)
            .map(|_| r.random_range(-1.0..1.0))
            .collect()
    }

    fn rot(t: Transform, angle_deg: f64) -> Transform {
        Transform { angle_deg, ..t }
    }

    #[test]
    fn identity_is_exact() {
        let (c, s) = (3, 9);
        let x = random_images(1, c, s);
        let y = apply(&x, c, s, &Transform::IDENTITY).unwrap();
        let d = x
            .iter()
            .zip(&y)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(d < 1e-6, "{d}");
    }

    #[test]
    fn right_angles_through_the_bilinear_path_are_the_exact_permutations() {
        let (c, s) = (2, 10);
        let x = random_images(1, c, s);
        let id = Transform::IDENTITY;
        let at = |v: &[f32], ch: usize, i: usize, j: usize| v[ch * s * s + i * s + j];
        let r90 = apply(&x, c, s, &rot(id, 90.0)).unwrap();
        let r180 = apply(&x, c, s, &rot(id, 180.0)).unwrap();
        let r270 = apply(&x, c, s, &rot(id, 270.0)).unwrap();
        let flip = apply(&x, c, s, &Transform { flip: true, ..id }).unwrap();
        for ch in 0..c {
            // the interior (here all pixels, since right angles stay on the grid)
            for i in 1..s - 1 {
                for j in 1..s - 1 {
                    let close = |a: f32, b: f32| (a - b).abs() < 1e-5;
                    assert!(close(at(&r90, ch, i, j), at(&x, ch, j, s - 1 - i)));
                    assert!(close(at(&r180, ch, i, j), at(&x, ch, s - 1 - i, s - 1 - j)));
                    assert!(close(at(&r270, ch, i, j), at(&x, ch, s - 1 - j, i)));
                    assert!(close(at(&flip, ch, i, j), at(&x, ch, i, s - 1 - j)));
                }
            }
        }
    }

    #[test]
    fn shift_and_zoom_geometry() {
        let (c, s) = (1, 12);
        let x = random_images(1, c, s);
        let id = Transform::IDENTITY;
        // content moves down 2 and left 1
        let y = apply(
            &x,
            c,
            s,
            &Transform {
                shift: (2.0, -1.0),
                ..id
            },
        )
        .unwrap();
        for i in 2..s {
            for j in 0..s - 1 {
                assert!((y[i * s + j] - x[(i - 2) * s + j + 1]).abs() < 1e-6);
            }
        }
        // zoom 2 about the centre (5.5, 5.5): output (i, j) samples 5.5 + (i - 5.5) / 2
        let z = apply(&x, c, s, &Transform { zoom: 2.0, ..id }).unwrap();
        let bilinear = |sy: f64, sx: f64| {
            let (y0, x0) = (sy.floor() as usize, sx.floor() as usize);
            let (wy, wx) = ((sy - y0 as f64) as f32, (sx - x0 as f64) as f32);
            let p = |i: usize, j: usize| x[i * s + j];
            (p(y0, x0) * (1.0 - wx) + p(y0, x0 + 1) * wx) * (1.0 - wy)
                + (p(y0 + 1, x0) * (1.0 - wx) + p(y0 + 1, x0 + 1) * wx) * wy
        };
        for (i, j) in [(3, 4), (5, 5), (8, 2)] {
            let want = bilinear(5.5 + (i as f64 - 5.5) / 2.0, 5.5 + (j as f64 - 5.5) / 2.0);
            assert!((z[i * s + j] - want).abs() < 1e-6);
        }
        // a flat image stays flat under any transform (reflection at the borders)
        let flat = vec![0.25f32; 2 * 9 * 9];
        let out = augment(&flat, 2, 9, 7, 0, &[0]).unwrap();
        assert!(out.iter().all(|&v| (v - 0.25).abs() < 1e-6));
        assert_eq!(reflect(-1, 4), 0);
        assert_eq!(reflect(4, 4), 3);
        assert_eq!(reflect(-6, 4), 2);
    }

    #[test]
    fn determinism_and_independence_of_batching() {
        let (c, s) = (3, 16);
        let x = random_images(3, c, s);
        let a = augment(&x, c, s, 5, 2, &[7, 8, 9]).unwrap();
        assert_eq!(a, augment(&x, c, s, 5, 2, &[7, 8, 9]).unwrap());
        // image 9 alone gives the same result as in the batch
        let len = c * s * s;
        let alone = augment(&x[2 * len..], c, s, 5, 2, &[9]).unwrap();
        assert_eq!(alone, a[2 * len..]);
        assert_ne!(a, augment(&x, c, s, 5, 3, &[7, 8, 9]).unwrap(), "epoch");
        assert_ne!(a, augment(&x, c, s, 6, 2, &[7, 8, 9]).unwrap(), "seed");
        assert_ne!(a, x);
        assert!(matches!(
            augment(&x, c, s, 5, 2, &[7, 8]),
            Err(AugmentError::Length { .. })
        ));
        assert!(apply(&x, c, s, &Transform::IDENTITY).is_err());
    }

    #[test]
    fn drawn_transforms_cover_the_ranges() {
        let ts: Vec<Transform> = (0..400).map(|i| Transform::draw(0, 0, i, 32)).collect();
        assert!(ts.iter().all(|t| (0.0..360.0).contains(&t.angle_deg)));
        assert!(
            ts.iter()
                .all(|t| t.shift.0.abs() <= 2.0 && t.shift.1.abs() <= 2.0)
        );
        assert!(
            ts.iter()
                .all(|t| (1.0 / 1.3 - 1e-9..=1.3 + 1e-9).contains(&t.zoom))
        );
        let flips = ts.iter().filter(|t| t.flip).count();
        assert!((150..250).contains(&flips), "{flips}");
        assert!(ts.iter().any(|t| t.angle_deg > 270.0) && ts.iter().any(|t| t.angle_deg < 90.0));
        assert!(ts.iter().any(|t| t.zoom > 1.2) && ts.iter().any(|t| t.zoom < 0.85));
        assert_eq!(Transform::draw(0, 0, 3, 32), ts[3]);
        assert_ne!(Transform::draw(0, 1, 3, 32), ts[3]);
    }
}
