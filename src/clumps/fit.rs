//! Training the clump detector: the project's loop shape (`train::fit`) for box targets.
//!
//! ```text
//! epochs = clamp(train.epochs, ceil(min_steps / steps_per_epoch), max_steps / steps_per_epoch)
//! for epoch: shuffle ("clumps/shuffle/epoch-<e>"); for batch:
//!     each image and its boxes turned by a seeded element of the dihedral group
//!     ("clumps/augment", Popp et al.'s flips and quarter turns), lr from the schedule,
//!     detector losses (anchor and RoI sampling from "clumps/sample/epoch-<e>"), AdamW step
//!     at the end of each validation round: precise BatchNorm statistics, AP at IoU 0.5 on the
//!     validation galaxies against the run's own labels (truth or volunteer consensus: never
//!     the truth when training on volunteers) -> keep the best weights; stop after `patience`
//!     rounds without improvement, never before `min_steps` steps
//! restore the best weights
//! ```

use crate::eval::detection::{Criterion, Scored, Truth, average_precision};
use crate::geom::{Point, Rect};
use crate::model::Params;
use crate::model::detector::{Detection, Detector, TargetBox};
use crate::rng::{item_stream, stream};
use crate::spec::TrainConfig;
use crate::train::optim::lr_at;
use crate::train::{Net, restore, snapshot};
use candle_core::{Device, Result, Tensor};
use rand::Rng;
use rand::seq::SliceRandom;

/// Images with their training boxes.
pub struct Labelled<'a> {
    /// `3 x size x size` per image, concatenated.
    pub images: &'a [f32],
    pub size: usize,
    pub boxes: &'a [Vec<TargetBox>],
}

impl Labelled<'_> {
    pub fn len(&self) -> usize {
        self.boxes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.boxes.is_empty()
    }

    /// Images `idx` as an `N x 3 x size x size` tensor, each turned by `turns[k]`.
    fn batch(&self, idx: &[usize], turns: &[usize], device: &Device) -> Result<Tensor> {
        let n = 3 * self.size * self.size;
        let mut x = Vec::with_capacity(idx.len() * n);
        for (&i, &t) in idx.iter().zip(turns) {
            x.extend(dihedral_image(
                &self.images[i * n..(i + 1) * n],
                self.size,
                t,
            ));
        }
        Tensor::from_vec(x, (idx.len(), 3, self.size, self.size), device)
    }
}

/// Element `t` (0..8) of the dihedral group on a point of a `size x size` image: `t % 4`
/// quarter turns ((x, y) -> (y, size - x)) after a mirror ((x, y) -> (size - x, y)) when t >= 4.
pub fn dihedral_point(p: Point, size: usize, t: usize) -> Point {
    let s = size as f32;
    let mut q = if t >= 4 { Point::new(s - p.x, p.y) } else { p };
    for _ in 0..t % 4 {
        q = Point::new(q.y, s - q.x);
    }
    q
}

/// A box under [`dihedral_point`].
pub fn dihedral_rect(r: &Rect, size: usize, t: usize) -> Rect {
    let a = dihedral_point(Point::new(r.x0, r.y0), size, t);
    let b = dihedral_point(Point::new(r.x1, r.y1), size, t);
    Rect::new(a.x.min(b.x), a.y.min(b.y), a.x.max(b.x), a.y.max(b.y))
}

/// A `3 x size x size` image under [`dihedral_point`] (pixel centres map to pixel centres).
pub fn dihedral_image(img: &[f32], size: usize, t: usize) -> Vec<f32> {
    if t == 0 {
        return img.to_vec();
    }
    let n = size * size;
    let mut out = vec![0f32; img.len()];
    for y in 0..size {
        for x in 0..size {
            let q = dihedral_point(Point::new(x as f32 + 0.5, y as f32 + 0.5), size, t);
            let (qx, qy) = (q.x.floor() as usize, q.y.floor() as usize);
            for c in 0..3 {
                out[c * n + qy * size + qx] = img[c * n + y * size + x];
            }
        }
    }
    out
}

/// How the training went.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FitHistory {
    pub train_loss: Vec<f64>,
    /// AP at IoU 0.5 on the validation galaxies after each round.
    pub val_ap: Vec<f64>,
    pub best_epoch: Option<usize>,
    pub steps: usize,
    pub stopped_early: bool,
}

/// The detector's backbone seen as a network, for precise BatchNorm statistics.
struct BackboneNet<'a>(&'a Detector);

impl Net for BackboneNet<'_> {
    fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.0.backbone_features(x, train)
    }
}

/// Detections of every image of `data` (evaluation mode), in batches of `batch`.
pub fn detect_all(
    det: &Detector,
    images: &[f32],
    size: usize,
    batch: usize,
    device: &Device,
) -> Result<Vec<Vec<Detection>>> {
    let n = 3 * size * size;
    let count = images.len() / n;
    let mut out = Vec::with_capacity(count);
    for start in (0..count).step_by(batch.max(1)) {
        let end = (start + batch.max(1)).min(count);
        let x = Tensor::from_vec(
            images[start * n..end * n].to_vec(),
            (end - start, 3, size, size),
            device,
        )?;
        out.extend(det.detect(&x)?);
    }
    Ok(out)
}

