//! Tests of the linear probe: a hand-solved optimum, finite-difference gradients, and the
//! failure of a few-step head that the probe replaces.

use super::*;
use crate::model::layers::Linear;
use crate::rng::stream;
use crate::spec::TrainConfig;
use crate::train::{FitOptions, Net, fit};
use rand::Rng;
use rand_distr::{Distribution, Normal};

/// Two rows x = +1 (label 1) and x = -1 (label 0): by symmetry b = 0 and the optimum solves
/// sigma(w) - 1 + lambda w = 0, found here by bisection.
#[test]
fn binary_optimum_matches_the_hand_solved_equation() {
    let lambda = 0.1;
    let (mut lo, mut hi) = (0.0f64, 20.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if sigmoid(mid) - 1.0 + lambda * mid > 0.0 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let x = vec![vec![1.0], vec![-1.0]];
    let mut m = Logistic::zeros(1, 1);
    let (_, g) = m.fit(&x, &[1, 0], lambda);
    assert!(g < 1e-7, "not converged: {g}");
    assert!((m.theta[0] - lo).abs() < 1e-6, "{} vs {lo}", m.theta[0]);
    assert!(m.theta[1].abs() < 1e-6);
}

#[test]
fn gradient_matches_finite_differences() {
    let mut rng = stream(3, "test/probe-fd");
    let x: Vec<Vec<f64>> = (0..12)
        .map(|_| (0..3).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let y: Vec<usize> = (0..12).map(|i| i % 3).collect();
    for k in [1usize, 3] {
        let y: Vec<usize> = y.iter().map(|&t| if k == 1 { t % 2 } else { t }).collect();
        let mut m = Logistic::zeros(k, 3);
        for v in m.theta.iter_mut() {
            *v = rng.random_range(-0.5..0.5);
        }
        let lambda = 0.3;
        let (g, h) = m.grad_hess(&x, &y, lambda);
        let n = m.theta.len();
        let eps = 1e-5;
        for i in 0..n {
            let mut p = m.clone();
            p.theta[i] += eps;
            let mut q = m.clone();
            q.theta[i] -= eps;
            let fd = (p.objective(&x, &y, lambda) - q.objective(&x, &y, lambda)) / (2.0 * eps);
            assert!((fd - g[i]).abs() < 1e-7, "k={k} d/d{i}: {fd} vs {}", g[i]);
            // Hessian column i by differences of the gradient
            let (gp, _) = p.grad_hess(&x, &y, lambda);
            let (gq, _) = q.grad_hess(&x, &y, lambda);
            for j in 0..n {
                let fd = (gp[j] - gq[j]) / (2.0 * eps);
                assert!((fd - h[j * n + i]).abs() < 1e-6, "k={k} H[{j},{i}]");
            }
        }
    }
}

/// ROC AUC by pairwise comparison (ties count half).
fn auc(scores: &[f64], labels: &[usize]) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for (i, &si) in scores.iter().enumerate() {
        for (j, &sj) in scores.iter().enumerate() {
            if labels[i] == 1 && labels[j] == 0 {
                den += 1.0;
                num += if si > sj {
                    1.0
                } else if si == sj {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    num / den
}

/// Frozen features as a 1x1 "image" per row, and a linear head over them.
struct Head(Linear);

impl Net for Head {
    fn forward(&self, x: &Tensor, _train: bool) -> candle_core::Result<Tensor> {
        self.0.forward(&x.flatten_from(1)?)?.squeeze(1)
    }
}

/// Frozen-backbone features look like this: all positive (ReLU then average pooling) with a
/// large common level and large nuisance variation; the label moves one feature a little.
fn frozen_like_features(seed: u64, n: usize, d: usize) -> (Vec<Vec<f64>>, Vec<usize>) {
    let mut rng = stream(seed, "test/probe-features");
    let noise = Normal::new(0.0, 1.0).unwrap();
    let y: Vec<usize> = (0..n).map(|i| i % 2).collect();
    let x = y
        .iter()
        .map(|&t| {
            (0..d)
                .map(|j| {
                    let shift = if j == 0 { 3.0 * t as f64 } else { 0.0 };
                    (8.0 + 2.0 * noise.sample(&mut rng) + shift).max(0.0)
                })
                .collect()
        })
        .collect();
    (x, y)
}

/// The old failure: a head started from random weights (PyTorch's uniform init) and trained for
/// 20 AdamW steps (n = 25 at batch 16, 10 epochs: what `pretraining_transfer`'s frozen arm got)
/// on unstandardised features keeps the ranking its start gave it. With a start that points
/// against the signal it scores below chance, as frozen astro seed 0 did (AUC 0.29). The
/// converged probe on the same features ranks the held-out rows well.
#[test]
fn few_steps_from_a_random_start_can_invert_the_ranking() {
    let d = 8;
    let (xtr, ytr) = frozen_like_features(1, 25, d);
    let (xte, yte) = frozen_like_features(2, 400, d);
    let dev = Device::Cpu;
    let params = Params::new(0);
    let head = Head(Linear::new(&params, "head", d, 1, &dev).unwrap());
    // a random start that happens to point against the signal feature
    let bound = 1.0 / (d as f64).sqrt();
    let w0: Vec<f32> = (0..d)
        .map(|j| {
            if j == 0 {
                -bound as f32
            } else {
                0.3 * bound as f32
            }
        })
        .collect();
    params
        .var("head.weight")
        .unwrap()
        .set(&Tensor::from_vec(w0, (1, d), &dev).unwrap())
        .unwrap();
    let data = Dataset {
        channels: d,
        size: 1,
        images: xtr.iter().flatten().map(|&v| v as f32).collect(),
        targets: ytr.iter().map(|&t| t as f32).collect(),
        target_len: 1,
    };
    let cfg = TrainConfig {
        lr: 0.003,
        weight_decay: 1e-4,
        schedule: crate::spec::Schedule::Cosine,
        epochs: 10,
        batch_size: 16,
        ..TrainConfig::default()
    };
    fit(
        &head,
        &params,
        &crate::train::bce_with_logits,
        &data,
        &cfg,
        &dev,
        FitOptions {
            seed: 0,
            val: None,
            checkpoint: None,
            augment: false,
            on_epoch: &mut |_, _, _| {},
        },
    )
    .unwrap();
    let w = params.var("head.weight").unwrap().as_tensor().flatten_all();
    let w: Vec<f64> = w
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect();
    let old: Vec<f64> = xte
        .iter()
        .map(|r| r.iter().zip(&w).map(|(a, b)| a * b).sum())
        .collect();
    let old_auc = auc(&old, &yte);
    assert!(
        old_auc < 0.5,
        "the few-step head should stay inverted: AUC {old_auc}"
    );

    let st = Standardiser::fit(&xtr);
    let (xs, _) = (st.apply(&xtr), ());
    // no validation rows here: the probe picks its penalty from the training fit alone
    let (probe, fit) = select((&xs, &ytr), (&[], &[]), 1);
    assert!(fit.grad_norm < 1e-6, "probe not converged: {fit:?}");
    assert!(fit.train_loss < 0.6 * std::f64::consts::LN_2, "{fit:?}");
    let new: Vec<f64> = st.apply(&xte).iter().map(|r| probe.probs(r)[0]).collect();
    let new_auc = auc(&new, &yte);
    assert!(
        new_auc > 0.65,
        "probe AUC {new_auc} (few-step head {old_auc})"
    );
}

/// `fit_head` folds the standardisation into the head: the model's own logits equal the
/// probe's on standardised features.
#[test]
fn fitted_head_reproduces_the_probe_logits() {
    let dev = Device::Cpu;
    let cfg = crate::spec::ModelConfig {
        widths: vec![4, 8],
        ..Default::default()
    };
    let params = Params::new(5);
    let model = Model::build(&cfg, 3, 16, &params, &dev).unwrap();
    let mut rng = stream(1, "test/probe-images");
    let n = 40;
    let make = |rng: &mut rand_chacha::ChaCha8Rng| Dataset {
        channels: 3,
        size: 16,
        images: (0..n * 3 * 256)
            .map(|_| rng.random_range(0.0..1.0))
            .collect(),
        targets: (0..n).map(|i| (i % 2) as f32).collect(),
        target_len: 1,
    };
    let (train, val) = (make(&mut rng), make(&mut rng));
    let fit = fit_head(&model, &params, &train, &val, &dev).unwrap();
    assert!(fit.lambda > 0.0 && fit.val_loss.is_finite());
    let f = features(&model, &train, &dev).unwrap();
    let st = Standardiser::fit(&f);
    let (probe, again) = select(
        (&st.apply(&f), &labels(&train)),
        (
            &st.apply(&features(&model, &val, &dev).unwrap()),
            &labels(&val),
        ),
        1,
    );
    assert_eq!(again.lambda, fit.lambda);
    let (x, _) = crate::train::batch(&train, &(0..n).collect::<Vec<_>>(), &dev).unwrap();
    let logits = model.forward(&x, false).unwrap().to_vec1::<f32>().unwrap();
    for (r, z) in st.apply(&f).iter().zip(&logits) {
        let p = probe.probs(r)[0];
        let want = (p / (1.0 - p)).ln();
        assert!((want - *z as f64).abs() < 1e-3, "{want} vs {z}");
    }
}

#[derive(serde::Deserialize)]
struct SkCase {
    lambda: f64,
    x: Vec<Vec<f64>>,
    y: Vec<bool>,
    mean: Vec<f64>,
    scale: Vec<f64>,
    coef: Vec<f64>,
    intercept: f64,
    proba: Vec<f64>,
}

#[derive(serde::Deserialize)]
struct SkFixture {
    sklearn: String,
    cases: Vec<SkCase>,
}

/// scikit-learn's `StandardScaler` + `LogisticRegression(C = 1 / lambda)` (newton-cholesky,
/// tol 1e-12; `benches/peers/probe_sklearn_fixture.py`) on the committed data: the same
/// standardisation, coefficients and probabilities. sklearn minimises the summed loss, the probe
/// the mean: the probe's penalty is `lambda / n`.
#[test]
fn binary_fit_matches_sklearn() {
    let fx: SkFixture =
        serde_json::from_str(include_str!("../fixtures/logistic_sklearn.json")).unwrap();
    assert!(fx.sklearn.starts_with("1."), "{}", fx.sklearn);
    assert!(fx.cases.len() >= 3);
    let close = |a: &[f64], b: &[f64], tol: f64| {
        a.len() == b.len() && a.iter().zip(b).all(|(u, v)| (u - v).abs() < tol)
    };
    for (k, c) in fx.cases.iter().enumerate() {
        let st = Standardiser::fit(&c.x);
        assert!(close(&st.mean, &c.mean, 1e-12), "case {k}");
        assert!(close(&st.scale, &c.scale, 1e-12), "case {k}");
        let x = st.apply(&c.x);
        let y: Vec<usize> = c.y.iter().map(|&t| usize::from(t)).collect();
        let mut m = Logistic::zeros(1, x[0].len());
        let (_, g) = m.fit(&x, &y, c.lambda / x.len() as f64);
        assert!(g < 1e-7, "case {k}: not converged ({g})");
        let d = m.d;
        assert!(
            close(&m.theta[..d], &c.coef, 1e-6) && (m.theta[d] - c.intercept).abs() < 1e-6,
            "case {k}: ours {:?} sklearn {:?} {}",
            m.theta,
            c.coef,
            c.intercept
        );
        let p: Vec<f64> = x.iter().map(|r| m.probs(r)[0]).collect();
        assert!(close(&p, &c.proba, 1e-7), "case {k}");
    }
}
