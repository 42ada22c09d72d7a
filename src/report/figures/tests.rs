//! Figure tests: ticks at the swept values, bands clipped to the metric's range, reference lines.

use super::*;
use crate::report::figure_kit::Point;
use plotters::coord::combinators::LogCoord;
use plotters::coord::ranged1d::{BoldPoints, LightPoints};

fn line(name: &str, pts: &[(f64, f64, f64)]) -> Line {
    Line {
        name: name.into(),
        points: pts
            .iter()
            .map(|&(x, mean, ci)| Point { x, mean, ci })
            .collect(),
    }
}

#[test]
fn the_x_axis_is_ticked_at_the_swept_values() {
    let ticks = vec![25.0, 100.0, 300.0, 1000.0, 3000.0];
    let inner: LogCoord<f64> = (20.0..3500.0).log_scale().into();
    let axis = Swept {
        inner,
        ticks: ticks.clone(),
    };
    assert_eq!(axis.key_points(BoldPoints(12)), ticks);
    assert!(axis.key_points(LightPoints::new(12, 60)).is_empty());
    // too many values for the labels asked for: every other one
    assert_eq!(axis.key_points(BoldPoints(3)), vec![25.0, 300.0, 3000.0]);
    assert_eq!(axis.format_ext(&300.0), "300");
    assert_eq!(axis.format_ext(&0.25), "0.25");
}

#[test]
fn reference_lines_come_from_the_rows_statistics() {
    let none = |_: &str| Vec::new();
    let chance = reference_from("roc_auc", none).unwrap();
    assert_eq!(
        (chance.label.as_str(), chance.points),
        ("chance (0.5)", vec![(0.0, 0.5)])
    );
    assert!(reference_from("accuracy", none).is_none());
    assert!(reference_from("log_loss", |_| vec![(1.0, 0.3)]).is_none());
    // the same majority class at every x: one value
    let maj = |s: &str| {
        assert_eq!(s, "majority_accuracy");
        vec![(100.0, 0.6), (30.0, 0.6), (100.0, 0.6)]
    };
    assert_eq!(
        reference_from("accuracy", maj).unwrap().points,
        vec![(30.0, 0.6)]
    );
    // a baseline that varies with x: its mean over the rows at each x, sorted by x
    let base = |_: &str| vec![(300.0, 0.2), (100.0, 0.3), (300.0, 0.5)];
    let r = reference_from("rmse", base).unwrap();
    assert_eq!(r.label, "mean baseline");
    assert_eq!(r.points, vec![(100.0, 0.3), (300.0, 0.35)]);
}

#[test]
fn bands_and_fits_stay_inside_the_metric_range() {
    // accuracy near 1 with wide intervals: the band may not pass 1
    let ls = [
        line(
            "a",
            &[
                (30.0, 0.7, 0.2),
                (100.0, 0.9, 0.2),
                (300.0, 0.97, 0.1),
                (1000.0, 0.99, 0.05),
            ],
        ),
        line(
            "b",
            &[
                (30.0, 0.6, 0.1),
                (100.0, 0.7, 0.1),
                (300.0, 0.8, 0.1),
                (1000.0, 1.0, 0.0),
            ],
        ),
    ];
    let bounds = style::bounds("accuracy");
    let fits: Vec<_> = ls
        .iter()
        .map(|l| {
            let bs = fit_line("accuracy", l)?;
            Some((curve("accuracy", l, &bs, true, bounds), bs))
        })
        .collect();
    for (c, _) in fits.iter().flatten() {
        assert_eq!(c.len(), 121);
        assert!(
            c.iter()
                .all(|p| p.2 <= p.1 + 1e-12 && p.1 <= p.3 + 1e-12 && p.3 <= 1.0)
        );
        assert!((c[0].0 - 30.0).abs() < 1e-9 && (c[120].0 - 1000.0).abs() < 1e-6);
    }
    let plot = Plot {
        title: "t".into(),
        x_label: "x".into(),
        y_label: "accuracy".into(),
        legend_title: Some("pretrain.source".into()),
        lines: &ls,
        fits,
        reference: Some(Reference {
            label: "majority class".into(),
            points: vec![(0.0, 0.5)],
        }),
        bounds,
    };
    let (lo, hi) = y_range(&plot);
    // 1.0 is reached by a mean: the axis keeps room above it; the reference is in view
    assert!(hi > 1.0 && hi < 1.05 && lo < 0.5, "{lo} {hi}");
    style::init();
    let (w, h) = style::SIZE;
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    render(
        BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area(),
        true,
        &plot,
    )
    .unwrap();
    assert!(rgb.iter().any(|&v| v < 200), "something drawn");
    // without a mean on the bound, the padding stops at the bound
    let low = [line("a", &[(1.0, 0.9, 0.2), (2.0, 0.95, 0.2)])];
    let plot = Plot {
        lines: &low,
        fits: vec![None],
        reference: None,
        ..plot
    };
    assert_eq!(y_range(&plot).1, 1.0);
}

#[test]
fn facet_suffixes_keep_decimals_apart() {
    let a = facet_suffix("crowd=default, artifact_fraction=0.01");
    assert_eq!(a, "crowd-default_artifact_fraction-0p01");
    assert_ne!(a, facet_suffix("crowd=default, artifact_fraction=0.33"));
}
