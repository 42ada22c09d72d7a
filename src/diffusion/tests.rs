//! The forward process against its closed form, a tiny model that overfits one image and samples
//! it back, deterministic sampling, and a resumed training that continues bit for bit.

use super::*;
use candle_core::DType;

fn tiny(seed: u64, lr: f64, p_uncond: f64) -> Diffusion {
    tiny_predicting(seed, lr, p_uncond, Prediction::Epsilon)
}

fn tiny_predicting(seed: u64, lr: f64, p_uncond: f64, prediction: Prediction) -> Diffusion {
    let spec = DiffusionSpec {
        unet: UNetSpec {
            channels: 1,
            base: 16,
            mults: vec![1, 2],
            cond_dim: 2,
            groups: 4,
        },
        steps: 100,
        prediction,
        p_uncond,
        lr,
    };
    Diffusion::new(&spec, seed, &Device::Cpu).unwrap()
}

/// An 8x8 image in `[-1, 1]`: a bright off-centre blob on a dark background.
fn blob() -> Tensor {
    let v: Vec<f32> = (0..64)
        .map(|i| {
            let (y, x) = ((i / 8) as f32 - 2.5, (i % 8) as f32 - 4.5);
            2.0 * (-(x * x + y * y) / 4.0).exp() - 1.0
        })
        .collect();
    Tensor::from_vec(v, (1, 1, 8, 8), &Device::Cpu).unwrap()
}

#[test]
fn forward_noising_matches_the_closed_form() {
    let s = Schedule::linear(1000);
    assert!((s.betas[0] - 1e-4).abs() < 1e-15 && (s.betas[999] - 0.02).abs() < 1e-15);
    // alpha_bar by hand for the first steps.
    let b1 = 1e-4 + (0.02 - 1e-4) / 999.0;
    assert!((s.alpha_bar[1] - (1.0 - 1e-4) * (1.0 - b1)).abs() < 1e-15);
    // Iterating x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) e_t: its mean coefficient and
    // variance (exact recursions) reach sqrt(alpha_bar) and 1 - alpha_bar ...
    let (mut coef, mut var) = (1.0f64, 0.0f64);
    for (t, b) in s.betas.iter().enumerate() {
        coef *= (1.0 - b).sqrt();
        var = (1.0 - b) * var + b;
        assert!((coef - s.alpha_bar[t].sqrt()).abs() < 1e-12, "t = {t}");
        assert!((var - (1.0 - s.alpha_bar[t])).abs() < 1e-12, "t = {t}");
    }
    // ... and so does a Monte Carlo of the chain up to t = 300, against q_sample's draws.
    let (x0, n, t) = (0.7f64, 20_000, 300);
    let mut rng = crate::rng::stream(1, "test/diffusion/chain");
    let ends: Vec<f64> = (0..n)
        .map(|_| {
            let mut x = x0;
            for b in &s.betas[..=t] {
                let e: f64 = rng.sample(StandardNormal);
                x = (1.0 - b).sqrt() * x + b.sqrt() * e;
            }
            x
        })
        .collect();
    let mean = ends.iter().sum::<f64>() / n as f64;
    let var = ends.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
    let (want_m, want_v) = (s.alpha_bar[t].sqrt() * x0, 1.0 - s.alpha_bar[t]);
    assert!(
        (mean - want_m).abs() < 4.0 * (want_v / n as f64).sqrt(),
        "{mean} vs {want_m}"
    );
    assert!((var / want_v - 1.0).abs() < 0.05, "{var} vs {want_v}");
    // q_sample computes the closed form element by element.
    let x = Tensor::from_vec(vec![0.5f32, -1.0, 0.25, 1.0], (2, 2), &Device::Cpu).unwrap();
    let e = Tensor::from_vec(vec![1.0f32, 2.0, -0.5, 0.0], (2, 2), &Device::Cpu).unwrap();
    let got = s
        .q_sample(&x, &[10, 900], &e)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    for (r, &st) in [10usize, 900].iter().enumerate() {
        let (a, b) = (
            s.alpha_bar[st].sqrt() as f32,
            (1.0 - s.alpha_bar[st]).sqrt() as f32,
        );
        let xs = x.get(r).unwrap().to_vec1::<f32>().unwrap();
        let es = e.get(r).unwrap().to_vec1::<f32>().unwrap();
        for c in 0..2 {
            assert!((got[r][c] - (a * xs[c] + b * es[c])).abs() < 1e-6);
        }
    }
}

