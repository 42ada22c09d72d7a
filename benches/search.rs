//! Similarity search latency (`repr::search`): an exact cosine query (k = 10) over 100,000 and
//! over 20,000 rows of 128 values, the HNSW index's reproducible (one-thread) build on 2,000 x
//! 128-d rows, and an approximate query on an index of 20,000 x 128-d rows (built once, on all
//! threads). Rows are unit-normal values from a seeded stream: no structure, the hardest case
//! for HNSW. Also the anomaly scorers (`repr::anomaly`) on 20,000 x 64-d rows: exact k-NN
//! distance, isolation forest (fit + score), Gaussian (Ledoit-Wolf) score and the personalised
//! ranking.

use criterion::{Criterion, criterion_group, criterion_main};
use gzbench::repr::anomaly::{IsolationForest, gaussian_score, knn_distance, personalised};
use gzbench::repr::search::{Approx, ApproxParams, Exact};
use rand::Rng;
use rand_distr::StandardNormal;
use std::hint::black_box;

fn rows(n: usize, dim: usize) -> Vec<Vec<f32>> {
    let mut r = gzbench::rng::stream(0, "bench/repr/search");
    (0..n)
        .map(|_| {
            (0..dim)
                .map(|_| r.sample::<f32, _>(StandardNormal))
                .collect()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let big = rows(100_000, 128);
    let exact = Exact::new(&big).expect("finite rows");
    let mut g = c.benchmark_group("search");
    g.sample_size(20);
    let mut i = 0usize;
    g.bench_function("exact_query_100k_x_128_k10", |b| {
        b.iter(|| {
            i = (i + 7919) % big.len();
            black_box(exact.query(&big[i], 10, Some(i)))
        })
    });
    let exact_20k = Exact::new(&big[..20_000]).expect("finite rows");
    g.bench_function("exact_query_20k_x_128_k10", |b| {
        b.iter(|| {
            i = (i + 7919) % 20_000;
            black_box(exact_20k.query(&big[i], 10, Some(i)))
        })
    });
    g.sample_size(10);
    g.bench_function("hnsw_build_2k_x_128", |b| {
        b.iter(|| black_box(Approx::build(&big[..2000], 0).expect("finite rows")))
    });
    let small = &big[..20_000];
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let p = ApproxParams {
        threads,
        ..Default::default()
    };
    let approx = Approx::build_with(small, 0, &p).expect("finite rows");
    g.sample_size(20);
    g.bench_function("hnsw_query_20k_x_128_k10", |b| {
        b.iter(|| {
            i = (i + 7919) % small.len();
            black_box(approx.query(&small[i], 10, Some(i)))
        })
    });
    g.finish();
}

fn anomaly(c: &mut Criterion) {
    let x: Vec<Vec<f32>> = rows(20_000, 64);
    let mut g = c.benchmark_group("anomaly_20k_x_64");
    g.sample_size(10);
    g.bench_function("knn_distance_k10", |b| {
        b.iter(|| black_box(knn_distance(&x, 10).expect("finite rows")))
    });
    g.bench_function("isolation_forest_fit_score", |b| {
        b.iter(|| {
            let f = IsolationForest::fit(&x, 100, 256, 1).expect("finite rows");
            black_box(f.score(&x).expect("finite rows"))
        })
    });
    g.bench_function("gaussian_score", |b| {
        b.iter(|| black_box(gaussian_score(&x).expect("finite rows")))
    });
    let base = gaussian_score(&x).expect("finite rows");
    g.bench_function("personalised_5x10", |b| {
        b.iter(|| black_box(personalised(&x, &base, &|i| i % 50 == 0, 5, 10, 0)))
    });
    g.finish();
}

criterion_group!(benches, bench, anomaly);
criterion_main!(benches);
