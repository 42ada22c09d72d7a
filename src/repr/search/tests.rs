//! Tests of `repr::search`: exact k-NN against a brute-force reference (f64 cosines of the raw
//! rows, full sort) with exact ties and zero rows, the hand-computed tie order, `query_all`
//! against single queries, the HNSW index's recall@10 on clustered data and its reproducibility.

use super::*;
use crate::rng::stream;
use rand::Rng;
use rand_distr::StandardNormal;

fn normal_rows(seed: u64, name: &str, n: usize, dim: usize) -> Vec<Vec<f32>> {
    let mut r = stream(seed, name);
    (0..n)
        .map(|_| {
            (0..dim)
                .map(|_| r.sample::<f32, _>(StandardNormal))
                .collect()
        })
        .collect()
}

/// Random rows plus exact duplicates, power-of-two multiples (the same normalised row: exact
/// ties) and zero rows scattered through.
fn tricky_rows(n: usize, dim: usize) -> Vec<Vec<f32>> {
    let mut rows = normal_rows(1, "test/repr/search/tricky", n, dim);
    for i in 0..20 {
        rows[n - 1 - i] = rows[3 * i].clone();
        rows[n - 40 - i] = rows[3 * i].iter().map(|x| x * 2.0).collect();
    }
    for z in [0, 7, n / 2, n - 100] {
        rows[z] = vec![0.0; dim];
    }
    rows
}

fn cos64(a: &[f32], b: &[f32]) -> f64 {
    let d = |x: &[f32], y: &[f32]| {
        x.iter()
            .zip(y)
            .map(|(&p, &q)| f64::from(p) * f64::from(q))
            .sum::<f64>()
    };
    d(a, b) / (d(a, a).sqrt() * d(b, b).sqrt())
}

/// Checks `got` against a full sort of every candidate's f64 cosine.
fn check(rows: &[Vec<f32>], q: &[f32], k: usize, exclude: Option<usize>, got: &[(usize, f32)]) {
    let zero = |r: &[f32]| r.iter().all(|&x| x == 0.0);
    let mut all: Vec<(usize, f64)> = (0..rows.len())
        .filter(|&i| Some(i) != exclude && !zero(&rows[i]))
        .map(|i| (i, cos64(q, &rows[i])))
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    assert_eq!(got.len(), k.min(all.len()), "k = {k}");
    for w in got.windows(2) {
        assert!(
            w[0].1 > w[1].1 || (w[0].1 == w[1].1 && w[0].0 < w[1].0),
            "order: {w:?}"
        );
    }
    let cos: std::collections::HashMap<usize, f64> = all.iter().copied().collect();
    for &(i, s) in got {
        assert!(
            (f64::from(s) - cos[&i]).abs() < 1e-5,
            "row {i}: {s} vs {}",
            cos[&i]
        );
    }
    if let Some(last) = got.last() {
        let taken: std::collections::HashSet<usize> = got.iter().map(|g| g.0).collect();
        for &(i, c) in &all {
            assert!(
                taken.contains(&i) || c <= f64::from(last.1) + 1e-5,
                "missed row {i} ({c})"
            );
        }
    }
    // where the reference has no near tie, the same row sits at the same rank
    for p in 0..got.len() {
        let gap = |a: usize, b: usize| (all[a].1 - all[b].1).abs() > 1e-4;
        if (p == 0 || gap(p - 1, p)) && (p + 1 >= all.len() || gap(p, p + 1)) {
            assert_eq!(got[p].0, all[p].0, "rank {p}");
        }
    }
}

