//! Trainer tests: resuming from a checkpoint continues bit-for-bit; early stopping keeps the
//! best epoch's weights; `min_steps` stretches small training sets and early stopping waits for
//! it; layer-wise learning rates.

use super::*;
use crate::rng::stream;
use crate::spec::{ModelConfig, Schedule, TrainConfig};
use rand::Rng;

/// `n` random 3x8x8 images; labels follow the mean of the first channel (learnable) unless
/// `random_labels`.
fn data(seed: u64, n: usize, random_labels: bool) -> Dataset {
    let mut r = stream(seed, "test/train-data");
    let mut images = Vec::new();
    let mut targets = Vec::new();
    for _ in 0..n {
        let img: Vec<f32> = (0..192).map(|_| r.random_range(-1.0..1.0f32)).collect();
        let m: f32 = img[..64].iter().sum::<f32>() / 64.0;
        targets.push(if random_labels {
            r.random_range(0..2) as f32
        } else {
            (m > 0.0) as u8 as f32
        });
        images.extend(img);
    }
    Dataset {
        channels: 3,
        size: 8,
        images,
        targets,
        target_len: 1,
    }
}

fn model(seed: u64) -> (Model, Params) {
    let p = Params::new(seed);
    let cfg = ModelConfig {
        widths: vec![4, 8],
        ..ModelConfig::default()
    };
    let m = Model::build(&cfg, 3, 8, &p, &Device::Cpu).unwrap();
    (m, p)
}

fn weights(p: &Params) -> Vec<Vec<f32>> {
    p.names()
        .iter()
        .map(|n| {
            let t = p.var(n).unwrap().as_tensor().flatten_all().unwrap();
            t.to_vec1::<f32>().unwrap()
        })
        .collect()
}

#[test]
fn resume_from_checkpoint_is_bit_identical() {
    let d = data(1, 40, false);
    let cfg = TrainConfig {
        epochs: 4,
        batch_size: 16,
        schedule: Schedule::Cosine,
        ..TrainConfig::default()
    };
    let full = tempfile::tempdir().unwrap();
    let saved = tempfile::tempdir().unwrap();
    let (m, p) = model(3);
    let mut copy_after_epoch_1 = |e: usize, _: f64, _: f64| {
        if e == 1 {
            for f in ["checkpoint.safetensors", "checkpoint.json"] {
                std::fs::copy(full.path().join(f), saved.path().join(f)).unwrap();
            }
        }
    };
    let opts = FitOptions {
        seed: 9,
        val: None,
        checkpoint: Some(full.path()),
        augment: false,
        on_epoch: &mut copy_after_epoch_1,
    };
    let h_full = fit(&m, &p, &bce_with_logits, &d, &cfg, &Device::Cpu, opts).unwrap();
    // a fresh process: new model, same seed, resume from the copy taken after epoch 1
    let (m2, p2) = model(3);
    let mut epochs_run = vec![];
    let mut record = |e: usize, _: f64, _: f64| epochs_run.push(e);
    let opts = FitOptions {
        seed: 9,
        val: None,
        checkpoint: Some(saved.path()),
        augment: false,
        on_epoch: &mut record,
    };
    let h_resumed = fit(&m2, &p2, &bce_with_logits, &d, &cfg, &Device::Cpu, opts).unwrap();
    assert_eq!(epochs_run, [2, 3]);
    assert_eq!(h_full, h_resumed);
    assert_eq!(weights(&p), weights(&p2));
}

/// `fit` with a validation set, seed 1, no checkpoint or augmentation.
fn fit_with_val(
    m: &Model,
    p: &Params,
    train: &Dataset,
    val: &Dataset,
    cfg: &TrainConfig,
) -> History {
    let opts = FitOptions {
        seed: 1,
        val: Some(val),
        checkpoint: None,
        augment: false,
        on_epoch: &mut |_, _, _| {},
    };
    fit(m, p, &bce_with_logits, train, cfg, &Device::Cpu, opts).unwrap()
}

#[test]
fn early_stopping_restores_the_best_epoch() {
    // random labels: the training set is memorised and the validation loss rises
    let (train, val) = (data(5, 64, true), data(6, 64, true));
    let cfg = TrainConfig {
        epochs: 30,
        batch_size: 16,
        lr: 0.01,
        early_stopping_patience: Some(3),
        ..TrainConfig::default()
    };
    let (m, p) = model(4);
    let h = fit_with_val(&m, &p, &train, &val, &cfg);
    assert!(h.stopped_early, "{h:?}");
    let best = h.best_epoch.unwrap();
    assert_eq!(h.val_loss.len(), best + 4, "stops 3 epochs after the best");
    let min = h.val_loss.iter().cloned().fold(f64::INFINITY, f64::min);
    assert_eq!(h.val_loss[best], min);
    let now = evaluate_loss(&m, &bce_with_logits, &val, 16, &Device::Cpu).unwrap();
    assert!((now - min).abs() < 1e-6, "{now} vs best {min}");
}

