//! MINPACK-2's `dcsrch` / `dcstep` line search for the strong Wolfe conditions, as scipy 1.17's
//! `scipy.optimize._dcsrch` (the `line_search_wolfe1` that `_minimize_cg` tries first), statement
//! for statement, with Python's `min` / `max` and numpy's `sign` / `clip` semantics.

use super::{clip, py_max, py_min, sign};

#[derive(Clone, Copy, PartialEq)]
enum Task {
    Fg,
    Convergence,
    Warning,
}

/// MINPACK-2 `dcsrch` as scipy's `DCSRCH` class (a line search for the strong Wolfe conditions
/// with safeguarded cubic / quadratic steps).
pub(super) struct Dcsrch {
    ftol: f64,
    gtol: f64,
    xtol: f64,
    stpmin: f64,
    stpmax: f64,
    brackt: bool,
    stage: u8,
    finit: f64,
    ginit: f64,
    gtest: f64,
    width: f64,
    width1: f64,
    stx: f64,
    fx: f64,
    gx: f64,
    sty: f64,
    fy: f64,
    gy: f64,
    stmin: f64,
    stmax: f64,
}

impl Dcsrch {
    pub(super) fn new(ftol: f64, gtol: f64, xtol: f64, stpmin: f64, stpmax: f64) -> Self {
        Dcsrch {
            ftol,
            gtol,
            xtol,
            stpmin,
            stpmax,
            brackt: false,
            stage: 1,
            finit: 0.0,
            ginit: 0.0,
            gtest: 0.0,
            width: 0.0,
            width1: 0.0,
            stx: 0.0,
            fx: 0.0,
            gx: 0.0,
            sty: 0.0,
            fy: 0.0,
            gy: 0.0,
            stmin: 0.0,
            stmax: 0.0,
        }
    }

    /// `DCSRCH.__call__` with at most 100 iterations: the accepted step and f there.
    /// `eval(s)` returns `(phi(s), derphi(s))`, evaluated in that order.
    pub(super) fn run(
        &mut self,
        alpha1: f64,
        phi0: f64,
        derphi0: f64,
        eval: &mut dyn FnMut(f64) -> (f64, f64),
    ) -> Option<(f64, f64)> {
        let mut stp = self.start(alpha1, phi0, derphi0)?;
        let (mut phi1, mut derphi1) = eval(stp);
        for _ in 1..100 {
            let (next, task) = self.iterate(stp, phi1, derphi1);
            if !next.is_finite() {
                return None;
            }
            match task {
                Task::Fg => {
                    stp = next;
                    (phi1, derphi1) = eval(stp);
                }
                Task::Convergence => return Some((next, phi1)),
                Task::Warning => return None,
            }
        }
        None
    }

    fn start(&mut self, stp: f64, f: f64, g: f64) -> Option<f64> {
        if stp < self.stpmin
            || stp > self.stpmax
            || g >= 0.0
            || self.ftol < 0.0
            || self.gtol < 0.0
            || self.xtol < 0.0
            || self.stpmin < 0.0
            || self.stpmax < self.stpmin
        {
            return None;
        }
        self.brackt = false;
        self.stage = 1;
        self.finit = f;
        self.ginit = g;
        self.gtest = self.ftol * g;
        self.width = self.stpmax - self.stpmin;
        self.width1 = self.width / 0.5;
        (self.stx, self.fx, self.gx) = (0.0, f, g);
        (self.sty, self.fy, self.gy) = (0.0, f, g);
        self.stmin = 0.0;
        self.stmax = stp + 4.0 * stp;
        stp.is_finite().then_some(stp)
    }

    fn iterate(&mut self, mut stp: f64, f: f64, g: f64) -> (f64, Task) {
        let ftest = self.finit + stp * self.gtest;
        if self.stage == 1 && f <= ftest && g >= 0.0 {
            self.stage = 2;
        }
        let mut task = Task::Fg;
        if self.brackt && (stp <= self.stmin || stp >= self.stmax) {
            task = Task::Warning;
        }
        if self.brackt && self.stmax - self.stmin <= self.xtol * self.stmax {
            task = Task::Warning;
        }
        if stp == self.stpmax && f <= ftest && g <= self.gtest {
            task = Task::Warning;
        }
        if stp == self.stpmin && (f > ftest || g >= self.gtest) {
            task = Task::Warning;
        }
        if f <= ftest && g.abs() <= self.gtol * -self.ginit {
            task = Task::Convergence;
        }
        if task != Task::Fg {
            return (stp, task);
        }
        let (lo, hi) = (self.stmin, self.stmax);
        if self.stage == 1 && f <= self.fx && f > ftest {
            let gt = self.gtest;
            let mut s = [
                self.stx,
                self.fx - self.stx * gt,
                self.gx - gt,
                self.sty,
                self.fy - self.sty * gt,
                self.gy - gt,
            ];
            stp = dcstep(&mut s, stp, f - stp * gt, g - gt, &mut self.brackt, lo, hi);
            (self.stx, self.sty) = (s[0], s[3]);
            self.fx = s[1] + self.stx * gt;
            self.fy = s[4] + self.sty * gt;
            self.gx = s[2] + gt;
            self.gy = s[5] + gt;
        } else {
            let mut s = [self.stx, self.fx, self.gx, self.sty, self.fy, self.gy];
            stp = dcstep(&mut s, stp, f, g, &mut self.brackt, lo, hi);
            [self.stx, self.fx, self.gx, self.sty, self.fy, self.gy] = s;
        }
        if self.brackt {
            if (self.sty - self.stx).abs() >= 0.66 * self.width1 {
                stp = self.stx + 0.5 * (self.sty - self.stx);
            }
            self.width1 = self.width;
            self.width = (self.sty - self.stx).abs();
            self.stmin = py_min(self.stx, self.sty);
            self.stmax = py_max(self.stx, self.sty);
        } else {
            self.stmin = stp + 1.1 * (stp - self.stx);
            self.stmax = stp + 4.0 * (stp - self.stx);
        }
        stp = clip(stp, self.stpmin, self.stpmax);
        if self.brackt
            && (stp <= self.stmin
                || stp >= self.stmax
                || self.stmax - self.stmin <= self.xtol * self.stmax)
        {
            stp = self.stx;
        }
        (stp, Task::Fg)
    }
}

