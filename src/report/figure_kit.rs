//! Shared pieces of the one-off report figures ([`super::reliability`],
//! [`super::stream_curve`], [`super::triage_curve`]): a figure drawn twice, as PNG and SVG, and
//! written atomically ([`write_one`]); one figure per facet of the rows ([`write_facets`]); an
//! arm's line name and the legend's key ([`name`], [`legend_title`]); the plot area and its
//! mesh; and the parts of the legend strip (key, line and dashed samples, notes, its size and
//! entry font). Same style as [`super::figures`]; also the facet grouping of rows
//! ([`facets`], [`facet_suffix`]), the aggregated lines of a sweep figure ([`lines`]) and the
//! PNG writer ([`write_png`]) that every report figure uses.

use super::tables::value_str;
use super::{ReportError, Row, style};
use crate::spec::Experiment;
use crate::store::write_atomic;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::element::{DashedPathElement, DynElement};
use plotters::prelude::*;
use plotters::style::FontDesc;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Legend strip: first entry's baseline (below the key), height of an entry and of a note line.
pub(super) const LEGEND_TOP: u32 = 72;
pub(super) const ENTRY_H: u32 = 28;
pub(super) const NOTE_H: u32 = 20;

/// What drawing on a backend `DB` fails with.
pub(super) type DrawError<DB> = DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>;
/// What drawing on a backend `DB` returns.
pub(super) type DrawResult<DB> = Result<(), DrawError<DB>>;
/// A drawing area in pixel coordinates.
pub(super) type Area<DB> = DrawingArea<DB, Shift>;
/// A chart with linear axes on both sides.
pub(super) type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A figure that draws itself, at its own size, on any backend.
pub(super) trait Render {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Draw the whole figure on `root` (of [`Render::size`]).
    fn render<DB: DrawingBackend>(&self, root: Area<DB>) -> DrawResult<DB>;
}

/// Draw `fig` as `<base>.png` and `<base>.svg`, each written atomically; the two paths.
pub(super) fn write_one(fig: &impl Render, base: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let (png, svg) = (base.with_extension("png"), base.with_extension("svg"));
    let err = |p: &Path, e: String| ReportError::Write {
        path: p.display().to_string(),
        msg: e,
    };
    let (w, h) = fig.size();
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    fig.render(BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area())
        .map_err(|e| err(&png, e.to_string()))?;
    write_png(&png, &rgb, w, h)?;
    let mut text = String::new();
    fig.render(SVGBackend::with_string(&mut text, (w, h)).into_drawing_area())
        .map_err(|e| err(&svg, e.to_string()))?;
    write_atomic(&svg, text.as_bytes())?;
    Ok(vec![png, svg])
}

/// Encode an RGB buffer as PNG and write it atomically.
pub(super) fn write_png(path: &Path, rgb: &[u8], w: u32, h: u32) -> Result<(), ReportError> {
    let mut bytes = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut bytes),
        rgb,
        w,
        h,
        image::ExtendedColorType::Rgb8,
    )
    .map_err(|e| ReportError::Write {
        path: path.display().to_string(),
        msg: e.to_string(),
    })?;
    Ok(write_atomic(path, &bytes)?)
}