/// Class-agnostic AP at IoU 0.5 of `dets` against boxes `boxes`.
pub fn ap50(boxes: &[Vec<TargetBox>], dets: &[Vec<Detection>]) -> f64 {
    let truth: Vec<Vec<Truth>> = boxes
        .iter()
        .map(|b| {
            b.iter()
                .map(|t| Truth {
                    rect: t.rect,
                    ignore: false,
                })
                .collect()
        })
        .collect();
    let scored: Vec<Vec<Scored>> = dets
        .iter()
        .map(|d| {
            d.iter()
                .map(|d| Scored {
                    rect: d.rect,
                    score: d.score,
                })
                .collect()
        })
        .collect();
    average_precision(&truth, &scored, Criterion::Iou(0.5))
}

/// Train `det` (parameters `params`) on `train`, early-stopping on `val`.
pub fn fit(
    det: &Detector,
    params: &Params,
    train: &Labelled,
    val: &Labelled,
    cfg: &TrainConfig,
    seed: u64,
    device: &Device,
) -> Result<FitHistory> {
    let mut opt = crate::train::optimizer(params, cfg);
    let steps_per_epoch = train.len().div_ceil(cfg.batch_size.max(1)).max(1);
    let (epochs, round) = crate::train::schedule(cfg, train.len());
    let total = steps_per_epoch * epochs;
    let mut hist = FitHistory::default();
    let mut best: Option<(f64, _)> = None;
    let mut wait = 0;
    // the training images as the dataset precise BatchNorm walks (built once, not per round)
    let bn_data = (!cfg.freeze_backbone).then(|| crate::data::Dataset {
        channels: 3,
        size: train.size,
        images: train.images.to_vec(),
        targets: vec![0.0; train.len()],
        target_len: 1,
    });
    for epoch in 0..epochs {
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut stream(seed, &format!("clumps/shuffle/epoch-{epoch}")));
        let mut sampler = stream(seed, &format!("clumps/sample/epoch-{epoch}"));
        let mut sum = 0.0;
        for (i, idx) in order.chunks(cfg.batch_size.max(1)).enumerate() {
            let turns: Vec<usize> = idx
                .iter()
                .map(|&k| {
                    item_stream(seed, &format!("clumps/augment/epoch-{epoch}"), k as u64)
                        .random_range(0..8)
                })
                .collect();
            let x = train.batch(idx, &turns, device)?;
            let targets: Vec<Vec<TargetBox>> = idx
                .iter()
                .zip(&turns)
                .map(|(&k, &t)| {
                    train.boxes[k]
                        .iter()
                        .map(|b| TargetBox {
                            rect: dihedral_rect(&b.rect, train.size, t),
                            class: b.class,
                        })
                        .collect()
                })
                .collect();
            opt.set_lr(lr_at(cfg, epoch * steps_per_epoch + i, total, epoch));
            let losses = det.losses(&x, &targets, &mut sampler)?;
            let value = crate::train::finite_loss(&losses.total, epoch, i, steps_per_epoch)?;
            opt.backward_step(&losses.total)?;
            sum += value * idx.len() as f64;
            hist.steps += 1;
        }
        hist.train_loss.push(sum / train.len().max(1) as f64);
        let round_ends = (epoch + 1) % round == 0 || epoch + 1 == epochs;
        if !round_ends {
            continue;
        }
        if let Some(data) = &bn_data {
            crate::train::precise_batchnorm(
                &BackboneNet(det),
                params,
                data,
                cfg.batch_size,
                device,
            )?;
        }
        if val.is_empty() {
            hist.best_epoch = Some(epoch);
            continue;
        }
        let ap = ap50(
            val.boxes,
            &detect_all(det, val.images, val.size, 64, device)?,
        );
        let ap = if ap.is_finite() { ap } else { 0.0 };
        hist.val_ap.push(ap);
        if best.as_ref().is_none_or(|(b, _)| ap > *b) {
            best = Some((ap, snapshot(params)?));
            hist.best_epoch = Some(epoch);
            wait = 0;
        } else {
            wait += 1;
            if cfg
                .early_stopping_patience
                .is_some_and(|p| wait >= p && hist.steps >= cfg.min_steps)
            {
                hist.stopped_early = true;
                break;
            }
        }
    }
    if let Some((_, w)) = &best {
        restore(params, w)?;
    }
    Ok(hist)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dihedral_maps_images_and_boxes_alike() {
        let size = 5;
        // one bright pixel at column 1, row 0 in every band
        let mut img = vec![0f32; 3 * size * size];
        for c in 0..3 {
            img[c * size * size + 1] = 1.0;
        }
        let pixel = Rect::new(1.0, 0.0, 2.0, 1.0);
        for t in 0..8 {
            let out = dihedral_image(&img, size, t);
            let r = dihedral_rect(&pixel, size, t);
            let (x, y) = (r.x0 as usize, r.y0 as usize);
            assert_eq!((r.width(), r.height()), (1.0, 1.0));
            assert_eq!(out[y * size + x], 1.0, "turn {t}");
            assert_eq!(out.iter().sum::<f32>(), 3.0);
        }
        // a quarter turn: (x, y) -> (y, size - x): pixel (1, 0) goes to column 0, row 3
        let q = dihedral_rect(&pixel, size, 1);
        assert_eq!(q, Rect::new(0.0, 3.0, 1.0, 4.0));
        // all eight elements are distinct on an asymmetric box
        let r = Rect::new(0.0, 0.0, 2.0, 1.0);
        let seen: Vec<Rect> = (0..8).map(|t| dihedral_rect(&r, 7, t)).collect();
        for i in 0..8 {
            for j in 0..i {
                assert_ne!(seen[i], seen[j], "elements {i} and {j}");
            }
        }
    }
}