#[test]
fn a_tiny_model_overfits_one_image_and_samples_it_back() {
    for prediction in [Prediction::Epsilon, Prediction::V] {
        overfit(prediction);
    }
}

fn overfit(prediction: Prediction) {
    let img = blob();
    let batch = img.repeat((16, 1, 1, 1)).unwrap();
    let cond = Tensor::from_vec(vec![1f32, 0.0], (1, 2), &Device::Cpu).unwrap();
    let conds = cond.repeat((16, 1)).unwrap();
    // (mean squared error to the image, Pearson correlation with it) of two samples
    let fit = |m: &Diffusion| -> (f32, f32) {
        let s = m
            .sample(&cond.repeat((2, 1)).unwrap(), 0, 10, 1.0, [1, 8, 8])
            .unwrap();
        let d = s.broadcast_sub(&img).unwrap().sqr().unwrap();
        let mse = d.mean_all().unwrap().to_scalar::<f32>().unwrap();
        let a = s.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = img
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .repeat(2);
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        let (ma, mb) = (mean(&a), mean(&b));
        let cov: f32 = a.iter().zip(&b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let sd = |v: &[f32], m: f32| v.iter().map(|x| (x - m).powi(2)).sum::<f32>().sqrt();
        (mse, cov / (sd(&a, ma) * sd(&b, mb)).max(1e-12))
    };
    let mut tr = Trainer::new(tiny_predicting(3, 3e-3, 0.0, prediction));
    let before = fit(&tr.model);
    let mut losses = Vec::new();
    let steps = 500;
    for i in 0..steps {
        // linear decay to zero, so the last weights are not a noisy iterate
        tr.set_lr(3e-3 * (steps - i) as f64 / steps as f64);
        losses.push(tr.step(&batch, &conds).unwrap());
    }
    let after = fit(&tr.model);
    let early: f64 = losses[..20].iter().sum::<f64>() / 20.0;
    let late: f64 = losses[steps - 20..].iter().sum::<f64>() / 20.0;
    eprintln!(
        "{prediction:?}: loss {early:.4} -> {late:.4}; samples (mse, r) {before:?} -> {after:?}"
    );
    assert!(late < 0.1 * early, "loss {early} -> {late}");
    // untrained: pure noise (mse ~2, r ~0); trained: the image back
    assert!(
        after.0 < 0.15 && after.0 < 0.1 * before.0,
        "mse {before:?} -> {after:?}"
    );
    assert!(
        after.1 > 0.9 && before.1 < 0.5,
        "correlation {before:?} -> {after:?}"
    );
}

#[test]
fn the_velocity_gives_back_the_image_and_the_noise() {
    let s = Schedule::linear(100);
    let x0 = blob().repeat((3, 1, 1, 1)).unwrap();
    let noise = Tensor::randn(0f32, 1f32, (3, 1, 8, 8), &Device::Cpu).unwrap();
    let t = [0, 50, 99];
    let (xt, v) = (
        s.q_sample(&x0, &t, &noise).unwrap(),
        s.velocity(&x0, &t, &noise).unwrap(),
    );
    for (i, &ti) in t.iter().enumerate() {
        let (a, b) = (s.alpha_bar[ti].sqrt(), (1.0 - s.alpha_bar[ti]).sqrt());
        let (xt, v) = (xt.get(i).unwrap(), v.get(i).unwrap());
        // x0 = a x_t - b v and eps = b x_t + a v, since a^2 + b^2 = 1
        let x0_back = ((&xt * a).unwrap() - (&v * b).unwrap()).unwrap();
        let eps_back = ((&xt * b).unwrap() + (&v * a).unwrap()).unwrap();
        let err = |p: &Tensor, q: &Tensor| {
            (p - q)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        assert!(err(&x0_back, &x0.get(i).unwrap()) < 1e-5);
        assert!(err(&eps_back, &noise.get(i).unwrap()) < 1e-5);
    }
}

#[test]
fn sampling_is_deterministic_for_a_seed() {
    let m = tiny(5, 1e-3, 0.2);
    let mut tr = Trainer::new(m);
    let x = blob().repeat((4, 1, 1, 1)).unwrap();
    let c = Tensor::from_vec(
        vec![1f32, 0.0, 0.0, 1.0, 0.5, 0.5, 1.0, 1.0],
        (4, 2),
        &Device::Cpu,
    )
    .unwrap();
    for _ in 0..3 {
        tr.step(&x, &c).unwrap();
    }
    let m = &tr.model;
    let bits = |t: Tensor| crate::engine::testutil::bits(&t);
    let a = bits(m.sample(&c, 0, 10, 2.0, [1, 8, 8]).unwrap());
    assert_eq!(a, bits(m.sample(&c, 0, 10, 2.0, [1, 8, 8]).unwrap()));
    assert_ne!(
        a,
        bits(m.sample(&c, 4, 10, 2.0, [1, 8, 8]).unwrap()),
        "sample index"
    );
    assert_ne!(
        a,
        bits(m.sample(&c, 0, 10, 0.0, [1, 8, 8]).unwrap()),
        "guidance"
    );
    let other = tiny(6, 1e-3, 0.2);
    assert_ne!(
        a,
        bits(other.sample(&c, 0, 10, 2.0, [1, 8, 8]).unwrap()),
        "seed"
    );
}

#[test]
fn a_resumed_training_continues_bit_for_bit() {
    let x = blob().repeat((4, 1, 1, 1)).unwrap();
    let c = Tensor::ones((4, 2), DType::F32, &Device::Cpu).unwrap();
    let weights = |t: &Trainer| -> Vec<Vec<u32>> {
        let p = t.model.params.trainable();
        p.iter().map(|v| crate::engine::testutil::bits(v)).collect()
    };
    // with and without a moving average of the weights (kept in the checkpoint)
    for ema in [0.0, 0.9] {
        let make = || Trainer::new(tiny(7, 1e-3, 0.3)).with_ema(ema);
        let mut straight = make();
        for _ in 0..6 {
            straight.step(&x, &c).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let mut first = make();
        for _ in 0..3 {
            first.step(&x, &c).unwrap();
        }
        first.save(dir.path()).unwrap();
        let mut resumed = make();
        assert!(resumed.resume(dir.path()).unwrap());
        assert_eq!(resumed.steps(), 3);
        for _ in 0..3 {
            resumed.step(&x, &c).unwrap();
        }
        assert_eq!(resumed.history.train_loss, straight.history.train_loss);
        assert!(weights(&resumed) == weights(&straight));
        let (live, a, b) = (
            weights(&straight),
            straight.into_sampler(),
            resumed.into_sampler(),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let sampler = |m: Diffusion| Trainer::new(m);
        let (a, b) = (weights(&sampler(a)), weights(&sampler(b)));
        assert!(a == b, "the moving averages agree after a resume");
        assert_eq!(
            a == live,
            ema == 0.0,
            "the sampler is the average only when one is kept"
        );
    }
}

#[test]
fn the_moving_average_and_the_samples_keep_no_graph() {
    // A tensor computed from the weights (variables) records its op and holds its inputs; the
    // moving average is updated every step, so it would keep every earlier average alive.
    let x = blob().repeat((2, 1, 1, 1)).unwrap();
    let c = Tensor::ones((2, 2), DType::F32, &Device::Cpu).unwrap();
    let mut t = Trainer::new(tiny(3, 1e-3, 0.3)).with_ema(0.9);
    for _ in 0..3 {
        t.step(&x, &c).unwrap();
    }
    let ema = t.ema.as_ref().unwrap();
    assert!(!ema.is_empty());
    assert!(
        ema.values().all(|e| !e.track_op()),
        "an average records its op"
    );
    let m = t.into_sampler().unwrap();
    let s = m.sample(&c, 0, 3, 2.0, [1, 8, 8]).unwrap();
    assert!(!s.track_op(), "a sample records the sampling graph");
}
