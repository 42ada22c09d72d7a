//! Tests of `eval::frechet`: pytorch-fid's formula on the committed fixture
//! (`benches/peers/frechet_fixture.py`), identical sets, 1-D sets (closed form), symmetry, and
//! the errors.

use super::*;

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    a: Vec<Vec<f64>>,
    b: Vec<Vec<f64>>,
    /// pytorch-fid's `calculate_frechet_distance` (scipy's `sqrtm` of `S1 S2`).
    fid: f64,
    /// The same distance through `eigh`, in numpy (what this module computes).
    eigen: f64,
}

#[derive(serde::Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

fn rel(x: f64, y: f64) -> f64 {
    (x - y).abs() / y.abs().max(1e-300)
}

/// Against pytorch-fid within 1e-6 relative, and numpy's eigen route (the arithmetic of this
/// module) within 1e-10. The rank-deficient case (5 and 6 rows in 8 dimensions: `S1 S2` singular)
/// is looser, 1e-4 and 1e-8: the exactly-zero eigenvalues come out as rounding noise of about
/// 1e-16, whose square roots (about 1e-8 each) enter the trace and differ between any two
/// implementations; scipy's Schur-based `sqrtm` of a singular matrix is less accurate still (here
/// 8e-10 of the value apart from the eigen route, 2e-10 from this module; that depends on the
/// draw, hence the margin).
#[test]
fn matches_pytorch_fid() {
    let f: Fixture =
        serde_json::from_str(include_str!("../../../benches/peers/fixtures/frechet.json")).unwrap();
    assert_eq!(f.cases.len(), 3);
    for c in &f.cases {
        let got = frechet_distance(&c.a, &c.b).unwrap();
        let (fid_tol, eigen_tol) = if c.name == "rank_deficient" {
            (1e-4, 1e-8)
        } else {
            (1e-6, 1e-10)
        };
        assert!(
            rel(got, c.fid) < fid_tol,
            "{}: {got} vs pytorch-fid {}",
            c.name,
            c.fid
        );
        assert!(
            rel(got, c.eigen) < eigen_tol,
            "{}: {got} vs eigen {}",
            c.name,
            c.eigen
        );
    }
}

#[test]
fn identical_sets_are_at_distance_zero() {
    let a: Vec<Vec<f64>> = (0..30)
        .map(|i| {
            let t = i as f64;
            vec![
                t.sin(),
                (0.3 * t).cos() * 2.0,
                t * 0.1,
                (t * t).sqrt().ln_1p(),
            ]
        })
        .collect();
    let d = frechet_distance(&a, &a).unwrap();
    assert!(d.abs() < 1e-10, "{d}");
}

/// In one dimension the distance is `(m1 - m2)² + (s1 - s2)²` (standard deviations, `n - 1`).
#[test]
fn one_dimensional_sets_have_the_closed_form() {
    let a: Vec<Vec<f64>> = [1.0, 2.0, 4.0, 7.0].iter().map(|&v| vec![v]).collect();
    let b: Vec<Vec<f64>> = [-1.0, 0.5, 3.0].iter().map(|&v| vec![v]).collect();
    // a: mean 3.5, variance (6.25 + 2.25 + 0.25 + 12.25) / 3 = 7; b: mean 2.5 / 3,
    // variance ((-1 - 5/6)² + (0.5 - 5/6)² + (3 - 5/6)²) / 2
    let (m1, v1) = (3.5f64, 7.0f64);
    let m2 = 2.5f64 / 3.0;
    let v2 = ((-1.0 - m2).powi(2) + (0.5 - m2).powi(2) + (3.0 - m2).powi(2)) / 2.0;
    let want = (m1 - m2).powi(2) + (v1.sqrt() - v2.sqrt()).powi(2);
    let got = frechet_distance(&a, &b).unwrap();
    assert!(rel(got, want) < 1e-12, "{got} vs {want}");
    let back = frechet_distance(&b, &a).unwrap();
    assert!(rel(back, want) < 1e-12, "symmetric: {back} vs {want}");
}

#[test]
fn bad_inputs_are_errors() {
    let two = vec![vec![0.0, 1.0], vec![1.0, 0.0]];
    let e = frechet_distance(&two[..1], &two).unwrap_err();
    assert_eq!(e, FrechetError::TooFewRows { set: 'a', rows: 1 });
    let e = frechet_distance(&two, &[vec![1.0], vec![2.0]]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "feature set b: row 0 has 1 features; expected 2"
    );
    let e = frechet_distance(&two, &[vec![0.0, 1.0], vec![f64::NAN, 0.0]]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "feature set b: row 1, feature 0 is NaN; expected a finite number"
    );
    let e = frechet_distance(&[vec![], vec![]], &two).unwrap_err();
    assert_eq!(e, FrechetError::NoFeatures { set: 'a' });
}
