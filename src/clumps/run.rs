//! One `detection` run (Galaxy Zoo: Clump Scout, Popp et al. 2023), top to bottom:
//!
//! 1. Subjects of the universe (`sample`): the test galaxies (`data.test_size`, ids from the
//!    seed's test range, as every synthetic split) and the labelled pool (`data.train_size`, from
//!    the seed's training range), a seeded share of it held out for validation
//!    (`data.val_fraction`, stream `clumps/validation-split`).
//! 2. Simulated volunteers (`crowd::clicks`, pool and draws from the run seed) mark every
//!    galaxy; their marks are aggregated (`crowd::clump_consensus`) with reliability weighting
//!    and with the plain share, and both consensus catalogues are scored on the test galaxies
//!    (the aggregation table: `crowd_*` and `crowd_share_*`).
//! 3. Training boxes (`detect.labels`): the visible clumps of the truth, or boxes of
//!    `box_fwhm` PSF FWHM around the consensus positions scoring at least
//!    `consensus_threshold` (the configured weighting), odd when the odd share is a half or
//!    more. Validation uses the same kind of labels, so a volunteer-trained detector never sees
//!    the truth.
//! 4. The detector (`model::detector` on the `model:` backbone, `pretrain:` as for every run)
//!    is trained (`fit`), then scored on the test galaxies (`score`) and, evaluation only, on
//!    the real Stripe 82 set (`real`).
//!
//! The run directory keeps [`CURVES`] (precision-recall of the detector and of both consensus
//! catalogues) and [`EXAMPLES`] (truth, consensus and detections of the first test galaxies),
//! which the report draws.

use super::fit::{Labelled, detect_all, fit};
use super::sample::{ClumpSet, draw};
use super::score::{Entry, ap_metrics, catalogue_metrics, curve, entries, merge};
use crate::crowd::clicks::{ClickImage, Clicks, click_volunteers, simulate_clicks};
use crate::crowd::clump_consensus::{Consensus, ConsensusConfig, aggregate_scaled};
use crate::eval::detection::PrPoint;
use crate::geom::Rect;
use crate::model::Params;
use crate::model::detector::{Detector, TargetBox};
use crate::spec::{ClickWeighting, ClumpLabels, DetectConfig, RunSpec};
use crate::store::Metrics;
use anyhow::Context;
use candle_core::Device;
use rand::Rng;
use std::path::Path;

/// Precision-recall curves of the run (detector, consensus weighted and by share).
pub const CURVES: &str = "pr_curves.json";
/// Example test galaxies with their truth, consensus and detections.
pub const EXAMPLES: &str = "examples.json";
/// Test galaxies kept in [`EXAMPLES`].
const EXAMPLE_COUNT: usize = 8;

/// The curves file.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Curves {
    pub detector: Vec<PrPoint>,
    pub crowd: Vec<PrPoint>,
    pub crowd_share: Vec<PrPoint>,
}

/// One example galaxy: its universe id (at `data.data_seed`) and three catalogues.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Example {
    pub id: u64,
    /// Visible clumps: box and odd flag.
    pub truth: Vec<(Rect, bool)>,
    /// Consensus positions (as boxes) with their score.
    pub consensus: Vec<(Rect, f32)>,
    /// Detections: box, class, score.
    pub detections: Vec<(Rect, usize, f32)>,
}

