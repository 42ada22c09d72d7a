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

/// `dst[i][j] = sum_k lhs[i][k] * rhs[k][j]` as `gemm_chunked` promises to compute it: within a
/// chunk of `K_CHUNK` terms one accumulator, fused multiply-adds in order from 0; the chunks'
/// sums added to the output in order. IEEE `fma` is exactly rounded, so this is the same on
/// every machine.
fn reference(
    (m, n, k): (usize, usize, usize),
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
                out[i * n + j] = if c == 0 { acc } else { out[i * n + j] + acc };
            }
        }
    }
    out
}

#[test]
fn chunked_gemm_is_a_sequential_fma_sum() {
    // Shapes on both of gemm's blocking paths (m, n <= 64: fixed kc; larger: kc from the cache
    // geometry), K below, at and across the chunk size, row-major and transposed operands (the
    // layouts the convolutions use).
    for &(m, n, k) in &[
        (48, 40, 300),
        (48, 40, 1200),
        (96, 80, 576),
        (130, 70, 1100),
        (65, 9, 513),
    ] {
        let a = values(1, "test/matmul/ref-a", m * k);
        let b = values(1, "test/matmul/ref-b", k * n);
        for (lm, rm) in [
            (Mat::rows(k), Mat::rows(n)),
            (Mat::transposed(m), Mat::rows(n)),
            (Mat::rows(k), Mat::transposed(k)),
        ] {
            let mut out = vec![f32::NAN; m * n];
            gemm_chunked((m, n, k), &mut out, Mat::rows(n), false, &a, lm, &b, rm);
            let want = reference((m, n, k), &a, lm, &b, rm);
            let same = out
                .iter()
                .zip(&want)
                .filter(|(x, y)| x.to_bits() == y.to_bits())
                .count();
            assert_eq!(
                same,
                m * n,
                "{m}x{n}x{k} {lm:?} {rm:?}: {same} of {} equal",
                m * n
            );
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
