//! Which vector instructions the project's own run-time-dispatched CPU kernels may use (the EM
//! pass of `crowd::em`, GLAD's per-vote terms, the exact search's dot products), capped by the
//! environment variable `GZBENCH_SIMD` = `auto` (default: the widest the CPU has) | `portable` |
//! `avx2` | `avx512`.
//!
//! Every dispatched kernel is the same Rust code compiled for wider vectors, with no FMA and no
//! reassociation, so all paths give the same bits; the switch exists to show it (the test
//! `every_path_gives_the_same_bits` runs each available one) and to let a user on an unusual
//! machine rule the vector width out. The matrix products (`engine::matmul`) are `gemm`'s
//! AVX2+FMA kernels, or at `avx512` (on CPUs that run it at full width) the project's own
//! kernel with the same sequence of fused multiply-adds per output (see there).

use std::sync::atomic::{AtomicU8, Ordering};

/// A vector instruction level, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Level {
    Portable,
    Avx2,
    Avx512,
}

/// `0`: not read from the environment yet; else `Level as u8 + 1`.
static CAP: AtomicU8 = AtomicU8::new(0);

/// The cap `GZBENCH_SIMD` asks for (`None` = auto), or an error naming the variable and the
/// values it takes.
pub fn from_env() -> Result<Option<Level>, String> {
    match std::env::var("GZBENCH_SIMD") {
        Err(std::env::VarError::NotPresent) => Ok(None),
        Ok(v) if v.is_empty() || v == "auto" => Ok(None),
        Ok(v) => clap::ValueEnum::from_str(&v, true)
            .map(Some)
            .map_err(|_| format!("GZBENCH_SIMD={v}: expected one of auto, portable, avx2, avx512")),
        Err(e) => Err(format!("GZBENCH_SIMD: {e}")),
    }
}

/// The cap in force: [`set_cap`]'s, else `GZBENCH_SIMD`'s (an invalid value counts as `auto`;
/// the command line rejects it before anything runs).
pub fn cap() -> Level {
    match CAP.load(Ordering::Relaxed) {
        0 => {
            let level = from_env().ok().flatten().unwrap_or(Level::Avx512);
            CAP.store(level as u8 + 1, Ordering::Relaxed);
            level
        }
        n => [Level::Portable, Level::Avx2, Level::Avx512][n as usize - 1],
    }
}

/// Caps the levels for the whole process (tests and benchmarks).
pub fn set_cap(level: Level) {
    CAP.store(level as u8 + 1, Ordering::Relaxed);
}

/// The widest level this CPU supports.
pub fn detected() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Level::Avx512;
            }
            return Level::Avx2;
        }
    }
    Level::Portable
}

/// The level the kernels run: the narrower of [`cap`] and [`detected`].
pub fn level() -> Level {
    cap().min(detected())
}

#[cfg(test)]
mod tests;
