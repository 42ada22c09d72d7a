//! Fixed-width lanes for the Winograd transforms: 8 `f32`s at a time, as one AVX register
//! ([`Avx`], where [`avx2`] says the CPU has it and `GZBENCH_SIMD` allows it) or as an array
//! ([`Portable`]). The transforms are generic over [`Lanes`] and pick the instance. Their
//! arithmetic is element-wise IEEE adds, subtractions and negations, and the loads and stores
//! only move or shuffle values, so both instances give the same bits as one tile at a time.
//!
//! Why not plain loops: LLVM vectorised the transforms' loops over a runtime run length (4-32
//! tiles) into a main loop as wide as its unroll factor and a scalar remainder that runs of 8
//! or 16 tiles never left, and its straight-line code on `[f32; 8]` stayed scalar.

use std::ops::{Add, Neg, Sub};

/// Lanes per chunk.
pub(super) const L: usize = 8;

/// 8 lanes of `f32`: loads, stores and the pair (de)interleaving of the transforms.
pub(super) trait Lanes:
    Copy + Add<Output = Self> + Sub<Output = Self> + Neg<Output = Self>
{
    /// `s[k..k + 8]`; a run with fewer left gives them and zeros.
    fn ld(s: &[f32], k: usize) -> Self;
    /// Writes `self` to `d[k..k + 8]`, dropping the lanes past `d`'s end.
    fn st(self, d: &mut [f32], k: usize);
    /// The even and odd elements of the pairs `k..k + 8` of `s` (`s[2k]`, `s[2k + 1]`, ...).
    fn ld2(s: &[f32], k: usize) -> (Self, Self);
    /// Writes the pairs `(e[i], o[i])` to pairs `k..k + 8` of `d`.
    fn st2(d: &mut [f32], k: usize, e: Self, o: Self);
}

/// The lanes of `s[k..]` that exist, the rest zero (the short runs' path).
#[inline(always)]
fn partial(s: &[f32], k: usize) -> [f32; L] {
    let mut v = [0f32; L];
    let tail = &s[k.min(s.len())..];
    // A fixed-count loop rather than a copy of a runtime length: no call to `memcpy`.
    for (j, x) in v.iter_mut().enumerate() {
        if j < tail.len() {
            *x = tail[j];
        }
    }
    v
}

/// Writes the lanes of `v` that fit into `d[k..]`.
#[inline(always)]
fn store_partial(d: &mut [f32], k: usize, v: [f32; L]) {
    let from = k.min(d.len());
    let tail = &mut d[from..];
    for (j, x) in v.into_iter().enumerate() {
        if j < tail.len() {
            tail[j] = x;
        }
    }
}

/// Lanes as an array: any CPU.
#[derive(Clone, Copy)]
pub(super) struct Portable([f32; L]);

impl Add for Portable {
    type Output = Self;
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Portable(std::array::from_fn(|i| self.0[i] + o.0[i]))
    }
}

impl Sub for Portable {
    type Output = Self;
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        Portable(std::array::from_fn(|i| self.0[i] - o.0[i]))
    }
}

impl Neg for Portable {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Portable(self.0.map(|x| -x))
    }
}

