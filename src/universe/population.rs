//! The galaxy population: the truth struct [`Galaxy`] and its config (sampled by
//! `population_sample`).
//!
//! Galaxies are described physically (kpc, absolute magnitude, light fractions, intrinsic
//! colours) and then *observed* at a redshift: angular sizes use the angular-diameter distance
//! of a flat LCDM cosmology (H0 = 70, Omega_m = 0.3), apparent flux uses the luminosity distance,
//! so surface brightness dims as (1+z)^-4. K-corrections and colour evolution are ignored.
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// Morphological class of a synthetic galaxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GalaxyType {
    Elliptical,
    Disk,
    EdgeOnDisk,
    Irregular,
    Merger,
}

impl GalaxyType {
    pub const ALL: [GalaxyType; 5] = [
        GalaxyType::Elliptical,
        GalaxyType::Disk,
        GalaxyType::EdgeOnDisk,
        GalaxyType::Irregular,
        GalaxyType::Merger,
    ];
}

/// Sersic bulge (or the whole light of an elliptical).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bulge {
    pub sersic_n: f32,
    pub r_e_kpc: f32,
    pub r_e_arcsec: f32,
    /// Observed (projected) axis ratio of the bulge isophotes.
    pub axis_ratio: f32,
    /// 0 = elliptical isophotes, 1 = fully boxy (edge-on boxy/peanut bulges).
    pub boxiness: f32,
    /// Apparent r-band flux (nanomaggies).
    pub flux_r: f32,
    /// Flux ratios (g/r, 1, z/r).
    pub colour: [f32; 3],
}

/// Exponential disk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disk {
    pub scale_kpc: f32,
    pub scale_arcsec: f32,
    /// Intrinsic thickness (minor/major axis ratio seen exactly edge-on).
    pub thickness: f32,
    pub flux_r: f32,
    pub colour: [f32; 3],
}

/// A bar: a Ferrers (n = 1) ellipse in the disk plane.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bar {
    /// 0..1; below 0.5 answers "weak", otherwise "strong".
    pub strength: f32,
    /// Semi-major axis (half length).
    pub length_kpc: f32,
    pub length_arcsec: f32,
    pub axis_ratio: f32,
    /// Angle in the disk plane from the galaxy major axis.
    pub angle_deg: f32,
    pub flux_r: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Winding {
    /// S-shaped (trailing arms wound clockwise on the image).
    S,
    Z,
}

/// Logarithmic spiral arms modulating the disk (count 0 = no arms).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spiral {
    pub count: u8,
    pub pitch_deg: f32,
    /// Arm contrast 0..1 (fraction of disk light moved into the arms).
    pub amplitude: f32,
    pub winding: Winding,
    pub phase_deg: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ring {
    pub radius_kpc: f32,
    pub radius_arcsec: f32,
    /// Gaussian sigma of the ring profile.
    pub width_kpc: f32,
    pub flux_r: f32,
}

/// A giant star-forming clump at disk-plane polar position (`r_kpc`, `theta_deg` from the major
/// axis). `offset_arcsec` is its projected position on the sky relative to the galaxy centre.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Clump {
    pub r_kpc: f32,
    pub theta_deg: f32,
    pub sigma_kpc: f32,
    pub offset_arcsec: [f32; 2],
    pub flux_r: f32,
}

/// A pixel bounding box: columns `x0..x1`, rows `y0..y1` (half-open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PixelBox {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DustLane {
    pub tau_r: f32,
    /// Vertical Gaussian sigma of the lane.
    pub width_kpc: f32,
}

/// A tidal tail: an arc of diffuse light leaving the galaxy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tail {
    pub start_angle_deg: f32,
    pub length_kpc: f32,
    /// Total turn of the arc along its length (signed).
    pub curvature_deg: f32,
    pub width_kpc: f32,
    pub flux_r: f32,
}

/// The interacting companion of a merger (a single Sersic galaxy).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Companion {
    pub offset_kpc: [f32; 2],
    pub offset_arcsec: [f32; 2],
    pub sersic_n: f32,
    pub r_e_kpc: f32,
    pub r_e_arcsec: f32,
    pub axis_ratio: f32,
    pub position_angle_deg: f32,
    /// Companion r flux over primary r flux.
    pub flux_ratio: f32,
    pub flux_r: f32,
    pub colour: [f32; 3],
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tidal {
    pub tails: Vec<Tail>,
    pub companion: Option<Companion>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ArtifactKind {
    SatelliteTrail,
    BrightStar,
}

/// An imaging artifact that dominates the cutout (Galaxy Zoo answer "star or artifact").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Artifact {
    pub kind: ArtifactKind,
    pub angle_deg: f32,
    /// Offset from the centre as a fraction of the field.
    pub offset: [f32; 2],
    /// Trail: nanomaggies per arcsec of length; star: total nanomaggies.
    pub flux_r: f32,
}

