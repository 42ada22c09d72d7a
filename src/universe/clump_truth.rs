//! Clump truth for Clump Scout style clump detection (Adams et al. 2022; Dickinson et al. 2022;
//! Popp et al. 2023): where each clump of a galaxy lands in its cutout, its box, whether it is a
//! star-forming clump or an "odd" one, and whether it can be seen.
//!
//! Clump Scout volunteers mark two kinds of compact sources on a galaxy: normal clumps
//! (star-forming, blue, resolved or not) and "odd" clumps, compact sources that are not
//! star-forming clumps, most often a foreground star over the disk. The universe draws odd clumps
//! only when [`PopulationConfig::odd_clump_fraction`](super::PopulationConfig) is above zero,
//! from their own stream `item_stream(seed, "universe/odd-clumps", id)`, so every galaxy of an
//! existing population stays byte-identical. An odd clump is a [`Clump`] in
//! [`Galaxy::odd_clumps`]: a foreground star of a K-type colour (g - r = 0.85, r - z = 0.45,
//! redder than the clumps' blue), drawn as a point source (the PSF alone), placed in the disk
//! plane like a clump (`r_kpc`, `theta_deg`, so it sits on the disk at every redshift) with a
//! fixed apparent flux (a foreground star does not dim with the galaxy's redshift).
//!
//! Distributions of odd clumps (per galaxy with one, chance `odd_clump_fraction`): one star
//! (85 %) or two; radius `uniform(0.3, 2.0)` disk scale lengths (the bright disk, where a
//! superposed star is confused with a clump); angle uniform; apparent r magnitude
//! `uniform(18.5, 22.5)`, from stars brighter than any clump to ones lost in the disk light, so
//! that roughly as many odd clumps are visible as normal clumps.
//!
//! [`Galaxy::clump_truth`] lists every clump (normal ones in [`Galaxy::clumps`] order, then odd
//! ones) with its centre in pixels (the renderer's convention: the galaxy centre at
//! `(size / 2, size / 2)`, x = column, y = row, pixel `i` covering `[i, i + 1)`), its box (the
//! rule of [`Galaxy::clump_boxes`], unrounded: +-2.5 sigma of the clump convolved with the PSF
//! core, at least +-1.5 px, clipped to the image) and its visibility
//! ([`visibility::clump_signals`] judged by [`visibility::CLUMP`]). Pure functions of the truth
//! and the render configuration, except `add_odd_clumps`, which draws from its named stream.

use rand::Rng;
use serde::Serialize;

use super::population::{Clump, Galaxy, chance, uniform};
use super::render::{RenderConfig, compact_extent};
use super::render_extras::STAR_SIGMA_PX;
use super::visibility::{self, CLUMP};
use crate::geom::{Point, Rect};
use crate::rng::item_stream;

/// One clump of a galaxy as it appears in a cutout.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClumpTruth {
    /// The box around the clump's light (pixels, unrounded, clipped to the image).
    pub rect: Rect,
    /// The clump's centre (pixels; not clipped).
    pub centre: Point,
    /// An odd clump (foreground star) rather than a star-forming one.
    pub odd: bool,
    /// The clump passes [`visibility::CLUMP`] (size, S/N and contrast).
    pub visible: bool,
    /// Apparent r flux (nanomaggies).
    pub flux_r: f32,
    /// Matched-filter S/N of its light (see [`visibility`]).
    pub snr: f32,
    /// Light-weighted ratio of its light to the other light under it.
    pub contrast: f32,
}

/// r-band PSF FWHM of the cutout of `g` rendered with `cfg`, in pixels.
pub fn psf_fwhm_px(g: &Galaxy, cfg: &RenderConfig) -> f32 {
    cfg.survey.profile().psf_fwhm[1] / cfg.pixel_scale(g)
}

/// Give `g` its odd clumps (foreground stars) with chance `fraction`, drawing only from
/// `item_stream(seed, "universe/odd-clumps", g.id)` (distributions in the module docs).
pub(crate) fn add_odd_clumps(g: &mut Galaxy, seed: u64, fraction: f32) {
    let mut rng = item_stream(seed, "universe/odd-clumps", g.id);
    if !chance(&mut rng, fraction) {
        return;
    }
    let count = if chance(&mut rng, 0.85) { 1 } else { 2 };
    let h = g.disk.scale_kpc;
    g.odd_clumps = (0..count)
        .map(|_| Clump {
            r_kpc: h * uniform(&mut rng, 0.3, 2.0),
            theta_deg: rng.random::<f32>() * 360.0,
            sigma_kpc: 0.0,
            offset_arcsec: [0.0; 2],
            flux_r: 10f32.powf((22.5 - uniform(&mut rng, 18.5, 22.5)) / 2.5),
        })
        .collect();
    g.place_odd_clumps();
}

