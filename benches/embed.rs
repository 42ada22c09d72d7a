//! Embedding throughput (`repr::embed::embed`, evaluation mode, CPU): the backbone features of
//! 512 synthetic 3x32x32 images (uniform pixels in [0, 1) from the seeded stream
//! `bench/repr/embed`, drawn once outside the timed loop) at batch 256, for cnn-small (widths
//! [16, 32, 64]) and resnet (resnet-18 layout, width_multiplier 0.25), both with seeded
//! initialisation (`Params::new(0)`). `Throughput::Elements(512)` makes criterion report
//! images/s. The allocator is set up as in the `gzbench` binary.
//!
//! Measured 2026-11-30 on 2 cores (`--warm-up-time 1 --measurement-time 3`): cnn-small
//! about 4,100 images/s (124 ms per 512), resnet x0.25 about 430 images/s (1.20 s per 512).

use candle_core::Device;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gzbench::data::Dataset;
use gzbench::model::{Model, Params};
use gzbench::repr::embed::embed;
use gzbench::spec::{Backbone, ModelConfig};
use rand::Rng;
use std::hint::black_box;

const IMAGES: usize = 512;
const SIZE: usize = 32;
const CHANNELS: usize = 3;
const BATCH: usize = 256;

fn images() -> Dataset {
    let mut r = gzbench::rng::stream(0, "bench/repr/embed");
    let images: Vec<f32> = (0..IMAGES * CHANNELS * SIZE * SIZE)
        .map(|_| r.random::<f32>())
        .collect();
    Dataset {
        channels: CHANNELS,
        size: SIZE,
        images,
        targets: vec![0.0; IMAGES],
        target_len: 1,
    }
}

fn bench(c: &mut Criterion) {
    gzbench::engine::keep_freed_memory();
    let data = images();
    let backbones = [
        (
            "cnn-small",
            ModelConfig {
                backbone: Backbone::CnnSmall,
                widths: vec![16, 32, 64],
                ..Default::default()
            },
        ),
        (
            "resnet-x0.25",
            ModelConfig {
                backbone: Backbone::Resnet,
                width_multiplier: 0.25,
                ..Default::default()
            },
        ),
    ];
    let mut g = c.benchmark_group("embed_512x3x32x32_batch256");
    g.sample_size(10);
    g.throughput(Throughput::Elements(IMAGES as u64));
    for (name, cfg) in backbones {
        let model = Model::build(&cfg, CHANNELS, SIZE, &Params::new(0), &Device::Cpu)
            .expect("model builds");
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(embed(&model, &data, BATCH, &Device::Cpu, &mut |_, _| {}).expect("embed"))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
