//! Point-spread functions as sums of circular Gaussians, applied as separable convolutions.
//!
//! * Gaussian (SDSS-like): one Gaussian with sigma = FWHM / 2.3548.
//! * Moffat (DECaLS-like, beta = 3): approximated by two Gaussians of equal weight with sigmas
//!   0.92 and 1.84 times FWHM / 2.3548 (a least-squares fit to the beta = 3 Moffat profile,
//!   within ~3% of its peak everywhere inside 2 FWHM). The far Moffat wing (beyond ~3 FWHM)
//!   is slightly under-represented.
//!
//! Light falling outside the image is lost (zero boundary), as for a real cutout.

/// A PSF on the pixel grid: `(weight, sigma in pixels)` components, weights summing to 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Psf {
    pub components: Vec<(f32, f32)>,
}

impl Psf {
    /// PSF of FWHM `fwhm_arcsec` at `pixel_scale` arcsec/pixel; Moffat if `moffat_beta`.
    pub fn new(fwhm_arcsec: f32, moffat_beta: Option<f32>, pixel_scale: f32) -> Psf {
        let s = fwhm_arcsec / 2.3548 / pixel_scale;
        let components = match moffat_beta {
            Some(_) => vec![(0.5, 0.92 * s), (0.5, 1.84 * s)],
            None => vec![(1.0, s)],
        };
        Psf { components }
    }

    /// Second-moment sigma of the whole PSF in pixels (`sqrt(sum w sigma^2)`).
    pub fn sigma(&self) -> f32 {
        self.components
            .iter()
            .map(|(w, s)| w * s * s)
            .sum::<f32>()
            .sqrt()
    }

    /// Convolve `plane` (`w` x `h`, row-major) in place.
    pub fn apply(&self, plane: &mut [f32], w: usize, h: usize) {
        let mut out = vec![0f32; plane.len()];
        let mut tmp = vec![0f32; plane.len()];
        for &(weight, sigma) in &self.components {
            let k = kernel(sigma);
            blur_add(plane, &mut out, &mut tmp, w, h, &k, weight);
        }
        plane.copy_from_slice(&out);
    }
}

/// Normalised 1-D Gaussian kernel of radius ceil(3.5 sigma) (identity for tiny sigma).
pub fn kernel(sigma: f32) -> Vec<f32> {
    if sigma < 0.05 {
        return vec![1.0];
    }
    let r = (3.5 * sigma).ceil() as i32;
    let mut k: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let s: f32 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    k
}

/// `out += weight * (src convolved with k along x then y)`; `tmp` is scratch of the same size.
fn blur_add(
    src: &[f32],
    out: &mut [f32],
    tmp: &mut [f32],
    w: usize,
    h: usize,
    k: &[f32],
    weight: f32,
) {
    let r = (k.len() / 2) as isize;
    tmp.fill(0.0);
    for y in 0..h {
        let s = &src[y * w..(y + 1) * w];
        let t = &mut tmp[y * w..(y + 1) * w];
        for (j, &kv) in k.iter().enumerate() {
            let d = j as isize - r;
            let x0 = (-d).max(0) as usize;
            let x1 = (w as isize - d).min(w as isize).max(0) as usize;
            if x0 >= x1 {
                continue;
            }
            let sd = &s[(x0 as isize + d) as usize..(x1 as isize + d) as usize];
            for (tv, &sv) in t[x0..x1].iter_mut().zip(sd) {
                *tv += kv * sv;
            }
        }
    }
    for y in 0..h {
        let o = &mut out[y * w..(y + 1) * w];
        for (j, &kv) in k.iter().enumerate() {
            let yy = y as isize + j as isize - r;
            if yy < 0 || yy >= h as isize {
                continue;
            }
            let kw = kv * weight;
            let t = &tmp[yy as usize * w..(yy as usize + 1) * w];
            for (ov, &tv) in o.iter_mut().zip(t) {
                *ov += kw * tv;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn convolution_conserves_flux_away_from_edges() {
        let (w, h) = (41, 41);
        let mut p = vec![0f32; w * h];
        p[20 * w + 20] = 1.0;
        let psf = Psf::new(1.2, Some(3.0), 0.262);
        psf.apply(&mut p, w, h);
        let s: f32 = p.iter().sum();
        assert!((s - 1.0).abs() < 0.01, "{s}");
        assert!(p[20 * w + 20] > p[20 * w + 23] && p[20 * w + 23] > p[20 * w + 26]);
    }
}