/// Computes one `detection` run (`dir`: its run directory; `cache`: the store root).
pub fn run(
    spec: &RunSpec,
    dir: Option<&Path>,
    cache: Option<&Path>,
    device: &Device,
) -> anyhow::Result<Metrics> {
    let d = spec
        .detect
        .as_ref()
        .context("a detection run needs a detect section")?;
    let seed = spec.seed;
    let (test_start, train_start) = crate::data::id_starts(seed);
    let test = draw(&spec.data, d, test_start, spec.data.test_size);
    let pool = draw(&spec.data, d, train_start, spec.data.train_size);
    let mut m = Metrics::new();

    // volunteers on the pool and on the test galaxies (one pool of volunteers)
    let volunteers = click_volunteers(d.volunteer_pool, seed);
    let clicks = |set: &ClumpSet, name: &str| {
        let images: Vec<ClickImage> = (0..set.len())
            .map(|i| ClickImage {
                truth: &set.truth[i],
                // the r band: the middle plane of the g, r, z display image
                r_plane: &set.image(i)[set.size * set.size..2 * set.size * set.size],
                size: set.size,
                fwhm_px: set.fwhm_px[i],
            })
            .collect();
        let sub: u64 = crate::rng::stream(seed, &format!("clumps/clicks/{name}")).random();
        simulate_clicks(&images, &volunteers, d.volunteers_per_galaxy, sub)
    };
    let consensus = |set: &ClumpSet, c: &Clicks, weighted: bool| {
        let cfg = ConsensusConfig {
            weighted,
            ..ConsensusConfig::default()
        };
        // link within `link_radius_fwhm` of each galaxy's PSF, at least half a pixel
        let radius: Vec<f32> = set
            .fwhm_px
            .iter()
            .map(|f| (d.link_radius_fwhm as f32 * f).max(0.5))
            .collect();
        let all = aggregate_scaled(&c.marks, set.len(), &c.shown_to, &radius, &cfg).0;
        per_galaxy(all, set.len())
    };
    let weighted = d.weighting == ClickWeighting::Reliability;
    let test_clicks = clicks(&test, "test");
    let test_crowd = consensus(&test, &test_clicks, true);
    let test_share = consensus(&test, &test_clicks, false);
    let t = d.consensus_threshold as f32;
    let as_entries = |c: &[Vec<Consensus>], set: &ClumpSet| -> Vec<Vec<Entry>> {
        c.iter()
            .enumerate()
            .map(|(i, cs)| {
                cs.iter()
                    .map(|c| Entry {
                        rect: consensus_box(c, set.fwhm_px[i], d),
                        score: c.score,
                        class: if c.odd >= 0.5 { 2 } else { 1 },
                    })
                    .collect()
            })
            .collect()
    };
    let crowd_cat = as_entries(&test_crowd, &test);
    let share_cat = as_entries(&test_share, &test);
    m.extend(catalogue_metrics(&test, &crowd_cat, d, t, "crowd_"));
    m.extend(catalogue_metrics(&test, &share_cat, d, t, "crowd_share_"));

    // training boxes
    let boxes: Vec<Vec<TargetBox>> = match d.labels {
        ClumpLabels::Truth => pool.truth.iter().map(|t| truth_boxes(t)).collect(),
        ClumpLabels::Volunteers => consensus(&pool, &clicks(&pool, "pool"), weighted)
            .iter()
            .enumerate()
            .map(|(i, cs)| {
                cs.iter()
                    .filter(|c| c.score >= t)
                    .map(|c| TargetBox {
                        rect: consensus_box(c, pool.fwhm_px[i], d),
                        class: if c.odd >= 0.5 { 2 } else { 1 },
                    })
                    .collect()
            })
            .collect(),
    };
    m.insert(
        "train_boxes_per_galaxy".into(),
        boxes.iter().map(Vec::len).sum::<usize>() as f64 / boxes.len().max(1) as f64,
    );
    let k = crate::data::val_count(&spec.data);
    let (train_idx, val_idx) =
        crate::data::hold_out_indices(pool.len(), k, seed, "clumps/validation-split");
    let (train, val) = (pool.subset(&train_idx), pool.subset(&val_idx));
    let pick =
        |idx: &[usize]| -> Vec<Vec<TargetBox>> { idx.iter().map(|&i| boxes[i].clone()).collect() };
    let (train_boxes, val_boxes) = (pick(&train_idx), pick(&val_idx));
    m.insert("train_galaxies".into(), train.len() as f64);
    m.insert("val_galaxies".into(), val.len() as f64);

    // the detector
    let params = Params::new(seed);
    let mut det = Detector::new(
        &spec.model,
        &d.detector,
        3,
        spec.data.image_size,
        &params,
        device,
    )?;
    // head-only fine-tuning: the backbone in evaluation mode, no gradient into it
    det.set_frozen_backbone(spec.train.freeze_backbone);
    let pretrain = crate::train::pretrain::seeded(&spec.pretrain, seed);
    let loaded = crate::train::pretrain::load_backbone(
        &pretrain,
        &spec.model,
        &spec.data,
        cache,
        &params,
        device,
    )?;
    if let crate::train::pretrain::Loaded::Pretrained(r) = &loaded {
        m.extend(r.metrics());
    }
    let hist = fit(
        &det,
        &params,
        &Labelled {
            images: &train.images,
            size: train.size,
            boxes: &train_boxes,
        },
        &Labelled {
            images: &val.images,
            size: val.size,
            boxes: &val_boxes,
        },
        &spec.train,
        seed,
        device,
    )?;
    m.insert("steps".into(), hist.steps as f64);
    m.insert("epochs".into(), hist.train_loss.len() as f64);
    m.insert(
        "best_epoch".into(),
        hist.best_epoch.map_or(f64::NAN, |e| e as f64),
    );
    m.insert(
        "val_ap50".into(),
        hist.val_ap.iter().copied().fold(f64::NAN, f64::max),
    );
    m.insert(
        "train_loss".into(),
        hist.train_loss.last().copied().unwrap_or(f64::NAN),
    );

    // the test galaxies
    let dets = detect_all(&det, &test.images, test.size, 64, device)?;
    let cat: Vec<Vec<Entry>> = dets
        .iter()
        .zip(&test.fwhm_px)
        .map(|(ds, &f)| merge(&entries(ds), d.match_radius_px(f)))
        .collect();
    m.extend(catalogue_metrics(
        &test,
        &cat,
        d,
        d.score_threshold as f32,
        "",
    ));
    m.extend(ap_metrics(&test, &cat, ""));
    m.insert(
        "visible_clumps_per_galaxy".into(),
        test.truth
            .iter()
            .map(|t| t.iter().filter(|c| c.visible).count())
            .sum::<usize>() as f64
            / test.len().max(1) as f64,
    );

    // the real set, evaluation only
    if d.has_real() {
        let folder = crate::shared_data::root().join(&d.real);
        let file = folder.join(crate::data::clump_catalog::FILE);
        if file.is_file() {
            m.extend(super::real::evaluate(
                &det,
                &folder,
                spec.data.image_size,
                d,
                device,
            )?);
        } else {
            // never the same run id without its real metrics (the runner skips such runs
            // when the data is optional, and refuses them otherwise, before they start)
            anyhow::bail!(
                "{}; or set detect.real: none",
                crate::shared_data::missing_message(&format!("detect.real `{}`", d.real), &file),
            );
        }
    }

    if let Some(dir) = dir {
        let curves = Curves {
            detector: curve(&test, &cat, d),
            crowd: curve(&test, &crowd_cat, d),
            crowd_share: curve(&test, &share_cat, d),
        };
        crate::store::write_json(&dir.join(CURVES), &curves)?;
        let examples: Vec<Example> = (0..test.len().min(EXAMPLE_COUNT))
            .map(|i| Example {
                id: test.galaxies[i].id,
                truth: test.truth[i]
                    .iter()
                    .filter(|c| c.visible)
                    .map(|c| (c.rect, c.odd))
                    .collect(),
                consensus: crowd_cat[i].iter().map(|e| (e.rect, e.score)).collect(),
                detections: cat[i].iter().map(|e| (e.rect, e.class, e.score)).collect(),
            })
            .collect();
        crate::store::write_json(&dir.join(EXAMPLES), &examples)?;
    }
    // a share of nothing (no clump in a bin, no detection kept) is not a number: not recorded
    m.retain(|_, v| v.is_finite());
    Ok(m)
}

