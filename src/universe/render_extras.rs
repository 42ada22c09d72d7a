//! Rendering of the compact and off-centre parts of a cutout (before the PSF): star-forming
//! clumps, tidal tails, the merger companion, imaging artifacts, and the neighbouring field
//! (stars and faint background galaxies from `item_stream(seed, "universe/field", id)`).

use rand::Rng;

use super::Image3;
use super::population::{
    ArtifactKind, CLUMP_COLOUR, Galaxy, ODD_CLUMP_COLOUR, colour_ratios, uniform,
};
use super::stamp::{Lut, Sersic, add_elliptical_gaussian, add_gaussian};
use crate::rng::item_stream;

/// Pre-PSF Gaussian sigma (pixels) of a point source: stars of the field and odd clumps.
pub(crate) const STAR_SIGMA_PX: f32 = 0.3;

fn scaled(c: [f32; 3], f: f32) -> [f32; 3] {
    [c[0] * f, c[1] * f, c[2] * f]
}

/// Clumps, tails, companion and artifact of galaxy `g`.
pub(crate) fn draw_extras(g: &Galaxy, img: &mut Image3) {
    let (w, h, ps) = (img.width, img.height, img.pixel_scale);
    let s = g.arcsec_per_kpc / ps;
    let c = [w as f32 / 2.0, h as f32 / 2.0];
    for cl in &g.clumps {
        let pos = [
            c[0] + cl.offset_arcsec[0] / ps,
            c[1] + cl.offset_arcsec[1] / ps,
        ];
        add_gaussian(
            &mut img.planes,
            w,
            h,
            pos,
            cl.sigma_kpc * s,
            scaled(CLUMP_COLOUR, cl.flux_r),
        );
    }
    // Odd clumps: foreground stars, point sources (the PSF alone) like the field stars.
    for oc in &g.odd_clumps {
        let pos = [
            c[0] + oc.offset_arcsec[0] / ps,
            c[1] + oc.offset_arcsec[1] / ps,
        ];
        let col = scaled(ODD_CLUMP_COLOUR, oc.flux_r);
        add_gaussian(&mut img.planes, w, h, pos, STAR_SIGMA_PX, col);
    }
    if let Some(t) = &g.tidal {
        let tail_colour: [f32; 3] =
            std::array::from_fn(|k| 0.5 * (CLUMP_COLOUR[k] + g.disk.colour[k]));
        for tail in &t.tails {
            const N: usize = 20;
            let weights: Vec<f32> = (0..N).map(|i| 1.0 - 0.7 * i as f32 / N as f32).collect();
            let wsum: f32 = weights.iter().sum();
            let r0 = 0.6 * g.half_light_kpc;
            for (i, wt) in weights.iter().enumerate() {
                let u = (i as f32 + 0.5) / N as f32;
                let r = (r0 + u * tail.length_kpc) * s;
                let th = (tail.start_angle_deg + tail.curvature_deg * u).to_radians();
                let pos = [c[0] + r * th.cos(), c[1] + r * th.sin()];
                let sigma = tail.width_kpc * s * (0.5 + u);
                add_gaussian(
                    &mut img.planes,
                    w,
                    h,
                    pos,
                    sigma,
                    scaled(tail_colour, tail.flux_r * wt / wsum),
                );
            }
        }
        if let Some(cp) = &t.companion {
            let pos = [c[0] + cp.offset_kpc[0] * s, c[1] + cp.offset_kpc[1] * s];
            draw_sersic(
                img,
                pos,
                cp.sersic_n,
                cp.r_e_kpc * s,
                cp.axis_ratio,
                cp.position_angle_deg,
                scaled(cp.colour, cp.flux_r),
            );
        }
    }
    if let Some(a) = &g.artifact {
        let pos = [c[0] + a.offset[0] * w as f32, c[1] + a.offset[1] * h as f32];
        match a.kind {
            ArtifactKind::SatelliteTrail => {
                // A streak through the whole cutout, in one band (a single exposure).
                let band = (a.angle_deg as usize) % 3;
                let (cs, sn) = (
                    a.angle_deg.to_radians().cos(),
                    a.angle_deg.to_radians().sin(),
                );
                let sigma = 0.4f32;
                let per_px = a.flux_r * ps / (2.5066 * sigma);
                for y in 0..h {
                    for x in 0..w {
                        let (dx, dy) = (x as f32 + 0.5 - pos[0], y as f32 + 0.5 - pos[1]);
                        let d = dx * sn - dy * cs;
                        if d.abs() < 4.0 * sigma {
                            img.planes[band][y * w + x] +=
                                per_px * (-d * d / (2.0 * sigma * sigma)).exp();
                        }
                    }
                }
            }
            ArtifactKind::BrightStar => {
                let col = colour_ratios(0.5, 0.2);
                add_gaussian(&mut img.planes, w, h, pos, 0.3, scaled(col, a.flux_r));
                // Diffraction spikes / bleed trail: thin lines through the star.
                for (dir, frac) in [([1.0f32, 0.0f32], 0.01f32), ([0.0, 1.0], 0.03)] {
                    for t in -(w as i32)..(w as i32) {
                        let p = [pos[0] + dir[0] * t as f32, pos[1] + dir[1] * t as f32];
                        let f = a.flux_r * frac / (1.0 + (t as f32).abs()).powi(2);
                        add_gaussian(&mut img.planes, w, h, p, 0.4, scaled(col, f));
                    }
                }
            }
        }
    }
}