/// The sweep coordinates of a row other than `x` and the series key, as `key=value, ...`: rows
/// with different facets go to different figures, so a line never mixes settings.
fn facet(exp: &Experiment, row: &Row, x: &str) -> String {
    row.point
        .iter()
        .filter(|(k, _)| k.as_str() != x && Some(k.as_str()) != exp.report.series.as_deref())
        .map(|(k, v)| {
            format!(
                "{}={}",
                k.rsplit('.').next().unwrap_or(k),
                super::tables::value_str(v)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows grouped by [`facet`] (sweep keys other than `x` and the series), in first-seen order.
pub(super) fn facets(exp: &Experiment, rows: &[Row], x: &str) -> Vec<(String, Vec<Row>)> {
    let mut facets: Vec<(String, Vec<Row>)> = Vec::new();
    for r in rows {
        let f = facet(exp, r, x);
        match facets.iter_mut().find(|(k, _)| *k == f) {
            Some((_, v)) => v.push(r.clone()),
            None => facets.push((f, vec![r.clone()])),
        }
    }
    facets
}

/// A facet as a file-name suffix: `freeze_backbone=true` -> `freeze_backbone-true`, `x=0.3` ->
/// `x-0p3` (a dot would be cut by `Path::with_extension`).
pub(super) fn facet_suffix(f: &str) -> String {
    f.split(", ")
        .map(|kv| kv.replacen('=', "-", 1))
        .collect::<Vec<_>>()
        .join("_")
        .chars()
        .map(|c| match c {
            '.' => 'p',
            c if c.is_ascii_alphanumeric() || c == '-' => c,
            _ => '_',
        })
        .collect()
}

/// One figure per facet (the sweep keys other than `report.x` and `report.series`):
/// `figure(title, rows of the facet)` makes it, `None` when the facet has nothing to show. The
/// files are `<name>_<stem>[_<facet>].png` and `.svg`, the title `<name>: <heading>[ (<facet>)]`
/// (the facet only when there is more than one). Nothing is written when no facet has a figure.
pub(super) fn write_facets<F: Render>(
    exp: &Experiment,
    rows: &[Row],
    dir: &Path,
    (stem, heading): (&str, &str),
    mut figure: impl FnMut(String, &[Row]) -> Option<F>,
) -> Result<Vec<PathBuf>, ReportError> {
    let fs = facets(exp, rows, exp.report.x.as_deref().unwrap_or(""));
    let mut out = Vec::new();
    for (f, frows) in &fs {
        let mut base = format!("{}_{stem}", exp.name);
        let mut title = format!("{}: {heading}", exp.name);
        if fs.len() > 1 {
            base = format!("{base}_{}", facet_suffix(f));
            title.push_str(&format!(" ({f})"));
        }
        let Some(fig) = figure(title, frows) else {
            continue;
        };
        style::init();
        out.extend(write_one(&fig, &dir.join(base))?);
    }
    Ok(out)
}

/// The row's value of sweep key `key` (e.g. `report.series`), as it is printed.
pub(super) fn point_value(row: &Row, key: &Option<String>) -> Option<String> {
    key.as_ref().and_then(|k| row.point.get(k)).map(value_str)
}

/// The label of a row: its `report.x` value, then its `report.series` value; the experiment's
/// name when it has neither.
pub(super) fn name(exp: &Experiment, row: &Row) -> String {
    let parts: Vec<String> = [
        point_value(row, &exp.report.x),
        point_value(row, &exp.report.series),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        exp.name.clone()
    } else {
        parts.join(", ")
    }
}

/// The legend's key: the labels of the keys the line names ([`name`]) are made of.
pub(super) fn legend_title(exp: &Experiment) -> Option<String> {
    let keys: Vec<String> = [&exp.report.x, &exp.report.series]
        .into_iter()
        .flatten()
        .map(|k| style::label(k))
        .collect();
    (!keys.is_empty()).then(|| keys.join(", "))
}

/// The colour of line `i`: the palette, repeated.
pub(super) fn colour(i: usize) -> RGBColor {
    style::PALETTE[i % style::PALETTE.len()]
}

/// Fill `root` white and split off the legend strip: (plot area, legend strip, `root`'s width).
pub(super) fn split_legend<DB: DrawingBackend>(
    root: &Area<DB>,
) -> Result<(Area<DB>, Area<DB>, u32), DrawError<DB>> {
    root.fill(&WHITE)?;
    let (w, _) = root.dim_in_pixel();
    let (area, legend) = root.split_horizontally(w - style::LEGEND_WIDTH);
    Ok((area, legend, w))
}

/// The chart of a one-panel figure `w` pixels wide: `title` as caption (shrunk to fit), room
/// for the axes' labels, axes `x` and `y`.
pub(super) fn line_chart<'a, DB: DrawingBackend>(
    area: &'a Area<DB>,
    title: &str,
    w: u32,
    x: Range<f64>,
    y: Range<f64>,
) -> Result<Chart<'a, DB>, DrawError<DB>> {
    ChartBuilder::on(area)
        .caption(title, (style::FONT, style::title_px(title, w)))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y)
}

/// The mesh of a chart: `labels` ticks on (x, y), axis descriptions `desc` at `desc_px`, light
/// grey bold lines only.
pub(super) fn draw_mesh<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    labels: (usize, usize),
    desc: (&str, &str),
    desc_px: u32,
) -> DrawResult<DB> {
    chart
        .configure_mesh()
        .x_labels(labels.0)
        .y_labels(labels.1)
        .x_desc(desc.0)
        .y_desc(desc.1)
        .x_label_formatter(&|v| style::tick(v))
        .y_label_formatter(&|v| style::tick(v))
        .label_style((style::FONT, style::TICK_PX))
        .axis_desc_style((style::FONT, desc_px))
        .max_light_lines(0)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()
}