/// The visible clumps of a galaxy as training boxes (class 1 clump, 2 odd clump).
pub fn truth_boxes(t: &[crate::universe::ClumpTruth]) -> Vec<TargetBox> {
    t.iter()
        .filter(|c| c.visible)
        .map(|c| TargetBox {
            rect: c.rect,
            class: if c.odd { 2 } else { 1 },
        })
        .collect()
}

/// The box of side `box_fwhm` PSF FWHM around a consensus position.
fn consensus_box(c: &Consensus, fwhm_px: f32, d: &DetectConfig) -> Rect {
    let side = (d.box_fwhm * fwhm_px as f64).max(d.box_min_px) as f32;
    Rect::around(c.at, side, side)
}

/// Consensus entries grouped by galaxy.
fn per_galaxy(all: Vec<Consensus>, n: usize) -> Vec<Vec<Consensus>> {
    let mut out = vec![Vec::new(); n];
    for c in all {
        if c.galaxy < n {
            out[c.galaxy].push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::spec::{expand, parse_str};

    /// A tiny detection run: bit-identical when repeated, different for another seed, and its
    /// run directory holds the curves and examples the report draws.
    #[test]
    fn a_separate_validation_draw_is_refused_with_the_key() {
        let text = "name: cd\nkind: detection\ndata: { source: synthetic, val_size: 10 }\n";
        let e = parse_str(text, "cd.yaml")
            .and_then(|exp| expand(&exp, text, "cd.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cd.yaml:3:") && e.contains("val_size"), "{e}");
    }

    #[test]
    fn runs_repeat_bit_for_bit_and_keep_their_curves() {
        let text = "name: cd\nkind: detection\nseeds: [0, 1]\n\
                    data: { source: synthetic, image_size: 32, train_size: 20, test_size: 8 }\n\
                    model: { widths: [4, 8] }\n\
                    train: { epochs: 1, batch_size: 4, min_steps: 2 }\n\
                    detect: { labels: volunteers, volunteers_per_galaxy: 5, volunteer_pool: 20, \
                    real: none }\n";
        let exp = parse_str(text, "cd.yaml").unwrap();
        let runs = expand(&exp, text, "cd.yaml").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let device = candle_core::Device::Cpu;
        let a = super::run(&runs[0], Some(dir.path()), None, &device).unwrap();
        let b = super::run(&runs[0], None, None, &device).unwrap();
        let other = super::run(&runs[1], None, None, &device).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, other);
        for key in [
            "completeness",
            "crowd_completeness",
            "steps",
            "train_boxes_per_galaxy",
        ] {
            assert!(a.contains_key(key), "{key} missing: {a:?}");
        }
        assert!(!a.keys().any(|k| k.starts_with("real_")));
        let curves: super::Curves =
            crate::store::read_json(&dir.path().join(super::CURVES)).unwrap();
        assert!(!curves.crowd.is_empty());
        let ex: Vec<super::Example> =
            crate::store::read_json(&dir.path().join(super::EXAMPLES)).unwrap();
        assert_eq!(ex.len(), 8);
    }
}
