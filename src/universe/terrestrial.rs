//! Terrestrial proxy universe: procedural, labelled, non-astronomical images standing in for
//! ImageNet-style pretraining data (which cannot be downloaded).
//!
//! Owns the class list ([`CLASSES`]) and the generator ([`generate`], [`generate_batch`]). Each
//! image is an exact *dead-leaves* picture rendered front to back: a few small leaves in front,
//! then one to three large foreground objects whose shape family × texture family is the class,
//! then background leaves until every pixel is covered (any leftover gets a base colour). Leaf
//! radii follow `p(r) ∝ r^-3` on `[2 px, size / 2]`, which gives the ~1/f² power spectrum of
//! natural images; leaves are disks, squares, triangles and ellipses with mild linear shading,
//! coloured from a random per-image palette. Foreground hues are random per object, so the class
//! is carried by shape and texture, not colour. Edges and textures are anti-aliased analytically
//! (coverage from a signed distance; texture transitions about a pixel wide).
//!
//! Image `i` under `seed` draws everything, its label first (uniform over [`CLASSES`], so
//! balanced in expectation), from `crate::rng::item_stream(seed, "universe/terrestrial", i)`:
//! results do not depend on batch boundaries, thread count or order. Value noise is a fixed
//! integer hash of a seed drawn from that stream.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::f32::consts::{FRAC_1_SQRT_2, TAU};

use crate::rng::item_stream;

/// Name of the random stream family; image `i` uses `item_stream(seed, STREAM, i)`.
pub const STREAM: &str = "universe/terrestrial";

/// Class names, `shape-texture` of the foreground object(s); the label indexes this list.
pub const CLASSES: &[&str] = &[
    "disk-stripes",
    "square-checker",
    "triangle-noise",
    "ellipse-gradient",
    "disk-checker",
    "square-stripes",
    "triangle-gradient",
    "ellipse-noise",
];

#[derive(Clone, Copy, PartialEq)]
enum Form {
    Disk,
    Square,
    Triangle,
    Ellipse,
}

#[derive(Clone, Copy, PartialEq)]
enum Tex {
    Shade,
    Stripes,
    Checker,
    Noise,
    Gradient,
}

use {Form::*, Tex::*};

/// (shape, texture) of each entry of [`CLASSES`]: each shape and each texture appears in two
/// classes, so neither alone identifies the class.
const PARTS: [(Form, Tex); 8] = [
    (Disk, Stripes),
    (Square, Checker),
    (Triangle, Noise),
    (Ellipse, Gradient),
    (Disk, Checker),
    (Square, Stripes),
    (Triangle, Gradient),
    (Ellipse, Noise),
];

/// Smallest leaf radius in pixels.
const R_MIN: f32 = 2.0;

/// One image: `pixels` is planar RGB (`3 × size × size`, channel-major, row-major within a
/// channel) in `[0, 1]`; `label` indexes [`CLASSES`].
#[derive(Clone, Debug, PartialEq)]
pub struct TerrestrialImage {
    pub label: usize,
    pub pixels: Vec<f32>,
}

