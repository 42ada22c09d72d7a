//! Scoring clump catalogues (a detector's, or the volunteers' consensus) against the truth, as
//! Popp et al. and Dickinson et al. report them: completeness and purity of the catalogue at a
//! score threshold, a catalogued clump counting as found when a detection's centre lies within
//! `match_radius_fwhm` PSF FWHM of it; COCO AP at IoU 0.5 (all clumps, and per class); the
//! precision-recall curve; completeness by clump brightness and by galaxy redshift.
//!
//! Required objects are the *visible* clumps (`universe::visibility`: what an expert could mark
//! at this size and depth); invisible ones are ignored: finding one is not held against a
//! detector, missing one is not counted.

use super::sample::ClumpSet;
use crate::eval::detection::{
    Counts, Criterion, PrPoint, Scored, Truth, average_precision, found_at, pr_curve,
};
use crate::spec::DetectConfig;
use crate::store::Metrics;
use crate::universe::ClumpTruth;

/// One catalogue entry: a box with a score and a class (1 = clump, 2 = odd clump).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry {
    pub rect: crate::geom::Rect,
    pub score: f32,
    pub class: usize,
}

/// Contrast bins (clump peak over the light beneath it) for completeness by brightness.
pub const CONTRAST_EDGES: [f32; 2] = [1.0, 3.0];
/// Redshift bins for completeness by distance.
pub const REDSHIFT_EDGES: [f32; 2] = [0.06, 0.1];
/// Bin names, faint / low to bright / high.
pub const BINS: [&str; 3] = ["low", "mid", "high"];

/// Detections as catalogue entries.
pub fn entries(dets: &[crate::model::detector::Detection]) -> Vec<Entry> {
    dets.iter()
        .map(|d| Entry {
            rect: d.rect,
            score: d.score,
            class: d.class,
        })
        .collect()
}

/// A detector's boxes of one galaxy as a clump catalogue: one entry per position, the
/// detections in descending score each dropped when its centre lies within `radius` pixels of
/// an entry already kept, whatever the class (per-class NMS keeps a clump detected as both a
/// clump and an odd clump twice, and a shifted duplicate of a 3-pixel box overlaps it by less
/// than NMS's IoU).
pub fn merge(dets: &[Entry], radius: f32) -> Vec<Entry> {
    let mut order: Vec<usize> = (0..dets.len()).collect();
    order.sort_by(|&a, &b| dets[b].score.total_cmp(&dets[a].score).then(a.cmp(&b)));
    let mut kept: Vec<Entry> = Vec::new();
    for i in order {
        let c = dets[i].rect.centre();
        if kept.iter().all(|k| k.rect.centre().distance(&c) > radius) {
            kept.push(dets[i]);
        }
    }
    kept
}

fn bin(v: f32, edges: &[f32; 2]) -> usize {
    edges.iter().filter(|&&e| v >= e).count()
}

/// The truth of one galaxy as required / ignored objects, keeping only `class` if given.
fn truth_of(t: &[ClumpTruth], class: Option<usize>) -> Vec<Truth> {
    t.iter()
        .map(|c| Truth {
            rect: c.rect,
            ignore: !c.visible || class.is_some_and(|k| (k == 2) != c.odd),
        })
        .collect()
}

fn scored(e: &[Entry], class: Option<usize>) -> Vec<Scored> {
    e.iter()
        .filter(|d| class.is_none_or(|k| d.class == k))
        .map(|d| Scored {
            rect: d.rect,
            score: d.score,
        })
        .collect()
}

/// Completeness and purity of `cat` (one list per galaxy of `set`) at `threshold`, matched within
/// each galaxy's match radius (`DetectConfig::match_radius_px`), overall and by bins; `prefix`
/// names the metrics.
pub fn catalogue_metrics(
    set: &ClumpSet,
    cat: &[Vec<Entry>],
    d: &DetectConfig,
    threshold: f32,
    prefix: &str,
) -> Metrics {
    let mut total = Counts::default();
    let mut by_contrast = [(0usize, 0usize); 3];
    let mut by_z = [(0usize, 0usize); 3];
    for (i, (t, entries)) in set.truth.iter().zip(cat).enumerate() {
        let c = Criterion::Radius(d.match_radius_px(set.fwhm_px[i]));
        let (found, n) = found_at(&truth_of(t, None), &scored(entries, None), c, threshold);
        total.add(n);
        let zb = bin(set.galaxies[i].redshift, &REDSHIFT_EDGES);
        for (clump, hit) in t.iter().zip(found) {
            if clump.visible {
                let cb = bin(clump.contrast, &CONTRAST_EDGES);
                by_contrast[cb].0 += 1;
                by_contrast[cb].1 += hit as usize;
                by_z[zb].0 += 1;
                by_z[zb].1 += hit as usize;
            }
        }
    }
    let mut m = Metrics::new();
    m.insert(format!("{prefix}completeness"), total.completeness());
    m.insert(format!("{prefix}purity"), total.purity());
    for (k, name) in BINS.iter().enumerate() {
        let share = |(n, hit): (usize, usize)| {
            if n == 0 {
                f64::NAN
            } else {
                hit as f64 / n as f64
            }
        };
        m.insert(
            format!("{prefix}completeness_contrast_{name}"),
            share(by_contrast[k]),
        );
        m.insert(format!("{prefix}completeness_z_{name}"), share(by_z[k]));
    }
    m
}

