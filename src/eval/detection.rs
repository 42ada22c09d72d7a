//! Detection metrics as the clump literature reports them (Popp et al. 2023; Dickinson et al.
//! 2022): completeness and purity of scored detections against true objects matched within a
//! radius (or an IoU) at a score threshold, the precision-recall curve over thresholds, and
//! COCO-style average precision at IoU 0.5 (101-point interpolated precision envelope).
//!
//! Matching is greedy in descending score (ties by index), as COCO does: a detection takes the
//! closest (or highest-IoU) still-unmatched true object within the radius; one that finds none
//! but lies on an *ignored* object (a clump too faint to be seen, which nobody could be blamed
//! for finding or missing) counts neither way; otherwise it is a false detection. Pure functions
//! on host values; nothing here runs a model.

use crate::geom::Rect;

/// A true object of one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Truth {
    pub rect: Rect,
    /// Ignored objects are neither required (completeness) nor held against a detection.
    pub ignore: bool,
}

/// A scored detection (or volunteer consensus) of one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub rect: Rect,
    pub score: f32,
}

/// How two boxes are matched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Criterion {
    /// Centres within this many pixels.
    Radius(f32),
    /// Intersection over union at least this.
    Iou(f32),
}

/// What became of one detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Matched true object `i`.
    Hit(usize),
    /// On an ignored object only.
    Ignored,
    False,
}

/// Greedy matching of one image's detections to its true objects under `c`: the outcome of each
/// detection, in the order given.
pub fn match_image(truth: &[Truth], dets: &[Scored], c: Criterion) -> Vec<Outcome> {
    let mut order: Vec<usize> = (0..dets.len()).collect();
    order.sort_by(|&a, &b| dets[b].score.total_cmp(&dets[a].score).then(a.cmp(&b)));
    let mut taken = vec![false; truth.len()];
    let mut out = vec![Outcome::False; dets.len()];
    for d in order {
        // (quality, index): smaller distance or larger IoU is better
        let quality = |t: &Truth| -> Option<f32> {
            match c {
                Criterion::Radius(r) => {
                    let dist = t.rect.centre().distance(&dets[d].rect.centre());
                    (dist <= r).then_some(-dist)
                }
                Criterion::Iou(min) => {
                    let iou = t.rect.iou(&dets[d].rect);
                    (iou >= min && iou > 0.0).then_some(iou)
                }
            }
        };
        let best = |ignored: bool| {
            truth
                .iter()
                .enumerate()
                .filter(|(i, t)| t.ignore == ignored && (ignored || !taken[*i]))
                .filter_map(|(i, t)| quality(t).map(|q| (q, i)))
                .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)))
        };
        if let Some((_, i)) = best(false) {
            taken[i] = true;
            out[d] = Outcome::Hit(i);
        } else if best(true).is_some() {
            out[d] = Outcome::Ignored;
        }
    }
    out
}

/// Counts at one score threshold over a set of images.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Counts {
    /// True objects (not ignored).
    pub objects: usize,
    /// True objects found.
    pub found: usize,
    /// Detections kept (score >= threshold, not ignored).
    pub detections: usize,
    /// Kept detections that match a true object.
    pub correct: usize,
}

impl Counts {
    /// Found / objects (NaN without objects).
    pub fn completeness(&self) -> f64 {
        ratio(self.found, self.objects)
    }

    /// Correct / detections (NaN without detections).
    pub fn purity(&self) -> f64 {
        ratio(self.correct, self.detections)
    }