/// Generates image `index` of the terrestrial universe under `seed`, `size × size` (`size >= 16`).
pub fn generate(seed: u64, index: u64, size: usize) -> TerrestrialImage {
    assert!(size >= 16, "terrestrial images need size >= 16, got {size}");
    let mut rng = item_stream(seed, STREAM, index);
    let label = rng.random_range(0..CLASSES.len());
    let (s, n) = (size as f32, size * size);
    let palette: [[f32; 3]; 3] = std::array::from_fn(|_| random_hsv(&mut rng));
    let mut cv = Canvas::new(size);
    for _ in 0..n / 100 {
        background_leaf(&mut cv, &mut rng, &palette, (0.08 * s).max(R_MIN));
    }
    let (form, tex) = PARTS[label];
    for _ in 0..rng.random_range(1..=3) {
        let r = s * rng.random_range(0.16..0.3);
        let c = (
            s * rng.random_range(0.2..0.8),
            s * rng.random_range(0.2..0.8),
        );
        let scale = match tex {
            Stripes => s * rng.random_range(0.05..0.1),
            Checker => s * rng.random_range(0.09..0.16),
            Noise => s * rng.random_range(0.045..0.08),
            Gradient | Shade => r,
        };
        let mut obj = Leaf::new(&mut rng, form, tex, c, r, scale);
        // Contrasting values and different hues, so the texture is always visible.
        let h = rng.random::<f32>();
        let (v1, v2) = (rng.random_range(0.08..0.45), rng.random_range(0.6..0.97));
        obj.a = hsv([h, rng.random_range(0.2..0.9), v1]);
        obj.b = hsv([
            h + rng.random_range(0.15..0.85),
            rng.random_range(0.2..0.9),
            v2,
        ]);
        if rng.random::<bool>() {
            (obj.a, obj.b) = (obj.b, obj.a);
        }
        cv.paint_under(&obj);
    }
    // Mean leaf area is ~1.7 E[r²]; allow ~12 coverings before the base colour fills the rest.
    let mean_r2 = 2.0 / (R_MIN.powi(-2) - (s / 2.0).powi(-2)) * (s / 2.0 / R_MIN).ln();
    for _ in 0..(12.0 * s * s / (1.7 * mean_r2)) as usize {
        if cv.live == 0 {
            break;
        }
        background_leaf(&mut cv, &mut rng, &palette, s / 2.0);
    }
    let base = leaf_colour(&mut rng, &palette);
    for (i, t) in cv.t.iter().enumerate().filter(|(_, t)| **t > 0.0) {
        (0..3).for_each(|c| cv.rgb[c * n + i] += t * base[c]);
    }
    TerrestrialImage {
        label,
        pixels: cv.rgb,
    }
}

/// Images `start .. start + n` under `seed`, in parallel (rayon); identical to [`generate`].
pub fn generate_batch(seed: u64, start: u64, n: usize, size: usize) -> Vec<TerrestrialImage> {
    (0..n)
        .into_par_iter()
        .map(|i| generate(seed, start + i as u64, size))
        .collect()
}

/// One background leaf (radius from `p(r) ∝ r^-3` on `[R_MIN, r_max]` by inverse CDF) under
/// the canvas; a leaf over fully covered rows is dropped after three draws.
fn background_leaf(cv: &mut Canvas, rng: &mut ChaCha8Rng, pal: &[[f32; 3]; 3], r_max: f32) {
    let s = cv.size as f32;
    let (a2, b2) = (R_MIN.powi(-2), r_max.powi(-2));
    let r = (a2 - rng.random::<f32>() * (a2 - b2)).sqrt().recip();
    let c = (s * rng.random::<f32>(), s * rng.random::<f32>());
    if cv.rows(c.1, r + 1.0).all(|y| cv.row_live[y] == 0) {
        return;
    }
    let form = [Disk, Square, Triangle, Ellipse][rng.random_range(0..4)];
    let mut leaf = Leaf::new(rng, form, Shade, c, r, r);
    let (colour, k) = (leaf_colour(rng, pal), rng.random_range(0.05..0.2));
    leaf.a = colour.map(|v| (v * (1.0 + k)).min(1.0));
    leaf.b = colour.map(|v| v * (1.0 - k));
    cv.paint_under(&leaf);
}

/// Front-to-back accumulator: `rgb` so far, the transmittance `t` left at each pixel, and the
/// number of pixels with `t > 0` per row and in all.
struct Canvas {
    size: usize,
    rgb: Vec<f32>,
    t: Vec<f32>,
    row_live: Vec<usize>,
    live: usize,
}

impl Canvas {
    fn new(size: usize) -> Self {
        let (rgb, t) = (vec![0.0; 3 * size * size], vec![1.0; size * size]);
        let (row_live, live) = (vec![size; size], size * size);
        Canvas {
            size,
            rgb,
            t,
            row_live,
            live,
        }
    }

    /// Pixel rows (or columns) within `e` of `c`, clipped to the image. Casts truncate (no libm
    /// floor/ceil calls on baseline x86-64); the range may be a pixel wider than exact.
    fn rows(&self, c: f32, e: f32) -> std::ops::Range<usize> {
        let hi = ((c + e).max(0.0) as usize + 1).min(self.size);
        ((c - e).max(0.0) as usize).min(hi)..hi
    }

