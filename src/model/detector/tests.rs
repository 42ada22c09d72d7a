//! Detector tests through the public API: the backbones' feature maps, parameter names,
//! losses on batches with and without boxes, determinism, input errors, and a small overfit
//! of synthetic clumps (Gaussian blobs at known positions) that `detect` must find again.

use super::*;
use crate::geom::Point;
use crate::model::Params;
use crate::rng::stream;
use crate::spec::{Backbone, Optimizer, TrainConfig};
use rand::Rng;

fn cnn(widths: &[usize]) -> ModelConfig {
    ModelConfig {
        backbone: Backbone::CnnSmall,
        widths: widths.to_vec(),
        ..Default::default()
    }
}

fn small_cfg() -> DetectorConfig {
    DetectorConfig {
        rpn_pre_nms_top_n_train: 200,
        rpn_post_nms_top_n_train: 100,
        rpn_pre_nms_top_n_test: 200,
        rpn_post_nms_top_n_test: 50,
        rpn_batch_per_image: 128,
        roi_batch_per_image: 64,
        hidden: 64,
        ..Default::default()
    }
}

/// One synthetic cutout: a faint smooth galaxy, noise, and Gaussian blobs; class 1 white,
/// class 2 red. Boxes are `4 sigma` wide, centred on the blob.
fn scene(seed: u64, size: usize, blobs: usize) -> (Vec<f32>, Vec<TargetBox>) {
    let mut r = stream(seed, "test/detector/scene");
    let mut centres: Vec<(Point, f32, usize)> = Vec::new();
    while centres.len() < blobs {
        let m = 8.0;
        let c = Point::new(
            r.random_range(m..size as f32 - m),
            r.random_range(m..size as f32 - m),
        );
        if centres.iter().all(|(o, _, _)| o.distance(&c) > 14.0) {
            let sigma = r.random_range(1.0..2.2f32);
            centres.push((c, sigma, 1 + r.random_range(0..2usize)));
        }
    }
    let mut img = vec![0f32; 3 * size * size];
    let g = size as f32 / 2.0;
    for y in 0..size {
        for x in 0..size {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let galaxy = 0.3 * (-((px - g).powi(2) + (py - g).powi(2)).sqrt() / 10.0).exp();
            for ch in 0..3 {
                let mut v = galaxy + 0.02 * (r.random::<f32>() - 0.5);
                for (c, s, class) in &centres {
                    let d2 = (px - c.x).powi(2) + (py - c.y).powi(2);
                    let amp = if *class == 1 || ch == 0 { 1.0 } else { 0.15 };
                    v += amp * (-d2 / (2.0 * s * s)).exp();
                }
                img[(ch * size + y) * size + x] = v;
            }
        }
    }
    let boxes = centres
        .iter()
        .map(|(c, s, class)| TargetBox {
            rect: Rect::around(*c, 4.0 * s, 4.0 * s),
            class: *class,
        })
        .collect();
    (img, boxes)
}

fn batch(n: usize, size: usize, seed: u64) -> (Tensor, Vec<Vec<TargetBox>>) {
    let mut data = Vec::new();
    let mut targets = Vec::new();
    for i in 0..n {
        let (img, boxes) = scene(seed * 100 + i as u64, size, 1 + i % 3);
        data.extend(img);
        targets.push(boxes);
    }
    let t = Tensor::from_vec(data, (n, 3, size, size), &Device::Cpu).unwrap();
    (t, targets)
}

fn scalar(t: &Tensor) -> f32 {
    t.to_scalar::<f32>().unwrap()
}

#[test]
fn feature_maps_of_the_backbones() {
    let dev = Device::Cpu;
    let x = Params::new(5)
        .uniform("x", &[2, 3, 32, 32], 1.0, &dev)
        .unwrap();
    let p = Params::new(0);
    let b = crate::model::backbone(&cnn(&[4, 8]), 3, 32, &p, &dev).unwrap();
    let f = b.feature_map(&x, false).unwrap();
    assert_eq!(f.dims(), &[2, 8, 8, 8]);
    assert_eq!(b.map_channels(), 8);
    // forward is the pooled feature map, bit for bit
    let flat = |t: Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let pooled_is_forward = |b: &dyn crate::model::FeatureNet, f: &Tensor| {
        assert_eq!(
            flat(f.mean((2, 3)).unwrap()),
            flat(b.forward(&x, false).unwrap())
        );
    };
    pooled_is_forward(b.as_ref(), &f);
    let small = |backbone| ModelConfig {
        backbone,
        width_multiplier: 0.125,
        ..Default::default()
    };
    let b = crate::model::backbone(&small(Backbone::Resnet), 3, 32, &p, &dev).unwrap();
    let f = b.feature_map(&x, false).unwrap();
    assert_eq!(f.dims(), &[2, 64, 4, 4]);
    pooled_is_forward(b.as_ref(), &f);
    let b = crate::model::backbone(&small(Backbone::Convnext), 3, 32, &p, &dev).unwrap();
    assert_eq!(b.feature_map(&x, false).unwrap().dims(), &[2, 80, 1, 1]);
    for bb in [Backbone::Linear, Backbone::Dieleman] {
        let c = ModelConfig {
            dense_units: 8,
            ..small(bb)
        };
        let b = crate::model::backbone(&c, 3, 64, &p, &dev).unwrap();
        let x = Tensor::zeros((1, 3, 64, 64), DType::F32, &dev).unwrap();
        let e = b.feature_map(&x, false).unwrap_err().to_string();
        assert!(e.contains("no spatial feature map"), "{e}");
    }
}

