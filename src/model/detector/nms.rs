//! Greedy non-maximum suppression on host vectors, as torchvision's `ops.nms` and
//! `ops.batched_nms`: boxes are visited by descending score (ties: lower index first, so the
//! result never depends on sort stability), and a box is dropped when its IoU with an already
//! kept box is greater than the threshold. Batched NMS suppresses only within a class.

use crate::geom::Rect;

/// Indices ordered by descending score, ties by ascending index.
pub fn order_by_score(scores: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order
}

/// Indices of the boxes kept, by descending score.
pub fn nms(boxes: &[Rect], scores: &[f32], iou: f32) -> Vec<usize> {
    nms_first(boxes, scores, iou, usize::MAX)
}

/// The first `n` indices [`nms`] keeps: it stops there (the RPN keeps only its first
/// `post_nms_top_n` proposals, so the rest need no comparisons).
pub fn nms_first(boxes: &[Rect], scores: &[f32], iou: f32, n: usize) -> Vec<usize> {
    let mut keep: Vec<usize> = Vec::new();
    for i in order_by_score(scores) {
        if keep.len() >= n {
            break;
        }
        if !keep.iter().any(|&k| suppresses(&boxes[k], &boxes[i], iou)) {
            keep.push(i);
        }
    }
    keep
}

/// `a.iou(b) > iou`, without the division for boxes that do not overlap (their IoU is 0).
#[inline]
fn suppresses(a: &Rect, b: &Rect, iou: f32) -> bool {
    let w = a.x1.min(b.x1) - a.x0.max(b.x0);
    let h = a.y1.min(b.y1) - a.y0.max(b.y0);
    if w <= 0.0 || h <= 0.0 {
        0.0 > iou
    } else {
        a.iou(b) > iou
    }
}

/// NMS within each class; indices of the boxes kept, by descending score (ties by index).
pub fn batched_nms(boxes: &[Rect], scores: &[f32], classes: &[usize], iou: f32) -> Vec<usize> {
    let mut keep: Vec<usize> = Vec::new();
    let mut kept_of_class: std::collections::HashMap<usize, Vec<usize>> = Default::default();
    for i in order_by_score(scores) {
        let kept = kept_of_class.entry(classes[i]).or_default();
        if !kept.iter().any(|&k| suppresses(&boxes[k], &boxes[i], iou)) {
            kept.push(i);
            keep.push(i);
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_suppression_at_half() {
        let boxes = [
            Rect::new(0.0, 0.0, 10.0, 10.0),  // 0: score 0.9
            Rect::new(1.0, 0.0, 11.0, 10.0),  // 1: IoU with 0 = 90/110 = 0.82 -> dropped
            Rect::new(5.0, 0.0, 15.0, 10.0),  // 2: IoU with 0 = 50/150 = 0.33, with 1 = 60/140
            Rect::new(20.0, 0.0, 30.0, 10.0), // 3: alone
            Rect::new(8.0, 0.0, 18.0, 10.0),  // 4: IoU with 2 = 70/130 = 0.54 -> dropped
        ];
        let scores = [0.9, 0.8, 0.7, 0.1, 0.6];
        assert_eq!(nms(&boxes, &scores, 0.5), vec![0, 2, 3]);
        // at 0.6 box 4 (0.54 with 2) survives
        assert_eq!(nms(&boxes, &scores, 0.6), vec![0, 2, 4, 3]);
        // swap the first two scores: 1 now suppresses 0, and 2 (IoU 60/140 with 1) survives
        assert_eq!(nms(&boxes, &[0.8, 0.9, 0.7, 0.1, 0.6], 0.5), vec![1, 2, 3]);
        // ties: lower index first
        assert_eq!(nms(&boxes[..2], &[0.5, 0.5], 0.5), vec![0]);
        assert_eq!(nms(&[], &[], 0.5), Vec::<usize>::new());
    }

    /// The shortcuts (no division for disjoint boxes, stopping at `n`) keep what the plain
    /// rule keeps, on random boxes, many of them overlapping or touching.
    #[test]
    fn the_shortcuts_keep_what_the_plain_rule_keeps() {
        use rand::Rng;
        let mut r = crate::rng::stream(1, "test/nms/boxes");
        let boxes: Vec<Rect> = (0..400)
            .map(|_| {
                let (x, y) = (r.random_range(0..40) as f32, r.random_range(0..40) as f32);
                let (w, h) = (r.random_range(0..12) as f32, r.random_range(0..12) as f32);
                Rect::new(x, y, x + w, y + h)
            })
            .collect();
        let scores: Vec<f32> = (0..400).map(|_| r.random_range(0..50) as f32).collect();
        for iou in [0.0, 0.3, 0.7, -1.0] {
            let mut plain: Vec<usize> = Vec::new();
            for i in order_by_score(&scores) {
                if plain.iter().all(|&k| boxes[k].iou(&boxes[i]) <= iou) {
                    plain.push(i);
                }
            }
            assert!(
                plain.len() > 1 || iou < 0.0,
                "a test that keeps one box tests little"
            );
            assert_eq!(nms(&boxes, &scores, iou), plain, "iou {iou}");
            let n = plain.len() / 2;
            assert_eq!(nms_first(&boxes, &scores, iou, n), plain[..n], "iou {iou}");
        }
    }

    #[test]
    fn batched_keeps_overlapping_boxes_of_other_classes() {
        let boxes = [
            Rect::new(0.0, 0.0, 10.0, 10.0),
            Rect::new(1.0, 0.0, 11.0, 10.0),
            Rect::new(1.0, 1.0, 11.0, 11.0),
        ];
        let scores = [0.9, 0.8, 0.95];
        // class 1: boxes 0, 2 overlap (IoU 81/119 = 0.68) -> 2 wins; class 2: box 1 alone
        assert_eq!(batched_nms(&boxes, &scores, &[1, 2, 1], 0.5), vec![2, 1]);
        assert_eq!(batched_nms(&boxes, &scores, &[1, 1, 1], 0.5), vec![2]);
        assert_eq!(batched_nms(&boxes, &scores, &[1, 2, 3], 0.5), vec![2, 0, 1]);
    }
}
