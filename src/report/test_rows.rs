//! Builders and checks for the report figures' tests: an experiment parsed from YAML text, a
//! statistic, an aggregated row at a sweep point with given statistics (no differences, not the
//! reference arm); the files a figure writer wrote, a colour in a PNG, texts in an SVG, and a
//! writer that writes nothing.

use super::{ReportError, Row, Stat};
use crate::spec::Experiment;
use plotters::style::RGBColor;
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The experiment of `yaml` (panics on a bad spec: test input).
pub(super) fn exp(yaml: &str) -> Experiment {
    crate::spec::parse_str(yaml, "test.yaml").unwrap()
}

/// A statistic over `n` seeds.
pub(super) fn stat(mean: f64, std: f64, ci95: f64, n: usize) -> Stat {
    Stat { mean, std, ci95, n }
}

/// A row at the sweep point `point` (key, value) with the statistics `stats`.
pub(super) fn row(point: &[(&str, Value)], stats: BTreeMap<String, Stat>) -> Row {
    Row {
        point: point
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        stats,
        diffs: Default::default(),
        is_reference: false,
    }
}

/// Check that `files` are `<stem>.png` and `<stem>.svg` of each of `stems`, in that order.
pub(super) fn assert_pairs(files: &[PathBuf], stems: &[&str]) {
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let want: Vec<String> = stems
        .iter()
        .flat_map(|s| [format!("{s}.png"), format!("{s}.svg")])
        .collect();
    assert_eq!(names, want);
}

/// Whether the image has a pixel of colour `c`.
pub(super) fn has_colour(img: &image::RgbImage, c: &RGBColor) -> bool {
    img.pixels().any(|p| p.0 == [c.0, c.1, c.2])
}

/// The text of the SVG at `path`, checked to hold every one of `texts`.
pub(super) fn svg_with(path: &Path, texts: &[&str]) -> String {
    let svg = std::fs::read_to_string(path).unwrap();
    for text in texts {
        assert!(svg.contains(text), "svg lacks {text:?}");
    }
    svg
}

/// Check that `write`, given a fresh folder, writes nothing there.
pub(super) fn writes_nothing(write: impl Fn(&Path) -> Result<Vec<PathBuf>, ReportError>) {
    let dir = tempfile::tempdir().unwrap();
    assert!(write(dir.path()).unwrap().is_empty());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn the_checks_see_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let (png, svg) = (dir.path().join("a.png"), dir.path().join("a.svg"));
    image::RgbImage::from_pixel(2, 1, image::Rgb([0, 114, 178]))
        .save(&png)
        .unwrap();
    std::fs::write(&svg, "<svg><text>one</text></svg>").unwrap();
    assert_pairs(&[png.clone(), svg.clone()], &["a"]);
    let img = image::open(&png).unwrap().to_rgb8();
    assert!(has_colour(&img, &RGBColor(0, 114, 178)));
    assert!(!has_colour(&img, &RGBColor(0, 0, 0)));
    assert!(svg_with(&svg, &["one"]).contains("<svg>"));
    writes_nothing(|_| Ok(vec![]));
    let wrong = std::panic::catch_unwind(|| assert_pairs(&[svg.clone(), png.clone()], &["a"]));
    assert!(wrong.is_err(), "order matters");
    let lacking = std::panic::catch_unwind(|| svg_with(&svg, &["two"]));
    assert!(lacking.is_err());
    let wrote = std::panic::catch_unwind(|| {
        writes_nothing(|d| {
            std::fs::write(d.join("x"), "x").unwrap();
            Ok(vec![])
        })
    });
    assert!(wrote.is_err(), "a file left in the folder is seen");
}

#[test]
fn a_row_holds_its_point_and_statistics() {
    let r = row(
        &[("a.b", Value::from(3)), ("c", Value::from("x"))],
        [("accuracy".to_string(), stat(0.9, 0.1, 0.2, 4))].into(),
    );
    assert_eq!(r.point.len(), 2);
    assert_eq!(r.point["a.b"], Value::from(3));
    assert_eq!(r.point["c"], Value::from("x"));
    let s = &r.stats["accuracy"];
    assert_eq!((s.mean, s.std, s.ci95, s.n), (0.9, 0.1, 0.2, 4));
    assert!(r.diffs.is_empty() && !r.is_reference);
    let e = exp("name: t\nkind: crowd\ncrowd: { strategy: swap }\n");
    assert_eq!(e.name, "t");
}
