//! Convolution forward and forward+backward at the cnn-small shapes (batch 32: 3x64x64 -> 32,
//! 32x32x32 -> 64, 64x16x16 -> 128; 3x3, same padding): the fused engine kernel (`gzbench`: its
//! products on the own AVX-512 kernel where the CPU runs it at full width; `gzbench-avx2`: the
//! same op with `GZBENCH_SIMD=avx2`, i.e. on `gemm`'s AVX2+FMA kernels) against candle's own
//! `conv2d`, measured in the same run, with the allocator set up as in the `gzbench` binary.

use candle_core::{Device, Tensor, Var};
use criterion::{Criterion, criterion_group, criterion_main};
use gzbench::engine::conv::conv2d;
use gzbench::rng::stream;
use gzbench::simd::{Level, set_cap};
use rand::Rng;

fn rand_tensor(name: &str, shape: &[usize]) -> Tensor {
    let mut r = stream(0, name);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| r.random::<f32>() - 0.5).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).expect("shape matches data")
}

type Conv = fn(&Tensor, &Tensor) -> candle_core::Result<Tensor>;

fn fused(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    conv2d(x, w, 1, 1, 1)
}

fn candle(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    x.conv2d(w, 1, 1, 1, 1)
}

fn bench(c: &mut Criterion) {
    gzbench::engine::keep_freed_memory();
    let layers = [(3usize, 64usize, 32usize), (32, 32, 64), (64, 16, 128)];
    let engines: [(&str, Conv, Level); 3] = [
        ("gzbench", fused, Level::Avx512),
        ("gzbench-avx2", fused, Level::Avx2),
        ("candle", candle, Level::Avx512),
    ];
    for (cin, size, cout) in layers {
        let shape = format!("{cin}x{size}x{size}->{cout}");
        let x =
            Var::from_tensor(&rand_tensor("bench/conv/x", &[32, cin, size, size])).expect("tensor");
        let w = Var::from_tensor(&rand_tensor("bench/conv/w", &[cout, cin, 3, 3])).expect("tensor");
        let probe = rand_tensor("bench/conv/probe", &[32, cout, size, size]);
        let mut group = c.benchmark_group(format!("conv_forward/{shape}"));
        group.sample_size(10);
        for (name, f, level) in engines {
            set_cap(level);
            group.bench_function(name, |b| {
                b.iter(|| std::hint::black_box(f(x.as_tensor(), w.as_tensor()).expect("conv")))
            });
        }
        group.finish();
        let mut group = c.benchmark_group(format!("conv_forward_backward/{shape}"));
        group.sample_size(10);
        for (name, f, level) in engines {
            set_cap(level);
            group.bench_function(name, |b| {
                b.iter(|| {
                    let y = f(x.as_tensor(), w.as_tensor()).expect("conv");
                    let loss = (y * &probe).and_then(|t| t.sum_all()).expect("loss");
                    std::hint::black_box(loss.backward().expect("backward"))
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
