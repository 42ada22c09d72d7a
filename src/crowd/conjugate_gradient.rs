//! Nonlinear conjugate gradient, ported from scipy 1.17 so that `glad`'s M-step takes the same
//! steps as crowd-kit's `scipy.optimize.minimize(method="CG")`: `_minimize_cg` (Polak-Ribiere+
//! with the Gilbert-Nocedal sufficient-descent check, c1 = 1e-4, c2 = 0.4, gtol on the max-norm
//! of the gradient), `_line_search_wolfe12` (MINPACK's `dcsrch` strong-Wolfe search, falling back
//! to the bracketing/zoom search `line_search_wolfe2`), and `ScalarFunction`'s memoisation (f and
//! g are evaluated once per distinct point; `nfev` / `njev` count what scipy counts). Python's
//! `min` / `max` / `np.sign` semantics (NaN handling, sign of zero) are kept; numpy's
//! floating-point exceptions in `_cubicmin` / `_quadmin` become "no minimiser".

mod dcsrch;

use dcsrch::Dcsrch;

/// The outcome of [`minimize_cg`], as scipy's `OptimizeResult`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CgResult {
    pub x: Vec<f64>,
    pub fun: f64,
    pub nit: usize,
    pub nfev: usize,
    pub njev: usize,
    /// 0 success, 1 maxiter reached, 2 line search failed, 3 NaN.
    pub status: u8,
}

const C1: f64 = 1e-4;
const C2: f64 = 0.4;

/// Python's `min(a, b)`: `b` only if `b < a`.
fn py_min(a: f64, b: f64) -> f64 {
    if b < a { b } else { a }
}

/// Python's `max(a, b)`: `b` only if `b > a`.
fn py_max(a: f64, b: f64) -> f64 {
    if b > a { b } else { a }
}

/// `np.sign`: 0 for zero, NaN for NaN.
fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x * 0.0
    }
}

