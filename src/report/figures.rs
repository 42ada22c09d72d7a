//! Figures: one line plot per metric (mean over seeds with a 95% CI band), PNG and SVG.

use super::{ReportError, Row, style};
use crate::spec::Experiment;
use crate::store::write_atomic;
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// One line of a plot: (x, mean, ci95) points sorted by x.
pub(super) struct Line {
    pub name: String,
    pub points: Vec<(f64, f64, f64)>,
}

/// One line per series value (or one line named after the metric without a series).
pub(super) fn lines(exp: &Experiment, rows: &[Row], x: &str, metric: &str) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::new();
    for r in rows {
        let (Some(xv), Some(s)) = (r.point.get(x).and_then(|v| v.as_f64()), r.stats.get(metric))
        else {
            continue;
        };
        let name = exp
            .report
            .series
            .as_ref()
            .and_then(|k| r.point.get(k))
            .map(super::tables::value_str)
            .unwrap_or_else(|| style::label(metric));
        let ci = if s.ci95.is_nan() { 0.0 } else { s.ci95 };
        match out.iter_mut().find(|l| l.name == name) {
            Some(l) => l.points.push((xv, s.mean, ci)),
            None => out.push(Line {
                name,
                points: vec![(xv, s.mean, ci)],
            }),
        }
    }
    for l in &mut out {
        l.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw<DB: DrawingBackend, X: Ranged<ValueType = f64> + ValueFormatter<f64>>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    xr: X,
    yr: (f64, f64),
    title: &str,
    xl: &str,
    yl: &str,
    lines: &[Line],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (w, _) = root.dim_in_pixel();
    let (plot, legend) = root.split_horizontally(w - style::LEGEND_WIDTH);
    let mut chart = ChartBuilder::on(&plot)
        .caption(title, (style::FONT, style::TITLE_PX))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(xr, RangedCoordf64::from(yr.0..yr.1))?;
    chart
        .configure_mesh()
        .x_labels(8)
        .y_labels(8)
        .x_label_formatter(&|v| style::tick(v))
        .x_desc(xl)
        .y_desc(yl)
        .label_style((style::FONT, style::TICK_PX))
        .axis_desc_style((style::FONT, style::LABEL_PX))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for (i, l) in lines.iter().enumerate() {
        let c = style::PALETTE[i % style::PALETTE.len()];
        let band: Vec<(f64, f64)> = l
            .points
            .iter()
            .map(|p| (p.0, p.1 + p.2))
            .chain(l.points.iter().rev().map(|p| (p.0, p.1 - p.2)))
            .collect();
        chart.draw_series(std::iter::once(Polygon::new(band, c.mix(0.18).filled())))?;
        chart.draw_series(LineSeries::new(
            l.points.iter().map(|p| (p.0, p.1)),
            c.stroke_width(2),
        ))?;
        chart.draw_series(
            l.points
                .iter()
                .map(|p| Circle::new((p.0, p.1), 4, c.filled())),
        )?;
    }
    let font = (style::FONT, style::LABEL_PX).into_font();
    legend.draw(&Text::new("legend", (8, 40), font.clone()))?;
    for (i, l) in lines.iter().enumerate() {
        let c = style::PALETTE[i % style::PALETTE.len()];
        let y = 72 + 28 * i as i32;
        legend.draw(&PathElement::new(vec![(8, y), (38, y)], c.stroke_width(3)))?;
        legend.draw(&Text::new(l.name.clone(), (46, y - 9), font.clone()))?;
    }
    legend.draw(&Text::new(
        "bands: 95% CI",
        (8, 84 + 28 * lines.len() as i32),
        (style::FONT, style::TICK_PX).into_font(),
    ))?;
    root.present()
}

fn render<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    exp: &Experiment,
    x: &str,
    metric: &str,
    facet: &str,
    lines: &[Line],
) -> DrawResult<DB> {
    let xs = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let ys = lines
        .iter()
        .flat_map(|l| l.points.iter().flat_map(|p| [p.1 - p.2, p.1 + p.2]));
    let (y0, y1) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let pad = ((y1 - y0) * 0.08).max(1e-3);
    let yr = (y0 - pad, y1 + pad);
    let mut title = format!("{}: {}", exp.name, style::label(metric));
    if !facet.is_empty() {
        title.push_str(&format!(" ({facet})"));
    }
    let (xl, yl) = (style::label(x), style::label(metric));
    if exp.report.log_x && x0 > 0.0 {
        let xr: plotters::coord::combinators::LogCoord<f64> =
            (x0 / 1.15..x1 * 1.15).log_scale().into();
        draw(root, xr, yr, &title, &xl, &yl, lines)
    } else {
        let xp = ((x1 - x0) * 0.05).max(0.5);
        draw(
            root,
            RangedCoordf64::from(x0 - xp..x1 + xp),
            yr,
            &title,
            &xl,
            &yl,
            lines,
        )
    }
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

/// A facet as a file-name suffix: `freeze_backbone=true` -> `freeze_backbone-true`.
pub(super) fn facet_suffix(f: &str) -> String {
    f.split(", ")
        .map(|kv| kv.replacen('=', "-", 1))
        .collect::<Vec<_>>()
        .join("_")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Write `<name>_<metric>.png` and `.svg` for every metric (one pair per facet, suffixed with
/// its values, when sweep keys other than `x` and `series` vary); nothing without a `report.x`.
pub fn write(exp: &Experiment, rows: &[Row], dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let Some(x) = exp.report.x.as_deref() else {
        return Ok(vec![]);
    };
    style::init();
    let mut metrics: Vec<&String> = rows.iter().flat_map(|r| r.stats.keys()).collect();
    metrics.sort();
    metrics.dedup();
    let facets = facets(exp, rows, x);
    let mut out = Vec::new();
    for metric in metrics {
        for (f, frows) in &facets {
            let ls = lines(exp, frows, x, metric);
            if ls.is_empty() {
                continue;
            }
            let mut name = format!("{}_{}", exp.name, metric);
            if facets.len() > 1 {
                name = format!("{name}_{}", facet_suffix(f));
            }
            out.extend(write_one(exp, x, metric, f, &ls, &dir.join(name))?);
        }
    }
    Ok(out)
}

fn write_one(
    exp: &Experiment,
    x: &str,
    metric: &str,
    facet: &str,
    ls: &[Line],
    base: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let (png, svg) = (base.with_extension("png"), base.with_extension("svg"));
    let err = |p: &Path, e: String| ReportError::Write {
        path: p.display().to_string(),
        msg: e,
    };
    let (w, h) = style::SIZE;
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    render(
        BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area(),
        exp,
        x,
        metric,
        facet,
        ls,
    )
    .map_err(|e| err(&png, e.to_string()))?;
    write_png(&png, &rgb, w, h)?;
    let mut text = String::new();
    render(
        SVGBackend::with_string(&mut text, (w, h)).into_drawing_area(),
        exp,
        x,
        metric,
        facet,
        ls,
    )
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
