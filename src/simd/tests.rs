//! Each vector level this CPU has, forced in turn, gives the same bits in every dispatched
//! kernel (EM, GLAD, exact search).

use super::*;
use crate::crowd::{Aggregator, DawidSkene, Glad, QuestionVotes};
use crate::repr::search::Exact;
use rand::Rng;

fn votes() -> QuestionVotes {
    let mut rng = crate::rng::stream(5, "test/simd-votes");
    let (k, n_gal, n_vol) = (3, 1500, 40);
    let (mut g, mut v, mut a) = (Vec::new(), Vec::new(), Vec::new());
    for gi in 0..n_gal {
        let truth = rng.random_range(0..k as u32);
        for _ in 0..7 {
            let vi = rng.random_range(0..n_vol);
            let right = rng.random::<f64>() < 0.5 + 0.45 * (vi as f64 / n_vol as f64);
            g.push(gi as u32);
            v.push(vi as u32);
            a.push(if right {
                truth
            } else {
                rng.random_range(0..k as u32)
            });
        }
    }
    QuestionVotes::new(k, n_gal, n_vol, g, v, a).unwrap()
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
        (bits(&ds), bits(&glad), near)
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