    /// Composites `leaf` *under* everything painted so far, weighted by its coverage; a pixel
    /// left with under 1% transmittance is closed (its remainder goes to this leaf).
    fn paint_under(&mut self, leaf: &Leaf) {
        let (size, n, e) = (self.size, self.size * self.size, leaf.r + 1.0);
        for y in self.rows(leaf.cy, e) {
            let (fy, dy) = (y as f32 + 0.5, y as f32 + 0.5 - leaf.cy);
            if self.row_live[y] == 0 || dy.abs() > e {
                continue;
            }
            // Only the row's chord of the circumscribed circle (grown by a pixel) can be hit.
            for x in self.rows(leaf.cx, (e * e - dy * dy).sqrt()) {
                let (i, fx) = (y * size + x, x as f32 + 0.5);
                let t = self.t[i];
                let a = if t > 0.0 {
                    (0.5 - leaf.sdf(fx, fy)).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                if a == 0.0 {
                    continue;
                }
                let (mut w, mut rest) = (t * a, t * (1.0 - a));
                if rest < 0.01 {
                    (w, rest) = (t, 0.0);
                    self.row_live[y] -= 1;
                    self.live -= 1;
                }
                self.t[i] = rest;
                let c = leaf.colour(fx, fy);
                (0..3).for_each(|ch| self.rgb[ch * n + i] += w * c[ch]);
            }
        }
    }
}

/// A leaf or object: a shape rotated to `rot` of circumradius (ellipse: semi-axes `r`, `minor`)
/// in pixels, filled with `a + (b - a) t(u, v)`, `(u, v)` the offset from the centre rotated to
/// `dir`; `scale` is the texture's period, noise cell or half-extent in pixels.
struct Leaf {
    form: Form,
    tex: Tex,
    cx: f32,
    cy: f32,
    r: f32,
    minor: f32,
    rot: (f32, f32),
    dir: (f32, f32),
    scale: f32,
    seed: u32,
    a: [f32; 3],
    b: [f32; 3],
}

impl Leaf {
    /// Draws the geometric randomness of a leaf; colours `a`, `b` are left for the caller.
    fn new(rng: &mut ChaCha8Rng, form: Form, tex: Tex, c: (f32, f32), r: f32, scale: f32) -> Self {
        let minor = if form == Ellipse {
            r / rng.random_range(1.8..3.0)
        } else {
            r
        };
        let (rot, dir, seed) = (unit(rng), unit(rng), rng.random());
        let (cx, cy, a, b) = (c.0, c.1, [0.0; 3], [0.0; 3]);
        Leaf {
            form,
            tex,
            cx,
            cy,
            r,
            minor,
            rot,
            dir,
            scale,
            seed,
            a,
            b,
        }
    }

    /// Offset of pixel point (`x`, `y`) from the centre, in the frame rotated to `(c, s)`.
    fn local(&self, x: f32, y: f32, (c, s): (f32, f32)) -> (f32, f32) {
        let (dx, dy) = (x - self.cx, y - self.cy);
        (c * dx + s * dy, c * dy - s * dx)
    }

    /// Approximate signed distance to the edge in pixels (negative inside), accurate near it.
    fn sdf(&self, x: f32, y: f32) -> f32 {
        let ((u, v), r) = (self.local(x, y, self.rot), self.r);
        match self.form {
            Disk => (u * u + v * v).sqrt() - r,
            Square => u.abs().max(v.abs()) - r * FRAC_1_SQRT_2,
            Triangle => {
                let k = 0.866_025_4 * u; // inradius r / 2, edge normals at 90°, 210°, 330°
                v.max(-k - 0.5 * v).max(k - 0.5 * v) - 0.5 * r
            }
            Ellipse => {
                let (ia, ib) = (r.powi(-2), self.minor.powi(-2));
                let f = u * u * ia + v * v * ib - 1.0;
                f / (2.0 * ((u * ia).powi(2) + (v * ib).powi(2)).sqrt()).max(1e-6)
            }
        }
    }

