//! Triage-figure tests: the curve points are the records (x = 0.25, 0.5, 0.75, 0.9, 1; y = mean
//! over seeds; whiskers = ci95), rows without the records give no line, the volunteers' line is
//! the mean over the rows that have it, the files per facet, nothing without the records.

use super::super::figure_kit::NOTE_H;
use super::super::test_rows;
use super::*;
use serde_yaml::Value;

const YAML: &str = "name: gzx\nkind: stream\ncrowd: { question: smooth-or-featured, positive_answer: featured-or-disk }\nstream: { triage_size: 100 }\ndata: { source: synthetic }\ntask: { target: featured }\nmodel: { backbone: cnn-small }\nsweep:\n  stream.arm: [swap, swap-cnn, swap-measurements]\n  crowd.gold_fraction: [0.0, 0.05]\n  crowd.n_volunteers: [10, 40]\nreport:\n  x: stream.arm\n  series: crowd.gold_fraction\n";

fn exp() -> Experiment {
    test_rows::exp(YAML)
}

fn stat(mean: f64, ci95: f64) -> super::super::Stat {
    test_rows::stat(mean, ci95 / 2.0, ci95, 5)
}

/// The hand-made accuracies at coverage 0.25, 0.5, 0.75, 0.9, 1 (less `drop` each) and their
/// interval half-widths.
const ACC: [f64; 5] = [0.995, 0.99, 0.97, 0.94, 0.91];
const CI: [f64; 5] = [0.004, 0.006, 0.01, 0.015, 0.02];

/// A row of arm (`arm`, `gold`) in facet `cap`; `machine`: whether it has the triage
/// records (then its accuracies are `ACC` less `drop`, its volunteers `vol`).
fn row(arm: &str, gold: f64, cap: u64, machine: bool, drop: f64, vol: f64) -> Row {
    let mut stats = std::collections::BTreeMap::new();
    stats.insert("accuracy".to_string(), stat(0.9, 0.01));
    if machine {
        for (i, (_, key)) in POINTS.iter().enumerate() {
            stats.insert(key.to_string(), stat(ACC[i] - drop, CI[i]));
        }
        stats.insert("triage_volunteer_accuracy".into(), stat(vol, 0.01));
        stats.insert("triage_coverage_at_95".into(), stat(0.8 - drop, 0.05));
        stats.insert("triage_coverage_at_99".into(), stat(0.5 - drop, 0.05));
    }
    let point = [
        ("stream.arm", Value::from(arm)),
        ("crowd.gold_fraction", Value::from(gold)),
        ("crowd.n_volunteers", Value::from(cap)),
    ];
    test_rows::row(&point, stats)
}

#[test]
fn the_curve_points_are_the_records() {
    let exp = exp();
    let c = curve(&exp, &row("swap-cnn", 0.05, 10, true, 0.0, 0.9)).unwrap();
    assert_eq!(c.name, "swap-cnn, 0.05");
    let xs: Vec<f64> = c.points.iter().map(|p| p.cov).collect();
    assert_eq!(xs, [0.25, 0.5, 0.75, 0.9, 1.0]);
    for (i, p) in c.points.iter().enumerate() {
        assert_eq!((p.mean, p.half), (ACC[i], CI[i]), "point {i}");
    }
    assert_eq!(c.ticks, [(0.8, 0.95), (0.5, 0.99)]);
    // a missing point is skipped, not drawn at zero; no interval draws no whisker; a coverage of
    // 0 (no share is 99 % accurate) draws no tick
    let mut r = row("swap-cnn", 0.05, 10, true, 0.0, 0.9);
    r.stats.remove("triage_accuracy_cov75");
    r.stats
        .insert("triage_accuracy".into(), stat(0.91, f64::NAN));
    r.stats
        .insert("triage_coverage_at_99".into(), stat(0.0, 0.0));
    let g = curve(&exp, &r).unwrap();
    let xs: Vec<f64> = g.points.iter().map(|p| p.cov).collect();
    assert_eq!(xs, [0.25, 0.5, 0.9, 1.0]);
    assert_eq!((g.points[3].mean, g.points[3].half), (0.91, 0.0));
    assert_eq!(g.ticks, [(0.8, 0.95)]);
}

#[test]
fn rows_without_the_records_give_no_line() {
    let exp = exp();
    let rows = [
        row("swap", 0.05, 10, false, 0.0, 0.0),
        row("swap-cnn", 0.05, 10, true, 0.0, 0.9),
        row("swap-measurements", 0.05, 10, true, 0.05, 0.94),
    ];
    assert_eq!(curve(&exp, &rows[0]), None);
    let mut partial = rows[1].clone();
    partial.stats.remove("triage_accuracy_cov25");
    assert_eq!(curve(&exp, &partial), None, "cov25 is the key record");
    let names: Vec<String> = curves(&exp, &rows).into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["swap-cnn, 0.05", "swap-measurements, 0.05"]);
    // (0.9 + 0.94) / 2; the row without it does not count
    assert!((volunteers(&rows).unwrap() - 0.92).abs() < 1e-12);
    assert_eq!(volunteers(&rows[..1]), None);
}