/// The full truth of one synthetic galaxy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Galaxy {
    pub id: u64,
    #[serde(rename = "type")]
    pub kind: GalaxyType,
    pub redshift: f32,
    /// Angular scale at this redshift (arcsec per kpc).
    pub arcsec_per_kpc: f32,
    pub abs_mag_r: f32,
    pub mag_r: f32,
    /// Apparent flux of the galaxy (all its own components, not the companion) in g, r, z.
    pub flux: [f32; 3],
    pub colour_gr: f32,
    pub colour_rz: f32,
    pub bulge: Bulge,
    pub disk: Disk,
    /// Bulge / (bulge + disk) light.
    pub bulge_fraction: f32,
    /// Observed axis ratio (disk if there is one, else bulge).
    pub axis_ratio: f32,
    pub inclination_deg: f32,
    pub position_angle_deg: f32,
    pub bar: Option<Bar>,
    pub spiral: Spiral,
    pub ring: Option<Ring>,
    pub clumps: Vec<Clump>,
    /// Clump Scout's "odd clumps": foreground stars superposed on the disk (point sources of
    /// fixed apparent flux, `sigma_kpc` 0), drawn only when
    /// [`PopulationConfig::odd_clump_fraction`] > 0; see `clump_truth`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub odd_clumps: Vec<Clump>,
    pub dust_lane: Option<DustLane>,
    pub tidal: Option<Tidal>,
    /// 0..1 lopsidedness / asymmetry of the light.
    pub disturbance: f32,
    /// Direction (disk plane, from the major axis) towards which the light is pushed.
    pub disturbance_angle_deg: f32,
    pub half_light_kpc: f32,
    pub half_light_arcsec: f32,
    /// Mean r surface brightness within the half-light radius (mag / arcsec^2).
    pub surface_brightness_r: f32,
    /// 0..1, grows with redshift and with falling surface brightness.
    pub difficulty: f32,
    pub artifact: Option<Artifact>,
    /// Light fractions of the r-band luminosity (bulge, disk, bar, ring, clumps, tails).
    pub light_fractions: [f32; 6],
}

/// Class mix and feature prevalences of the population.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PopulationConfig {
    /// Relative weights of elliptical, disk, edge-on disk, irregular, merger.
    pub type_mix: [f32; 5],
    /// Fraction of (face-on-ish) disks with a bar; of those, `strong_bar_share` are strong.
    pub bar_fraction: f32,
    pub strong_bar_share: f32,
    pub ring_fraction: f32,
    pub spiral_fraction: f32,
    pub clump_fraction: f32,
    pub dust_lane_fraction: f32,
    pub artifact_fraction: f32,
    pub redshift_range: [f32; 2],
    /// Apparent r magnitude limit (SDSS main sample: 17.77).
    pub mag_limit: f32,
    /// Share of galaxies with a foreground star on the disk (an "odd clump", see
    /// `clump_truth`); 0 draws none and leaves every galaxy as before.
    #[serde(skip_serializing_if = "is_zero")]
    pub odd_clump_fraction: f32,
}

fn is_zero(v: &f32) -> bool {
    *v == 0.0
}

