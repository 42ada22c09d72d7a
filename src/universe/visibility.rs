//! Whether a feature of a galaxy's truth can be *seen* in its rendered cutout: the ring, bar and
//! clumps an expert would mark, as opposed to the physical components the population holds.
//!
//! A physical ring 3 pixels across, or one a tenth as bright as the disk under it, is in the
//! truth but not in the image, so a label "has a ring" is partly unlearnable. Real labelled sets
//! (GZ DECaLS rings, bars, clumps) mark what volunteers saw. For each feature this module
//! measures three numbers on the noise-free r band of the cutout exactly as `render` would draw
//! it at the requested size and survey (same field of view, pixel scale and PSF):
//!
//! * `D` = the feature's own light after the PSF (the cutout minus the same cutout with the
//!   feature's flux set to zero), `B` = everything else, and per-pixel noise variance
//!   `var = (sky_sigma_r * pixel_scale)^2 + gain_r * (B + D)` (the noise model of `observe`).
//! * `snr = sqrt(sum D^2 / var)`: the matched-filter S/N of the feature's light against the
//!   sky and source noise (redshift dimming and pixel size enter through `D` and `var`).
//! * `contrast = sum D^2 / sum D B`: the light-weighted mean of `D / B` where the feature is,
//!   i.e. how much the feature brightens the galaxy underneath it (a ring on a bright disk can
//!   have a high S/N and still be invisible in the display stretch).
//! * `size`: the feature's extent over the resolution element `fwhm_eff = sqrt((FWHM_r /
//!   pixel_scale)^2 + 1)` pixels (PSF FWHM and a one-pixel sampling element in quadrature):
//!   for a ring its radius `sqrt(q) R` (the radius of a circle of the same area, so an inclined
//!   ring is judged by its mean radius), for a bar its projected half-length, for a clump its
//!   distance from the centre.
//!
//! A feature is visible when all three pass its [`Thresholds`]; a galaxy has visible clumps when
//! at least one clump is visible. The thresholds were set by looking at grids of DECaLS-like
//! cutouts at 64 and 32 pixels binned by each number (`gzbench synth` + `gzbench grid`, filtered
//! on the `visibility.*` columns): rings of mean radius 2.0-2.6 resolution elements show as a
//! ring in about a quarter of the panels (the hole inside fills in, arms look the same), those
//! above 2.7 in most; below a contrast of ~0.35 the ring is lost in the stretch of the disk;
//! bars shorter than ~1.8 resolution elements or with contrast below ~0.45 look like a round or
//! slightly oval bulge; clumps closer than one resolution element to the centre merge with the
//! nucleus. The S/N cut matters only for faint, distant galaxies. Everything here is a pure
//! function of the truth and the render configuration (no random draws).

use serde::Serialize;

use super::Image3;
use super::model::Model;
use super::population::Galaxy;
use super::psf::Psf;
use super::render::RenderConfig;
use super::render_extras;
use super::stamp::add_gaussian;

/// How strongly one feature shows (see the module docs for the definitions).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Signal {
    /// Feature extent over the resolution element `fwhm_eff` (both in pixels).
    pub size: f32,
    /// Matched-filter S/N of the feature's light.
    pub snr: f32,
    /// Light-weighted mean ratio of the feature's light to the other light under it.
    pub contrast: f32,
}

/// Minimum size, S/N and contrast of a visible feature.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub size: f32,
    pub snr: f32,
    pub contrast: f32,
}

/// A ring must be an annulus with a resolved hole (mean radius >= 2.7 resolution elements),
/// brighten the disk under it by a third and stand out of the noise.
pub const RING: Thresholds = Thresholds {
    size: 2.7,
    snr: 20.0,
    contrast: 0.35,
};
/// A bar must be longer than 1.8 resolution elements (else it is a round or merely elongated
/// bulge) and brighten the bulge and disk light it sits on by almost half.
pub const BAR: Thresholds = Thresholds {
    size: 1.8,
    snr: 20.0,
    contrast: 0.45,
};
/// A clump must sit at least one resolution element from the centre, be a clear point source
/// and brighten the disk under it by half.
pub const CLUMP: Thresholds = Thresholds {
    size: 1.0,
    snr: 8.0,
    contrast: 0.5,
};