impl Galaxy {
    /// Every clump of the galaxy (normal ones first, in [`Galaxy::clumps`] order, then the odd
    /// ones) as it appears in a cutout rendered with `cfg` (see the module docs).
    pub fn clump_truth(&self, cfg: &RenderConfig) -> Vec<ClumpTruth> {
        let (normal, odd) = visibility::clump_signals(self, cfg);
        let ps = cfg.pixel_scale(self);
        let n = cfg.size as f32;
        let one = |c: &Clump, sigma_px: f32, odd: bool, s: &visibility::Signal| {
            let (x, y, r) = compact_extent(cfg, ps, c.offset_arcsec, sigma_px);
            let centre = Point::new(x, y);
            ClumpTruth {
                rect: Rect::around(centre, 2.0 * r, 2.0 * r).clip(n, n),
                centre,
                odd,
                visible: s.passes(&CLUMP),
                flux_r: c.flux_r,
                snr: s.snr,
                contrast: s.contrast,
            }
        };
        let normal = self.clumps.iter().zip(&normal).map(|(c, s)| {
            let sigma_px = c.sigma_kpc * self.arcsec_per_kpc / ps;
            one(c, sigma_px, false, s)
        });
        let odd = (self.odd_clumps.iter().zip(&odd)).map(|(c, s)| one(c, STAR_SIGMA_PX, true, s));
        normal.chain(odd).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::universe::population::ODD_CLUMP_COLOUR;
    use crate::universe::psf::Psf;
    use crate::universe::{
        GalaxyType, PopulationConfig, Survey, Visibility, render_noise_free, sample_population,
    };

    fn cfg() -> RenderConfig {
        RenderConfig::new(64, Survey::DecalsLike)
    }

    /// A face-on clumpy disk without arms or neighbours, clumps and odd clumps removed.
    fn bare_disk() -> Galaxy {
        let pop = PopulationConfig {
            clump_fraction: 1.0,
            artifact_fraction: 0.0,
            ..PopulationConfig::default()
        };
        let mut g = sample_population(5, 200, &pop)
            .into_iter()
            .find(|g| g.kind == GalaxyType::Disk && g.clumps.len() >= 2)
            .expect("a clumpy disk");
        g.clumps.truncate(1);
        g.odd_clumps.clear();
        g
    }

    /// The r (and g, z) light of `g` minus that of `bare`, noise-free.
    fn difference(g: &Galaxy, bare: &Galaxy) -> [Vec<f32>; 3] {
        let (a, b) = (
            render_noise_free(g, &cfg()),
            render_noise_free(bare, &cfg()),
        );
        std::array::from_fn(|k| {
            let p = a.planes[k].iter().zip(&b.planes[k]);
            p.map(|(x, y)| x - y).collect()
        })
    }

    fn argmax(p: &[f32], w: usize) -> (usize, usize) {
        let i = (0..p.len()).fold(0, |m, i| if p[i] > p[m] { i } else { m });
        (i % w, i / w)
    }

    #[test]
    fn a_clump_at_a_known_offset_lands_on_its_pixel() {
        let mut g = bare_disk();
        let ps = cfg().pixel_scale(&g);
        let mut bare = g.clone();
        bare.clumps.clear();
        for (x, y) in [(40.5f32, 20.5f32), (22.3, 45.8), (33.7, 30.2)] {
            g.clumps[0].offset_arcsec = [(x - 32.0) * ps, (y - 32.0) * ps];
            g.clumps[0].flux_r = 50.0;
            let t = g.clump_truth(&cfg());
            assert_eq!(t.len(), 1);
            assert!((t[0].centre.x - x).abs() < 1e-3 && (t[0].centre.y - y).abs() < 1e-3);
            let d = difference(&g, &bare);
            assert_eq!(
                argmax(&d[1], 64),
                (x as usize, y as usize),
                "clump at ({x}, {y})"
            );
            // the same box as clump_boxes before rounding
            let b = g.clump_boxes(&cfg())[0];
            let r = t[0].rect;
            assert_eq!(
                (b.x0, b.y0, b.x1, b.y1),
                (
                    r.x0.floor() as usize,
                    r.y0.floor() as usize,
                    r.x1.ceil() as usize,
                    r.y1.ceil() as usize
                )
            );
            assert!(r.x0 < x && x < r.x1 && r.y0 < y && y < r.y1 && !t[0].odd);
        }
    }

    #[test]
    fn an_odd_clump_is_a_point_source_of_star_colour_inside_its_box() {
        let mut g = bare_disk();
        let ps = cfg().pixel_scale(&g);
        let bare = g.clone();
        let mut star = g.clumps[0].clone();
        star.offset_arcsec = [6.3 * ps, -4.6 * ps];
        star.flux_r = 40.0;
        g.odd_clumps = vec![star];
        let t = g.clump_truth(&cfg());
        assert_eq!(t.len(), 2);
        assert!(t[1].odd && !t[0].odd);
        assert!((t[1].centre.x - 38.3).abs() < 1e-3 && (t[1].centre.y - 27.4).abs() < 1e-3);
        let d = difference(&g, &bare);
        let tot: Vec<f64> = d
            .iter()
            .map(|p| p.iter().map(|&v| v as f64).sum())
            .collect();
        for k in [0, 2] {
            let ratio = tot[k] / tot[1];
            assert!(
                (ratio / ODD_CLUMP_COLOUR[k] as f64 - 1.0).abs() < 0.01,
                "band {k}"
            );
        }
        assert!((tot[1] / 40.0 - 1.0).abs() < 0.01, "{}", tot[1]);
        assert_eq!(argmax(&d[1], 64), (38, 27));
        // the box holds most of the light (the PSF core entirely, part of the Moffat wing)
        let r = t[1].rect;
        let inside: f64 = (0..64 * 64)
            .filter(|i| {
                let (x, y) = ((i % 64) as f32 + 0.5, (i / 64) as f32 + 0.5);
                r.x0 <= x && x < r.x1 && r.y0 <= y && y < r.y1
            })
            .map(|i| d[1][i] as f64)
            .sum();
        assert!(inside / tot[1] > 0.75, "{}", inside / tot[1]);
        // a point source: its second moment is the PSF's (plus the 0.3 px star and pixels)
        let (cx, cy) = (t[1].centre.x as f64, t[1].centre.y as f64);
        let m2: f64 = (0..64 * 64)
            .map(|i| {
                let (x, y) = ((i % 64) as f64 + 0.5, (i / 64) as f64 + 0.5);
                d[1][i] as f64 * ((x - cx).powi(2) + (y - cy).powi(2)) / 2.0
            })
            .sum::<f64>()
            / tot[1];
        let prof = cfg().survey.profile();
        let psf = Psf::new(prof.psf_fwhm[1], prof.moffat_beta, ps).sigma() as f64;
        let expect = psf * psf + 0.09 + 1.0 / 12.0;
        assert!((m2 / expect - 1.0).abs() < 0.1, "{m2} vs {expect}");
    }

    #[test]
    fn visibility_flags_agree_with_visibility_of() {
        let pop = PopulationConfig {
            clump_fraction: 0.9,
            odd_clump_fraction: 0.6,
            ..PopulationConfig::default()
        };
        let galaxies = sample_population(21, 150, &pop);
        let (mut odd, mut odd_visible, mut visible) = (0, 0, 0);
        for g in &galaxies {
            let t = g.clump_truth(&cfg());
            let v = Visibility::of(g, &cfg());
            assert_eq!(t.len(), g.clumps.len() + g.odd_clumps.len());
            for (c, s) in t.iter().zip(&v.clumps) {
                assert!(!c.odd);
                assert_eq!(c.visible, s.passes(&CLUMP), "galaxy {}", g.id);
                assert_eq!((c.snr, c.contrast), (s.snr, s.contrast));
                visible += c.visible as usize;
            }
            for c in &t[g.clumps.len()..] {
                assert!(c.odd && c.rect.area() > 0.0);
                odd += 1;
                odd_visible += c.visible as usize;
            }
        }
        // odd clumps are drawn, and the bright ones are seen, not all of them
        assert!(odd > 60 && visible > 50, "{odd} {visible}");
        assert!(
            odd_visible > odd / 4 && odd_visible < odd,
            "{odd_visible} of {odd}"
        );
    }

    #[test]
    fn odd_clumps_come_from_their_own_stream() {
        let base = PopulationConfig::default();
        let with = PopulationConfig {
            odd_clump_fraction: 0.3,
            ..base.clone()
        };
        let (a, b) = (
            sample_population(4, 400, &base),
            sample_population(4, 400, &with),
        );
        let mut n = 0;
        for (x, y) in a.iter().zip(&b) {
            assert!(x.odd_clumps.is_empty());
            n += !y.odd_clumps.is_empty() as usize;
            let mut y = y.clone();
            y.odd_clumps.clear();
            assert_eq!(*x, y);
        }
        assert!((90..150).contains(&n), "{n} of 400");
        // nothing new is serialised when there are none
        let json = serde_json::to_string(&a[0]).unwrap();
        assert!(!json.contains("odd_clumps"));
        assert!(!serde_json::to_string(&base).unwrap().contains("odd_clump"));
        // they stay on the disk at another redshift, with the same apparent flux
        let g = b.iter().find(|g| !g.odd_clumps.is_empty()).unwrap();
        let mut far = g.clone();
        far.redshift = g.redshift * 2.0;
        far.observe();
        let (c0, c1) = (&g.odd_clumps[0], &far.odd_clumps[0]);
        assert_eq!(c0.flux_r, c1.flux_r);
        let ratio = c1.offset_arcsec[0] / c0.offset_arcsec[0];
        assert!((ratio - far.arcsec_per_kpc / g.arcsec_per_kpc).abs() < 1e-3);
    }
}
