//! Render throughput (images per second) at 64x64 and 256x256, DECaLS-like, with noise and
//! neighbours, using `render_batch` (rayon over all cores).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gzbench::universe::{PopulationConfig, RenderConfig, Survey, render_batch, sample_population};

fn bench(c: &mut Criterion) {
    let galaxies = sample_population(7, 512, &PopulationConfig::default());
    let mut group = c.benchmark_group("render_batch");
    for size in [64usize, 256] {
        let n = if size == 64 { 512 } else { 64 };
        let batch = &galaxies[..n];
        let cfg = RenderConfig::new(size, Survey::DecalsLike);
        group.throughput(Throughput::Elements(n as u64));
        group.sample_size(10);
        group.bench_function(format!("{size}x{size}"), |b| {
            b.iter(|| std::hint::black_box(render_batch(batch, &cfg, 7)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
