//! The chunked product against a scalar fused-multiply-add reference (bit for bit), candle's
//! `matmul` (values and gradients), thread counts and shape errors.

use super::*;
use crate::engine::testutil::{
    assert_grads_close, assert_same_bits_on_threads, max_rel, normal, probe_grads,
};
use candle_core::{Device, Var};

fn values(seed: u64, name: &str, len: usize) -> Vec<f32> {
    normal(seed, name, &[len], 0.0, 1.0)
        .to_vec1::<f32>()
        .unwrap()
}

/// `dst[i][j] = [init[i][j] +] sum_k lhs[i][k] * rhs[k][j]` as `gemm_chunked` promises to compute
/// it: within a chunk of `K_CHUNK` terms one accumulator, fused multiply-adds in order from 0;
/// the chunks' sums added to the output in order. IEEE `fma` is exactly rounded, so this is the
/// same on every machine.
fn reference(
    (m, n, k): (usize, usize, usize),
    init: Option<&[f32]>,
    lhs: &[f32],
    lm: Mat,
    rhs: &[f32],
    rm: Mat,
) -> Vec<f32> {
    let at = |s: &[f32], mat: Mat, r: usize, c: usize| s[r * mat.rs as usize + c * mat.cs as usize];
    let mut out = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            for (c, lo) in (0..k).step_by(K_CHUNK).enumerate() {
                let mut acc = 0f32;
                for kk in lo..(lo + K_CHUNK).min(k) {
                    acc = at(lhs, lm, i, kk).mul_add(at(rhs, rm, kk, j), acc);
                }
                out[i * n + j] = match (c, init) {
                    (0, None) => acc,
                    (0, Some(init)) => init[i * n + j] + acc,
                    _ => out[i * n + j] + acc,
                };
            }
        }
    }
    out
}

/// The kernels [`gemm_chunked`] may run on this CPU, by name.
#[allow(clippy::type_complexity)]
fn kernels() -> Vec<(
    &'static str,
    fn((usize, usize, usize), &mut [f32], Mat, bool, &[f32], Mat, &[f32], Mat),
)> {
    let mut all: Vec<(&'static str, fn(_, &mut [f32], _, _, &[f32], _, &[f32], _))> =
        vec![("gemm", |d, dst, dm, acc, l, lm, r, rm| {
            gemm_chunked_on(false, d, dst, dm, acc, l, lm, r, rm)
        })];
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        all.push(("avx512", |d, dst, dm, acc, l, lm, r, rm| {
            gemm_chunked_on(true, d, dst, dm, acc, l, lm, r, rm)
        }));
    }
    all
}

#[test]
fn every_kernel_is_the_sequential_fma_sum() {
    // Shapes on both of gemm's blocking paths (m, n <= 64: fixed kc; larger: kc from the cache
    // geometry), K below, at and across the chunk size, both tile shapes of the AVX-512 kernel
    // with partial tiles and more than one block of columns, row-major and transposed operands
    // (the layouts the convolutions use), written fresh and accumulated into a row-major or a
    // transposed output.
    for &(m, n, k) in &[
        (48, 40, 300),
        (48, 40, 1200),
        (96, 80, 576),
        (130, 70, 1100),
        (65, 9, 513),
        (16, 600, 27),
        (13, 290, 64),
    ] {
        let a = values(1, "test/matmul/ref-a", m * k);
        let b = values(1, "test/matmul/ref-b", k * n);
        let start = values(1, "test/matmul/ref-dst", m * n);
        for (lm, rm) in [
            (Mat::rows(k), Mat::rows(n)),
            (Mat::transposed(m), Mat::rows(n)),
            (Mat::rows(k), Mat::transposed(k)),
        ] {
            let fresh = reference((m, n, k), None, &a, lm, &b, rm);
            let added = reference((m, n, k), Some(&start), &a, lm, &b, rm);
            for (name, kernel) in kernels() {
                for (dm, accumulate) in [
                    (Mat::rows(n), false),
                    (Mat::rows(n), true),
                    (Mat::transposed(m), true),
                ] {
                    // `start` in dst's layout, else NaN (which a fresh product must overwrite).
                    let at = |i: usize, j: usize| i * dm.rs as usize + j * dm.cs as usize;
                    let mut out = vec![f32::NAN; m * n];
                    if accumulate {
                        for i in 0..m {
                            for j in 0..n {
                                out[at(i, j)] = start[i * n + j];
                            }
                        }
                    }
                    kernel((m, n, k), &mut out, dm, accumulate, &a, lm, &b, rm);
                    let want = if accumulate { &added } else { &fresh };
                    let mut same = 0;
                    for i in 0..m {
                        for j in 0..n {
                            same +=
                                usize::from(out[at(i, j)].to_bits() == want[i * n + j].to_bits());
                        }
                    }
                    assert_eq!(
                        same,
                        m * n,
                        "{name} {m}x{n}x{k} {lm:?} {rm:?} into {dm:?} accumulate {accumulate}: \
                         {same} of {} equal",
                        m * n
                    );
                }
            }
        }
    }
}