/// A Sersic galaxy of total r flux `flux[1]` at pixel position `pos` (stamp of +-8 r_e).
fn draw_sersic(
    img: &mut Image3,
    pos: [f32; 2],
    n: f32,
    re: f32,
    q: f32,
    pa_deg: f32,
    flux: [f32; 3],
) {
    let (w, h) = (img.width, img.height);
    let re = re.max(0.3);
    let prof = Sersic { n, re };
    let reach = 8.0 * re;
    let u_max = (10.0 * re).sqrt();
    let lut = Lut::build(u_max, 256, |u| [prof.value(u * u)]);
    let total = prof.total() * q;
    let (x0, x1) = (
        (pos[0] - reach).max(0.0) as usize,
        ((pos[0] + reach).max(0.0) as usize).min(w),
    );
    let (y0, y1) = (
        (pos[1] - reach).max(0.0) as usize,
        ((pos[1] + reach).max(0.0) as usize).min(h),
    );
    let (cs, sn) = (pa_deg.to_radians().cos(), pa_deg.to_radians().sin());
    let amp = 1.0 / total;
    for y in y0..y1 {
        let dy = y as f32 + 0.5 - pos[1];
        for x in x0..x1 {
            let dx = x as f32 + 0.5 - pos[0];
            let (u, v) = (dx * cs + dy * sn, (-dx * sn + dy * cs) / q);
            let val = lut.eval((u * u + v * v).sqrt().sqrt())[0] * amp;
            for (plane, f) in img.planes.iter_mut().zip(flux) {
                plane[y * w + x] += val * f;
            }
        }
    }
}

/// Poisson draw: by inversion for small means, normal approximation above 30.
fn poisson(rng: &mut rand_chacha::ChaCha8Rng, mean: f32) -> usize {
    if mean > 30.0 {
        let z: f32 = rng.sample(rand_distr::StandardNormal);
        return (mean + mean.sqrt() * z).round().max(0.0) as usize;
    }
    let l = (-mean).exp();
    let (mut k, mut p) = (0, 1.0f32);
    loop {
        p *= rng.random::<f32>();
        if p <= l || k > 200 {
            return k;
        }
        k += 1;
    }
}

/// Foreground stars (2 per arcmin^2, r = 16-23) and faint background galaxies
/// (6 per arcmin^2, r = 19.5-24), uniformly placed.
pub(crate) fn draw_field(img: &mut Image3, seed: u64, id: u64) {
    let mut rng = item_stream(seed, "universe/field", id);
    let (w, h, ps) = (img.width, img.height, img.pixel_scale);
    let area = (w as f32 * ps / 60.0) * (h as f32 * ps / 60.0);
    let flux_of = |m: f32| 10f32.powf((22.5 - m) / 2.5);
    for _ in 0..poisson(&mut rng, 2.0 * area) {
        let pos = [
            rng.random::<f32>() * w as f32,
            rng.random::<f32>() * h as f32,
        ];
        // Star counts rise towards faint magnitudes: m = 23 - 7 * u^2.
        let m = 23.0 - 7.0 * rng.random::<f32>().powi(2);
        let gr = uniform(&mut rng, 0.35, 1.4);
        let col = colour_ratios(gr, 0.45 * gr + uniform(&mut rng, -0.1, 0.15));
        add_gaussian(&mut img.planes, w, h, pos, 0.3, scaled(col, flux_of(m)));
    }
    for _ in 0..poisson(&mut rng, 6.0 * area) {
        let pos = [
            rng.random::<f32>() * w as f32,
            rng.random::<f32>() * h as f32,
        ];
        let m = 24.0 - 4.5 * rng.random::<f32>().powi(2);
        let size = uniform(&mut rng, 0.25, 0.9) / ps;
        let q = uniform(&mut rng, 0.3, 1.0);
        let pa = uniform(&mut rng, 0.0, std::f32::consts::PI);
        let red = rng.random::<f32>() < 0.4;
        let col = if red {
            colour_ratios(uniform(&mut rng, 0.9, 1.4), uniform(&mut rng, 0.5, 0.9))
        } else {
            colour_ratios(uniform(&mut rng, 0.3, 0.8), uniform(&mut rng, 0.2, 0.6))
        };
        add_elliptical_gaussian(
            &mut img.planes,
            w,
            h,
            pos,
            size,
            q,
            pa,
            scaled(col, flux_of(m)),
        );
    }
}
