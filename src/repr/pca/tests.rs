//! Tests of `repr::pca`: numpy's `eigh` of the covariance (committed fixture, both the
//! covariance and the Gram route), points on a line (hand-computed) and the errors (the eigensolver
//! on its own is tested in `linalg`).

use super::*;

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    k: usize,
    x: Vec<Vec<f64>>,
    mean: Vec<f64>,
    components: Vec<Vec<f64>>,
    explained_variance: Vec<f64>,
    total_variance: f64,
}

#[derive(serde::Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[test]
fn matches_numpy_eigh() {
    let f: Fixture = serde_json::from_str(include_str!("../fixtures/pca_numpy.json")).unwrap();
    assert_eq!(f.cases.len(), 2);
    for c in &f.cases {
        let x: Vec<Vec<f32>> =
            c.x.iter()
                .map(|r| r.iter().map(|&v| v as f32).collect())
                .collect();
        let p = Pca::fit(&x, c.k).unwrap();
        assert_eq!(p.components.len(), c.k, "{}", c.name);
        for (a, b) in p.mean.iter().zip(&c.mean) {
            assert!((*a as f64 - b).abs() < 1e-5, "{}: mean {a} vs {b}", c.name);
        }
        for (i, (got, want)) in p.components.iter().zip(&c.components).enumerate() {
            for (a, b) in got.iter().zip(want) {
                assert!(
                    (*a as f64 - b).abs() < 1e-5,
                    "{} component {i}: {a} vs {b}",
                    c.name
                );
            }
        }
        for (a, b) in p.explained_variance.iter().zip(&c.explained_variance) {
            assert!(
                ((a - b) / b).abs() < 1e-6,
                "{}: variance {a} vs {b}",
                c.name
            );
        }
        let t = (p.total_variance - c.total_variance) / c.total_variance;
        assert!(t.abs() < 1e-9, "{}: total variance", c.name);
        // projections are uncorrelated with the explained variances as variances
        let z = p.transform(&x).unwrap();
        let n = z.len() as f64;
        for j in 0..c.k {
            let var: f64 = z.iter().map(|r| (r[j] as f64).powi(2)).sum::<f64>() / (n - 1.0);
            assert!(
                ((var - c.explained_variance[j]) / var).abs() < 1e-5,
                "{}",
                c.name
            );
        }
        assert_eq!(Pca::fit(&x, c.k).unwrap(), p, "deterministic");
    }
}

#[test]
fn points_on_a_line_have_one_component() {
    // (1 + 3t, 2 + 4t) for t = 0..4: direction (0.6, 0.8), variance 25 * var(t) = 25 * 2.5
    let x: Vec<Vec<f32>> = (0..5)
        .map(|t| vec![1.0 + 3.0 * t as f32, 2.0 + 4.0 * t as f32])
        .collect();
    let p = Pca::fit(&x, 1).unwrap();
    assert_eq!(p.mean, vec![7.0, 10.0]);
    assert!((p.components[0][0] - 0.6).abs() < 1e-7 && (p.components[0][1] - 0.8).abs() < 1e-7);
    assert!((p.explained_variance[0] - 62.5).abs() < 1e-9);
    assert!((p.explained_variance_ratio()[0] - 1.0).abs() < 1e-12);
    let z = p.transform(&x).unwrap();
    for (t, r) in z.iter().enumerate() {
        assert!((r[0] - 5.0 * (t as f32 - 2.0)).abs() < 1e-5, "{r:?}");
    }
    // the second direction has no variance: asking for it is an error, not noise
    let e = Pca::fit(&x, 2).unwrap_err().to_string();
    assert!(e.contains("no variance"), "{e}");
    // the sign convention: largest-magnitude entry positive, also for a falling line
    let x: Vec<Vec<f32>> = (0..4)
        .map(|t| vec![t as f32, -2.0 * t as f32, 0.5])
        .collect();
    let p = Pca::fit(&x, 1).unwrap();
    let s = 5f32.sqrt();
    let want = [-1.0 / s, 2.0 / s, 0.0];
    for (a, b) in p.components[0].iter().zip(want) {
        assert!((a - b).abs() < 1e-6, "{:?}", p.components[0]);
    }
}

#[test]
fn bad_input_is_an_error() {
    let x = vec![vec![0.0, 1.0], vec![1.0, 0.0], vec![2.0, 2.0]];
    let msg = |x: &[Vec<f32>], k| Pca::fit(x, k).unwrap_err().to_string();
    assert!(msg(&[], 1).contains("no data"));
    assert!(msg(&x, 3).contains("expected 1..=2"));
    assert!(msg(&x, 0).contains("expected 1..=2"));
    assert!(msg(&x[..2], 2).contains("at most 1"));
    assert!(msg(&[vec![1.0, 2.0], vec![1.0]], 1).contains("ragged"));
    assert!(msg(&[vec![1.0], vec![f32::NAN], vec![0.0]], 1).contains("row 2"));
    assert!(msg(&[vec![1.0], vec![1.0], vec![1.0]], 1).contains("no variance"));
    let p = Pca::fit(&x, 1).unwrap();
    assert!(
        p.transform(&[vec![1.0]])
            .unwrap_err()
            .to_string()
            .contains("fitted to 2")
    );
}