#[test]
fn parameters_losses_and_detections_have_the_right_shape() {
    let dev = Device::Cpu;
    let p = Params::new(3);
    let det = Detector::new(&cnn(&[8, 16]), &small_cfg(), 3, 64, &p, &dev).unwrap();
    assert_eq!(
        (det.feature_stride(), det.feature_map_size()),
        (4, (16, 16))
    );
    for n in [
        "head.rpn.conv.weight",
        "head.rpn.conv.bias",
        "head.rpn.cls_logits.weight",
        "head.rpn.bbox_pred.bias",
        "head.roi.fc6.weight",
        "head.roi.fc7.bias",
        "head.roi.cls_score.weight",
        "head.roi.bbox_pred.weight",
        "backbone.stages.1.conv.weight",
    ] {
        assert!(p.names().contains(&n.to_string()), "missing {n}");
    }
    assert_eq!(
        p.var("head.rpn.cls_logits.weight").unwrap().dims(),
        &[9, 16, 1, 1]
    );
    assert_eq!(
        p.var("head.rpn.bbox_pred.weight").unwrap().dims(),
        &[36, 16, 1, 1]
    );
    assert_eq!(
        p.var("head.roi.fc6.weight").unwrap().dims(),
        &[64, 16 * 4 * 4]
    );
    assert_eq!(
        p.var("head.roi.bbox_pred.weight").unwrap().dims(),
        &[12, 64]
    );
    assert_eq!(p.trainable_with_prefix("head.").len(), 3 * 2 + 4 * 2);
    let (x, t) = batch(3, 64, 1);
    let l = det
        .losses(&x, &t, &mut stream(0, "test/detector/sample"))
        .unwrap();
    for v in [&l.rpn_objectness, &l.rpn_box, &l.roi_class, &l.roi_box] {
        assert!(scalar(v).is_finite() && scalar(v) >= 0.0);
    }
    let sum =
        scalar(&l.rpn_objectness) + scalar(&l.rpn_box) + scalar(&l.roi_class) + scalar(&l.roi_box);
    assert!((scalar(&l.total) - sum).abs() < 1e-5);
    assert!(scalar(&l.rpn_box) > 0.0 && scalar(&l.roi_class) > 0.5);
    // every trainable parameter gets a gradient
    let g = l.total.backward().unwrap();
    for (name, v) in p.trainable_named() {
        assert!(g.get(v.as_tensor()).is_some(), "no gradient for {name}");
    }
    let d = det.detect(&x).unwrap();
    assert_eq!(d.len(), 3);
    for dets in &d {
        assert!(dets.len() <= 50);
        assert!(dets.windows(2).all(|w| w[0].score >= w[1].score));
        for e in dets {
            assert!((1..=2).contains(&e.class) && e.score > 0.05);
            assert!(e.rect.x0 >= 0.0 && e.rect.x1 <= 64.0 && e.rect.y1 <= 64.0);
        }
    }
}

#[test]
fn images_without_boxes_train_as_background() {
    let dev = Device::Cpu;
    let p = Params::new(3);
    let det = Detector::new(&cnn(&[8, 16]), &small_cfg(), 3, 32, &p, &dev).unwrap();
    let (x, _) = batch(2, 32, 2);
    let l = det
        .losses(&x, &[vec![], vec![]], &mut stream(0, "t"))
        .unwrap();
    assert_eq!((scalar(&l.rpn_box), scalar(&l.roi_box)), (0.0, 0.0));
    assert!(scalar(&l.rpn_objectness) > 0.0 && scalar(&l.total).is_finite());
    let g = l.total.backward().unwrap();
    assert!(
        g.get(p.var("head.rpn.cls_logits.weight").unwrap().as_tensor())
            .is_some()
    );
    assert!(
        g.get(p.var("head.roi.cls_score.weight").unwrap().as_tensor())
            .is_some()
    );
}