#[test]
fn the_own_kernel_leaves_gemm_its_other_paths() {
    // Products `gemm` sums in other orders (matrix-vector: m or n = 1; outer product: k <= 2,
    // also as the last chunk of k = 513 or 1026; dot products: at most 256 outputs with both
    // operands contiguous along k) give gemm's bits whichever kernel is chosen.
    for &(m, n, k) in &[
        (1, 37, 600),
        (33, 1, 5),
        (40, 50, 2),
        (20, 30, 1026),
        (12, 20, 700),
        (1, 1, 9),
    ] {
        let a = values(5, "test/matmul/paths-a", m * k);
        let b = values(5, "test/matmul/paths-b", k * n);
        for (lm, rm) in [
            (Mat::rows(k), Mat::rows(n)),
            (Mat::transposed(m), Mat::rows(n)),
            (Mat::rows(k), Mat::transposed(k)),
        ] {
            let outs: Vec<Vec<f32>> = kernels()
                .into_iter()
                .map(|(_, kernel)| {
                    let mut out = vec![f32::NAN; m * n];
                    kernel((m, n, k), &mut out, Mat::rows(n), false, &a, lm, &b, rm);
                    out
                })
                .collect();
            for out in &outs[1..] {
                let same = out
                    .iter()
                    .zip(&outs[0])
                    .filter(|(x, y)| x.to_bits() == y.to_bits())
                    .count();
                assert_eq!(same, m * n, "{m}x{n}x{k} {lm:?} {rm:?}");
            }
        }
    }
}

#[test]
fn gemm_alone_splits_differently_by_block_size() {
    // The hazard the chunking removes: the same 576-term sums computed as one block (48 KiB
    // 12-way L1) and as two of 288 (32 KiB 8-way L1) differ in many outputs' bits.
    let (m, n, k) = (128, 96, 576);
    let a = values(2, "test/matmul/split-a", m * k);
    let b = values(2, "test/matmul/split-b", k * n);
    let (lm, rm, dm) = (Mat::rows(k), Mat::rows(n), Mat::rows(n));
    let mut one = vec![0f32; m * n];
    gemm_chunked((m, n, k), &mut one, dm, false, &a, lm, &b, rm);
    let mut two = vec![0f32; m * n];
    gemm_chunked((m, n, 288), &mut two, dm, false, &a, lm, &b, rm);
    gemm_chunked(
        (m, n, 288),
        &mut two,
        dm,
        true,
        &a[288..],
        lm,
        &b[288 * n..],
        rm,
    );
    let differ = one
        .iter()
        .zip(&two)
        .filter(|(x, y)| x.to_bits() != y.to_bits())
        .count();
    assert!(
        differ > m * n / 4,
        "only {differ} of {} outputs differ",
        m * n
    );
}

#[test]
fn k_zero_gives_zeros_and_accumulate_keeps_dst() {
    let mut out = vec![7f32; 6];
    gemm_chunked(
        (2, 3, 0),
        &mut out,
        Mat::rows(3),
        false,
        &[],
        Mat::rows(0),
        &[],
        Mat::rows(3),
    );
    assert_eq!(out, vec![0.0; 6]);
    let mut out = vec![1f32; 2];
    gemm_chunked(
        (1, 2, 1),
        &mut out,
        Mat::rows(2),
        true,
        &[2.0],
        Mat::rows(1),
        &[3.0, 4.0],
        Mat::rows(2),
    );
    assert_eq!(out, vec![7.0, 9.0]);
}

#[test]
fn matmul_matches_candle_with_gradients() {
    for &(m, k, n) in &[(5, 3, 4), (300, 700, 37), (17, 1030, 1), (1, 600, 9)] {
        let a = Var::from_tensor(&normal(3, "test/matmul/a", &[m, k], 0.0, 1.0)).unwrap();
        let w = Var::from_tensor(&normal(3, "test/matmul/w", &[n, k], 0.0, 1.0)).unwrap();
        let probe = normal(3, "test/matmul/p", &[m, n], 0.0, 1.0);
        let ours = matmul(&a, &w.t().unwrap()).unwrap();
        let theirs = a.matmul(&w.t().unwrap()).unwrap();
        assert!(max_rel(&ours, &theirs) < 1e-5, "{m}x{k}x{n} forward");
        let (g1, g2) = (probe_grads(&ours, &probe), probe_grads(&theirs, &probe));
        let what = format!("{m}x{k}x{n}");
        assert_grads_close(&what, &g1, &g2, &[(&a, "da"), (&w, "dw")], 1e-5);
    }
}

#[test]
fn bit_identical_across_thread_counts() {
    let a = Var::from_tensor(&normal(4, "test/matmul/det-a", &[300, 600], 0.0, 1.0)).unwrap();
    let w = Var::from_tensor(&normal(4, "test/matmul/det-w", &[70, 600], 0.0, 1.0)).unwrap();
    let probe = normal(4, "test/matmul/det-p", &[300, 70], 0.0, 1.0);
    assert_same_bits_on_threads(&[2, 3], || {
        let y = matmul(&a, &w.t().unwrap()).unwrap();
        let g = probe_grads(&y, &probe);
        vec![y, g.get(&a).unwrap().clone(), g.get(&w).unwrap().clone()]
    });
}

#[test]
fn bad_shapes_are_errors() {
    let a = Tensor::ones((2, 3), DType::F32, &Device::Cpu).unwrap();
    let err = matmul(&a, &a).unwrap_err().to_string();
    assert!(err.contains("2x3 times 2x3"), "{err}");
}