#[test]
fn the_axes_hold_everything_drawn() {
    let exp = exp();
    let rows = [
        row("swap-cnn", 0.05, 10, true, 0.0, 0.9),
        row("swap-measurements", 0.05, 10, true, 0.05, 0.94),
    ];
    let mut fig = Figure {
        title: "t".into(),
        legend_title: None,
        curves: curves(&exp, &rows),
        volunteers: volunteers(&rows),
    };
    // lowest whisker 0.91 - 0.05 - 0.02 = 0.84, less 0.01, down to a multiple of 0.05: 0.8;
    // the ticks (coverage 0.45 and up) lie right of the first point (0.25); room right of 1
    // for the labels of their levels
    let ((x0, x1), (y0, y1)) = fig.ranges();
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    assert!(
        close(x0, 0.25 - 0.04 * 0.75) && close(x1, 1.0 + 0.1 * 0.75),
        "{x0} {x1}"
    );
    assert!(close(y0, 0.8) && close(y1, 1.006), "{y0} {y1}");
    // a tick left of the first point pulls the axis left, the volunteers far below pull it down
    fig.curves[1].ticks[1].0 = 0.1;
    fig.volunteers = Some(0.62);
    let ((x0, _), (y0, _)) = fig.ranges();
    assert!(close(x0, 0.1 - 0.04 * 0.9) && close(y0, 0.6), "{x0} {y0}");
    for c in &mut fig.curves {
        c.ticks.clear();
    }
    let ((x0, x1), _) = fig.ranges();
    assert!(close(x0, 0.22) && close(x1, 1.0225), "{x0} {x1}");
    assert_eq!(fig.entries(), 3);
    assert!(!fig.has_ticks());
}

#[test]
fn one_figure_per_facet_is_written() {
    let exp = exp();
    let rows: Vec<Row> = [10, 40]
        .into_iter()
        .flat_map(|cap| {
            [
                row("swap", 0.05, cap, false, 0.0, 0.0),
                row("swap-cnn", 0.05, cap, true, 0.0, 0.9),
                row("swap-measurements", 0.05, cap, true, 0.05, 0.94),
            ]
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let files = write(&exp, &rows, dir.path()).unwrap();
    let stems = ["gzx_triage_n_volunteers-10", "gzx_triage_n_volunteers-40"];
    test_rows::assert_pairs(&files, &stems);
    let fig = Figure {
        title: String::new(),
        legend_title: legend_title(&exp),
        curves: curves(&exp, &rows[..3]),
        volunteers: volunteers(&rows[..3]),
    };
    assert_eq!(fig.entries(), 4, "two arms, the volunteers, the ticks");
    let img = image::open(&files[0]).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), fig.size());
    assert_eq!(fig.size(), style::SIZE);
    for c in style::PALETTE[..2].iter().chain([&style::REFERENCE]) {
        assert!(test_rows::has_colour(&img, c), "drawn in {c:?}");
    }
    assert!(
        !test_rows::has_colour(&img, &style::PALETTE[2]),
        "no third line for the arm without the records"
    );
    let texts = [
        "swap-cnn, 0.05",
        "swap-measurements, 0.05",
        "40 volunteers (majority)",
        "coverage still 95 / 99 %",
        "coverage (share of galaxies the machine decides)",
        "accuracy (against the truth)",
        "gzx: machine accuracy against coverage (n_volunteers=10)",
    ];
    let svg = test_rows::svg_with(&files[1], &texts);
    assert!(
        !svg.contains("swap, 0.05<"),
        "no line for the arm without records"
    );
    // one facet: no suffix
    let one = write(&exp, &rows[..3], dir.path()).unwrap();
    test_rows::assert_pairs(&one, &["gzx_triage"]);
}

#[test]
fn the_figure_grows_to_fit_the_legend() {
    let exp = exp();
    let rows: Vec<Row> = (0..14)
        .map(|k| row("swap-cnn", k as f64 / 100.0, 10, true, 0.0, 0.9))
        .collect();
    let fig = Figure {
        title: String::new(),
        legend_title: None,
        curves: curves(&exp, &rows),
        volunteers: volunteers(&rows),
    };
    assert_eq!(fig.entries(), 16);
    let (_, h) = fig.size();
    assert!(h > style::SIZE.1 && h >= LEGEND_TOP + 16 * ENTRY_H + 4 * NOTE_H);
    // a long arm name shrinks the entries to fit the strip
    let long = Figure {
        curves: curves(
            &exp,
            &[row("swap-measurements-long", 0.05, 10, true, 0.0, 0.9)],
        ),
        ..fig
    };
    let chars = long.curves[0].name.chars().count();
    assert_eq!(chars, "swap-measurements-long, 0.05".len());
    let px = long.entry_px();
    assert!(
        px < style::LABEL_PX && 0.45 * chars as f64 * px as f64 <= 200.0,
        "{px}"
    );
}

#[test]
fn nothing_is_written_without_the_records() {
    let exp = exp();
    let rows = [row("swap", 0.0, 10, false, 0.0, 0.0)];
    test_rows::writes_nothing(|dir| write(&exp, &rows, dir));
    test_rows::writes_nothing(|dir| write(&exp, &[], dir));
}