#[test]
fn losses_are_deterministic_given_the_stream() {
    let dev = Device::Cpu;
    let (x, t) = batch(2, 32, 3);
    let run = |name: &str| {
        let p = Params::new(4);
        let det = Detector::new(&cnn(&[8, 16]), &small_cfg(), 3, 32, &p, &dev).unwrap();
        let l = det.losses(&x, &t, &mut stream(0, name)).unwrap();
        [l.rpn_objectness, l.rpn_box, l.roi_class, l.roi_box].map(|v| scalar(&v))
    };
    assert_eq!(run("a"), run("a"));
    assert_ne!(run("a"), run("b"));
}

#[test]
fn bad_inputs_are_errors() {
    let dev = Device::Cpu;
    let p = Params::new(0);
    let det = Detector::new(&cnn(&[8]), &small_cfg(), 3, 16, &p, &dev).unwrap();
    let x = Tensor::zeros((1, 3, 16, 16), DType::F32, &dev).unwrap();
    let mut r = stream(0, "t");
    let b = |x0, x1, class| TargetBox {
        rect: Rect::new(x0, 2.0, x1, 6.0),
        class,
    };
    for t in [
        vec![],
        vec![vec![b(2.0, 6.0, 0)]],
        vec![vec![b(2.0, 6.0, 3)]],
        vec![vec![b(6.0, 6.0, 1)]],
        vec![vec![b(f32::NAN, 6.0, 1)]],
    ] {
        assert!(det.losses(&x, &t, &mut r).is_err(), "{t:?}");
    }
    assert!(det.losses(&x, &[vec![b(2.0, 6.0, 2)]], &mut r).is_ok());
    let bad = DetectorConfig {
        rpn_fg_iou: 1.5,
        ..Default::default()
    };
    let e = Detector::new(&cnn(&[8]), &bad, 3, 16, &p, &dev)
        .err()
        .unwrap();
    assert!(e.to_string().contains("rpn_fg_iou"), "{e}");
    let lin = ModelConfig {
        backbone: Backbone::Linear,
        ..Default::default()
    };
    assert!(Detector::new(&lin, &small_cfg(), 3, 16, &p, &dev).is_err());
}

/// Trains on `n` scenes for `steps` full-batch steps and returns (found, blobs, false
/// positives) at score >= 0.5 within 2 px and of the right class.
fn overfit(
    n: usize,
    size: usize,
    steps: usize,
    dcfg: &DetectorConfig,
    seed: u64,
) -> (usize, usize, usize) {
    let dev = Device::Cpu;
    let p = Params::new(11);
    let det = Detector::new(&cnn(&[16, 32]), dcfg, 3, size, &p, &dev).unwrap();
    assert_eq!(det.feature_stride(), 4);
    let (x, t) = batch(n, size, seed);
    let cfg = TrainConfig {
        optimizer: Optimizer::Adamw,
        lr: 3e-3,
        ..Default::default()
    };
    let mut opt = crate::train::optim::Optim::new(p.trainable(), &cfg);
    let mut rng = stream(0, "test/detector/overfit");
    let first = scalar(&det.losses(&x, &t, &mut rng).unwrap().total);
    let mut last = first;
    for _ in 0..steps {
        let l = det.losses(&x, &t, &mut rng).unwrap();
        last = scalar(&l.total);
        opt.backward_step(&l.total).unwrap();
    }
    eprintln!("overfit: loss {first} -> {last}");
    assert!(last < 0.3 * first, "loss {first} -> {last}");
    let dets = det.detect(&x).unwrap();
    let (mut found, mut blobs, mut fp) = (0, 0, 0);
    for (d, truth) in dets.iter().zip(&t) {
        let confident: Vec<&Detection> = d.iter().filter(|e| e.score >= 0.5).collect();
        blobs += truth.len();
        let near = |e: &Detection, b: &TargetBox| {
            e.class == b.class && e.rect.centre().distance(&b.rect.centre()) <= 2.0
        };
        found += truth
            .iter()
            .filter(|b| confident.iter().any(|e| near(e, b)))
            .count();
        fp += confident
            .iter()
            .filter(|e| !truth.iter().any(|b| near(e, b)))
            .count();
    }
    (found, blobs, fp)
}

#[test]
fn overfits_a_few_synthetic_clumps() {
    let (found, blobs, fp) = overfit(6, 64, 400, &small_cfg(), 7);
    eprintln!("overfit: found {found} of {blobs}, {fp} false positives");
    assert_eq!(blobs, 12);
    assert!(found * 10 >= blobs * 9, "found {found} of {blobs}");
    assert!(fp <= 2, "{fp} false positives");
}