    /// Adds the counts of `o` (e.g. another image's).
    pub fn add(&mut self, o: Counts) {
        self.objects += o.objects;
        self.found += o.found;
        self.detections += o.detections;
        self.correct += o.correct;
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

/// Which true objects of one image are found by its detections scoring at least `threshold`
/// (matched among those detections only), and the image's counts.
pub fn found_at(
    truth: &[Truth],
    dets: &[Scored],
    c: Criterion,
    threshold: f32,
) -> (Vec<bool>, Counts) {
    let kept: Vec<Scored> = dets
        .iter()
        .copied()
        .filter(|d| d.score >= threshold)
        .collect();
    let outcomes = match_image(truth, &kept, c);
    let mut found = vec![false; truth.len()];
    let mut n = Counts {
        objects: truth.iter().filter(|t| !t.ignore).count(),
        ..Counts::default()
    };
    for o in outcomes {
        match o {
            Outcome::Hit(i) => {
                found[i] = true;
                n.found += 1;
                n.detections += 1;
                n.correct += 1;
            }
            Outcome::False => n.detections += 1,
            Outcome::Ignored => {}
        }
    }
    (found, n)
}

/// Completeness and purity over images (`truth[i]`, `dets[i]` per image) at `threshold`.
pub fn counts_at(
    truth: &[Vec<Truth>],
    dets: &[Vec<Scored>],
    c: Criterion,
    threshold: f32,
) -> Counts {
    let mut total = Counts::default();
    for (t, d) in truth.iter().zip(dets) {
        total.add(found_at(t, d, c, threshold).1);
    }
    total
}

/// One point of the precision-recall curve.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PrPoint {
    pub threshold: f32,
    pub completeness: f64,
    pub purity: f64,
}

/// Every detection's score and whether it is correct (ignored ones dropped), matched once with
/// all detections (the COCO way), plus the number of true objects.
fn ranked(truth: &[Vec<Truth>], dets: &[Vec<Scored>], c: Criterion) -> (Vec<(f32, bool)>, usize) {
    let mut scored = Vec::new();
    let mut objects = 0;
    for (t, d) in truth.iter().zip(dets) {
        objects += t.iter().filter(|t| !t.ignore).count();
        for (det, o) in d.iter().zip(match_image(t, d, c)) {
            match o {
                Outcome::Hit(_) => scored.push((det.score, true)),
                Outcome::False => scored.push((det.score, false)),
                Outcome::Ignored => {}
            }
        }
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    (scored, objects)
}

/// The precision-recall curve: one point per distinct score, from the highest down.
pub fn pr_curve(truth: &[Vec<Truth>], dets: &[Vec<Scored>], c: Criterion) -> Vec<PrPoint> {
    let (scored, objects) = ranked(truth, dets, c);
    let mut out: Vec<PrPoint> = Vec::new();
    let (mut tp, mut n) = (0usize, 0usize);
    for (i, &(s, ok)) in scored.iter().enumerate() {
        tp += ok as usize;
        n += 1;
        if scored.get(i + 1).is_some_and(|next| next.0 == s) {
            continue;
        }
        out.push(PrPoint {
            threshold: s,
            completeness: ratio(tp, objects),
            purity: ratio(tp, n),
        });
    }
    out
}

/// COCO average precision under `c`: the mean over recall 0, 0.01, ..., 1 of the precision
/// envelope (the best precision at that recall or more; 0 where the recall is never reached).
/// NaN without true objects.
pub fn average_precision(truth: &[Vec<Truth>], dets: &[Vec<Scored>], c: Criterion) -> f64 {
    let (scored, objects) = ranked(truth, dets, c);
    if objects == 0 {
        return f64::NAN;
    }
    let mut recall = Vec::with_capacity(scored.len());
    let mut precision = Vec::with_capacity(scored.len());
    let mut tp = 0usize;
    for (i, &(_, ok)) in scored.iter().enumerate() {
        tp += ok as usize;
        recall.push(tp as f64 / objects as f64);
        precision.push(tp as f64 / (i + 1) as f64);
    }
    for i in (0..precision.len().saturating_sub(1)).rev() {
        precision[i] = precision[i].max(precision[i + 1]);
    }
    let mut sum = 0.0;
    for k in 0..=100 {
        let r = k as f64 / 100.0;
        // first index whose recall reaches r (recall is non-decreasing)
        let i = recall.partition_point(|&x| x < r - 1e-12);
        sum += precision.get(i).copied().unwrap_or(0.0);
    }
    sum / 101.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::Point;

    fn t(x: f32, y: f32) -> Truth {
        Truth {
            rect: Rect::around(Point::new(x, y), 4.0, 4.0),
            ignore: false,
        }
    }

    fn d(x: f32, y: f32, score: f32) -> Scored {
        Scored {
            rect: Rect::around(Point::new(x, y), 4.0, 4.0),
            score,
        }
    }

    #[test]
    fn greedy_matching_by_score_and_distance() {
        let truth = [t(10.0, 10.0), t(20.0, 10.0)];
        // the higher-scored detection takes the nearer truth; the second near the same truth
        // is false (one match per truth); the third finds the other truth.
        let dets = [d(11.0, 10.0, 0.9), d(10.0, 11.0, 0.8), d(21.0, 11.0, 0.3)];
        let out = match_image(&truth, &dets, Criterion::Radius(2.0));
        assert_eq!(out, vec![Outcome::Hit(0), Outcome::False, Outcome::Hit(1)]);
        // lower the first score: now the second detection (closer? equal distance 1) wins
        let dets = [d(11.0, 10.0, 0.1), d(10.0, 11.0, 0.8)];
        let out = match_image(&truth, &dets, Criterion::Radius(2.0));
        assert_eq!(out, vec![Outcome::False, Outcome::Hit(0)]);
    }

    #[test]
    fn ignored_objects_count_neither_way() {
        let mut faint = t(30.0, 30.0);
        faint.ignore = true;
        let truth = [t(10.0, 10.0), faint];
        let dets = [d(30.0, 30.5, 0.9), d(50.0, 50.0, 0.9)];
        let (found, n) = found_at(&truth, &dets, Criterion::Radius(2.0), 0.5);
        assert_eq!(found, vec![false, false]);
        assert_eq!(
            n,
            Counts {
                objects: 1,
                found: 0,
                detections: 1,
                correct: 0
            }
        );
    }

    #[test]
    fn completeness_and_purity_at_a_threshold() {
        let truth = vec![vec![t(10.0, 10.0), t(20.0, 20.0)], vec![t(5.0, 5.0)]];
        let dets = vec![
            vec![d(10.0, 10.0, 0.9), d(40.0, 40.0, 0.6), d(20.0, 21.0, 0.2)],
            vec![d(5.0, 6.0, 0.7)],
        ];
        let c = counts_at(&truth, &dets, Criterion::Radius(1.5), 0.5);
        // found 2 of 3; 3 kept, 2 correct
        assert!((c.completeness() - 2.0 / 3.0).abs() < 1e-12);
        assert!((c.purity() - 2.0 / 3.0).abs() < 1e-12);
        let all = counts_at(&truth, &dets, Criterion::Radius(1.5), 0.0);
        assert_eq!((all.found, all.detections), (3, 4));
    }

    #[test]
    fn iou_matching_needs_overlap() {
        let truth = [t(10.0, 10.0)];
        // shifted by 2 px: overlap 2x4 = 8, union 24, IoU 1/3
        let out = match_image(&truth, &[d(12.0, 10.0, 1.0)], Criterion::Iou(0.5));
        assert_eq!(out, vec![Outcome::False]);
        let out = match_image(&truth, &[d(12.0, 10.0, 1.0)], Criterion::Iou(0.3));
        assert_eq!(out, vec![Outcome::Hit(0)]);
    }

    #[test]
    fn average_precision_of_a_hand_ranked_list() {
        // ranking: hit, miss, hit; 3 objects. Precision envelope: recall 1/3 -> 1, 2/3 -> 2/3,
        // recall 1 never reached. 101-point: r = 0..0.33 (34 points) -> 1, 0.34..0.66 (33
        // points) -> 2/3, rest 0.
        let truth = vec![vec![t(10.0, 10.0), t(20.0, 20.0), t(40.0, 40.0)]];
        let dets = vec![vec![
            d(10.0, 10.0, 0.9),
            d(60.0, 60.0, 0.8),
            d(20.0, 20.0, 0.7),
        ]];
        let ap = average_precision(&truth, &dets, Criterion::Iou(0.5));
        let want = (34.0 + 33.0 * 2.0 / 3.0) / 101.0;
        assert!((ap - want).abs() < 1e-12, "{ap} vs {want}");
        // perfect detections give 1
        let perfect = vec![vec![
            d(10.0, 10.0, 0.9),
            d(20.0, 20.0, 0.8),
            d(40.0, 40.0, 0.1),
        ]];
        assert!((average_precision(&truth, &perfect, Criterion::Iou(0.5)) - 1.0).abs() < 1e-12);
        let curve = pr_curve(&truth, &dets, Criterion::Iou(0.5));
        assert_eq!(curve.len(), 3);
        assert!((curve[2].purity - 2.0 / 3.0).abs() < 1e-12);
        assert!((curve[2].completeness - 2.0 / 3.0).abs() < 1e-12);
    }
}
