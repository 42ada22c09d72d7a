//! `shapes`: noisy 3-band Gaussian blobs, round or elongated, for seconds-fast end-to-end checks.
//!
//! Image `i` comes from `rng::item_stream(data_seed, "data/shapes", i)`: a blob with random
//! centre offset, size, position angle and colour, axis ratio in [0.3, 0.65] (elongated, target 1)
//! or [0.75, 1] (round, target 0), plus Gaussian pixel noise. Learnable, but not trivially.

use super::Dataset;
use crate::rng::item_stream;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

fn one(seed: u64, index: u64, size: usize) -> (Vec<f32>, f32) {
    let mut r = item_stream(seed, "data/shapes", index);
    let elongated = r.random_bool(0.5);
    let q: f32 = if elongated {
        r.random_range(0.3..0.65)
    } else {
        r.random_range(0.75..1.0)
    };
    let s = size as f32;
    let sigma = r.random_range(0.08..0.16) * s;
    let (cx, cy) = (
        s / 2.0 + r.random_range(-0.1..0.1) * s,
        s / 2.0 + r.random_range(-0.1..0.1) * s,
    );
    let theta: f32 = r.random_range(0.0..std::f32::consts::PI);
    let (st, ct) = theta.sin_cos();
    let colour = [
        r.random_range(0.5..1.0f32),
        r.random_range(0.5..1.0f32),
        r.random_range(0.5..1.0f32),
    ];
    let amp: f32 = r.random_range(0.6..1.0);
    let noise: f32 = r.random_range(0.05..0.15);
    let mut px = vec![0f32; 3 * size * size];
    for y in 0..size {
        for x in 0..size {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            let (u, v) = (dx * ct + dy * st, (-dx * st + dy * ct) / q);
            let f = amp * (-(u * u + v * v) / (2.0 * sigma * sigma)).exp();
            for (c, col) in colour.iter().enumerate() {
                let n: f32 = StandardNormal.sample(&mut r);
                px[c * size * size + y * size + x] = f * col + noise * n;
            }
        }
    }
    (px, if elongated { 1.0 } else { 0.0 })
}

/// Images `start .. start + n` of the family, generated in parallel, identical in any order.
pub(super) fn generate(seed: u64, start: u64, n: usize, size: usize) -> Dataset {
    let items: Vec<(Vec<f32>, f32)> = (0..n as u64)
        .into_par_iter()
        .map(|i| one(seed, start + i, size))
        .collect();
    let mut images = Vec::with_capacity(n * 3 * size * size);
    let mut targets = Vec::with_capacity(n);
    for (px, t) in items {
        images.extend_from_slice(&px);
        targets.push(t);
    }
    Dataset {
        target_len: 1,
        channels: 3,
        size,
        images,
        targets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_balanced() {
        let a = generate(1, 0, 200, 16);
        assert_eq!(a, generate(1, 0, 200, 16));
        assert_ne!(a.images, generate(2, 0, 200, 16).images);
        let pos = a.targets.iter().filter(|&&t| t == 1.0).count();
        assert!((70..130).contains(&pos), "{pos}");
        // a slice of the family equals the same items generated on their own
        let b = generate(1, 50, 10, 16);
        assert_eq!(&a.images[50 * 768..60 * 768], &b.images[..]);
    }

    #[test]
    fn elongated_blobs_have_elongated_second_moments() {
        let d = generate(3, 0, 100, 32);
        let mut ratios = [vec![], vec![]];
        for i in 0..d.len() {
            let img = &d.images[i * d.image_len()..i * d.image_len() + 32 * 32];
            let (mut m, mut sx, mut sy, mut sxx, mut syy, mut sxy) =
                (0f64, 0f64, 0f64, 0f64, 0f64, 0f64);
            for y in 0..32 {
                for x in 0..32 {
                    // threshold well above the pixel noise so the moments see the blob, not the noise
                    let w = (img[y * 32 + x] - 0.3).max(0.0) as f64;
                    let (xf, yf) = (x as f64, y as f64);
                    m += w;
                    sx += w * xf;
                    sy += w * yf;
                    sxx += w * xf * xf;
                    syy += w * yf * yf;
                    sxy += w * xf * yf;
                }
            }
            let (mx, my) = (sx / m, sy / m);
            let (a, b, c) = (sxx / m - mx * mx, syy / m - my * my, sxy / m - mx * my);
            let tr = (a + b) / 2.0;
            let det = ((a - b) * (a - b) / 4.0 + c * c).sqrt();
            ratios[d.targets[i] as usize].push(((tr - det) / (tr + det)).sqrt());
        }
        let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
        assert!(
            mean(&ratios[1]) + 0.15 < mean(&ratios[0]),
            "{} vs {}",
            mean(&ratios[1]),
            mean(&ratios[0])
        );
    }
}