/// MINPACK-2 `dcstep`: updates the interval `s = [stx, fx, dx, sty, fy, dy]` with the trial
/// (stp, fp, dp) and returns the next step.
fn dcstep(
    s: &mut [f64; 6],
    stp: f64,
    fp: f64,
    dp: f64,
    brackt: &mut bool,
    stpmin: f64,
    stpmax: f64,
) -> f64 {
    let [stx, fx, dx, sty, fy, dy] = *s;
    let sgnd = sign(dp) * sign(dx);
    let cubic = |theta: f64, d1: f64, d2: f64, clamp: bool| {
        let sm = py_max(py_max(theta.abs(), d1.abs()), d2.abs());
        let r = (theta / sm) * (theta / sm) - (d1 / sm) * (d2 / sm);
        sm * (if clamp { py_max(0.0, r) } else { r }).sqrt()
    };
    let stpf;
    if fp > fx {
        let theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp;
        let mut gamma = cubic(theta, dx, dp, false);
        if stp < stx {
            gamma = -gamma;
        }
        let p = (gamma - dx) + theta;
        let q = ((gamma - dx) + gamma) + dp;
        let stpc = stx + p / q * (stp - stx);
        let stpq = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx);
        stpf = if (stpc - stx).abs() <= (stpq - stx).abs() {
            stpc
        } else {
            stpc + (stpq - stpc) / 2.0
        };
        *brackt = true;
    } else if sgnd < 0.0 {
        let theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp;
        let mut gamma = cubic(theta, dx, dp, false);
        if stp > stx {
            gamma = -gamma;
        }
        let p = (gamma - dp) + theta;
        let q = ((gamma - dp) + gamma) + dx;
        let stpc = stp + p / q * (stx - stp);
        let stpq = stp + (dp / (dp - dx)) * (stx - stp);
        stpf = if (stpc - stp).abs() > (stpq - stp).abs() {
            stpc
        } else {
            stpq
        };
        *brackt = true;
    } else if dp.abs() < dx.abs() {
        let theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp;
        let mut gamma = cubic(theta, dx, dp, true);
        if stp > stx {
            gamma = -gamma;
        }
        let p = (gamma - dp) + theta;
        let q = (gamma + (dx - dp)) + gamma;
        let r = p / q;
        let stpc = if r < 0.0 && gamma != 0.0 {
            stp + r * (stx - stp)
        } else if stp > stx {
            stpmax
        } else {
            stpmin
        };
        let stpq = stp + (dp / (dp - dx)) * (stx - stp);
        if *brackt {
            let f = if (stpc - stp).abs() < (stpq - stp).abs() {
                stpc
            } else {
                stpq
            };
            stpf = if stp > stx {
                py_min(stp + 0.66 * (sty - stp), f)
            } else {
                py_max(stp + 0.66 * (sty - stp), f)
            };
        } else {
            let f = if (stpc - stp).abs() > (stpq - stp).abs() {
                stpc
            } else {
                stpq
            };
            stpf = clip(f, stpmin, stpmax);
        }
    } else if *brackt {
        let theta = 3.0 * (fp - fy) / (sty - stp) + dy + dp;
        let mut gamma = cubic(theta, dy, dp, false);
        if stp > sty {
            gamma = -gamma;
        }
        let p = (gamma - dp) + theta;
        let q = ((gamma - dp) + gamma) + dy;
        stpf = stp + p / q * (sty - stp);
    } else if stp > stx {
        stpf = stpmax;
    } else {
        stpf = stpmin;
    }
    if fp > fx {
        s[3..].copy_from_slice(&[stp, fp, dp]);
    } else {
        if sgnd < 0.0 {
            s[3..].copy_from_slice(&[stx, fx, dx]);
        }
        s[..3].copy_from_slice(&[stp, fp, dp]);
    }
    stpf
}