impl Signal {
    /// Whether the signal passes all three thresholds.
    pub fn passes(&self, t: &Thresholds) -> bool {
        self.size >= t.size && self.snr >= t.snr && self.contrast >= t.contrast
    }
}

/// The visibility of every feature the galaxy has (`None` for a feature it does not have).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Visibility {
    pub ring: Option<Signal>,
    pub bar: Option<Signal>,
    /// One signal per clump, in the order of `Galaxy::clumps`.
    pub clumps: Vec<Signal>,
}

impl Visibility {
    /// Measure the features of `g` as rendered with `cfg` (noise and field settings of `cfg`
    /// are ignored: the noise enters through its variance).
    pub fn of(g: &Galaxy, cfg: &RenderConfig) -> Visibility {
        let needs = g.ring.is_some() || g.bar.is_some() || !g.clumps.is_empty();
        if !needs {
            return Visibility {
                ring: None,
                bar: None,
                clumps: Vec::new(),
            };
        }
        let v = View::new(g, cfg);
        let full = v.r_plane(g);
        let clumps = v.clump_signals(g);
        Visibility {
            ring: g.ring.as_ref().map(|_| v.ring_signal(g, &full)),
            bar: g.bar.as_ref().map(|_| v.bar_signal(g, &full)),
            clumps,
        }
    }

    /// The galaxy has a ring and it is visible.
    pub fn ring_visible(&self) -> bool {
        self.ring.is_some_and(|s| s.passes(&RING))
    }

    /// The galaxy has a bar and it is visible.
    pub fn bar_visible(&self) -> bool {
        self.bar.is_some_and(|s| s.passes(&BAR))
    }

    /// At least one of the galaxy's clumps is visible.
    pub fn clumps_visible(&self) -> bool {
        self.clumps.iter().any(|s| s.passes(&CLUMP))
    }
}

/// `Visibility::of(g, cfg).ring_visible()`, rendering only when the ring is large enough.
pub fn ring_visible(g: &Galaxy, cfg: &RenderConfig) -> bool {
    if g.ring.is_none() {
        return false;
    }
    let v = View::new(g, cfg);
    v.ring_size(g) >= RING.size && v.ring_signal(g, &v.r_plane(g)).passes(&RING)
}

/// `Visibility::of(g, cfg).bar_visible()`, rendering only when the bar is long enough.
pub fn bar_visible(g: &Galaxy, cfg: &RenderConfig) -> bool {
    if g.bar.is_none() {
        return false;
    }
    let v = View::new(g, cfg);
    v.bar_size(g) >= BAR.size && v.bar_signal(g, &v.r_plane(g)).passes(&BAR)
}

/// `Visibility::of(g, cfg).clumps_visible()`, rendering only when a clump is off the centre.
pub fn clumps_visible(g: &Galaxy, cfg: &RenderConfig) -> bool {
    let v = View::new(g, cfg);
    let far: Vec<_> = g
        .clumps
        .iter()
        .filter(|c| v.clump_distance(c) / v.fwhm_eff >= CLUMP.size)
        .collect();
    if far.is_empty() {
        return false;
    }
    let base = v.without_clumps(g);
    far.iter()
        .any(|c| v.clump_signal(g, c, &base).passes(&CLUMP))
}

