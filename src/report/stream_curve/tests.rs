//! Stream-figure tests: the curves are the records (x = i * days per point, y = mean over seeds,
//! band = sd over seeds), the machine's line only where its share is non-zero, the files per
//! facet, nothing without the records.

use super::super::figure_kit::NOTE_H;
use super::super::test_rows;
use super::*;
use serde_yaml::Value;

const YAML: &str = "name: gzx\nkind: crowd\ncrowd: { strategy: swap, online: true }\nsweep:\n  crowd.strategy: [swap, majority-vote]\n  crowd.gold_fraction: [0.0, 0.05]\n  crowd.votes_per_galaxy: [10, 40]\nreport:\n  x: crowd.strategy\n  series: crowd.gold_fraction\n";

fn exp() -> Experiment {
    test_rows::exp(YAML)
}

fn stat(mean: f64, std: f64) -> super::super::Stat {
    test_rows::stat(mean, std, 0.0, 3)
}

/// The hand-made classified share of point `i`: a saturating ramp, sd 0.02 in the middle.
fn share(i: usize) -> (f64, f64) {
    let m = (i as f64 / 30.0).min(1.0);
    (m, if m > 0.0 && m < 1.0 { 0.02 } else { 0.0 })
}

/// A row of arm (`strategy`, `gold`) in facet `cap`, points every `dpp` days; `machine` scales
/// the machine's part (`None`: no machine records at all).
fn row(strategy: &str, gold: f64, cap: u64, dpp: f64, machine: Option<f64>) -> Row {
    let mut stats = std::collections::BTreeMap::new();
    stats.insert("curve_days_per_point".to_string(), stat(dpp, 0.0));
    for i in 0..=LAST {
        let (m, s) = share(i);
        stats.insert(format!("classified_share_t{i}"), stat(m, s));
        if let Some(k) = machine {
            stats.insert(format!("machine_share_t{i}"), stat(k * m, 0.0));
        }
    }
    let point = [
        ("crowd.strategy", Value::from(strategy)),
        ("crowd.gold_fraction", Value::from(gold)),
        ("crowd.votes_per_galaxy", Value::from(cap)),
    ];
    test_rows::row(&point, stats)
}

#[test]
fn the_curve_points_are_the_records() {
    let exp = exp();
    let c = curve(&exp, &row("swap", 0.05, 10, 2.5, None)).unwrap();
    assert_eq!(c.name, "swap, 0.05");
    assert_eq!(c.classified.len(), LAST + 1);
    for (i, p) in c.classified.iter().enumerate() {
        let (m, s) = share(i);
        assert_eq!((p.day, p.mean, p.sd), (i as f64 * 2.5, m, s), "point {i}");
    }
    // by hand: point 12 is day 30, share 12/30 = 0.4; the last is day 100
    assert_eq!(c.classified[12].day, 30.0);
    assert!((c.classified[12].mean - 0.4).abs() < 1e-15);
    assert_eq!(c.classified[LAST].day, 100.0);
    assert_eq!(c.machine, None, "no machine records: no machine line");
    // a missing point is skipped, not drawn at zero
    let mut gap = row("swap", 0.05, 10, 2.0, None);
    gap.stats.remove("classified_share_t7");
    let g = curve(&exp, &gap).unwrap();
    assert_eq!(g.classified.len(), LAST);
    assert_eq!((g.classified[7].day, g.classified[6].day), (16.0, 12.0));
}

#[test]
fn the_machine_line_only_where_its_share_is_non_zero() {
    let exp = exp();
    let zero = curve(&exp, &row("swap", 0.0, 10, 1.0, Some(0.0))).unwrap();
    assert_eq!(zero.machine, None);
    let some = curve(&exp, &row("swap", 0.0, 10, 1.0, Some(0.25))).unwrap();
    let m = some.machine.unwrap();
    assert_eq!(m.len(), LAST + 1);
    assert_eq!((m[15].day, m[15].mean), (15.0, 0.25 * 0.5));
    assert_eq!(entries(std::slice::from_ref(&zero)), 1);
    assert_eq!(
        entries(&[
            zero,
            curve(&exp, &row("swap", 0.0, 10, 1.0, Some(0.25))).unwrap()
        ]),
        3
    );
}