#[test]
fn precise_batchnorm_sets_running_stats_to_the_training_set_statistics() {
    let d = data(2, 48, false);
    let (m, p) = model(6);
    precise_batchnorm(&m, &p, &d, 16, &Device::Cpu).unwrap();
    // the first BatchNorm sees conv1(x): its running mean must be the mean over the three
    // batches of the per-channel batch means, i.e. the channel mean over the whole set
    let w = p.var("backbone.stages.0.conv.weight").unwrap();
    let all: Vec<usize> = (0..48).collect();
    let (x, _) = batch(&d, &all, &Device::Cpu).unwrap();
    let y = x.conv2d(w.as_tensor(), 1, 1, 1, 1).unwrap();
    let want = y.mean_keepdim((0, 2, 3)).unwrap().flatten_all().unwrap();
    let want = want.to_vec1::<f32>().unwrap();
    let got = p.var("backbone.stages.0.bn.running_mean").unwrap();
    let got = got.as_tensor().to_vec1::<f32>().unwrap();
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-5, "{got:?} vs {want:?}");
    }
}

#[test]
fn frozen_backbone_gets_no_update_and_no_optimizer_state() {
    let d = data(3, 32, false);
    let (mut m, p) = model(8);
    m.set_frozen_backbone(true);
    let cfg = TrainConfig {
        epochs: 2,
        batch_size: 16,
        freeze_backbone: true,
        ..TrainConfig::default()
    };
    let before = weights(&p);
    let dir = tempfile::tempdir().unwrap();
    let opts = FitOptions {
        seed: 2,
        val: None,
        checkpoint: Some(dir.path()),
        augment: false,
        on_epoch: &mut |_, _, _| {},
    };
    fit(&m, &p, &bce_with_logits, &d, &cfg, &Device::Cpu, opts).unwrap();
    let after = weights(&p);
    for ((name, b), a) in p.names().iter().zip(&before).zip(&after) {
        if name.starts_with("head.") {
            assert_ne!(b, a, "{name} should train");
        } else {
            assert_eq!(b, a, "{name} should stay frozen");
        }
    }
    // optimizer state only for the head's weight and bias
    let t = candle_core::safetensors::load(dir.path().join("checkpoint.safetensors"), &Device::Cpu)
        .unwrap();
    let opt: Vec<&String> = t.keys().filter(|k| k.starts_with("opt.")).collect();
    assert_eq!(opt.len(), 4, "{opt:?}");
}

#[test]
fn min_steps_stretch_small_sets_into_rounds() {
    let cfg = TrainConfig {
        epochs: 10,
        batch_size: 16,
        min_steps: 200,
        ..TrainConfig::default()
    };
    // 20 images: 2 steps an epoch, 100 epochs in 10 rounds of 10
    assert_eq!(schedule(&cfg, 20), (100, 10));
    // 1000 images: 63 steps an epoch, min_steps already met
    assert_eq!(schedule(&cfg, 1000), (10, 1));
    let capped = TrainConfig {
        max_steps: Some(126),
        ..cfg.clone()
    };
    assert_eq!(schedule(&capped, 1000), (2, 1));
    assert_eq!(
        schedule(
            &TrainConfig {
                min_steps: 0,
                ..cfg
            },
            20
        ),
        (10, 1)
    );
}

#[test]
fn early_stopping_never_stops_before_min_steps() {
    // random labels: validation loss rises at once, but 24 images train at least 60 steps
    let (train, val) = (data(5, 24, true), data(6, 24, true));
    let cfg = TrainConfig {
        epochs: 3,
        batch_size: 8,
        lr: 0.01,
        min_steps: 60,
        early_stopping_patience: Some(1),
        ..TrainConfig::default()
    };
    let (m, p) = model(4);
    let h = fit_with_val(&m, &p, &train, &val, &cfg);
    assert!(h.steps >= 60, "{h:?}");
    assert_eq!(h.steps_per_epoch, 3);
    // one validation per round of 20 / 3 = 6 epochs, at the end of a round
    assert!(
        h.val_epochs.iter().all(|e| (e + 1) % 6 == 0 || e + 1 == 20),
        "{h:?}"
    );
    assert_eq!(h.val_loss.len(), h.val_epochs.len());
}

#[test]
fn layer_wise_rates_decay_from_the_head_down() {
    let names: Vec<String> = [
        "head.weight",
        "backbone.stages.1.conv.weight",
        "backbone.stages.0.conv.weight",
        "backbone.stem.weight",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let cfg = TrainConfig {
        backbone_lr_factor: Some(0.1),
        layer_decay: Some(0.5),
        ..TrainConfig::default()
    };
    let s = optim::lr_scales(&names, &cfg);
    assert_eq!(s, vec![1.0, 0.1 * 0.5, 0.1 * 0.25, 0.1 * 0.125]);
    assert!(
        optim::lr_scales(&names, &TrainConfig::default())
            .iter()
            .all(|&v| v == 1.0)
    );
}

#[test]
fn bce_stays_finite_for_confident_logits() {
    let dev = Device::Cpu;
    let x = candle_core::Var::from_vec(vec![40f32, -40.0, 40.0, 0.0], 4, &dev).unwrap();
    let y = Tensor::from_vec(vec![1f32, 0.0, 0.0, 1.0], 4, &dev).unwrap();
    let l = bce_with_logits(x.as_tensor(), &y).unwrap();
    // (0 + 0 + 40 + ln 2) / 4
    let want = (40.0 + std::f64::consts::LN_2) / 4.0;
    assert!((l.to_scalar::<f32>().unwrap() as f64 - want).abs() < 1e-5);
    let g = l.backward().unwrap();
    let g = g.get(x.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
    // (sigmoid(x) - y) / 4
    let want = [0.0, 0.0, 0.25, -0.125];
    for (a, b) in g.iter().zip(want) {
        assert!((a - b).abs() < 1e-6, "{g:?}");
    }
}
