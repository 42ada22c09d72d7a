//! Observation: survey profiles (PSF width, depth), pixel noise, the RGB stretch and PNG output.
//!
//! Images are sky-subtracted: the sky adds only noise. Noise is Gaussian with variance
//! `sky_sigma^2 * pixel_scale^2 + gain * max(signal, 0)` (a Gaussian approximation of sky plus
//! source Poisson noise), drawn from `item_stream(seed, "universe/noise", id)`: each 32 random
//! bits become one normal deviate through a tabulated inverse CDF (2048 bins, exact tails), which
//! is about twice as fast as the Ziggurat sampler on ChaCha8.
//!
//! Depths are set from 5-sigma point-source depths (DECaLS DR8: g 24.7, r 23.9, z 23.0; SDSS:
//! g 22.9, r 22.2, z 21.1 -- z kept 0.6 mag deeper than real SDSS so RGB composites are not
//! swamped by z noise) spread over the PSF's effective area, expressed per arcsec.

use std::path::Path;

use std::sync::OnceLock;

use rand::{Rng, RngCore};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{Image3, UniverseError};
use crate::rng::item_stream;

/// Which survey an image imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Survey {
    /// Shallower, broader Gaussian PSF (SDSS-like, ~1.4" seeing).
    SdssLike,
    /// Deeper, sharper Moffat PSF (DECaLS-like, ~1.2" seeing).
    DecalsLike,
}

/// The numbers that make a survey.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurveyProfile {
    /// PSF FWHM per band g, r, z (arcsec).
    pub psf_fwhm: [f32; 3],
    /// `Some(beta)` for a Moffat PSF (approximated as two Gaussians), `None` for Gaussian.
    pub moffat_beta: Option<f32>,
    /// Sky noise per band: nanomaggies per pixel of side 1 arcsec (scales with pixel side).
    pub sky_sigma: [f32; 3],
    /// Source Poisson variance per nanomaggy of signal.
    pub gain_var: [f32; 3],
}

impl Survey {
    pub fn profile(self) -> SurveyProfile {
        match self {
            Survey::DecalsLike => SurveyProfile {
                psf_fwhm: [1.3, 1.2, 1.1],
                moffat_beta: Some(3.0),
                sky_sigma: [0.0146, 0.0305, 0.055],
                gain_var: [0.0025, 0.003, 0.006],
            },
            Survey::SdssLike => SurveyProfile {
                psf_fwhm: [1.5, 1.4, 1.3],
                moffat_beta: None,
                sky_sigma: [0.070, 0.126, 0.35],
                gain_var: [0.01, 0.01, 0.03],
            },
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Survey::SdssLike => "sdss-like",
            Survey::DecalsLike => "decals-like",
        }
    }
}

/// Add noise in place (deterministic in `seed`, `id`).
pub fn add_noise(img: &mut Image3, profile: &SurveyProfile, seed: u64, id: u64) {
    let mut rng = item_stream(seed, "universe/noise", id);
    let ps = img.pixel_scale;
    for (k, plane) in img.planes.iter_mut().enumerate() {
        let sky_var = (profile.sky_sigma[k] * ps).powi(2);
        let gain = profile.gain_var[k];
        for pair in plane.chunks_mut(2) {
            let bits = rng.next_u64();
            for (v, b) in pair.iter_mut().zip([bits as u32, (bits >> 32) as u32]) {
                let n = fast_normal(b, &mut rng);
                *v += (sky_var + gain * v.max(0.0)).sqrt() * n;
            }
        }
    }
}

const NORMAL_BINS: usize = 2048;

/// `Phi^-1(i / 2048)` for i = 1..2047 (entries 0 and 2048 are unused tails).
fn inverse_cdf_table() -> &'static [f32; NORMAL_BINS + 1] {
    static TABLE: OnceLock<[f32; NORMAL_BINS + 1]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0f32; NORMAL_BINS + 1];
        for (i, v) in t.iter_mut().enumerate().take(NORMAL_BINS).skip(1) {
            *v = inverse_normal_cdf(i as f64 / NORMAL_BINS as f64) as f32;
        }
        t
    })
}