/// Figure size for a legend strip of `entries` entries and `notes` note lines: the style's,
/// taller when the strip needs it.
pub(super) fn size_for_legend(entries: usize, notes: usize) -> (u32, u32) {
    let legend = LEGEND_TOP + ENTRY_H * entries as u32 + 8 + NOTE_H * notes as u32;
    (style::SIZE.0, style::SIZE.1.max(legend + 16))
}

/// Font size of the legend entries: the style's label size, shrunk (to no less than 10 px) so
/// an entry of `longest` characters fits the strip right of its line sample, at `em` (the
/// font's width per character in ems).
pub(super) fn entry_px(longest: usize, em: f64) -> u32 {
    let room = f64::from(style::LEGEND_WIDTH - 50);
    ((room / (em * longest.max(1) as f64)) as u32).clamp(10, style::LABEL_PX)
}

/// The font of the legend's key (and of entries of the full label size).
pub(super) fn label_font() -> FontDesc<'static> {
    (style::FONT, style::LABEL_PX).into_font()
}

/// The legend's key at its top, if any.
pub(super) fn legend_key<DB: DrawingBackend>(
    legend: &Area<DB>,
    key: Option<&str>,
) -> DrawResult<DB> {
    if let Some(t) = key {
        legend.draw(&Text::new(t.to_string(), (8, 40), label_font()))?;
    }
    Ok(())
}

/// A legend entry at height `y`: a solid line sample in `col` with `mark` at its middle
/// (`(23, y)`), `label` right of it.
pub(super) fn legend_line<DB: DrawingBackend>(
    legend: &Area<DB>,
    y: i32,
    col: RGBColor,
    mark: DynElement<'static, DB, (i32, i32)>,
    label: &str,
    font: &FontDesc,
) -> DrawResult<DB> {
    legend.draw(&PathElement::new(
        vec![(8, y), (38, y)],
        col.stroke_width(3),
    ))?;
    legend.draw(&mark)?;
    legend_label(legend, y, label, font)
}

/// The legend entry of line `i` at height `y`: a solid sample in its colour ([`colour`]) with
/// its marker ([`style::marker`]), `label` right of it.
pub(super) fn legend_arm<DB: DrawingBackend>(
    legend: &Area<DB>,
    y: i32,
    i: usize,
    label: &str,
    font: &FontDesc,
) -> DrawResult<DB> {
    let col = colour(i);
    legend_line(legend, y, col, style::marker(i, (23, y), col), label, font)
}

/// A legend entry at height `y`: a dashed line sample (`dash` long, `gap` apart) in `line`,
/// `label` right of it.
pub(super) fn legend_dashed<DB: DrawingBackend>(
    legend: &Area<DB>,
    y: i32,
    (dash, gap): (u32, u32),
    line: ShapeStyle,
    label: &str,
    font: &FontDesc,
) -> DrawResult<DB> {
    legend.draw(&DashedPathElement::new(
        vec![(8, y), (38, y)],
        dash,
        gap,
        line,
    ))?;
    legend_label(legend, y, label, font)
}

