//! Tests of the anomaly scorers, the ranking metrics and the personalised ranking: hand-computed
//! cases, a brute-force k-NN, scikit-learn's Ledoit-Wolf fixture and clustered synthetic data.

use super::forest::c;
use super::*;
use rand::Rng;
use rand_distr::StandardNormal;

/// `n` rows of `d` features: `centre + sd * N(0, 1)` from a named stream.
fn gaussian_rows(seed: u64, name: &str, n: usize, centre: &[f32], sd: f32) -> Vec<Vec<f32>> {
    let mut rng = crate::rng::stream(seed, name);
    (0..n)
        .map(|_| {
            centre
                .iter()
                .map(|c| c + sd * rng.sample::<f32, _>(StandardNormal))
                .collect()
        })
        .collect()
}

/// A tight 4-d cluster of 200 rows with one far point inserted at row 77.
fn cluster_with_outlier() -> Vec<Vec<f32>> {
    let mut x = gaussian_rows(1, "test/cluster", 200, &[1.0, -2.0, 0.5, 3.0], 0.1);
    x.insert(77, vec![4.0, 1.0, 3.5, 6.0]);
    x
}

#[test]
fn obvious_outlier_ranked_first_by_every_scorer() {
    let x = cluster_with_outlier();
    let knn = knn_distance(&x, 5).unwrap();
    let forest = IsolationForest::fit(&x, 100, 256, 3)
        .unwrap()
        .score(&x)
        .unwrap();
    let gauss = gaussian_score(&x).unwrap();
    for (name, s) in [("knn", &knn), ("forest", &forest), ("gaussian", &gauss)] {
        let r = ranking(s);
        assert_eq!(r[0], 77, "{name}: top is {} ({:?})", r[0], &s[r[0]]);
        // and by a margin: the outlier beats the runner-up clearly
        assert!(s[77] > 1.2 * s[r[1]], "{name}: {} vs {}", s[77], s[r[1]]);
    }
}

fn knn_brute(x: &[Vec<f32>], k: usize) -> Vec<f64> {
    x.iter()
        .enumerate()
        .map(|(i, a)| {
            let mut d: Vec<f64> = x
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, b)| {
                    a.iter()
                        .zip(b)
                        .map(|(u, v)| (f64::from(*u) - f64::from(*v)).powi(2))
                        .sum::<f64>()
                        .sqrt()
                })
                .collect();
            d.sort_by(f64::total_cmp);
            d[..k].iter().sum::<f64>() / k as f64
        })
        .collect()
}

#[test]
fn knn_distance_hand_case_and_cap() {
    let x = vec![vec![0.0], vec![1.0], vec![3.0]];
    assert_eq!(knn_distance(&x, 1).unwrap(), vec![1.0, 1.0, 2.0]);
    assert_eq!(knn_distance(&x, 2).unwrap(), vec![2.0, 1.5, 2.5]);
    // k beyond n - 1 is capped
    assert_eq!(knn_distance(&x, 9).unwrap(), vec![2.0, 1.5, 2.5]);
    // 3-4-5 triangle, far from the origin (the centring keeps cancellation away)
    let y = vec![vec![1e4, 1e4], vec![1e4 + 3.0, 1e4], vec![1e4, 1e4 + 4.0]];
    assert_eq!(knn_distance(&y, 1).unwrap(), vec![3.0, 3.0, 4.0]);
}

#[test]
fn knn_distance_matches_brute_force_across_tiles() {
    // 1,100 rows cross a column tile (1,024) and several row blocks; duplicates count at 0
    let mut x = gaussian_rows(2, "test/knn", 1100, &[0.0; 5], 1.0);
    x[500] = x[10].clone();
    x[900] = x[10].clone();
    for k in [1, 3, 10] {
        let fast = knn_distance(&x, k).unwrap();
        let slow = knn_brute(&x, k);
        for (i, (a, b)) in fast.iter().zip(&slow).enumerate() {
            assert!((a - b).abs() < 1e-12, "k {k} row {i}: {a} vs {b}");
        }
    }
    assert_eq!(knn_distance(&x, 2).unwrap()[10], 0.0);
}