impl Default for PopulationConfig {
    fn default() -> Self {
        PopulationConfig {
            type_mix: [0.30, 0.45, 0.10, 0.07, 0.08],
            bar_fraction: 0.30,
            strong_bar_share: 0.4,
            ring_fraction: 0.08,
            spiral_fraction: 0.75,
            clump_fraction: 0.2,
            dust_lane_fraction: 0.6,
            artifact_fraction: 0.01,
            redshift_range: [0.02, 0.15],
            mag_limit: 17.77,
            odd_clump_fraction: 0.0,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cosmology and observation at a redshift.

/// Comoving distance in Mpc (flat LCDM, H0 = 70, Omega_m = 0.3), Simpson's rule.
pub fn comoving_distance_mpc(z: f32) -> f32 {
    let e = |z: f64| 1.0 / (0.3 * (1.0 + z).powi(3) + 0.7).sqrt();
    let n = 32;
    let h = z as f64 / n as f64;
    let mut s = e(0.0) + e(z as f64);
    for k in 1..n {
        s += e(k as f64 * h) * if k % 2 == 1 { 4.0 } else { 2.0 };
    }
    (s * h / 3.0 * 299_792.458 / 70.0) as f32
}

pub(crate) fn colour_ratios(g_r: f32, r_z: f32) -> [f32; 3] {
    [10f32.powf(-0.4 * g_r), 1.0, 10f32.powf(0.4 * r_z)]
}

impl Galaxy {
    /// Re-derive every observed (redshift-dependent) field from the physical ones.
    pub(crate) fn observe(&mut self) {
        let z = self.redshift;
        let dc = comoving_distance_mpc(z);
        let da = dc / (1.0 + z);
        let dl = dc * (1.0 + z);
        let s = 1.0 / (da * 1000.0 * std::f32::consts::PI / 648_000.0);
        self.arcsec_per_kpc = s;
        self.mag_r = self.abs_mag_r + 5.0 * dl.log10() + 25.0;
        let fr = 10f32.powf((22.5 - self.mag_r) / 2.5);
        let lf = self.light_fractions;
        self.bulge.r_e_arcsec = self.bulge.r_e_kpc * s;
        self.bulge.flux_r = fr * lf[0];
        self.disk.scale_arcsec = self.disk.scale_kpc * s;
        self.disk.flux_r = fr * lf[1];
        if let Some(b) = &mut self.bar {
            b.length_arcsec = b.length_kpc * s;
            b.flux_r = fr * lf[2];
        }
        if let Some(r) = &mut self.ring {
            r.radius_arcsec = r.radius_kpc * s;
            r.flux_r = fr * lf[3];
        }
        let clump_total: f32 = self.clumps.iter().map(|c| c.flux_r).sum::<f32>().max(1e-30);
        let clump_shares: Vec<f32> = self.clumps.iter().map(|c| c.flux_r / clump_total).collect();
        let (pa, q) = (self.position_angle_deg.to_radians(), self.axis_ratio);
        for (c, share) in self.clumps.iter_mut().zip(clump_shares) {
            c.flux_r = fr * lf[4] * share;
            let th = c.theta_deg.to_radians();
            let (xp, yp) = (c.r_kpc * th.cos() * s, c.r_kpc * th.sin() * q * s);
            c.offset_arcsec = [xp * pa.cos() - yp * pa.sin(), xp * pa.sin() + yp * pa.cos()];
        }
        self.place_odd_clumps();
        if let Some(t) = &mut self.tidal {
            let n = t.tails.len().max(1) as f32;
            for tail in &mut t.tails {
                tail.flux_r = fr * lf[5] / n;
            }
            if let Some(c) = &mut t.companion {
                c.offset_arcsec = [c.offset_kpc[0] * s, c.offset_kpc[1] * s];
                c.r_e_arcsec = c.r_e_kpc * s;
                c.flux_r = fr * c.flux_ratio;
            }
        }
        // Band totals of the galaxy's own light.
        let mut flux = [0f32; 3];
        for k in 0..3 {
            flux[k] = self.bulge.flux_r * self.bulge.colour[k]
                + (fr * (lf[1] + lf[3])) * self.disk.colour[k]
                + fr * lf[2] * 0.5 * (self.bulge.colour[k] + self.disk.colour[k])
                + fr * (lf[4] + lf[5]) * CLUMP_COLOUR[k] * 0.5
                + fr * (lf[4] + lf[5]) * self.disk.colour[k] * 0.5;
        }
        self.flux = flux;
        self.colour_gr = -2.5 * (flux[0] / flux[1]).log10();
        self.colour_rz = 2.5 * (flux[2] / flux[1]).log10();
        self.half_light_arcsec = self.half_light_kpc * s;
        let r = self.half_light_arcsec.max(0.05);
        self.surface_brightness_r = self.mag_r + 2.5 * (2.0 * std::f32::consts::PI * r * r).log10();
        let x = (z - 0.09) / 0.03 + (self.surface_brightness_r - 21.5) / 0.8;
        self.difficulty = 1.0 / (1.0 + (-x).exp());
    }
}

impl Galaxy {
    /// Sky offsets of the odd clumps from their disk-plane positions at this redshift (the
    /// projection of the clumps); their apparent flux is fixed (foreground stars).
    pub(crate) fn place_odd_clumps(&mut self) {
        let (s, pa, q) = (
            self.arcsec_per_kpc,
            self.position_angle_deg.to_radians(),
            self.axis_ratio,
        );
        for c in &mut self.odd_clumps {
            let th = c.theta_deg.to_radians();
            let (xp, yp) = (c.r_kpc * th.cos() * s, c.r_kpc * th.sin() * q * s);
            c.offset_arcsec = [xp * pa.cos() - yp * pa.sin(), xp * pa.sin() + yp * pa.cos()];
        }
    }
}

/// Flux ratios of star-forming clumps (and the blue half of tidal tails).
pub(crate) const CLUMP_COLOUR: [f32; 3] = [0.9, 1.0, 1.0];

/// Flux ratios of odd clumps (foreground K stars): g - r = 0.85, r - z = 0.45, i.e.
/// `colour_ratios(0.85, 0.45)`.
pub(crate) const ODD_CLUMP_COLOUR: [f32; 3] = [0.457_088, 1.0, 1.513_561];

// ---------------------------------------------------------------------------------------------
// Small sampling helpers shared with `population_sample`.

pub(crate) fn uniform(rng: &mut ChaCha8Rng, a: f32, b: f32) -> f32 {
    a + (b - a) * rng.random::<f32>()
}

pub(crate) fn normal(rng: &mut ChaCha8Rng, mean: f32, sd: f32) -> f32 {
    let z: f32 = rng.sample(StandardNormal);
    mean + sd * z
}

pub(crate) fn chance(rng: &mut ChaCha8Rng, p: f32) -> bool {
    rng.random::<f32>() < p
}