/// `np.clip` (NaN passes through).
fn clip(x: f64, lo: f64, hi: f64) -> f64 {
    if x < lo {
        lo
    } else if x > hi {
        hi
    } else {
        x
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `vecnorm(x, ord=inf)` = `np.amax(np.abs(x))` (NaN propagates).
fn max_norm(x: &[f64]) -> f64 {
    x.iter().fold(0.0f64, |m, v| {
        if m.is_nan() || v.is_nan() {
            f64::NAN
        } else {
            m.max(v.abs())
        }
    })
}

/// One Polak-Ribiere+ update: the new point, direction, gradient and gradient max-norm.
struct Step {
    alpha: f64,
    x: Vec<f64>,
    p: Vec<f64>,
    g: Vec<f64>,
    gnorm: f64,
}

/// `scipy.optimize.minimize(f, x0, jac=g, method="CG", tol=gtol, options={"maxiter": maxiter})`
/// where `fun(x, grad)` returns f(x) and writes g(x) into `grad`.
pub(crate) fn minimize_cg<F: FnMut(&[f64], &mut [f64]) -> f64>(
    fun: F,
    x0: &[f64],
    gtol: f64,
    maxiter: usize,
) -> CgResult {
    let n = x0.len();
    let mut memo = Memo::new(fun, x0);
    let mut old_fval = memo.fun(x0);
    let mut gfk = memo.grad(x0).to_vec();
    let mut xk = x0.to_vec();
    // Sets the initial step guess to dx ~ 1.
    let mut old_old_fval = old_fval + dot(&gfk, &gfk).sqrt() / 2.0;
    let mut pk: Vec<f64> = gfk.iter().map(|g| -g).collect();
    let mut gnorm = max_norm(&gfk);
    let (mut k, mut status) = (0, 0);
    while gnorm > gtol && k < maxiter {
        let deltak = dot(&gfk, &gfk);
        let step = |alpha: f64, gfkp1: Vec<f64>| -> Step {
            let x: Vec<f64> = xk.iter().zip(&pk).map(|(x, p)| x + alpha * p).collect();
            let num = gfkp1
                .iter()
                .zip(&gfk)
                .map(|(a, b)| a - b)
                .collect::<Vec<_>>();
            let beta = py_max(0.0, dot(&num, &gfkp1) / deltak);
            let p = gfkp1.iter().zip(&pk).map(|(g, p)| -g + beta * p).collect();
            let gnorm = max_norm(&gfkp1);
            Step {
                alpha,
                x,
                p,
                g: gfkp1,
                gnorm,
            }
        };
        let mut cached: Option<Step> = None;
        let found = {
            // Polak-Ribiere+ needs an explicit sufficient-descent check (Gilbert & Nocedal 1992).
            let mut descent = |alpha: f64, g: &[f64]| -> bool {
                let s = step(alpha, g.to_vec());
                let ok = s.gnorm <= gtol || dot(&s.p, &s.g) <= -0.01 * dot(&s.g, &s.g);
                cached = Some(s);
                ok
            };
            let mut line = Line {
                memo: &mut memo,
                xk: &xk,
                pk: &pk,
                buf: vec![0.0; n],
                gval: vec![0.0; n],
                gval_alpha: None,
            };
            line_search_wolfe12(&mut line, &gfk, old_fval, old_old_fval, &mut descent)
        };
        let Some((alpha_k, fval, f0, gfkp1)) = found else {
            status = 2;
            break;
        };
        (old_fval, old_old_fval) = (fval, f0);
        let next = match cached {
            Some(s) if s.alpha == alpha_k => s,
            _ => {
                let g = gfkp1.unwrap_or_else(|| {
                    let x: Vec<f64> = xk.iter().zip(&pk).map(|(x, p)| x + alpha_k * p).collect();
                    memo.grad(&x).to_vec()
                });
                step(alpha_k, g)
            }
        };
        (xk, pk, gfk, gnorm) = (next.x, next.p, next.g, next.gnorm);
        k += 1;
    }
    if status != 2 {
        status = if k >= maxiter {
            1
        } else if gnorm.is_nan() || old_fval.is_nan() || xk.iter().any(|x| x.is_nan()) {
            3
        } else {
            0
        };
    }
    CgResult {
        x: xk,
        fun: old_fval,
        nit: k,
        nfev: memo.nfev,
        njev: memo.ngev,
        status,
    }
}

/// scipy's `ScalarFunction`: remembers the last point; f and g are computed together there and
/// counted the first time each is asked for.
struct Memo<F> {
    fun: F,
    x: Vec<f64>,
    f: f64,
    g: Vec<f64>,
    f_counted: bool,
    g_counted: bool,
    nfev: usize,
    ngev: usize,
}

impl<F: FnMut(&[f64], &mut [f64]) -> f64> Memo<F> {
    fn new(mut fun: F, x0: &[f64]) -> Self {
        let mut g = vec![0.0; x0.len()];
        let f = fun(x0, &mut g);
        Memo {
            fun,
            x: x0.to_vec(),
            f,
            g,
            f_counted: true,
            g_counted: true,
            nfev: 1,
            ngev: 1,
        }
    }

    fn at(&mut self, x: &[f64]) {
        if x != self.x.as_slice() {
            self.x.copy_from_slice(x);
            self.f = (self.fun)(x, &mut self.g);
            self.f_counted = false;
            self.g_counted = false;
        }
    }

    fn fun(&mut self, x: &[f64]) -> f64 {
        self.at(x);
        if !self.f_counted {
            self.nfev += 1;
            self.f_counted = true;
        }
        self.f
    }

    fn grad(&mut self, x: &[f64]) -> &[f64] {
        self.at(x);
        if !self.g_counted {
            self.ngev += 1;
            self.g_counted = true;
        }
        &self.g
    }
}

/// The line `xk + s * pk` and the gradient at the last point `derphi` looked at.
struct Line<'a, F> {
    memo: &'a mut Memo<F>,
    xk: &'a [f64],
    pk: &'a [f64],
    buf: Vec<f64>,
    gval: Vec<f64>,
    gval_alpha: Option<f64>,
}

impl<F: FnMut(&[f64], &mut [f64]) -> f64> Line<'_, F> {
    fn point(&mut self, s: f64) {
        for ((b, x), p) in self.buf.iter_mut().zip(self.xk).zip(self.pk) {
            *b = x + s * p;
        }
    }

    fn phi(&mut self, s: f64) -> f64 {
        self.point(s);
        self.memo.fun(&self.buf)
    }

    fn derphi(&mut self, s: f64) -> f64 {
        self.point(s);
        let g = self.memo.grad(&self.buf);
        self.gval.copy_from_slice(g);
        self.gval_alpha = Some(s);
        dot(&self.gval, self.pk)
    }
}