    fn colour(&self, x: f32, y: f32) -> [f32; 3] {
        let ((u, v), p) = (self.local(x, y, self.dir), self.scale);
        let t = match self.tex {
            Shade | Gradient => 0.5 + 0.5 * u / p,
            // Smoothed square waves: slope ~1 per pixel at each transition.
            Stripes => 0.5 + (TAU * u / p).sin() * p / TAU,
            Checker => 0.5 + (TAU * u / p).sin() * (TAU * v / p).sin() * 1.5 * p / TAU,
            Noise => {
                let n = 0.65 * value_noise(u / p, v / p, self.seed)
                    + 0.35 * value_noise(2.0 * u / p, 2.0 * v / p, self.seed ^ 0x5bd1_e995);
                0.5 + 2.5 * (n - 0.5)
            }
        }
        .clamp(0.0, 1.0);
        std::array::from_fn(|i| self.a[i] + (self.b[i] - self.a[i]) * t)
    }
}

/// Random unit vector (cos, sin) of a uniform angle.
fn unit(rng: &mut ChaCha8Rng) -> (f32, f32) {
    let a = rng.random::<f32>() * TAU;
    (a.cos(), a.sin())
}

/// Random natural-ish colour as HSV: any hue, moderate saturation, broad brightness.
fn random_hsv(rng: &mut ChaCha8Rng) -> [f32; 3] {
    let h = rng.random::<f32>();
    [h, rng.random_range(0.05..0.7), rng.random_range(0.1..0.95)]
}

/// A leaf's RGB colour: usually a jittered palette colour, sometimes any colour.
fn leaf_colour(rng: &mut ChaCha8Rng, palette: &[[f32; 3]; 3]) -> [f32; 3] {
    if rng.random::<f32>() < 0.15 {
        return hsv(random_hsv(rng));
    }
    let [h, s, v] = palette[rng.random_range(0..3)];
    let s = (s + rng.random_range(-0.15..0.15)).clamp(0.0, 1.0);
    hsv([
        h + rng.random_range(-0.04..0.04),
        s,
        (v * rng.random_range(0.6..1.4)).min(1.0),
    ])
}

/// HSV (hue > -1, wrapping; s, v in [0, 1]) to RGB in [0, 1].
fn hsv([h, s, v]: [f32; 3]) -> [f32; 3] {
    [0.0f32, 2.0 / 3.0, 1.0 / 3.0].map(|o| {
        let x = h + o + 1.0; // positive, so the cast floors it (no libm call)
        let k = (x - x as i32 as f32) * 6.0;
        v * (1.0 - s * (1.0 - ((k - 3.0).abs() - 1.0).clamp(0.0, 1.0)))
    })
}

/// Integer hash of a lattice point to [0, 1).
fn hash01(ix: i32, iy: i32, seed: u32) -> f32 {
    let mut h =
        (ix as u32).wrapping_mul(0x9E37_79B1) ^ (iy as u32).wrapping_mul(0x85EB_CA77) ^ seed;
    h = (h ^ (h >> 15)).wrapping_mul(0x2C1B_3C6D);
    h = (h ^ (h >> 12)).wrapping_mul(0x297A_2D39);
    ((h ^ (h >> 15)) >> 8) as f32 / (1u32 << 24) as f32
}

/// Smooth bilinear value noise on the unit lattice, in [0, 1).
fn value_noise(x: f32, y: f32, seed: u32) -> f32 {
    let fl = |v: f32| v as i32 - i32::from(v < 0.0 && v != v as i32 as f32); // floor, no libm
    let (ix, iy) = (fl(x), fl(y));
    let smooth = |t: f32| t * t * (3.0 - 2.0 * t);
    let (tx, ty) = (smooth(x - ix as f32), smooth(y - iy as f32));
    let row = |j| hash01(ix, iy + j, seed) * (1.0 - tx) + hash01(ix + 1, iy + j, seed) * tx;
    row(0) * (1.0 - ty) + row(1) * ty
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: usize = 64;

    fn grey(img: &TerrestrialImage) -> Vec<f64> {
        let p = &img.pixels;
        (0..N * N)
            .map(|i| (p[i] + p[N * N + i] + p[2 * N * N + i]) as f64 / 3.0)
            .collect()
    }

    #[test]
    fn deterministic_and_index_dependent() {
        let a = generate(7, 3, 48);
        assert_eq!(a, generate(7, 3, 48));
        assert_eq!(a.pixels.len(), 3 * 48 * 48);
        assert!(a.pixels.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_ne!(a.pixels, generate(7, 4, 48).pixels);
        assert_ne!(a.pixels, generate(8, 3, 48).pixels);
        let batch = generate_batch(7, 1, 6, 48);
        assert_eq!((&batch[2], &batch[5]), (&a, &generate(7, 6, 48)));
    }

    /// Least-squares slope of log radially averaged power against log frequency, k = 3..=24,
    /// of the Hann-windowed mean-grey images (naive row-column DFT).
    fn spectral_slope(images: &[TerrestrialImage]) -> f64 {
        let tau = std::f64::consts::TAU;
        let tw: Vec<(f64, f64)> = (0..N)
            .map(|j| (tau * j as f64 / N as f64).sin_cos())
            .collect();
        let dft = |re: &mut [f64], im: &mut [f64], at: &dyn Fn(usize) -> usize| {
            let (mut o_re, mut o_im) = ([0.0; N], [0.0; N]);
            for (k, j) in (0..N).flat_map(|k| (0..N).map(move |j| (k, j))) {
                let ((s, c), (x, y)) = (tw[(j * k) % N], (re[at(j)], im[at(j)]));
                (o_re[k], o_im[k]) = (o_re[k] + x * c + y * s, o_im[k] + y * c - x * s);
            }
            (0..N).for_each(|k| (re[at(k)], im[at(k)]) = (o_re[k], o_im[k]));
        };
        let hann = |i: usize| 0.5 - 0.5 * (tau * (i as f64 + 0.5) / N as f64).cos();
        let (mut power, mut count) = (vec![0.0f64; N], vec![0usize; N]);
        for img in images {
            let g = grey(img);
            let mean = g.iter().sum::<f64>() / g.len() as f64;
            let mut re: Vec<f64> = (0..N * N)
                .map(|i| (g[i] - mean) * hann(i % N) * hann(i / N))
                .collect();
            let mut im = vec![0.0; N * N];
            (0..N).for_each(|r| dft(&mut re, &mut im, &|j| r * N + j));
            (0..N).for_each(|c| dft(&mut re, &mut im, &|j| j * N + c));
            let f = |k: usize| (k as f64 + N as f64 / 2.0) % N as f64 - N as f64 / 2.0; // signed
            for i in 0..N * N {
                let k = f(i % N).hypot(f(i / N)).round() as usize;
                if k < N / 2 {
                    (power[k], count[k]) = (power[k] + re[i] * re[i] + im[i] * im[i], count[k] + 1);
                }
            }
        }
        let pts: Vec<(f64, f64)> = (3..=24)
            .map(|k| ((k as f64).ln(), (power[k] / count[k] as f64).ln()))
            .collect();
        let m = |f: fn(&(f64, f64)) -> f64| pts.iter().map(f).sum::<f64>() / pts.len() as f64;
        let (mx, my) = (m(|p| p.0), m(|p| p.1));
        let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        sxy / pts.iter().map(|p| (p.0 - mx).powi(2)).sum::<f64>()
    }

    #[test]
    fn power_spectrum_is_natural() {
        let slope = spectral_slope(&generate_batch(11, 0, 20, N));
        println!("radially averaged power spectrum slope (k = 3..24, 20 images): {slope:.3}");
        assert!((-3.0..=-1.5).contains(&slope), "slope {slope}");
        // The check can fail: white noise is flat (slope ~0).
        let mut noise = generate_batch(11, 0, 20, N);
        for (i, img) in noise.iter_mut().enumerate() {
            (0..3 * N * N).for_each(|j| img.pixels[j] = hash01(i as i32, j as i32, 9));
        }
        assert!(spectral_slope(&noise) > -0.5);
    }

    #[test]
    fn labels_cover_all_classes_roughly_balanced() {
        let mut counts = vec![0usize; CLASSES.len()];
        generate_batch(5, 0, 200, 16)
            .iter()
            .for_each(|img| counts[img.label] += 1);
        println!("label counts over 200 images: {counts:?}");
        assert!(counts.iter().all(|&c| (10..=45).contains(&c)), "{counts:?}");
    }

    /// Hand features of the grey image's central crop: gradient and Laplacian energy, their
    /// ratio, structure-tensor coherence, and 2/4/6-fold gradient-orientation moments.
    fn features(img: &TerrestrialImage) -> Vec<f64> {
        let g = grey(img);
        let at = |x: usize, y: usize| g[y * N + x];
        let (mut e, mut lap, mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
        let mut moments = [(0.0f64, 0.0f64); 3];
        for (x, y) in (N / 8..N - N / 8).flat_map(|y| (N / 8..N - N / 8).map(move |x| (x, y))) {
            let (gx, gy) = (at(x + 1, y) - at(x - 1, y), at(x, y + 1) - at(x, y - 1));
            let m = gx.hypot(gy);
            e += m;
            lap +=
                (4.0 * at(x, y) - at(x + 1, y) - at(x - 1, y) - at(x, y + 1) - at(x, y - 1)).abs();
            (sxx, syy, sxy) = (sxx + gx * gx, syy + gy * gy, sxy + gx * gy);
            for (f, mo) in moments.iter_mut().enumerate() {
                let th = 2.0 * (f + 1) as f64 * gy.atan2(gx);
                *mo = (mo.0 + m * th.cos(), mo.1 + m * th.sin());
            }
        }
        let coherence = ((sxx - syy).powi(2) + 4.0 * sxy * sxy).sqrt() / (sxx + syy + 1e-9);
        let mut f = vec![e, lap, lap / (e + 1e-9), coherence];
        f.extend(moments.iter().map(|m| m.0.hypot(m.1) / (e + 1e-9)));
        f
    }

    #[test]
    fn nearest_centroid_on_hand_features_beats_chance() {
        let data = |start| -> Vec<(usize, Vec<f64>)> {
            let images = generate_batch(21, start, 400, N);
            images.iter().map(|i| (i.label, features(i))).collect()
        };
        let (train, test, k) = (data(0), data(10_000), CLASSES.len());
        // Standardise features by the training mean and spread; centroid = class mean.
        let d = train[0].1.len();
        let col = |j: usize| train.iter().map(move |t| t.1[j]);
        let mean: Vec<f64> = (0..d).map(|j| col(j).sum::<f64>() / 400.0).collect();
        let var = |j: usize| col(j).map(|v| (v - mean[j]).powi(2)).sum::<f64>() / 400.0;
        let sd: Vec<f64> = (0..d).map(|j| var(j).sqrt().max(1e-12)).collect();
        let z = |f: &[f64]| -> Vec<f64> { (0..d).map(|j| (f[j] - mean[j]) / sd[j]).collect() };
        let mut cent = vec![vec![0.0; d]; k];
        for (l, f) in &train {
            let n = train.iter().filter(|t| t.0 == *l).count() as f64;
            z(f).iter()
                .zip(&mut cent[*l])
                .for_each(|(v, c)| *c += v / n);
        }
        let dist = |l: usize, f: &[f64]| -> f64 {
            cent[l].iter().zip(f).map(|(a, b)| (a - b).powi(2)).sum()
        };
        let hit = |(l, f): &&(usize, Vec<f64>)| {
            let zf = z(f);
            (0..k).min_by(|&a, &b| dist(a, &zf).total_cmp(&dist(b, &zf))) == Some(*l)
        };
        let acc = test.iter().filter(hit).count() as f64 / test.len() as f64;
        println!(
            "nearest-centroid accuracy {acc:.3} (chance {:.3})",
            1.0 / k as f64
        );
        assert!(acc > 2.0 / k as f64, "accuracy {acc}");
    }
}