#[test]
fn invalid_rows_are_errors() {
    let ragged = vec![vec![0.0, 1.0], vec![2.0]];
    let nan = vec![vec![0.0, 1.0], vec![f32::NAN, 2.0]];
    let empty: Vec<Vec<f32>> = Vec::new();
    for x in [&ragged, &nan, &empty] {
        assert!(knn_distance(x, 1).is_err());
        assert!(IsolationForest::fit(x, 10, 16, 0).is_err());
        assert!(gaussian_score(x).is_err());
        assert!(personalised(x, &[0.0, 0.0], &|_| true, 1, 1, 0).is_err());
    }
    let ok = vec![vec![0.0, 1.0], vec![2.0, 3.0]];
    assert!(knn_distance(&ok, 0).is_err());
    assert!(knn_distance(&ok[..1], 1).is_err());
    assert!(IsolationForest::fit(&ok, 0, 16, 0).is_err());
    let f = IsolationForest::fit(&ok, 5, 16, 0).unwrap();
    assert!(f.score(&[vec![1.0]]).is_err());
    assert!(Gaussian::fit(&ok, Shrinkage::Fixed(1.5)).is_err());
    assert!(personalised(&ok, &[0.0], &|_| true, 1, 1, 0).is_err());
}

#[test]
fn path_length_normaliser_standard_values() {
    assert_eq!(c(0), 0.0);
    assert_eq!(c(1), 0.0);
    assert_eq!(c(2), 1.0);
    // 2 (ln 2 + gamma) - 4/3, and 2 (ln 255 + gamma) - 2 * 255/256
    assert!((c(3) - 1.207_392_7).abs() < 1e-6, "{}", c(3));
    assert!((c(256) - 10.244_770_8).abs() < 1e-6, "{}", c(256));
}

#[test]
fn isolation_forest_two_rows_score_one_half() {
    // psi = 2: depth limit 1, every tree splits the two rows once; h = 1 = c(2), score 2^-1
    let x = vec![vec![0.0, 5.0], vec![1.0, 7.0]];
    let f = IsolationForest::fit(&x, 7, 256, 11).unwrap();
    assert_eq!((f.psi, f.len()), (2, 7));
    assert_eq!(f.score(&x).unwrap(), vec![0.5, 0.5]);
}

#[test]
fn isolation_forest_deterministic_seeded_and_standard_range() {
    let x = cluster_with_outlier();
    let a = IsolationForest::fit(&x, 100, 256, 5).unwrap();
    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| IsolationForest::fit(&x, 100, 256, 5).unwrap());
    assert_eq!(a, single, "the thread count changed the forest");
    let sa = a.score(&x).unwrap();
    let sb = IsolationForest::fit(&x, 100, 256, 6)
        .unwrap()
        .score(&x)
        .unwrap();
    assert_ne!(sa, sb, "another seed grew the same forest");
    // the paper's reading: well inside the data < 0.5, isolated near 1
    let centre = vec![vec![1.0, -2.0, 0.5, 3.0]];
    let inlier = a.score(&centre).unwrap()[0];
    assert!(inlier < 0.5, "inlier {inlier}");
    assert!(sa[77] > 0.6, "outlier {}", sa[77]);
    let median = {
        let mut s = sa.clone();
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    };
    assert!(median < 0.5, "median {median}");
}

/// Mean zero, covariance [[2.5, 0.5], [0.5, 1]] (population), inverse [[1, -.5], [-.5, 2.5]] / 2.25.
fn four_points() -> Vec<Vec<f32>> {
    vec![
        vec![2.0, 1.0],
        vec![-2.0, -1.0],
        vec![1.0, -1.0],
        vec![-1.0, 1.0],
    ]
}

#[test]
fn gaussian_hand_computed_mahalanobis() {
    let g = Gaussian::fit(&four_points(), Shrinkage::Fixed(0.0)).unwrap();
    let cov = g.covariance();
    for (a, b) in cov.iter().zip([2.5, 0.5, 0.5, 1.0]) {
        assert!((a - b).abs() < 1e-12, "{cov:?}");
    }
    // (2,1): (4 - 2 + 2.5) / 2.25 = 2; every row 2 (their mean is d = 2); (3,0): 9 / 2.25 = 4
    let s = g.score(&four_points()).unwrap();
    for v in s {
        assert!((v - 2.0).abs() < 1e-12, "{v}");
    }
    let t = g
        .score(&[vec![3.0, 0.0], vec![0.0, 0.0], vec![0.0, 3.0]])
        .unwrap();
    for (a, b) in t.iter().zip([4.0, 0.0, 9.0 * 2.5 / 2.25]) {
        assert!((a - b).abs() < 1e-12, "{t:?}");
    }
    // half shrinkage keeps the variances and halves the covariance: [[2.5, .25], [.25, 1]],
    // det 2.4375; (3,0): 9 / 2.4375
    let h = Gaussian::fit(&four_points(), Shrinkage::Fixed(0.5)).unwrap();
    for (a, b) in h.covariance().iter().zip([2.5, 0.25, 0.25, 1.0]) {
        assert!((a - b).abs() < 1e-12);
    }
    let v = h.score(&[vec![3.0, 0.0]]).unwrap()[0];
    assert!((v - 9.0 / 2.4375).abs() < 1e-12, "{v}");
}

