//! Each vector level this CPU has, forced in turn, gives the same bits in every dispatched
//! kernel (EM, GLAD, exact search, and the convolutions (im2col and Winograd) and matrix
//! products, whose AVX-512 level is the project's own kernel).

use super::*;
use crate::crowd::volunteers::{Crowd, simulate_fixed};
use crate::crowd::{Aggregator, CrowdQuality, DawidSkene, Glad, QualityPreset, QuestionVotes};
use crate::repr::search::Exact;
use crate::universe::{PopulationConfig, Question, sample_population};
use rand::Rng;

/// One question's votes of the project's simulated crowd (1,500 galaxies, 40 volunteers, 7 votes
/// each, three answers).
fn votes() -> QuestionVotes {
    let galaxies = sample_population(5, 1500, &PopulationConfig::default());
    let crowd = Crowd::sample(5, 40, &CrowdQuality::preset(QualityPreset::Default)).unwrap();
    simulate_fixed(5, &galaxies, &crowd, Question::SmoothOrFeatured, 7)
        .unwrap()
        .for_question(0)
        .unwrap()
}

/// The bits of three convolutions (output, input and weight gradients: one on im2col, two on
/// Winograd's transforms, with runs of 6 and of 10 tiles) and of a matrix product.
fn products() -> Vec<u32> {
    use crate::engine::testutil::{bits, normal, probe_grads};
    let conv = |cin: usize, cout: usize, size: usize| {
        let n = |what: &str, shape: &[usize]| {
            normal(6, &format!("test/simd-{what}{cin}"), shape, 0.0, 1.0)
        };
        let x = candle_core::Var::from_tensor(&n("x", &[4, cin, size, size])).unwrap();
        let w = candle_core::Var::from_tensor(&n("w", &[cout, cin, 3, 3])).unwrap();
        let y = crate::engine::conv::conv2d(&x, &w, 1, 1, 1).unwrap();
        let grads = probe_grads(&y, &n("p", &[4, cout, size, size]));
        let (dx, dw) = (grads.get(&x).unwrap(), grads.get(&w).unwrap());
        [&y, dx, dw].into_iter().flat_map(bits).collect::<Vec<_>>()
    };
    let a = normal(6, "test/simd-a", &[70, 600], 0.0, 1.0);
    let b = normal(6, "test/simd-b", &[600, 40], 0.0, 1.0);
    let z = crate::engine::matmul::matmul(&a, &b).unwrap();
    let mut out = conv(8, 16, 12);
    out.extend(conv(16, 24, 12));
    out.extend(conv(16, 16, 20));
    out.extend(bits(&z));
    out
}

#[test]
fn every_path_gives_the_same_bits() {
    let votes = votes();
    let mut rng = crate::rng::stream(5, "test/simd-rows");
    let rows: Vec<Vec<f32>> = (0..700)
        .map(|_| (0..37).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let run = |level: Level| {
        set_cap(level);
        assert_eq!(super::level(), level);
        let ds = DawidSkene::default().aggregate(&votes).unwrap().probs;
        let glad = Glad::default().aggregate(&votes).unwrap().probs;
        let near = Exact::new(&rows).unwrap().query_all(5);
        let bits = |p: &[f64]| p.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let near: Vec<(usize, u32)> = near
            .into_iter()
            .flatten()
            .map(|(i, d)| (i, d.to_bits()))
            .collect();
        (bits(&ds), bits(&glad), near, products())
    };
    let levels: Vec<Level> = [Level::Portable, Level::Avx2, Level::Avx512]
        .into_iter()
        .filter(|l| *l <= detected())
        .collect();
    let portable = run(Level::Portable);
    for &l in &levels[1..] {
        assert!(run(l) == portable, "{l:?} differs from portable");
    }
    set_cap(Level::Avx512);
    // In CI (x86-64 with AVX2 at least) more than one path must have been compared.
    #[cfg(target_arch = "x86_64")]
    assert!(levels.len() > 1, "only {levels:?} available");
}
