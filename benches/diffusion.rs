//! The diffusion model at cpu-profile scale: one training step (noising, U-Net forward, loss,
//! backward, AdamW) on a batch of 32 3x32x32 images, and one DDIM denoising step with
//! classifier-free guidance (the network on 2 x 32 images), U-Net base 32, levels x1 x2 x2.

use candle_core::{Device, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use gzbench::diffusion::unet::UNetSpec;
use gzbench::diffusion::{Diffusion, DiffusionSpec, Trainer};
use gzbench::rng::stream;
use rand::Rng;

fn bench(c: &mut Criterion) {
    gzbench::engine::keep_freed_memory();
    let spec = DiffusionSpec {
        unet: UNetSpec {
            channels: 3,
            base: 32,
            mults: vec![1, 2, 2],
            cond_dim: 8,
            groups: 8,
        },
        steps: 1000,
        prediction: gzbench::diffusion::Prediction::V,
        p_uncond: 0.1,
        lr: 2e-4,
    };
    let mut r = stream(0, "bench/diffusion/batch");
    let (n, size) = (32, 32);
    let v: Vec<f32> = (0..n * 3 * size * size)
        .map(|_| r.random_range(-1.0..1.0))
        .collect();
    let x = Tensor::from_vec(v, (n, 3, size, size), &Device::Cpu).expect("shape matches");
    let cv: Vec<f32> = (0..n * 8).map(|_| r.random::<f32>()).collect();
    let cond = Tensor::from_vec(cv, (n, 8), &Device::Cpu).expect("shape matches");
    let mut trainer = Trainer::new(Diffusion::new(&spec, 0, &Device::Cpu).expect("model"));
    let mut group = c.benchmark_group("diffusion/unet-32-x1x2x2/32x3x32x32");
    group.sample_size(10);
    group.bench_function("train_step", |b| {
        b.iter(|| std::hint::black_box(trainer.step(&x, &cond).expect("step")))
    });
    let model = &trainer.model;
    group.bench_function("guided_denoise_step", |b| {
        b.iter(|| std::hint::black_box(model.guided_eps(&x, 500, &cond, 2.0).expect("eps")))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