/// A legend entry's label, right of its sample at height `y`.
pub(super) fn legend_label<DB: DrawingBackend>(
    legend: &Area<DB>,
    y: i32,
    label: &str,
    font: &FontDesc,
) -> DrawResult<DB> {
    legend.draw(&Text::new(label.to_string(), (46, y - 9), font.clone()))
}

/// The legend's notes (what points, lines, bands mean), one a line from height `y` down.
pub(super) fn legend_notes<DB: DrawingBackend>(
    legend: &Area<DB>,
    mut y: i32,
    notes: &[&str],
) -> DrawResult<DB> {
    let small = (style::FONT, style::TICK_PX).into_font();
    for note in notes {
        legend.draw(&Text::new(*note, (8, y), small.clone()))?;
        y += NOTE_H as i32;
    }
    Ok(())
}

/// The runs of `exp`'s first seed, if `exp` is of `kind`, whose run directory holds `file`,
/// each with that file's path (figures drawn from one seed's run artifacts).
pub(super) fn first_seed_files<'a>(
    exp: &Experiment,
    kind: crate::spec::ExperimentKind,
    runs: &'a [crate::spec::RunSpec],
    store: &crate::store::Store,
    file: &str,
) -> Vec<(&'a crate::spec::RunSpec, PathBuf)> {
    let Some(&first) = exp.seeds.first().filter(|_| exp.kind == kind) else {
        return Vec::new();
    };
    runs.iter()
        .filter(|r| r.seed == first)
        .map(|r| (r, store.run_dir(&crate::spec::run_id(r)).join(file)))
        .filter(|(_, p)| p.is_file())
        .collect()
}

/// The path of an arm's image `<name>_<stem>_<arm>.png` in `dir` (created), the arm being the
/// run's sweep point without its seed.
pub(super) fn arm_png(
    exp: &Experiment,
    spec: &crate::spec::RunSpec,
    stem: &str,
    dir: &Path,
) -> Result<PathBuf, ReportError> {
    let point = crate::runner::point_label(spec);
    let point = point.rsplit_once(", seed=").map_or(point.as_str(), |p| p.0);
    std::fs::create_dir_all(dir).map_err(|e| ReportError::Write {
        path: dir.display().to_string(),
        msg: e.to_string(),
    })?;
    Ok(dir.join(format!("{}_{stem}_{}.png", exp.name, facet_suffix(point))))
}

/// One aggregated point: x, mean over seeds, 95% CI half-width (0 if unknown).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Point {
    pub x: f64,
    pub mean: f64,
    pub ci: f64,
}

/// One line of a plot: its points sorted by x.
pub(super) struct Line {
    pub name: String,
    pub points: Vec<Point>,
}