/// Acklam's rational approximation of the standard normal quantile (relative error < 1.2e-9).
fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -39.69683028665376,
        220.9460984245205,
        -275.9285104469687,
        138.357751867269,
        -30.66479806614716,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -54.47609879822406,
        161.5858368580409,
        -155.6989798598866,
        66.80131188771972,
        -13.28068155288572,
    ];
    const C: [f64; 6] = [
        -0.007784894002430293,
        -0.3223964580411365,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        0.007784695709041462,
        0.3224671290700398,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// A standard normal deviate from 32 random bits: the top 11 bits pick one of 2048
/// equal-probability bins of the normal, the next 16 interpolate the tabulated quantiles inside
/// it. The two outer bins (|z| > 3.29, probability 1/1024) are drawn exactly from the tail by
/// Marsaglia's method, using further draws from `rng`.
#[inline(always)]
fn fast_normal(bits: u32, rng: &mut ChaCha8Rng) -> f32 {
    let t = inverse_cdf_table();
    let i = (bits >> 21) as usize;
    if i == 0 || i == NORMAL_BINS - 1 {
        let a = t[NORMAL_BINS - 1] as f64;
        loop {
            let x = -(1.0 - rng.random::<f64>()).ln() / a;
            let y = -(1.0 - rng.random::<f64>()).ln();
            if 2.0 * y > x * x {
                let z = (a + x) as f32;
                return if i == 0 { -z } else { z };
            }
        }
    }
    let f = ((bits >> 5) & 0xFFFF) as f32 * (1.0 / 65536.0);
    t[i] + f * (t[i + 1] - t[i])
}

/// Per-band display scales (nanomaggies per 0.262" pixel that map to 1 display unit), as in
/// the Galaxy Zoo DECaLS cutouts (g is boosted relative to z so red galaxies look yellow-white).
const RGB_SCALES: [f32; 3] = [0.008, 0.014, 0.019];
/// Arcsinh stretch `asinh(ALPHA * I) / BETA` of the mean intensity `I`: about 0.035 for the
/// native-pixel sky noise, and saturating near 18 mag/arcsec^2.
const ALPHA: f32 = 0.3;
const BETA: f32 = 5.2;
/// Display level of zero flux (real cutouts show the sky at about 16/255).
const PEDESTAL: f32 = 0.063;
const DECALS_PIXEL: f32 = 0.262;

/// Legacy-Survey-like RGB: each band is scaled, the mean intensity `I` is stretched by
/// `asinh(ALPHA I) / BETA` keeping colour (each band times stretch(I)/I), a sky pedestal is
/// added and values are clipped to 0..1; z -> red, r -> green, g -> blue. Fluxes are converted
/// to surface brightness per 0.262" pixel first, so the look does not depend on resolution
/// (larger pixels average the noise down, as in the binned 212 px Galaxy Zoo images).
pub fn to_rgb8(img: &Image3) -> image::RgbImage {
    let n = img.width * img.height;
    let mut out = vec![0u8; n * 3];
    for_each_display_pixel(img, |i, rgb| {
        for (slot, v) in rgb.into_iter().enumerate() {
            out[i * 3 + slot] = (v * 255.0 + 0.5) as u8;
        }
    });
    image::RgbImage::from_raw(img.width as u32, img.height as u32, out)
        .expect("buffer has width*height*3 bytes")
}

/// The same stretch as [`to_rgb8`] without quantisation: planar R, G, B in 0..1, the input a
/// network sees (real cutouts enter as their RGB PNG/JPEG pixels / 255, so both match).
pub fn to_display_planes(img: &Image3) -> Vec<f32> {
    let n = img.width * img.height;
    let mut out = vec![0f32; n * 3];
    for_each_display_pixel(img, |i, rgb| {
        for (slot, v) in rgb.into_iter().enumerate() {
            out[slot * n + i] = v;
        }
    });
    out
}

/// Planar display values (`channels x size x size` in 0..1, as [`to_display_planes`] makes them
/// or a generator draws them) back to an RGB image: R, G, B from planes `0, 1, 2` (`c %
/// channels`, so one plane is grey), clamped to 0..1 and rounded to bytes as [`to_rgb8`] does.
pub fn display_planes_to_rgb8(planes: &[f32], channels: usize, size: usize) -> image::RgbImage {
    let n = size * size;
    let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
    let rgb = (0..n * 3)
        .map(|k| byte(planes[(k % 3 % channels) * n + k / 3]))
        .collect();
    image::RgbImage::from_raw(size as u32, size as u32, rgb).expect("size x size x 3 bytes")
}

/// Calls `f(pixel index, [r, g, b] in 0..1)` for every pixel (stretch described at [`to_rgb8`]).
fn for_each_display_pixel(img: &Image3, mut f: impl FnMut(usize, [f32; 3])) {
    let area = (DECALS_PIXEL / img.pixel_scale).powi(2);
    for i in 0..img.width * img.height {
        let c: [f32; 3] = std::array::from_fn(|k| img.planes[k][i] * area / RGB_SCALES[k]);
        let mean = (c[0] + c[1] + c[2]) / 3.0;
        let ratio = if mean.abs() < 1e-4 {
            ALPHA / BETA
        } else {
            (ALPHA * mean).asinh() / (BETA * mean)
        };
        f(
            i,
            [2usize, 1, 0].map(|k| (PEDESTAL + c[k] * ratio).clamp(0.0, 1.0)),
        );
    }
}

/// Write `img` as an RGB PNG: encode to `<path>.tmp` then rename over `path`.
pub fn save_png(path: impl AsRef<Path>, img: &Image3) -> Result<(), UniverseError> {
    let path = path.as_ref();
    let shown = path.display().to_string();
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    img.to_rgb8()
        .save_with_format(&tmp, image::ImageFormat::Png)
        .map_err(|source| UniverseError::Encode {
            path: shown.clone(),
            source,
        })?;
    std::fs::rename(&tmp, path).map_err(|source| UniverseError::Io {
        path: shown,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_normal_has_normal_moments_and_tails() {
        let mut rng = item_stream(1, "test/normal", 0);
        let n = 400_000;
        let (mut s1, mut s2, mut s4, mut tail, mut far) = (0f64, 0f64, 0f64, 0usize, 0usize);
        for _ in 0..n {
            let b = rng.next_u32();
            let z = fast_normal(b, &mut rng) as f64;
            s1 += z;
            s2 += z * z;
            s4 += z * z * z * z;
            tail += (z.abs() > 2.0) as usize;
            far += (z.abs() > 3.5) as usize;
        }
        let (m, v, k) = (s1 / n as f64, s2 / n as f64, s4 / n as f64);
        assert!(
            m.abs() < 0.01 && (v - 1.0).abs() < 0.01 && (k - 3.0).abs() < 0.06,
            "{m} {v} {k}"
        );
        let p2 = tail as f64 / n as f64; // 0.0455 for a normal
        assert!((p2 - 0.0455).abs() < 0.002, "P(|z|>2) = {p2}");
        let p35 = far as f64 / n as f64; // 4.65e-4
        assert!(p35 > 3.0e-4 && p35 < 6.5e-4, "P(|z|>3.5) = {p35}");
        assert!((inverse_normal_cdf(0.975) - 1.959964).abs() < 1e-5);
    }
}