impl Lanes for Portable {
    #[inline(always)]
    fn ld(s: &[f32], k: usize) -> Self {
        Portable(match s.get(k..k + L) {
            Some(c) => c.try_into().expect("8 lanes"),
            None => partial(s, k),
        })
    }
    #[inline(always)]
    fn st(self, d: &mut [f32], k: usize) {
        match d.get_mut(k..k + L) {
            Some(c) => c.copy_from_slice(&self.0),
            None => store_partial(d, k, self.0),
        }
    }
    #[inline(always)]
    fn ld2(s: &[f32], k: usize) -> (Self, Self) {
        let (a, b) = (Self::ld(s, 2 * k).0, Self::ld(s, 2 * k + L).0);
        let pair = |i: usize| {
            if i < L / 2 {
                (a[2 * i], a[2 * i + 1])
            } else {
                (b[2 * i - L], b[2 * i + 1 - L])
            }
        };
        (
            Portable(std::array::from_fn(|i| pair(i).0)),
            Portable(std::array::from_fn(|i| pair(i).1)),
        )
    }
    #[inline(always)]
    fn st2(d: &mut [f32], k: usize, e: Self, o: Self) {
        let at = |j: usize| [e.0, o.0][j % 2][j / 2];
        Portable(std::array::from_fn(at)).st(d, 2 * k);
        Portable(std::array::from_fn(|j| at(j + L))).st(d, 2 * k + L);
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use avx::Avx;
/// Elsewhere the AVX instance is the portable one.
#[cfg(not(target_arch = "x86_64"))]
pub(super) type Avx = Portable;

#[cfg(target_arch = "x86_64")]
mod avx {
    //! One 256-bit register. Its functions are inlined into the transforms' AVX2 functions, the
    //! only places that make values of this type, called after [`super::avx2`] (and in tests
    //! after AVX2 was detected).

    use super::{L, Lanes, partial, store_partial};
    use std::arch::x86_64::*;
    use std::ops::{Add, Neg, Sub};

    #[derive(Clone, Copy)]
    pub struct Avx(__m256);

    impl Add for Avx {
        type Output = Self;
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            // SAFETY (here and below): only reached on a CPU with AVX2 (see the module doc).
            Avx(unsafe { _mm256_add_ps(self.0, o.0) })
        }
    }

    impl Sub for Avx {
        type Output = Self;
        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            Avx(unsafe { _mm256_sub_ps(self.0, o.0) })
        }
    }

    impl Neg for Avx {
        type Output = Self;
        #[inline(always)]
        fn neg(self) -> Self {
            // the sign bit flipped, as `-x` does
            Avx(unsafe { _mm256_xor_ps(self.0, _mm256_set1_ps(-0.0)) })
        }
    }

    impl Lanes for Avx {
        #[inline(always)]
        fn ld(s: &[f32], k: usize) -> Self {
            Avx(unsafe {
                match s.get(k..k + L) {
                    Some(c) => _mm256_loadu_ps(c.as_ptr()),
                    None => _mm256_loadu_ps(partial(s, k).as_ptr()),
                }
            })
        }
        #[inline(always)]
        fn st(self, d: &mut [f32], k: usize) {
            unsafe {
                match d.get_mut(k..k + L) {
                    Some(c) => _mm256_storeu_ps(c.as_mut_ptr(), self.0),
                    None => {
                        let mut v = [0f32; L];
                        _mm256_storeu_ps(v.as_mut_ptr(), self.0);
                        store_partial(d, k, v);
                    }
                }
            }
        }
        #[inline(always)]
        fn ld2(s: &[f32], k: usize) -> (Self, Self) {
            let (a, b) = (Self::ld(s, 2 * k).0, Self::ld(s, 2 * k + L).0);
            unsafe {
                // [a0 a2 b0 b2 | a4 a6 b4 b6] -> 64-bit blocks 0 2 1 3: [a0 a2 a4 a6 b0 b2 b4 b6]
                let e = _mm256_shuffle_ps::<0b10_00_10_00>(a, b);
                let o = _mm256_shuffle_ps::<0b11_01_11_01>(a, b);
                let fix = |v: __m256| {
                    _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)))
                };
                (Avx(fix(e)), Avx(fix(o)))
            }
        }
        #[inline(always)]
        fn st2(d: &mut [f32], k: usize, e: Self, o: Self) {
            unsafe {
                // [e0 o0 e1 o1 | e4 o4 e5 o5], [e2 o2 e3 o3 | e6 o6 e7 o7]
                let (lo, hi) = (_mm256_unpacklo_ps(e.0, o.0), _mm256_unpackhi_ps(e.0, o.0));
                Avx(_mm256_permute2f128_ps::<0x20>(lo, hi)).st(d, 2 * k);
                Avx(_mm256_permute2f128_ps::<0x31>(lo, hi)).st(d, 2 * k + L);
            }
        }
    }
}

/// Whether the CPU has AVX2 and `GZBENCH_SIMD` allows it: the condition for [`Avx`].
#[inline(always)]
pub(super) fn avx2() -> bool {
    crate::simd::level() >= crate::simd::Level::Avx2
}