/// The signals of every clump of `g` (equal to `Visibility::of(g, cfg).clumps`) and of every
/// odd clump (a foreground star, see `clump_truth`), measured the same way: the star's PSF
/// alone on the galaxy without its odd clumps (normal clumps included), size = distance from
/// the centre over the resolution element. Judge both with [`CLUMP`].
pub fn clump_signals(g: &Galaxy, cfg: &RenderConfig) -> (Vec<Signal>, Vec<Signal>) {
    if g.clumps.is_empty() && g.odd_clumps.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let v = View::new(g, cfg);
    let clumps = v.clump_signals(g);
    let odd = if g.odd_clumps.is_empty() {
        Vec::new()
    } else {
        let mut bare = g.clone();
        bare.odd_clumps.clear();
        let base = v.r_plane(&bare);
        g.odd_clumps
            .iter()
            .map(|c| v.compact_signal(c, render_extras::STAR_SIGMA_PX, &base))
            .collect()
    };
    (clumps, odd)
}

/// The cutout geometry and noise of one galaxy at one render configuration.
struct View<'a> {
    cfg: &'a RenderConfig,
    ps: f32,
    psf: Psf,
    fwhm_eff: f32,
    sky_var: f32,
    gain: f32,
}

impl<'a> View<'a> {
    /// The signal of every (normal) clump of `g`, each on the galaxy without its clumps.
    fn clump_signals(&self, g: &Galaxy) -> Vec<Signal> {
        if g.clumps.is_empty() {
            return Vec::new();
        }
        let base = self.without_clumps(g);
        g.clumps
            .iter()
            .map(|c| self.clump_signal(g, c, &base))
            .collect()
    }