#[test]
fn gaussian_drops_constant_features_and_needs_shrinkage_when_wide() {
    let with_const: Vec<Vec<f32>> = four_points()
        .into_iter()
        .map(|mut r| {
            r.insert(1, 7.25);
            r
        })
        .collect();
    let g = Gaussian::fit(&with_const, Shrinkage::Fixed(0.0)).unwrap();
    assert_eq!(g.kept, vec![0, 2]);
    assert_eq!(
        g.score(&with_const).unwrap(),
        Gaussian::fit(&four_points(), Shrinkage::Fixed(0.0))
            .unwrap()
            .score(&four_points())
            .unwrap()
    );
    // 5 rows in 12 dimensions: singular without shrinkage, fine with Ledoit-Wolf
    let wide = gaussian_rows(4, "test/wide", 5, &[0.0; 12], 1.0);
    assert!(Gaussian::fit(&wide, Shrinkage::Fixed(0.0)).is_err());
    let lw = Gaussian::fit(&wide, Shrinkage::LedoitWolf).unwrap();
    assert!(lw.shrinkage > 0.0 && lw.shrinkage <= 1.0);
    // zero shrinkage on 500 rows: the mean squared distance of the fitted rows is d exactly
    let x = gaussian_rows(5, "test/mean-d", 500, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2.0);
    let s = Gaussian::fit(&x, Shrinkage::Fixed(0.0))
        .unwrap()
        .score(&x)
        .unwrap();
    let mean = s.iter().sum::<f64>() / s.len() as f64;
    assert!((mean - 6.0).abs() < 1e-9, "{mean}");
}

#[test]
fn gaussian_matches_sklearn_ledoit_wolf() {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/ledoit_wolf_sklearn.json")).unwrap();
    let num = |v: &serde_json::Value| v.as_f64().unwrap();
    let vec = |v: &serde_json::Value| v.as_array().unwrap().iter().map(num).collect::<Vec<_>>();
    for case in fixture["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let x: Vec<Vec<f32>> = case["x"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| vec(r).into_iter().map(|v| v as f32).collect())
            .collect();
        let g = Gaussian::fit(&x, Shrinkage::LedoitWolf).unwrap();
        let want = num(&case["shrinkage"]);
        assert!(
            (g.shrinkage - want).abs() < 1e-10,
            "{name}: {} vs {want}",
            g.shrinkage
        );
        let s = g.score(&x).unwrap();
        for (a, b) in s.iter().zip(vec(&case["mahalanobis"])) {
            assert!((a - b).abs() < 1e-8 * b.max(1.0), "{name}: {a} vs {b}");
        }
        let cov: Vec<f64> = case["covariance"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(vec)
            .collect();
        let scale = cov.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (a, b) in g.covariance().iter().zip(&cov) {
            assert!((a - b).abs() < 1e-9 * scale, "{name}: {a} vs {b}");
        }
    }
}

#[test]
fn precision_at_k_hand_cases_with_ties() {
    let s = [0.9, 0.5, 0.5, 0.1];
    let p = [false, false, true, true];
    // the tie at 0.5 goes to row 1 (lower index): top 2 = rows 0, 1
    assert_eq!(precision_at_k(&s, &p, 1), 0.0);
    assert_eq!(precision_at_k(&s, &p, 2), 0.0);
    assert_eq!(precision_at_k(&s, &p, 3), 1.0 / 3.0);
    assert_eq!(precision_at_k(&s, &p, 10), 0.5);
    assert_eq!(precision_at_k(&s, &[false, true, false, false], 2), 0.5);
    // NaN ranks last
    assert_eq!(precision_at_k(&[f64::NAN, 0.2], &[true, false], 1), 0.0);
    assert!(precision_at_k(&s, &p, 0).is_nan());
    assert!(precision_at_k(&s, &p[..3], 1).is_nan());
    assert_eq!(ranking(&[0.1, f64::NAN, 0.3, 0.3]), vec![2, 3, 0, 1]);
}

#[test]
fn roc_auc_hand_cases_with_ties() {
    // scikit-learn's docstring case: 0.75
    let auc = roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]);
    assert!((auc - 0.75).abs() < 1e-15);
    // positives 0.2 and 0.5 against negatives 0.5, 0.9, 0.1: (1 + 0.5 + 1) / 6 wins
    let auc = roc_auc(
        &[0.2, 0.5, 0.5, 0.9, 0.1],
        &[true, true, false, false, false],
    );
    assert!((auc - 2.5 / 6.0).abs() < 1e-15, "{auc}");
    // every score tied: one half
    assert_eq!(roc_auc(&[1.0; 4], &[true, false, true, false]), 0.5);
    assert!(roc_auc(&[0.1, 0.2], &[true, true]).is_nan());
    assert!(roc_auc(&[0.1, f64::NAN], &[true, false]).is_nan());
    // agrees with eval::roc_auc on f32-exact scores with many ties
    let mut rng = crate::rng::stream(9, "test/auc");
    let s: Vec<f64> = (0..300)
        .map(|_| f64::from(rng.random_range(0..20u8)))
        .collect();
    let y: Vec<bool> = s
        .iter()
        .map(|v| rng.random::<f64>() < 0.2 + v / 40.0)
        .collect();
    let s32: Vec<f32> = s.iter().map(|&v| v as f32).collect();
    let y32: Vec<f32> = y.iter().map(|&b| b as u8 as f32).collect();
    let ours = roc_auc(&s, &y);
    assert!((ours - crate::eval::roc_auc(&s32, &y32)).abs() < 1e-12);
    assert!(ours > 0.6, "{ours}");
}