/// The chunk starts of a run of `len` lanes: every 8th, the last one moved back to end at
/// `len` (overlapping its predecessor) when there are 8 lanes or more, so only a run shorter
/// than 8 has a partial chunk. An overlapping chunk recomputes lanes with the same values, so
/// a loop over these may store into its outputs but must not read them back.
#[inline(always)]
pub(super) fn chunks(len: usize) -> impl Iterator<Item = usize> {
    let last = len.saturating_sub(L);
    (0..len.div_ceil(L)).map(move |c| (c * L).min(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<W: Lanes>(get: impl Fn(W) -> [f32; L], make: impl Fn([f32; L]) -> W) {
        let s: Vec<f32> = (1..=11).map(|i| i as f32).collect();
        assert_eq!(get(W::ld(&s, 0)), [1., 2., 3., 4., 5., 6., 7., 8.]);
        assert_eq!(get(W::ld(&s, 8)), [9., 10., 11., 0., 0., 0., 0., 0.]);
        let (e, o) = W::ld2(&s, 0);
        assert_eq!(get(e), [1., 3., 5., 7., 9., 11., 0., 0.]);
        assert_eq!(get(o), [2., 4., 6., 8., 10., 0., 0., 0.]);
        let (e, o) = W::ld2(&s, 4);
        assert_eq!(
            (get(e), get(o)),
            (
                [9., 11., 0., 0., 0., 0., 0., 0.],
                [10., 0., 0., 0., 0., 0., 0., 0.]
            )
        );
        let lanes = |a: f32| make(std::array::from_fn(|i| a + i as f32));
        let mut d = vec![-1f32; 20];
        W::st2(&mut d, 0, lanes(0.), lanes(10.));
        lanes(100.).st(&mut d, 16);
        let want: Vec<f32> = (0..16)
            .map(|j| {
                if j % 2 == 0 {
                    (j / 2) as f32
                } else {
                    10. + (j / 2) as f32
                }
            })
            .chain([100., 101., 102., 103.])
            .collect();
        assert_eq!(d, want);
        let mut d = vec![-1f32; 5];
        W::st2(&mut d, 1, lanes(0.), lanes(10.));
        assert_eq!(d, [-1., -1., 0., 10., 1.]);
        let x = make([1.5, -0.0, 0.0, 3.0, -2.0, 1e-40, f32::MAX, 7.0]);
        let y = make([0.5, 0.0, -0.0, 3.0, 2.0, 1e-40, f32::MAX, -7.0]);
        let want = |f: fn(f32, f32) -> f32| {
            std::array::from_fn::<u32, L, _>(|i| f(get(x)[i], get(y)[i]).to_bits())
        };
        assert_eq!(get(x + y).map(f32::to_bits), want(|a, b| a + b));
        assert_eq!(get(x - y).map(f32::to_bits), want(|a, b| a - b));
        assert_eq!(get(-x).map(f32::to_bits), want(|a, _| -a));
    }

    #[test]
    fn loads_stores_and_arithmetic_on_every_instance() {
        check::<Portable>(|v| v.0, Portable);
        // CI's x86-64 machines have AVX2: there the AVX instance must be checked.
        #[cfg(target_arch = "x86_64")]
        {
            assert!(
                std::arch::is_x86_feature_detected!("avx2"),
                "no AVX2 to check"
            );
            use std::arch::x86_64::*;
            // SAFETY: AVX2 was detected just above.
            let get = |v: Avx| unsafe {
                let mut a = [0f32; L];
                _mm256_storeu_ps(a.as_mut_ptr(), std::mem::transmute::<Avx, __m256>(v));
                a
            };
            let make = |a: [f32; L]| Avx::ld(&a, 0);
            check::<Avx>(get, make);
        }
    }

    #[test]
    fn chunks_cover_a_run_with_one_partial_chunk_at_most() {
        assert_eq!(chunks(17).collect::<Vec<_>>(), [0, 8, 9]);
        assert_eq!(chunks(16).collect::<Vec<_>>(), [0, 8]);
        assert_eq!(chunks(5).collect::<Vec<_>>(), [0]);
        assert_eq!(chunks(0).count(), 0);
    }
}