/// The first trial step of both line searches.
fn first_step(phi0: f64, old_phi0: f64, derphi0: f64) -> f64 {
    let a = if derphi0 != 0.0 {
        py_min(1.0, 1.01 * 2.0 * (phi0 - old_phi0) / derphi0)
    } else {
        1.0
    };
    if a < 0.0 { 1.0 } else { a }
}

/// A successful line search: step, f there, f at the start, gradient there (if known).
type Found = (f64, f64, f64, Option<Vec<f64>>);

/// `_line_search_wolfe12` with CG's arguments (`amin = 1e-100`, `amax = 1e100`).
fn line_search_wolfe12<F: FnMut(&[f64], &mut [f64]) -> f64>(
    line: &mut Line<F>,
    gfk: &[f64],
    old_fval: f64,
    old_old_fval: f64,
    extra: &mut dyn FnMut(f64, &[f64]) -> bool,
) -> Option<Found> {
    let derphi0 = dot(gfk, line.pk);
    line.gval.copy_from_slice(gfk);
    let alpha1 = first_step(old_fval, old_old_fval, derphi0);
    let mut search = Dcsrch::new(C1, C2, 1e-14, 1e-100, 1e100);
    let mut eval = |s: f64| (line.phi(s), line.derphi(s));
    if let Some((stp, phi1)) = search.run(alpha1, old_fval, derphi0, &mut eval) {
        let g = line.gval.clone();
        if extra(stp, &g) {
            return Some((stp, phi1, old_fval, Some(g)));
        }
    }
    line.gval_alpha = None;
    wolfe2(line, old_fval, old_old_fval, derphi0, 1e100, extra)
}

/// `scalar_search_wolfe2` (10 iterations) wrapped as `line_search_wolfe2`.
fn wolfe2<F: FnMut(&[f64], &mut [f64]) -> f64>(
    line: &mut Line<F>,
    phi0: f64,
    old_phi0: f64,
    derphi0: f64,
    amax: f64,
    extra: &mut dyn FnMut(f64, &[f64]) -> bool,
) -> Option<Found> {
    let mut extra2 = |line: &mut Line<F>, alpha: f64| -> bool {
        if line.gval_alpha != Some(alpha) {
            line.derphi(alpha);
        }
        extra(alpha, &line.gval)
    };
    let mut alpha0 = 0.0;
    let mut alpha1 = py_min(first_step(phi0, old_phi0, derphi0), amax);
    let mut phi_a1 = line.phi(alpha1);
    let mut phi_a0 = phi0;
    let mut derphi_a0 = derphi0;
    for i in 0..10 {
        if alpha1 == 0.0 || alpha0 > amax {
            return None;
        }
        if phi_a1 > phi0 + C1 * alpha1 * derphi0 || (phi_a1 >= phi_a0 && i > 0) {
            let (a, p) = zoom(
                line,
                [alpha0, alpha1],
                [phi_a0, phi_a1],
                derphi_a0,
                phi0,
                derphi0,
                &mut extra2,
            )?;
            return Some((a, p, phi0, Some(line.gval.clone())));
        }
        let derphi_a1 = line.derphi(alpha1);
        if derphi_a1.abs() <= -C2 * derphi0 && extra2(line, alpha1) {
            return Some((alpha1, phi_a1, phi0, Some(line.gval.clone())));
        }
        if derphi_a1 >= 0.0 {
            let (a, p) = zoom(
                line,
                [alpha1, alpha0],
                [phi_a1, phi_a0],
                derphi_a1,
                phi0,
                derphi0,
                &mut extra2,
            )?;
            return Some((a, p, phi0, Some(line.gval.clone())));
        }
        alpha0 = alpha1;
        alpha1 = py_min(2.0 * alpha1, amax);
        phi_a0 = phi_a1;
        phi_a1 = line.phi(alpha1);
        derphi_a0 = derphi_a1;
    }
    Some((alpha1, phi_a1, phi0, None))
}