    fn new(g: &Galaxy, cfg: &'a RenderConfig) -> View<'a> {
        let ps = cfg.pixel_scale(g);
        let prof = cfg.survey.profile();
        View {
            cfg,
            ps,
            psf: Psf::new(prof.psf_fwhm[1], prof.moffat_beta, ps),
            fwhm_eff: ((prof.psf_fwhm[1] / ps).powi(2) + 1.0).sqrt(),
            sky_var: (prof.sky_sigma[1] * ps).powi(2),
            gain: prof.gain_var[1],
        }
    }

    /// The noise-free r band of `g` (main body and extras, no field), after the PSF.
    fn r_plane(&self, g: &Galaxy) -> Vec<f32> {
        let n = self.cfg.size;
        let mut img = Image3::zeros(n, n, self.ps);
        Model::new(g, n, n, self.ps).draw(&mut img);
        render_extras::draw_extras(g, &mut img);
        let mut p = std::mem::take(&mut img.planes[1]);
        self.psf.apply(&mut p, n, n);
        p
    }

    /// Mean ring radius `sqrt(q) R` in resolution elements.
    fn ring_size(&self, g: &Galaxy) -> f32 {
        let r = g.ring.as_ref().map_or(0.0, |r| r.radius_kpc);
        r * g.arcsec_per_kpc / self.ps * g.axis_ratio.sqrt() / self.fwhm_eff
    }

    /// Projected bar half-length in resolution elements.
    fn bar_size(&self, g: &Galaxy) -> f32 {
        let Some(b) = &g.bar else { return 0.0 };
        let a = b.angle_deg.to_radians();
        let (c, s) = (a.cos(), g.axis_ratio * a.sin());
        b.length_kpc * g.arcsec_per_kpc / self.ps * (c * c + s * s).sqrt() / self.fwhm_eff
    }

    /// Distance of a clump from the centre in pixels.
    fn clump_distance(&self, c: &super::population::Clump) -> f32 {
        (c.offset_arcsec[0].powi(2) + c.offset_arcsec[1].powi(2)).sqrt() / self.ps
    }

    fn ring_signal(&self, g: &Galaxy, full: &[f32]) -> Signal {
        let mut bare = g.clone();
        if let Some(r) = &mut bare.ring {
            r.flux_r = 0.0;
        }
        let rest = self.r_plane(&bare);
        let mut s = self.signal(full, &rest, 0.0);
        s.size = self.ring_size(g);
        s
    }

    fn bar_signal(&self, g: &Galaxy, full: &[f32]) -> Signal {
        let mut bare = g.clone();
        if let Some(b) = &mut bare.bar {
            b.flux_r = 0.0;
        }
        let rest = self.r_plane(&bare);
        let mut s = self.signal(full, &rest, 0.0);
        s.size = self.bar_size(g);
        s
    }

    fn without_clumps(&self, g: &Galaxy) -> Vec<f32> {
        let mut bare = g.clone();
        bare.clumps.clear();
        self.r_plane(&bare)
    }

    /// Signal of the light `full - bare` on the rest `bare`; `extent_px` in pixels.
    fn signal(&self, full: &[f32], bare: &[f32], extent_px: f32) -> Signal {
        let d: Vec<f32> = full.iter().zip(bare).map(|(f, b)| f - b).collect();
        self.measure(&d, bare, extent_px)
    }

    /// Signal of clump `c` (its PSF-convolved Gaussian alone) on the galaxy without clumps.
    fn clump_signal(&self, g: &Galaxy, c: &super::population::Clump, base: &[f32]) -> Signal {
        let sigma = c.sigma_kpc * g.arcsec_per_kpc / self.ps;
        self.compact_signal(c, sigma, base)
    }

    /// Signal of a compact source at `c.offset_arcsec` with flux `c.flux_r`, drawn as a
    /// Gaussian of `sigma` pixels and convolved with the PSF, on the light `base`.
    fn compact_signal(&self, c: &super::population::Clump, sigma: f32, base: &[f32]) -> Signal {
        let n = self.cfg.size;
        let mut planes = [vec![0f32; n * n], vec![0f32; n * n], vec![0f32; n * n]];
        let centre = n as f32 / 2.0;
        let pos = [
            centre + c.offset_arcsec[0] / self.ps,
            centre + c.offset_arcsec[1] / self.ps,
        ];
        add_gaussian(&mut planes, n, n, pos, sigma, [0.0, c.flux_r, 0.0]);
        let mut d = std::mem::take(&mut planes[1]);
        self.psf.apply(&mut d, n, n);
        self.measure(&d, base, self.clump_distance(c))
    }

    fn measure(&self, d: &[f32], bare: &[f32], extent_px: f32) -> Signal {
        let (mut dd, mut db, mut snr2) = (0f64, 0f64, 0f64);
        for (&d, &b) in d.iter().zip(bare) {
            let (d, b) = (d.max(0.0) as f64, b.max(0.0) as f64);
            let var = self.sky_var as f64 + self.gain as f64 * (b + d);
            dd += d * d;
            db += d * b;
            snr2 += d * d / var;
        }
        Signal {
            size: extent_px / self.fwhm_eff,
            snr: snr2.sqrt() as f32,
            contrast: if db > 0.0 { (dd / db) as f32 } else { f32::MAX },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::universe::{GalaxyType, PopulationConfig, Ring, Survey, sample_population};

    fn disk() -> Galaxy {
        let mut g = sample_population(11, 300, &PopulationConfig::default())
            .into_iter()
            .find(|g| g.kind == GalaxyType::Disk && g.artifact.is_none())
            .expect("a disk");
        g.spiral.count = 0;
        g.bar = None;
        g.clumps.clear();
        g.disturbance = 0.0;
        g.inclination_deg = 0.0;
        g.axis_ratio = 1.0;
        g.bulge.axis_ratio = 1.0;
        g.bulge_fraction = 0.1;
        g.disk.scale_kpc = 3.0;
        g.bulge.r_e_kpc = 0.8;
        g.abs_mag_r = -21.5;
        g.half_light_kpc = 0.1 * 0.8 + 0.9 * 1.678 * 3.0;
        g
    }

    fn ringed(radius_h: f32, frac: f32, z: f32) -> Galaxy {
        let mut g = disk();
        let h = g.disk.scale_kpc;
        g.ring = Some(Ring {
            radius_kpc: radius_h * h,
            radius_arcsec: 0.0,
            width_kpc: 0.1 * radius_h * h,
            flux_r: 0.0,
        });
        let rest = 1.0 - frac;
        g.light_fractions = [0.1 * rest, 0.9 * rest, 0.0, frac, 0.0, 0.0];
        g.redshift = z;
        g.observe();
        g
    }

    /// A fixed 40" field (about 0.6"/px at 64 px), as a large nearby galaxy would be shown.
    fn cfg(size: usize) -> RenderConfig {
        RenderConfig::new(size, Survey::DecalsLike).with_fixed_fov(40.0)
    }

    #[test]
    fn bright_large_ring_is_visible() {
        let v = Visibility::of(&ringed(2.2, 0.25, 0.03), &cfg(64));
        let s = v.ring.expect("ring measured");
        assert!(v.ring_visible(), "{s:?}");
    }

    #[test]
    fn faint_or_small_ring_is_not_visible() {
        // faint: 1% of the light on a bright disk
        let faint = Visibility::of(&ringed(2.2, 0.01, 0.03), &cfg(64));
        assert!(!faint.ring_visible(), "{:?}", faint.ring);
        assert!(faint.ring.unwrap().contrast < RING.contrast);
        // small: inside the PSF of a coarse cutout
        let small = Visibility::of(&ringed(0.6, 0.25, 0.03), &cfg(64));
        assert!(!small.ring_visible(), "{:?}", small.ring);
        assert!(small.ring.unwrap().size < RING.size);
        // in a Galaxy Zoo field (17 half-light radii across) the same bright ring is resolved
        // at 64 px and shrinks below the resolution at 16 px
        let gz = |n| RenderConfig::new(n, Survey::DecalsLike);
        let bright = ringed(2.2, 0.25, 0.03);
        assert!(Visibility::of(&bright, &gz(64)).ring_visible());
        let coarse = Visibility::of(&bright, &gz(16));
        assert!(!coarse.ring_visible(), "{:?}", coarse.ring);
        // and is lost in the noise at high redshift in a shallow survey
        let far = ringed(2.2, 0.02, 0.15);
        let sdss = RenderConfig::new(64, Survey::SdssLike);
        let v = Visibility::of(&far, &sdss).ring.unwrap();
        let near = Visibility::of(&ringed(2.2, 0.02, 0.03), &sdss)
            .ring
            .unwrap();
        assert!(v.snr < near.snr, "{v:?} vs {near:?}");
    }

    #[test]
    fn no_feature_no_signal_and_measurement_is_deterministic() {
        let g = disk();
        let v = Visibility::of(&g, &cfg(64));
        assert!(v.ring.is_none() && v.bar.is_none() && v.clumps.is_empty());
        assert!(!v.ring_visible() && !v.bar_visible() && !v.clumps_visible());
        let pop = sample_population(3, 200, &PopulationConfig::default());
        let c = RenderConfig::new(32, Survey::DecalsLike);
        let a: Vec<Visibility> = pop.iter().map(|g| Visibility::of(g, &c)).collect();
        let b: Vec<Visibility> = pop.iter().map(|g| Visibility::of(g, &c)).collect();
        assert_eq!(a, b);
        assert!(a.iter().any(|v| v.ring.is_some() || v.bar.is_some()));
    }

    #[test]
    fn quick_checks_agree_with_the_full_measurement() {
        let pop = sample_population(8, 1500, &PopulationConfig::default());
        let (mut rings, mut bars, mut clumps) = (0, 0, 0);
        for size in [32, 64] {
            let c = RenderConfig::new(size, Survey::DecalsLike);
            for g in &pop {
                let v = Visibility::of(g, &c);
                assert_eq!(ring_visible(g, &c), v.ring_visible(), "galaxy {}", g.id);
                assert_eq!(bar_visible(g, &c), v.bar_visible(), "galaxy {}", g.id);
                assert_eq!(clumps_visible(g, &c), v.clumps_visible(), "galaxy {}", g.id);
                rings += v.ring_visible() as usize;
                bars += v.bar_visible() as usize;
                clumps += v.clumps_visible() as usize;
            }
        }
        assert!(
            rings > 0 && bars > 0 && clumps > 0,
            "{rings} {bars} {clumps}"
        );
    }
}
