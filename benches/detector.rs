//! The detector at cpu scale: one training step (forward, losses, backward) and one `detect`
//! of a batch of 8 64x64 cutouts with 1-3 boxes each, on a cnn-small backbone (widths 16, 32:
//! a 16x16 feature map, stride 4), default detector settings.

use candle_core::{Device, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use gzbench::geom::{Point, Rect};
use gzbench::model::Params;
use gzbench::model::detector::{Detector, DetectorConfig, TargetBox};
use gzbench::rng::stream;
use gzbench::spec::{Backbone, ModelConfig};
use rand::Rng;

fn batch(n: usize, size: usize) -> (Tensor, Vec<Vec<TargetBox>>) {
    let mut r = stream(0, "bench/detector/batch");
    let v: Vec<f32> = (0..n * 3 * size * size)
        .map(|_| r.random::<f32>())
        .collect();
    let x = Tensor::from_vec(v, (n, 3, size, size), &Device::Cpu).expect("shape matches");
    let targets = (0..n)
        .map(|i| {
            (0..1 + i % 3)
                .map(|_| {
                    let c = Point::new(r.random_range(8.0..56.0), r.random_range(8.0..56.0));
                    let s = r.random_range(3.0..12.0);
                    TargetBox {
                        rect: Rect::around(c, s, s),
                        class: 1 + r.random_range(0..2),
                    }
                })
                .collect()
        })
        .collect();
    (x, targets)
}

fn bench(c: &mut Criterion) {
    gzbench::engine::keep_freed_memory();
    let model = ModelConfig {
        backbone: Backbone::CnnSmall,
        widths: vec![16, 32],
        ..Default::default()
    };
    let p = Params::new(0);
    let det = Detector::new(&model, &DetectorConfig::default(), 3, 64, &p, &Device::Cpu)
        .expect("detector");
    let (x, t) = batch(8, 64);
    let mut group = c.benchmark_group("detector/cnn-small-16-32/8x64x64");
    group.sample_size(10);
    let mut rng = stream(0, "bench/detector/sample");
    group.bench_function("train_step", |b| {
        b.iter(|| {
            let l = det.losses(&x, &t, &mut rng).expect("losses");
            std::hint::black_box(l.total.backward().expect("backward"))
        })
    });
    group.bench_function("detect", |b| {
        b.iter(|| std::hint::black_box(det.detect(&x).expect("detect")))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
