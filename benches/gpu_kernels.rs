//! GPU kernels (built only with `--features cuda`; `just bench-cuda`, on a machine with a GPU):
//! convolution forward and forward+backward at two cnn-small shapes, gzbench's cuDNN op against
//! candle's own CUDA `conv2d` in the same run, and the Dirichlet-multinomial loss with its
//! gradient (the `lgamma`/`digamma` kernels) at batch 256 on the DECaLS tree. Every iteration
//! ends with a device synchronisation, so the time is the GPU's, not the launch's.

use candle_core::{Device, Tensor, Var};
use criterion::{Criterion, criterion_group, criterion_main};
use gzbench::engine::conv::conv2d;
use gzbench::model::heads::dirichlet_concentrations;
use gzbench::model::loss::dirichlet_multinomial_loss;
use gzbench::rng::stream;
use gzbench::tree::Tree;
use rand::Rng;

fn rand_tensor(name: &str, shape: &[usize], dev: &Device) -> Tensor {
    let mut r = stream(0, name);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| r.random::<f32>() - 0.5).collect();
    Tensor::from_vec(v, shape, dev).expect("shape matches data")
}

type Conv = fn(&Tensor, &Tensor) -> candle_core::Result<Tensor>;

fn cudnn(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    conv2d(x, w, 1, 1, 1)
}

fn candle(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    x.conv2d(w, 1, 1, 1, 1)
}

fn bench(c: &mut Criterion) {
    let dev = Device::new_cuda(0).expect("a CUDA device (this bench needs a GPU)");
    let sync = || dev.synchronize().expect("synchronize");
    let engines: [(&str, Conv); 2] = [("gzbench-cudnn", cudnn), ("candle", candle)];
    for (batch, cin, size, cout) in [(256usize, 3usize, 64usize, 32usize), (256, 64, 16, 128)] {
        let shape = format!("{batch}x{cin}x{size}x{size}->{cout}");
        let x = Var::from_tensor(&rand_tensor("x", &[batch, cin, size, size], &dev)).expect("x");
        let w = Var::from_tensor(&rand_tensor("w", &[cout, cin, 3, 3], &dev)).expect("w");
        let probe = rand_tensor("probe", &[batch, cout, size, size], &dev);
        let mut group = c.benchmark_group(format!("gpu_conv_forward/{shape}"));
        for (name, f) in engines {
            group.bench_function(name, |b| {
                b.iter(|| {
                    let y = f(x.as_tensor(), w.as_tensor()).expect("conv");
                    sync();
                    y
                })
            });
        }
        group.finish();
        let mut group = c.benchmark_group(format!("gpu_conv_forward_backward/{shape}"));
        for (name, f) in engines {
            group.bench_function(name, |b| {
                b.iter(|| {
                    let y = f(x.as_tensor(), w.as_tensor()).expect("conv");
                    let loss = (y * &probe).and_then(|t| t.sum_all()).expect("loss");
                    let g = loss.backward().expect("backward");
                    sync();
                    g
                })
            });
        }
        group.finish();
    }
    let tree = Tree::decals();
    let answers = tree.n_answers();
    let logits = Var::from_tensor(&rand_tensor("dm/logits", &[256, answers], &dev)).expect("l");
    let mut r = stream(0, "dm/counts");
    let counts: Vec<f32> = (0..256 * answers)
        .map(|_| r.random_range(0..8) as f32)
        .collect();
    let counts = Tensor::from_vec(counts, (256, answers), &dev).expect("counts");
    c.bench_function("gpu_dirichlet_multinomial_loss_backward/256", |b| {
        b.iter(|| {
            let conc = dirichlet_concentrations(logits.as_tensor()).expect("conc");
            let loss = dirichlet_multinomial_loss(&conc, &counts, &tree).expect("loss");
            let g = loss.backward().expect("backward");
            sync();
            g
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