/// AP at IoU 0.5 over all visible clumps (class-agnostic) and per class.
pub fn ap_metrics(set: &ClumpSet, cat: &[Vec<Entry>], prefix: &str) -> Metrics {
    let mut m = Metrics::new();
    for (name, class) in [
        ("ap50", None),
        ("ap50_clump", Some(1)),
        ("ap50_odd", Some(2)),
    ] {
        let truth: Vec<Vec<Truth>> = set.truth.iter().map(|t| truth_of(t, class)).collect();
        let dets: Vec<Vec<Scored>> = cat.iter().map(|d| scored(d, class)).collect();
        m.insert(
            format!("{prefix}{name}"),
            average_precision(&truth, &dets, Criterion::Iou(0.5)),
        );
    }
    m
}

/// Points kept of a precision-recall curve in a run's files (a curve has one point per distinct
/// score, thousands for a detector).
pub const CURVE_POINTS: usize = 200;

/// At most about [`CURVE_POINTS`] points of `c`: every k-th, and always the last (the lowest
/// threshold, where completeness is highest).
pub fn thin(c: Vec<PrPoint>) -> Vec<PrPoint> {
    let k = c.len().div_ceil(CURVE_POINTS).max(1);
    let last = c.len().saturating_sub(1);
    c.into_iter()
        .enumerate()
        .filter(|(i, _)| i % k == 0 || *i == last)
        .map(|(_, p)| p)
        .collect()
}

/// The radius-matched precision-recall curve of `cat` (class-agnostic), matched within the
/// match radius of the set's median PSF FWHM, thinned ([`thin`]).
pub fn curve(set: &ClumpSet, cat: &[Vec<Entry>], d: &DetectConfig) -> Vec<PrPoint> {
    let mut f = set.fwhm_px.clone();
    f.sort_by(f32::total_cmp);
    let median = f.get(f.len() / 2).copied().unwrap_or(1.0);
    let truth: Vec<Vec<Truth>> = set.truth.iter().map(|t| truth_of(t, None)).collect();
    let dets: Vec<Vec<Scored>> = cat.iter().map(|d| scored(d, None)).collect();
    thin(pr_curve(
        &truth,
        &dets,
        Criterion::Radius(d.match_radius_px(median)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::{Point, Rect};

    #[test]
    fn merging_keeps_the_best_detection_per_position() {
        let e = |x: f32, score: f32, class: usize| Entry {
            rect: Rect::around(Point::new(x, 5.0), 3.0, 3.0),
            score,
            class,
        };
        // a clump detected as both classes, a shifted duplicate, and a distinct clump
        let dets = [
            e(5.0, 0.6, 1),
            e(5.0, 0.8, 2),
            e(6.0, 0.5, 1),
            e(12.0, 0.4, 1),
        ];
        let kept = merge(&dets, 2.0);
        assert_eq!(kept, vec![e(5.0, 0.8, 2), e(12.0, 0.4, 1)]);
        assert_eq!(merge(&dets, 0.5).len(), 3);
    }

    #[test]
    fn thinning_keeps_every_kth_point_and_the_last() {
        let c: Vec<PrPoint> = (0..1001)
            .map(|i| PrPoint {
                threshold: 1.0 - i as f32 / 1000.0,
                completeness: i as f64 / 1000.0,
                purity: 1.0,
            })
            .collect();
        let t = thin(c.clone());
        // k = ceil(1001 / 200) = 6: indices 0, 6, ..., 996 and 1000
        assert_eq!(t.len(), 167 + 1);
        assert_eq!(t[1], c[6]);
        assert_eq!(t.last(), c.last());
        assert_eq!(thin(c[..50].to_vec()), c[..50].to_vec());
    }

    #[test]
    fn bins_follow_the_edges() {
        assert_eq!(bin(0.5, &CONTRAST_EDGES), 0);
        assert_eq!(bin(1.0, &CONTRAST_EDGES), 1);
        assert_eq!(bin(9.0, &CONTRAST_EDGES), 2);
        assert_eq!(bin(0.08, &REDSHIFT_EDGES), 1);
    }

    #[test]
    fn invisible_and_other_class_clumps_are_ignored() {
        let c = |odd: bool, visible: bool| ClumpTruth {
            rect: Rect::around(Point::new(5.0, 5.0), 2.0, 2.0),
            centre: Point::new(5.0, 5.0),
            odd,
            visible,
            flux_r: 1.0,
            snr: 10.0,
            contrast: 2.0,
        };
        let t = [c(false, true), c(true, true), c(false, false)];
        let all = truth_of(&t, None);
        assert_eq!(
            all.iter().map(|t| t.ignore).collect::<Vec<_>>(),
            [false, false, true]
        );
        let odd = truth_of(&t, Some(2));
        assert_eq!(
            odd.iter().map(|t| t.ignore).collect::<Vec<_>>(),
            [true, false, true]
        );
    }
}
