//! Cheap pixel-grid primitives for the renderer: radial lookup tables (so that no `powf`/`exp`
//! runs per pixel for Sersic profiles), Sersic normalisation, and Gaussian stamps.

/// A radial lookup table with `C` channels, linearly interpolated, sampled on `0..=r_max`;
/// beyond `r_max` the last sample is returned.
pub(crate) struct Lut<const C: usize> {
    inv_step: f32,
    max_t: f32,
    vals: Vec<[f32; C]>,
}

impl<const C: usize> Lut<C> {
    pub fn build(r_max: f32, n: usize, mut f: impl FnMut(f32) -> [f32; C]) -> Self {
        let step = r_max.max(1e-3) / (n - 1) as f32;
        let mut vals: Vec<[f32; C]> = (0..n).map(|i| f(i as f32 * step)).collect();
        let last = vals[n - 1];
        vals.push(last);
        Lut {
            inv_step: 1.0 / step,
            max_t: (n - 1) as f32,
            vals,
        }
    }

    #[inline(always)]
    pub fn eval(&self, r: f32) -> [f32; C] {
        let t = (r * self.inv_step).min(self.max_t);
        // `min` keeps both reads in bounds (and lets the compiler drop the checks).
        let i = (t as usize).min(self.vals.len() - 2);
        let fr = t - i as f32;
        let (a, b) = (self.vals[i], self.vals[i + 1]);
        let mut out = [0f32; C];
        for c in 0..C {
            out[c] = a[c] + fr * (b[c] - a[c]);
        }
        out
    }
}

/// Ciotti & Bertin (1999) approximation of the Sersic b_n.
pub(crate) fn sersic_b(n: f32) -> f32 {
    2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n) + 46.0 / (25515.0 * n * n)
}

/// A Sersic profile (unit value at r_e), smoothly truncated at 10 r_e, in pixels.
#[derive(Clone, Copy)]
pub(crate) struct Sersic {
    pub n: f32,
    pub re: f32,
}

impl Sersic {
    pub fn value(&self, r: f32) -> f32 {
        let rt = 10.0 * self.re;
        if r >= rt {
            return 0.0;
        }
        let taper = 1.0 - (r / rt).powi(2);
        let b = sersic_b(self.n);
        (-b * ((r / self.re).powf(1.0 / self.n) - 1.0)).exp() * taper * taper
    }

    /// Integral of `value` over the plane for a round profile (multiply by q for ellipses).
    pub fn total(&self) -> f32 {
        radial_integral(|r| self.value(r), 1e-4 * self.re, 10.0 * self.re)
    }
}

/// `integral 2 pi r f(r) dr` from `r0` to `r1` on a log grid.
pub(crate) fn radial_integral(f: impl Fn(f32) -> f32, r0: f32, r1: f32) -> f32 {
    let n = 200;
    let (l0, l1) = (r0.ln(), r1.ln());
    let dl = (l1 - l0) / n as f32;
    let mut s = 0.0f64;
    for i in 0..=n {
        let r = (l0 + i as f32 * dl).exp();
        let w = if i == 0 || i == n { 0.5 } else { 1.0 };
        s += w * (2.0 * std::f32::consts::PI * r * r * f(r)) as f64;
    }
    // The disc inside r0 at the central value.
    (s as f32) * dl + std::f32::consts::PI * r0 * r0 * f(0.0)
}

/// 1-D Gaussian weights for pixels `lo..hi` around centre `c` (pixel centres at i + 0.5),
/// normalised by the sum over the unclipped support so clipped light is lost, not moved.
fn gauss_1d(c: f32, sigma: f32, len: usize) -> (usize, Vec<f32>) {
    let r = (3.5 * sigma).max(1.0);
    let lo_f = (c - r).floor();
    let hi_f = (c + r).ceil();
    let mut w = Vec::with_capacity((hi_f - lo_f) as usize + 1);
    let mut total = 0.0;
    let inv = 1.0 / (2.0 * sigma * sigma);
    let mut x = lo_f;
    while x < hi_f {
        let d = x + 0.5 - c;
        let v = (-d * d * inv).exp();
        total += v;
        w.push(v);
        x += 1.0;
    }
    let lo = lo_f.max(0.0) as usize;
    let skip = (lo as f32 - lo_f) as usize;
    let hi = (hi_f.max(0.0) as usize).min(len);
    if lo >= hi || skip >= w.len() {
        return (0, Vec::new());
    }
    let w: Vec<f32> = w[skip..skip + (hi - lo)]
        .iter()
        .map(|v| v / total)
        .collect();
    (lo, w)
}

/// Add a round Gaussian of total flux `flux[k]` per band at pixel position (`cx`, `cy`).
pub(crate) fn add_gaussian(
    planes: &mut [Vec<f32>; 3],
    w: usize,
    h: usize,
    c: [f32; 2],
    sigma: f32,
    flux: [f32; 3],
) {
    let sigma = sigma.max(0.35);
    let (x0, wx) = gauss_1d(c[0], sigma, w);
    let (y0, wy) = gauss_1d(c[1], sigma, h);
    for (k, plane) in planes.iter_mut().enumerate() {
        for (j, &vy) in wy.iter().enumerate() {
            let row = &mut plane[(y0 + j) * w + x0..(y0 + j) * w + x0 + wx.len()];
            let fy = flux[k] * vy;
            for (p, &vx) in row.iter_mut().zip(&wx) {
                *p += fy * vx;
            }
        }
    }
}

/// Add an elliptical Gaussian (major sigma `sigma`, axis ratio `q`, angle `pa` radians).
#[allow(clippy::too_many_arguments)]
pub(crate) fn add_elliptical_gaussian(
    planes: &mut [Vec<f32>; 3],
    w: usize,
    h: usize,
    c: [f32; 2],
    sigma: f32,
    q: f32,
    pa: f32,
    flux: [f32; 3],
) {
    let sigma = sigma.max(0.35);
    let sminor = (sigma * q).max(0.35);
    let r = 3.5 * sigma;
    let (x0, x1) = (
        (c[0] - r).floor().max(0.0) as usize,
        ((c[0] + r).ceil().max(0.0) as usize).min(w),
    );
    let (y0, y1) = (
        (c[1] - r).floor().max(0.0) as usize,
        ((c[1] + r).ceil().max(0.0) as usize).min(h),
    );
    let (cs, sn) = (pa.cos(), pa.sin());
    let norm = 1.0 / (2.0 * std::f32::consts::PI * sigma * sminor);
    let (ia, ib) = (0.5 / (sigma * sigma), 0.5 / (sminor * sminor));
    for y in y0..y1 {
        let dy = y as f32 + 0.5 - c[1];
        for x in x0..x1 {
            let dx = x as f32 + 0.5 - c[0];
            let (u, v) = (dx * cs + dy * sn, -dx * sn + dy * cs);
            let g = norm * (-(u * u * ia + v * v * ib)).exp();
            for k in 0..3 {
                planes[k][y * w + x] += g * flux[k];
            }
        }
    }
}