#[test]
fn exact_matches_a_brute_force_full_sort() {
    // 4500 rows: more than one query chunk; 20 values: padded to 24
    let rows = tricky_rows(4500, 20);
    let ix = Exact::new(&rows).unwrap();
    let outside = normal_rows(2, "test/repr/search/queries", 5, 20);
    for k in [1, 5, 10, 60] {
        for i in [1, 3, 30, 2251, 4499] {
            check(&rows, &rows[i], k, Some(i), &ix.query_row(i, k));
            check(&rows, &rows[i], k, None, &ix.query(&rows[i], k, None));
        }
        for q in &outside {
            check(&rows, q, k, None, &ix.query(q, k, None));
            check(&rows, q, k, Some(11), &ix.query(q, k, Some(11)));
        }
    }
    // row 4498 is a copy of row 3 and row 4459 its double: an exact tie, lower index first
    let got = ix.query_row(4498, 3);
    assert_eq!([got[0].0, got[1].0], [3, 4459], "{got:?}");
    assert_eq!(got[0].1, got[1].1);
    // a tie at the k-th place, across query chunks, keeps the lower index
    assert_eq!(ix.query_row(4498, 1), vec![got[0]]);
    assert_eq!(ix.query_row(4459, 1)[0].0, 3);
}

#[test]
fn hand_computed_ties_and_zero_rows() {
    let rows = vec![
        vec![1.0, 0.0],
        vec![2.0, 0.0],
        vec![0.0, 3.0],
        vec![0.5, 0.0],
        vec![-1.0, 0.0],
        vec![0.0, 0.0],
        vec![1.0, 1.0],
    ];
    let ix = Exact::new(&rows).unwrap();
    let h = std::f32::consts::FRAC_1_SQRT_2;
    let got = ix.query(&[4.0, 0.0], 10, None);
    assert_eq!(
        got,
        vec![(0, 1.0), (1, 1.0), (3, 1.0), (6, h), (2, 0.0), (4, -1.0)]
    );
    assert_eq!(ix.query(&[4.0, 0.0], 2, Some(0)), vec![(1, 1.0), (3, 1.0)]);
    assert_eq!(ix.query(&[4.0, 0.0], 1, None), vec![(0, 1.0)]);
    assert_eq!(ix.query(&[4.0, 0.0], 2, None), vec![(0, 1.0), (1, 1.0)]);
    assert_eq!(ix.query_row(3, 2), vec![(0, 1.0), (1, 1.0)]);
    // the zero row: no neighbours, nobody's neighbour, and a zero query finds nothing
    assert!(ix.is_zero(5) && ix.query_row(5, 3).is_empty());
    assert!(ix.query(&[0.0, 0.0], 3, None).is_empty());
    assert!(ix.query(&[f32::NAN, 0.0], 3, None).is_empty());
    let all = ix.query_all(10);
    assert!(all[5].is_empty());
    assert!(all.iter().flatten().all(|&(i, _)| i != 5));
    assert_eq!(
        all[3],
        vec![(0, 1.0), (1, 1.0), (6, h), (2, 0.0), (4, -1.0)]
    );
}

#[test]
fn query_all_is_every_row_queried_alone_bit_for_bit() {
    // 1100 rows of 13: several data chunks, a short last block and a short last task
    let rows = tricky_rows(1100, 13);
    let ix = Exact::new(&rows).unwrap();
    let all = ix.query_all(7);
    assert_eq!(all.len(), rows.len());
    for (i, got) in all.iter().enumerate() {
        assert_eq!(got, &ix.query_row(i, 7), "row {i}");
        assert_eq!(got, &ix.query(&rows[i], 7, Some(i)), "row {i}");
    }
    check(&rows, &rows[1099], 7, Some(1099), &all[1099]);
    // rows 3, 1059 (its double) and 1098 (its copy) tie: k = 1 keeps the lowest other index
    let one = ix.query_all(1);
    assert_eq!([one[3][0].0, one[1059][0].0, one[1098][0].0], [1059, 3, 3]);
}

#[test]
fn k_beyond_n_returns_every_candidate() {
    let rows = normal_rows(3, "test/repr/search/small", 7, 5);
    let ix = Exact::new(&rows).unwrap();
    assert_eq!(ix.query_row(2, 100).len(), 6);
    assert_eq!(ix.query(&rows[2], 100, None).len(), 7);
    assert!(ix.query_all(100).iter().all(|r| r.len() == 6));
    assert!(ix.query_row(2, 0).is_empty());
    let ax = Approx::build(&rows, 0).unwrap();
    assert_eq!(ax.query_row(2, 100), ix.query_row(2, 100));
    assert_eq!(ax.query(&rows[2], 100, None).len(), 7);
    let empty = Exact::new(&[]).unwrap();
    assert!(empty.is_empty() && empty.query(&[], 3, None).is_empty());
    assert!(empty.query_all(3).is_empty());
    assert!(Approx::build(&[], 0).unwrap().query_all(3).is_empty());
}