/// One line per series value (or one line named after the metric without a series).
pub(super) fn lines(exp: &Experiment, rows: &[Row], x: &str, metric: &str) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::new();
    for r in rows {
        let (Some(xv), Some(s)) = (r.point.get(x).and_then(|v| v.as_f64()), r.stats.get(metric))
        else {
            continue;
        };
        let name = point_value(r, &exp.report.series).unwrap_or_else(|| style::label(metric));
        let p = Point {
            x: xv,
            mean: s.mean,
            ci: if s.ci95.is_nan() { 0.0 } else { s.ci95 },
        };
        match out.iter_mut().find(|l| l.name == name) {
            Some(l) => l.points.push(p),
            None => out.push(Line {
                name,
                points: vec![p],
            }),
        }
    }
    for l in &mut out {
        l.points.sort_by(|a, b| a.x.total_cmp(&b.x));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::test_rows;
    use super::*;
    use serde_yaml::Value;

    const YAML: &str = "name: k\nkind: crowd\ncrowd: { strategy: swap, online: true }\nsweep:\n  crowd.strategy: [swap, majority-vote]\n  crowd.gold_fraction: [0.0, 0.05]\n  crowd.votes_per_galaxy: [10, 40]\nreport:\n  x: crowd.strategy\n  series: crowd.gold_fraction\n";

    fn row(strategy: &str, cap: u64) -> Row {
        let point = [
            ("crowd.strategy", Value::from(strategy)),
            ("crowd.gold_fraction", Value::from(0.05)),
            ("crowd.votes_per_galaxy", Value::from(cap)),
        ];
        test_rows::row(&point, Default::default())
    }

    /// A blank figure of a given size.
    struct Blank((u32, u32));

    impl Render for Blank {
        fn size(&self) -> (u32, u32) {
            self.0
        }

        fn render<DB: DrawingBackend>(&self, root: Area<DB>) -> DrawResult<DB> {
            root.fill(&WHITE)
        }
    }

    #[test]
    fn legend_sizes_by_hand() {
        // 200 px of room: 10 chars at 0.5 em fit 40 px (capped at the label size), 30 chars at
        // 0.55 em fit 200 / 16.5 = 12.1 px, 40 chars 9.1 px (raised to the 10 px floor)
        assert_eq!(entry_px(10, 0.5), style::LABEL_PX);
        assert_eq!(entry_px(30, 0.55), 12);
        assert_eq!(entry_px(40, 0.55), 10);
        assert_eq!(entry_px(0, 0.55), style::LABEL_PX);
        // 72 + 28 * 16 + 8 + 20 * 4 = 608, plus 16 of margin
        assert_eq!(size_for_legend(16, 4), (style::SIZE.0, 624));
        assert_eq!(size_for_legend(2, 3), style::SIZE);
    }

    #[test]
    fn names_and_key_are_the_x_and_series_values() {
        let exp = test_rows::exp(YAML);
        assert_eq!(name(&exp, &row("swap", 10)), "swap, 0.05");
        assert_eq!(
            legend_title(&exp).as_deref(),
            Some(
                format!(
                    "{}, {}",
                    style::label("crowd.strategy"),
                    style::label("crowd.gold_fraction")
                )
                .as_str()
            )
        );
        let mut bare = exp.clone();
        bare.report.x = None;
        bare.report.series = None;
        assert_eq!(name(&bare, &row("swap", 10)), "k");
        assert_eq!(legend_title(&bare), None);
        assert_eq!(colour(style::PALETTE.len() + 1), style::PALETTE[1]);
    }

    #[test]
    fn one_png_and_svg_per_facet_that_has_a_figure() {
        let exp = test_rows::exp(YAML);
        let rows = [row("swap", 10), row("majority-vote", 10), row("swap", 40)];
        let dir = tempfile::tempdir().unwrap();
        let mut titles = Vec::new();
        let files = write_facets(&exp, &rows, dir.path(), ("t", "what"), |title, frows| {
            titles.push(title);
            (frows.len() == 2).then_some(Blank((40, 30)))
        })
        .unwrap();
        assert_eq!(
            titles,
            [
                "k: what (votes_per_galaxy=10)",
                "k: what (votes_per_galaxy=40)"
            ]
        );
        assert_eq!(files.len(), 2, "the second facet has no figure");
        assert!(files[0].ends_with("k_t_votes_per_galaxy-10.png"));
        assert!(files[1].ends_with("k_t_votes_per_galaxy-10.svg"));
        let img = image::open(&files[0]).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (40, 30));
        assert!(img.pixels().all(|p| p.0 == [255, 255, 255]));
        let svg = std::fs::read_to_string(&files[1]).unwrap();
        assert!(svg.contains("width=\"40\"") && svg.contains("height=\"30\""));
        // one facet: no suffix; no figure anywhere: nothing written
        let one = write_facets(&exp, &rows[..2], dir.path(), ("t", "w"), |_, _| {
            Some(Blank((8, 8)))
        })
        .unwrap();
        assert!(one[0].ends_with("k_t.png"));
        let empty = tempfile::tempdir().unwrap();
        let none = write_facets(&exp, &rows, empty.path(), ("t", "w"), |_, _| None::<Blank>);
        assert!(none.unwrap().is_empty());
        assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);
    }
}