/// 8-d data: 1,500 ordinary rows N(0, 1), 200 broad "boring" anomalies (sd 2.5) that dominate
/// a k-NN anomaly ranking, and 150 interesting rows (1,700..1,850) offset along the first axis
/// (by 4): 15 as broad as the boring anomalies (the few a base ranking finds) and 135 in a
/// clump of sd 0.8, which the base ranking misses.
fn clustered() -> (Vec<Vec<f32>>, Vec<bool>) {
    let mut x = gaussian_rows(7, "test/ordinary", 1500, &[0.0; 8], 1.0);
    x.extend(gaussian_rows(7, "test/boring", 200, &[0.0; 8], 2.5));
    let mut centre = [0.0f32; 8];
    centre[0] = 4.0;
    x.extend(gaussian_rows(7, "test/unusual", 15, &centre, 2.5));
    x.extend(gaussian_rows(7, "test/interesting", 135, &centre, 0.8));
    let positive = (0..x.len()).map(|i| i >= 1700).collect();
    (x, positive)
}

#[test]
fn personalised_ranking_finds_the_interesting_cluster() {
    let (x, positive) = clustered();
    let base = knn_distance(&x, 10).unwrap();
    let oracle = |i: usize| positive[i];
    let p = personalised(&x, &base, &oracle, 5, 10, 3).unwrap();
    assert_eq!(p.ratings, 50);
    let base_order = ranking(&base);
    assert_eq!(
        p.ranking[..10],
        base_order[..10],
        "round 1 rates the base top 10"
    );
    let mut seen = p.ranking.clone();
    seen.sort_unstable();
    assert_eq!(seen, (0..x.len()).collect::<Vec<_>>(), "not a permutation");
    eprintln!(
        "top-100 interesting: personalised {} base {} (rated {} interesting of {}, {} model rounds)",
        p.top100_interesting,
        p.base_top100_interesting,
        p.rated_interesting,
        p.ratings,
        p.model_rounds
    );
    assert!(p.model_rounds >= 1, "{p:?}");
    assert!(
        p.top100_interesting >= 2 * p.base_top100_interesting.max(10),
        "personalised {} vs base {}",
        p.top100_interesting,
        p.base_top100_interesting
    );
    assert_eq!(
        p.base_top100_interesting,
        (precision_at_k(&base, &positive, 100) * 100.0).round() as usize
    );
    // deterministic for a seed
    assert_eq!(p, personalised(&x, &base, &oracle, 5, 10, 3).unwrap());
}

#[test]
fn personalised_keeps_the_base_ranking_while_one_class_is_rated() {
    let (x, _) = clustered();
    let base = knn_distance(&x, 10).unwrap();
    let p = personalised(&x, &base, &|_| false, 3, 10, 0).unwrap();
    assert_eq!((p.model_rounds, p.ratings, p.rated_interesting), (0, 30, 0));
    assert_eq!(p.ranking, ranking(&base));
    assert_eq!((p.top100_interesting, p.base_top100_interesting), (0, 0));
}
