//! Branch-free `exp` and `ln` for f64 that the compiler vectorises when they are applied over a
//! slice (libm's are opaque calls, one value at a time), for the EM loops' batched softmax and
//! logarithms. Both are within 2 ulp of libm over their ranges (see the tests); plain
//! multiplications and additions only (no FMA contraction), so results are the same on every
//! x86-64 or aarch64 machine and independent of vector width.

const LOG2E: f64 = std::f64::consts::LOG2_E;
/// ln 2 split so that `n * LN2_HI` is exact for |n| < 2^11 (Cody & Waite).
const LN2_HI: f64 = 0.693_147_180_369_123_8;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
/// 1.5 * 2^52: adding it rounds a double of magnitude < 2^51 to an integer (nearest, ties even).
const ROUND: f64 = 6_755_399_441_055_744.0;

/// `exp(x)` for `x <= 0` (the softmax of a row minus its maximum): `exp(0) = 1` exactly; below
/// -708 (where libm's result is below 3e-308) it returns 0.
#[inline(always)]
pub(crate) fn exp_neg(x0: f64) -> f64 {
    // max/min rather than clamp: clamp keeps a NaN, this maps it to -708 (result 0, not NaN).
    #[allow(clippy::manual_clamp)]
    let x = x0.max(-708.0).min(0.0);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // Taylor series to degree 13 on |r| <= 0.35: truncation below 4e-18 relative.
    let mut p = 1.0 / 6_227_020_800.0;
    p = p * r + 1.0 / 479_001_600.0;
    p = p * r + 1.0 / 39_916_800.0;
    p = p * r + 1.0 / 3_628_800.0;
    p = p * r + 1.0 / 362_880.0;
    p = p * r + 1.0 / 40_320.0;
    p = p * r + 1.0 / 5_040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // 2^n from the integer sitting in t's low mantissa bits (n in [-1022, 0]).
    let bits = (t.to_bits().wrapping_sub(ROUND.to_bits()) as i64 + 1023) << 52;
    let y = p * f64::from_bits(bits as u64);
    if x0 < -708.0 { 0.0 } else { y }
}

/// `ln(x)` for positive normal `x` (what the EM loops feed it: probabilities at least 1e-10 and
/// sums of exponentials at least 1); 0 and subnormals give a large negative finite value, not
/// `-inf`.
#[inline(always)]
pub(crate) fn ln_pos(x: f64) -> f64 {
    let bits = x.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    // m in [1, 2); fold into [sqrt(1/2), sqrt(2)) so that |s| <= 0.1716.
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let big = m > std::f64::consts::SQRT_2;
    let m = if big { m * 0.5 } else { m };
    let e = (e + big as i64) as f64;
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    // ln m = 2 atanh(s) = 2 (s + s^3/3 + ... + s^21/21): truncation below 1e-17.
    let mut p = 1.0 / 21.0;
    p = p * z + 1.0 / 19.0;
    p = p * z + 1.0 / 17.0;
    p = p * z + 1.0 / 15.0;
    p = p * z + 1.0 / 13.0;
    p = p * z + 1.0 / 11.0;
    p = p * z + 1.0 / 9.0;
    p = p * z + 1.0 / 7.0;
    p = p * z + 1.0 / 5.0;
    p = p * z + 1.0 / 3.0;
    // f - (f - 2s(1 + z p)) keeps the leading term exact: 2s = f - s f.
    let r = s * z * p;
    (e * LN2_HI + (f - s * f + 2.0 * r)) + e * LN2_LO
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    #[test]
    fn exp_within_two_ulp_of_libm() {
        assert_eq!(exp_neg(0.0), 1.0);
        assert_eq!(exp_neg(-1000.0), 0.0);
        let mut worst = 0;
        for i in 0..200_000 {
            let x = -(i as f64) * 707.0 / 200_000.0 - (i % 7) as f64 * 1e-9;
            let u = ulps(exp_neg(x), x.exp());
            worst = worst.max(u);
            assert!(u <= 2, "exp({x}): {} vs libm {}", exp_neg(x), x.exp());
        }
        eprintln!("exp_neg: worst {worst} ulp");
    }

    #[test]
    fn ln_within_two_ulp_of_libm() {
        assert_eq!(ln_pos(1.0), 0.0);
        let mut worst = 0;
        for i in 1..200_000 {
            // 1e-12 .. 1e6 log-uniformly, plus values near 1.
            let x = 10f64.powf(-12.0 + 18.0 * i as f64 / 200_000.0);
            for y in [x, 1.0 + (i as f64) * 1e-7] {
                let u = ulps(ln_pos(y), y.ln());
                worst = worst.max(u);
                assert!(u <= 2, "ln({y}): {} vs libm {}", ln_pos(y), y.ln());
            }
        }
        eprintln!("ln_pos: worst {worst} ulp");
    }
}