#[test]
fn bad_rows_are_errors() {
    let e = Exact::new(&[vec![1.0, 2.0], vec![1.0]]).unwrap_err();
    assert!(
        matches!(
            e,
            SearchError::Ragged {
                row: 1,
                len: 1,
                dim: 2
            }
        ),
        "{e}"
    );
    let e = Exact::new(&[vec![1.0, 2.0], vec![f32::INFINITY, 0.0]]).unwrap_err();
    assert!(matches!(e, SearchError::NonFinite { row: 1 }), "{e}");
    assert!(matches!(
        Exact::from_flat(&[1.0; 5], 2),
        Err(SearchError::Flat { .. })
    ));
    assert!(Approx::build(&[vec![f32::NAN]], 0).is_err());
    let flat = Exact::from_flat(&[1.0, 2.0, 0.0, 0.0, -3.0, 1.0], 2).unwrap();
    let rows = Exact::new(&[vec![1.0, 2.0], vec![0.0, 0.0], vec![-3.0, 1.0]]).unwrap();
    assert_eq!(flat.query_all(2), rows.query_all(2));
    assert!(flat.is_zero(1) && flat.row(0) == rows.row(0));
}

/// 2000 points of 32 values around 40 centres (noise 0.35 of a unit-normal centre's scale).
fn clustered() -> Vec<Vec<f32>> {
    let centres = normal_rows(4, "test/repr/search/centres", 40, 32);
    let mut r = stream(4, "test/repr/search/points");
    (0..2000)
        .map(|_| {
            let c = &centres[r.random_range(0..centres.len())];
            c.iter()
                .map(|&x| x + 0.35 * r.sample::<f32, _>(StandardNormal))
                .collect()
        })
        .collect()
}

#[test]
fn hnsw_recall_at_10_on_clustered_data() {
    let rows = clustered();
    let exact = Exact::new(&rows).unwrap().query_all(10);
    let ax = Approx::build(&rows, 0).unwrap();
    let approx = ax.query_all(10);
    let recall = recall_at_k(&exact, &approx, 10);
    eprintln!("HNSW recall@10 on 2000 x 32 clustered: {recall:.4}");
    assert!(recall >= 0.9, "recall@10 = {recall}");
    // the index's scores are the exact kernel's
    let e: std::collections::HashMap<usize, f32> = exact[5].iter().copied().collect();
    for &(i, s) in &approx[5] {
        if let Some(&t) = e.get(&i) {
            assert_eq!(s, t);
        }
    }
    // excluding a row and querying by vector agree with query_row
    assert_eq!(ax.query(&rows[5], 10, Some(5)), approx[5]);
}

#[test]
fn hnsw_build_is_reproducible_from_its_seed() {
    let rows = clustered();
    let a = Approx::build(&rows, 7).unwrap().query_all(10);
    let b = Approx::build(&rows, 7).unwrap().query_all(10);
    assert_eq!(a, b);
    let p = ApproxParams {
        ef_search: 0,
        ..Default::default()
    };
    assert!(Approx::build_with(&rows, 7, &p).is_err());
}

#[test]
fn recall_hand_computed() {
    let l = |ix: &[usize]| ix.iter().map(|&i| (i, 0.0f32)).collect::<Vec<_>>();
    let exact = vec![l(&[1, 2, 3]), l(&[4, 5]), l(&[])];
    let approx = vec![l(&[3, 9, 1]), l(&[6, 7]), l(&[8])];
    // (2/3 + 0/2) / 2 queries (the empty one skipped); k = 2: ({1,2} vs {3,9}) 0, ({4,5}) 0
    assert!((recall_at_k(&exact, &approx, 3) - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(recall_at_k(&exact, &approx, 2), 0.0);
    assert_eq!(recall_at_k(&[l(&[])], &[l(&[1])], 5), 1.0);
}
