//! The per-channel `f64` sums of the CPU batch norm: `(sum x, sum x²)` for the statistics,
//! `(sum dy, sum dy·(x - mean))` for the backward.
//!
//! Determinism: each channel is summed by one thread, in [`LANES`] accumulators fed in a fixed
//! order (element `i` of a plane goes to lane `i % LANES` until the last `plane % LANES`
//! elements, which go to lanes `0..`), so the result never depends on the number of threads.
//! On AVX2 machines (see [`crate::simd::level`]) the lanes are two vectors of four doubles,
//! each lane computing the same IEEE operations in the same order (a product then a sum, never
//! fused), so the bits are those of the portable loop.

use rayon::prelude::*;

/// Lanes of the per-channel `f64` sums: a fixed split, so the result never depends on threads.
const LANES: usize = 8;

/// What to sum per channel.
#[derive(Clone, Copy)]
pub(crate) enum Sums<'a> {
    /// `(sum x, sum x·x)` of `x`.
    Stats { x: &'a [f32] },
    /// `(sum dy, sum dy·(x - mean[c]))`.
    Grad {
        dy: &'a [f32],
        x: &'a [f32],
        mean: &'a [f64],
    },
}

/// Per channel of an `n x c x inner` tensor, the two sums of `what` over all images and
/// positions.
pub(crate) fn channel_sums(n: usize, c: usize, inner: usize, what: Sums) -> Vec<(f64, f64)> {
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let (a, b, m) = match what {
                Sums::Stats { x } => (x, x, None),
                Sums::Grad { dy, x, mean } => (dy, x, Some(mean[ch])),
            };
            let mut s = [0f64; LANES];
            let mut t = [0f64; LANES];
            for img in 0..n {
                let at = (img * c + ch) * inner;
                let (ar, br) = (&a[at..at + inner], &b[at..at + inner]);
                plane(ar, br, m, &mut s, &mut t);
            }
            (s.iter().sum(), t.iter().sum())
        })
        .collect()
}

/// Adds one plane into the lanes: `s += a`, `t += a·a` (`m` = `None`) or `t += a·(b - m)`.
fn plane(a: &[f32], b: &[f32], m: Option<f64>, s: &mut [f64; LANES], t: &mut [f64; LANES]) {
    let full = a.len() / LANES * LANES;
    #[cfg(target_arch = "x86_64")]
    if crate::simd::level() >= crate::simd::Level::Avx2 {
        // SAFETY: `simd::level` detected AVX2 on this CPU.
        unsafe { lanes_avx2(&a[..full], &b[..full], m, s, t) };
    } else {
        lanes_portable(&a[..full], &b[..full], m, s, t);
    }
    #[cfg(not(target_arch = "x86_64"))]
    lanes_portable(&a[..full], &b[..full], m, s, t);
    for (l, (&x, &y)) in a[full..].iter().zip(&b[full..]).enumerate() {
        let (u, v) = terms(x as f64, y as f64, m);
        s[l] += u;
        t[l] += v;
    }
}

/// The two terms one element adds.
#[inline(always)]
fn terms(a: f64, b: f64, m: Option<f64>) -> (f64, f64) {
    match m {
        None => (a, a * a),
        Some(m) => (a, a * (b - m)),
    }
}

/// Whole groups of [`LANES`] elements, one lane per position in the group.
fn lanes_portable(
    a: &[f32],
    b: &[f32],
    m: Option<f64>,
    s: &mut [f64; LANES],
    t: &mut [f64; LANES],
) {
    for (x, y) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for l in 0..LANES {
            let (u, v) = terms(x[l] as f64, y[l] as f64, m);
            s[l] += u;
            t[l] += v;
        }
    }
}

/// [`lanes_portable`] with lanes 0..4 and 4..8 as two AVX vectors of doubles.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn lanes_avx2(a: &[f32], b: &[f32], m: Option<f64>, s: &mut [f64; LANES], t: &mut [f64; LANES]) {
    use std::arch::x86_64::*;
    debug_assert!(a.len().is_multiple_of(LANES) && b.len() == a.len());
    // SAFETY: every load reads 4 floats at `i` or `i + 4` with `i + 8 <= len` (whole groups);
    // the stores write the 8-double lane arrays.
    unsafe {
        let mut s0 = _mm256_loadu_pd(s.as_ptr());
        let mut s1 = _mm256_loadu_pd(s.as_ptr().add(4));
        let mut t0 = _mm256_loadu_pd(t.as_ptr());
        let mut t1 = _mm256_loadu_pd(t.as_ptr().add(4));
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut i = 0;
        match m {
            None => {
                while i < a.len() {
                    let x0 = _mm256_cvtps_pd(_mm_loadu_ps(pa.add(i)));
                    let x1 = _mm256_cvtps_pd(_mm_loadu_ps(pa.add(i + 4)));
                    s0 = _mm256_add_pd(s0, x0);
                    s1 = _mm256_add_pd(s1, x1);
                    t0 = _mm256_add_pd(t0, _mm256_mul_pd(x0, x0));
                    t1 = _mm256_add_pd(t1, _mm256_mul_pd(x1, x1));
                    i += LANES;
                }
            }
            Some(m) => {
                let mv = _mm256_set1_pd(m);
                while i < a.len() {
                    let g0 = _mm256_cvtps_pd(_mm_loadu_ps(pa.add(i)));
                    let g1 = _mm256_cvtps_pd(_mm_loadu_ps(pa.add(i + 4)));
                    let x0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(pb.add(i))), mv);
                    let x1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(pb.add(i + 4))), mv);
                    s0 = _mm256_add_pd(s0, g0);
                    s1 = _mm256_add_pd(s1, g1);
                    t0 = _mm256_add_pd(t0, _mm256_mul_pd(g0, x0));
                    t1 = _mm256_add_pd(t1, _mm256_mul_pd(g1, x1));
                    i += LANES;
                }
            }
        }
        _mm256_storeu_pd(s.as_mut_ptr(), s0);
        _mm256_storeu_pd(s.as_mut_ptr().add(4), s1);
        _mm256_storeu_pd(t.as_mut_ptr(), t0);
        _mm256_storeu_pd(t.as_mut_ptr().add(4), t1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vector_width_gives_the_same_sums() {
        let (n, c, inner) = (3, 2, 37);
        let mut r = crate::rng::stream(1, "test/bn/sums");
        let mut vals = |k: usize| -> Vec<f32> {
            use rand::Rng;
            (0..k).map(|_| r.random_range(-3.0f32..3.0)).collect()
        };
        let (x, dy) = (vals(n * c * inner), vals(n * c * inner));
        let mean = [0.25, -0.5];
        let run = || {
            let a = channel_sums(n, c, inner, Sums::Stats { x: &x });
            let b = channel_sums(
                n,
                c,
                inner,
                Sums::Grad {
                    dy: &dy,
                    x: &x,
                    mean: &mean,
                },
            );
            let bits = |v: Vec<(f64, f64)>| {
                v.iter()
                    .flat_map(|p| [p.0.to_bits(), p.1.to_bits()])
                    .collect::<Vec<_>>()
            };
            (bits(a), bits(b))
        };
        let was = crate::simd::cap();
        crate::simd::set_cap(crate::simd::Level::Portable);
        let portable = run();
        crate::simd::set_cap(crate::simd::Level::Avx512);
        let widest = run();
        crate::simd::set_cap(was);
        assert_eq!(portable, widest);
    }
}