#[test]
fn rows_without_usable_records_have_no_curve() {
    let exp = exp();
    let mut r = row("swap", 0.0, 10, 1.0, None);
    r.stats.remove("classified_share_t0");
    assert_eq!(curve(&exp, &r), None);
    let mut r = row("swap", 0.0, 10, 1.0, None);
    r.stats.remove("curve_days_per_point");
    assert_eq!(curve(&exp, &r), None);
    for bad in [0.0, -1.0, f64::NAN] {
        assert_eq!(curve(&exp, &row("swap", 0.0, 10, bad, None)), None);
    }
}

#[test]
fn one_figure_per_facet_is_written() {
    let exp = exp();
    let rows: Vec<Row> = [10, 40]
        .into_iter()
        .flat_map(|cap| {
            [
                row("swap", 0.05, cap, 2.5, Some(0.3)),
                row("majority-vote", 0.05, cap, 2.5, Some(0.0)),
            ]
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let files = write(&exp, &rows, dir.path()).unwrap();
    let stem = "gzx_classified_vs_day_votes_per_galaxy";
    test_rows::assert_pairs(&files, &[&format!("{stem}-10"), &format!("{stem}-40")]);
    let cs = curves(&exp, &rows[..2]);
    let img = image::open(&files[0]).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), size(&cs));
    for c in &style::PALETTE[..2] {
        assert!(test_rows::has_colour(&img, c), "arm drawn in {c:?}");
    }
    let texts = [
        "swap, 0.05",
        "swap, 0.05 (machine)",
        "majority-vote, 0.05",
        "simulated day",
        "share of galaxies classified",
        "gzx: share of galaxies classified (votes_per_galaxy=10)",
    ];
    let svg = test_rows::svg_with(&files[1], &texts);
    assert!(!svg.contains("majority-vote, 0.05 (machine)"));
    // one facet: no suffix
    let one = write(&exp, &rows[..2], dir.path()).unwrap();
    test_rows::assert_pairs(&one, &["gzx_classified_vs_day"]);
}

#[test]
fn the_figure_grows_to_fit_the_legend() {
    let exp = exp();
    let few = curves(&exp, &[row("swap", 0.0, 10, 1.0, None)]);
    assert_eq!(size(&few), style::SIZE);
    let many: Vec<Row> = (0..9)
        .map(|k| row("swap", k as f64 / 10.0, 10, 1.0, Some(0.2)))
        .collect();
    let many = curves(&exp, &many);
    assert_eq!(entries(&many), 18);
    assert!(size(&many).1 > style::SIZE.1);
    assert!(size(&many).1 >= LEGEND_TOP + 18 * ENTRY_H + 3 * NOTE_H);
    // short names keep the label size; a long machine entry shrinks them all to fit the strip
    assert_eq!(entry_px(&few), style::LABEL_PX);
    let long = curves(&exp, &[row("gold-majority-vote", 0.05, 10, 1.0, Some(0.2))]);
    let px = entry_px(&long);
    let chars = "gold-majority-vote, 0.05 (machine)".len() as f64;
    assert!(
        px < style::LABEL_PX && 0.45 * chars * px as f64 <= 200.0,
        "{px}"
    );
}

#[test]
fn nothing_is_written_without_the_records() {
    let exp = exp();
    let rows: Vec<Row> = [row("swap", 0.0, 10, 1.0, Some(0.2))]
        .into_iter()
        .map(|r| Row {
            stats: [("accuracy".to_string(), stat(0.9, 0.01))].into(),
            ..r
        })
        .collect();
    test_rows::writes_nothing(|dir| write(&exp, &rows, dir));
    test_rows::writes_nothing(|dir| write(&exp, &[], dir));
}