/// `_cubicmin`: minimiser of the cubic through (a, fa) with slope fpa, (b, fb), (c, fc).
fn cubicmin(a: f64, fa: f64, fpa: f64, b: f64, fb: f64, c: f64, fc: f64) -> Option<f64> {
    let cc = fpa;
    let db = b - a;
    let dc = c - a;
    let denom = (db * dc).powf(2.0) * (db - dc);
    let (v0, v1) = (fb - fa - cc * db, fc - fa - cc * dc);
    let aa = dc.powf(2.0) * v0 + -db.powf(2.0) * v1;
    let bb = -dc.powf(3.0) * v0 + db.powf(3.0) * v1;
    if denom == 0.0 || !denom.is_finite() || !aa.is_finite() || !bb.is_finite() {
        return None;
    }
    let (aa, bb) = (aa / denom, bb / denom);
    let radical = bb * bb - 3.0 * aa * cc;
    if aa == 0.0 || radical.is_nan() || radical < 0.0 {
        return None;
    }
    let xmin = a + (-bb + radical.sqrt()) / (3.0 * aa);
    xmin.is_finite().then_some(xmin)
}

/// `_quadmin`: minimiser of the quadratic through (a, fa) with slope fpa and (b, fb).
fn quadmin(a: f64, fa: f64, fpa: f64, b: f64, fb: f64) -> Option<f64> {
    let db = b - a;
    let d2 = db * db;
    if d2 == 0.0 || !d2.is_finite() {
        return None;
    }
    let bb = (fb - fa - fpa * db) / d2;
    if bb == 0.0 || !bb.is_finite() {
        return None;
    }
    let xmin = a - fpa / (2.0 * bb);
    xmin.is_finite().then_some(xmin)
}

