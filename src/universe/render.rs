//! Rendering a galaxy's truth into a g/r/z image: noise-free light on the pixel grid, then PSF
//! convolution, then noise.
//! The main body is drawn by `model`, compact and off-centre parts (clumps, tails,
//! companion, artifacts, neighbouring field sources) by `render_extras`.
//!
//! Geometry: pixel `(x, y)` has its centre at `(x + 0.5, y + 0.5)`, the galaxy centre is at
//! `(w / 2, h / 2)`, the position angle turns the major axis from +x towards +y.

use rayon::prelude::*;

use super::Image3;
use super::model::Model;
use super::observe::{Survey, add_noise};
use super::population::{Galaxy, PixelBox};
use super::psf::Psf;
use super::render_extras;

/// How much sky a cutout covers.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Fov {
    /// A fixed field in arcsec (angular size then shrinks with redshift).
    Fixed(f32),
    /// Galaxy Zoo DECaLS rule: the field is `max(k * r_half, min_arcsec)` across (GZ used
    /// 424 px at `max(0.04 r50, 0.1")` per pixel, i.e. k = 17, min = 42.4").
    Adaptive { k: f32, min_arcsec: f32 },
}

impl Fov {
    pub const GALAXY_ZOO: Fov = Fov::Adaptive {
        k: 17.0,
        min_arcsec: 42.4,
    };
}

/// What to render and how.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RenderConfig {
    /// Width = height in pixels.
    pub size: usize,
    pub survey: Survey,
    pub fov: Fov,
    /// Add sky + source noise.
    pub noise: bool,
    /// Add neighbouring stars and background galaxies.
    pub field: bool,
}

impl Default for RenderConfig {
    fn default() -> Self {
        RenderConfig::new(64, Survey::DecalsLike)
    }
}

impl RenderConfig {
    /// `size` x `size` pixels over a Galaxy Zoo style field ([`Fov::GALAXY_ZOO`]), with noise
    /// and neighbours.
    pub fn new(size: usize, survey: Survey) -> Self {
        RenderConfig {
            size,
            survey,
            fov: Fov::GALAXY_ZOO,
            noise: true,
            field: true,
        }
    }

    /// The same with a fixed field of `arcsec` (angular size then tracks redshift).
    pub fn with_fixed_fov(mut self, arcsec: f32) -> Self {
        self.fov = Fov::Fixed(arcsec);
        self
    }

    /// The same showing the central `1 / zoom` of the field (zoom >= 1 enlarges the galaxy).
    pub fn zoomed(mut self, zoom: f32) -> Self {
        self.fov = match self.fov {
            Fov::Fixed(a) => Fov::Fixed(a / zoom),
            Fov::Adaptive { k, min_arcsec } => Fov::Adaptive {
                k: k / zoom,
                min_arcsec: min_arcsec / zoom,
            },
        };
        self
    }

    /// The same without noise and without neighbours (for tests and truth maps).
    pub fn noise_free(mut self) -> Self {
        self.noise = false;
        self.field = false;
        self
    }

    /// Arcsec per pixel for galaxy `g`.
    pub fn pixel_scale(&self, g: &Galaxy) -> f32 {
        let fov = match self.fov {
            Fov::Fixed(a) => a,
            Fov::Adaptive { k, min_arcsec } => (k * g.half_light_arcsec).max(min_arcsec),
        };
        fov / self.size as f32
    }
}

/// Render galaxy `g`; noise comes from `item_stream(seed, "universe/noise", g.id)` and
/// neighbours from `item_stream(seed, "universe/field", g.id)`.
pub fn render(g: &Galaxy, cfg: &RenderConfig, seed: u64) -> Image3 {
    let ps = cfg.pixel_scale(g);
    let (w, h) = (cfg.size, cfg.size);
    let mut img = Image3::zeros(w, h, ps);
    Model::new(g, w, h, ps).draw(&mut img);
    render_extras::draw_extras(g, &mut img);
    if cfg.field {
        render_extras::draw_field(&mut img, seed, g.id);
    }
    let prof = cfg.survey.profile();
    for k in 0..3 {
        Psf::new(prof.psf_fwhm[k], prof.moffat_beta, ps).apply(&mut img.planes[k], w, h);
    }
    if cfg.noise {
        add_noise(&mut img, &prof, seed, g.id);
    }
    img
}

/// Noise-free, neighbour-free render (`cfg` otherwise as given).
pub fn render_noise_free(g: &Galaxy, cfg: &RenderConfig) -> Image3 {
    render(g, &cfg.clone().noise_free(), 0)
}

/// Render many galaxies in parallel (rayon); identical to rendering them one by one.
pub fn render_batch(galaxies: &[Galaxy], cfg: &RenderConfig, seed: u64) -> Vec<Image3> {
    galaxies.par_iter().map(|g| render(g, cfg, seed)).collect()
}

impl Galaxy {
    /// Pixel boxes around each clump in an image rendered with `cfg` (clump extent convolved
    /// with the r-band PSF, +-2.5 sigma, at least +-1.5 pixels), clipped to the image.
    pub fn clump_boxes(&self, cfg: &RenderConfig) -> Vec<PixelBox> {
        let ps = cfg.pixel_scale(self);
        self.clumps
            .iter()
            .map(|cl| {
                let s_px = cl.sigma_kpc * self.arcsec_per_kpc / ps;
                let (x, y, r) = compact_extent(cfg, ps, cl.offset_arcsec, s_px);
                let clip = |v: f32| (v.max(0.0) as usize).min(cfg.size);
                PixelBox {
                    x0: clip((x - r).floor()),
                    y0: clip((y - r).floor()),
                    x1: clip((x + r).ceil()),
                    y1: clip((y + r).ceil()),
                }
            })
            .collect()
    }
}

/// Centre `(x, y)` in pixels and half-side `r` of the box around a compact source at sky offset
/// `offset_arcsec` from the galaxy centre with intrinsic Gaussian sigma `sigma_px` (pixels), at
/// pixel scale `ps`: its extent convolved with the core of the r-band PSF, +-2.5 sigma, at least
/// +-1.5 pixels. The one rule behind [`Galaxy::clump_boxes`] and `Galaxy::clump_truth`.
pub(crate) fn compact_extent(
    cfg: &RenderConfig,
    ps: f32,
    offset_arcsec: [f32; 2],
    sigma_px: f32,
) -> (f32, f32, f32) {
    let prof = cfg.survey.profile();
    let psf = Psf::new(prof.psf_fwhm[1], prof.moffat_beta, ps);
    let c = cfg.size as f32 / 2.0;
    let r = (2.5 * (sigma_px * sigma_px + psf.components[0].1.powi(2)).sqrt()).max(1.5);
    (c + offset_arcsec[0] / ps, c + offset_arcsec[1] / ps, r)
}