/// `_zoom` (Nocedal & Wright algorithm 3.6): `a = [a_lo, a_hi]`, `p = [phi_lo, phi_hi]`.
fn zoom<F: FnMut(&[f64], &mut [f64]) -> f64>(
    line: &mut Line<F>,
    a: [f64; 2],
    p: [f64; 2],
    mut derphi_lo: f64,
    phi0: f64,
    derphi0: f64,
    extra: &mut dyn FnMut(&mut Line<F>, f64) -> bool,
) -> Option<(f64, f64)> {
    let ([mut a_lo, mut a_hi], [mut phi_lo, mut phi_hi]) = (a, p);
    let (mut phi_rec, mut a_rec) = (phi0, 0.0);
    for i in 0..=10 {
        let dalpha = a_hi - a_lo;
        let (lo, hi) = if dalpha < 0.0 {
            (a_hi, a_lo)
        } else {
            (a_lo, a_hi)
        };
        let mut a_j = None;
        let mut cchk = 0.0;
        if i > 0 {
            cchk = 0.2 * dalpha;
            a_j = cubicmin(a_lo, phi_lo, derphi_lo, a_hi, phi_hi, a_rec, phi_rec);
        }
        let bad = |x: Option<f64>, chk: f64| x.is_none_or(|x| x > hi - chk || x < lo + chk);
        if i == 0 || bad(a_j, cchk) {
            let qchk = 0.1 * dalpha;
            a_j = quadmin(a_lo, phi_lo, derphi_lo, a_hi, phi_hi);
            if bad(a_j, qchk) {
                a_j = Some(a_lo + 0.5 * dalpha);
            }
        }
        let a_j = a_j.expect("set above");
        let phi_aj = line.phi(a_j);
        if phi_aj > phi0 + C1 * a_j * derphi0 || phi_aj >= phi_lo {
            (phi_rec, a_rec) = (phi_hi, a_hi);
            (a_hi, phi_hi) = (a_j, phi_aj);
        } else {
            let derphi_aj = line.derphi(a_j);
            if derphi_aj.abs() <= -C2 * derphi0 && extra(line, a_j) {
                return Some((a_j, phi_aj));
            }
            if derphi_aj * (a_hi - a_lo) >= 0.0 {
                (phi_rec, a_rec) = (phi_hi, a_hi);
                (a_hi, phi_hi) = (a_lo, phi_lo);
            } else {
                (phi_rec, a_rec) = (phi_lo, a_lo);
            }
            (a_lo, phi_lo, derphi_lo) = (a_j, phi_aj, derphi_aj);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `scipy.optimize.rosen` and `rosen_der`, term for term.
    fn rosen(x: &[f64], g: &mut [f64]) -> f64 {
        let n = x.len();
        let f = (0..n - 1)
            .map(|i| 100.0 * (x[i + 1] - x[i] * x[i]).powi(2) + (1.0 - x[i]).powi(2))
            .sum();
        for i in 1..n - 1 {
            g[i] = 200.0 * (x[i] - x[i - 1] * x[i - 1])
                - 400.0 * (x[i + 1] - x[i] * x[i]) * x[i]
                - 2.0 * (1.0 - x[i]);
        }
        g[0] = -400.0 * x[0] * (x[1] - x[0] * x[0]) - 2.0 * (1.0 - x[0]);
        g[n - 1] = 200.0 * (x[n - 1] - x[n - 2] * x[n - 2]);
        f
    }

    /// Numbers from scipy 1.17 (`benches/peers/scipy_cg_rosenbrock.py`):
    /// `minimize(rosen, x0, jac=rosen_der, method="CG", tol=tol, options=...)`.
    #[test]
    fn matches_scipy_on_rosenbrock() {
        // (x0, gtol, maxiter, scipy's x, nit, nfev, njev, status)
        type Case<'a> = (&'a [f64], f64, usize, &'a [f64], usize, usize, usize, u8);
        let cases: [Case; 3] = [
            // The default gtol; this path rejects one dcsrch step and zooms in line_search_wolfe2.
            (
                &[-1.2, 1.0],
                1e-5,
                400,
                &[1.0000000054879883, 0.9999999972740272],
                36,
                78,
                77,
                0,
            ),
            (
                &[1.3, 0.7, 0.8, 1.9, 1.2],
                1e-5,
                1000,
                &[
                    0.9999997718803498,
                    0.9999995408050806,
                    0.9999990909906542,
                    0.9999981888215351,
                    0.999996357348689,
                ],
                47,
                97,
                97,
                0,
            ),
            // GLAD's M-step settings: tol = 1e-2, maxiter = 25 (stops at maxiter).
            (
                &[1.3, 0.7, 0.8, 1.9, 1.2],
                1e-2,
                25,
                &[
                    1.000826513476374,
                    1.0009246699353898,
                    1.0015066919297932,
                    1.0028559878544223,
                    1.0053619397977822,
                ],
                25,
                51,
                51,
                1,
            ),
        ];
        for (x0, gtol, maxiter, want, nit, nfev, njev, status) in cases {
            let r = minimize_cg(rosen, x0, gtol, maxiter);
            assert_eq!(
                (r.nit, r.nfev, r.njev, r.status),
                (nit, nfev, njev, status),
                "{x0:?}"
            );
            for (a, b) in r.x.iter().zip(want) {
                // Same path (the counts above); the iterates agree to the last bit for the first
                // steps and then drift at rounding level (BLAS `ddot` vs our summation order).
                assert!(
                    (a - b).abs() < 1e-7,
                    "{x0:?}: x {:?} vs scipy {want:?}",
                    r.x
                );
            }
            let mut g = vec![0.0; x0.len()];
            assert_eq!(r.fun, rosen(&r.x, &mut g));
        }
    }

    #[test]
    fn line_search_helpers_match_their_polynomials() {
        // Quadratic (x - 2)^2 through (0, 4) with slope -4 and (3, 1): minimum at 2.
        assert_eq!(quadmin(0.0, 4.0, -4.0, 3.0, 1.0), Some(2.0));
        assert_eq!(quadmin(1.0, 4.0, -4.0, 1.0, 1.0), None);
        // Cubic x^3 - 3x through (-2, -2) with slope 9, (0, 0), (2, 2): local minimum at 1.
        let m = cubicmin(-2.0, -2.0, 9.0, 0.0, 0.0, 2.0, 2.0).unwrap();
        assert!((m - 1.0).abs() < 1e-12, "{m}");
        assert_eq!(cubicmin(0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0), None);
        assert_eq!((sign(-0.0), sign(3.0), sign(-2.0)), (0.0, 1.0, -1.0));
        assert!(sign(f64::NAN).is_nan() && max_norm(&[1.0, f64::NAN, 3.0]).is_nan());
        assert_eq!((py_min(1.0, f64::NAN), py_max(0.0, f64::NAN)), (1.0, 0.0));
    }
}
