//! Bar charts for experiments without an x axis (`report.series` only, e.g. one bar per backbone):
//! one PNG + SVG per metric, the mean over seeds with its 95% interval as a whisker.

use super::figures::write_png;
use super::{ReportError, Row, style, tables::value_str};
use crate::spec::Experiment;
use crate::store::write_atomic;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn render<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    yl: &str,
    bars: &[(String, f64, f64)],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let lo = bars
        .iter()
        .map(|b| b.1 - b.2)
        .fold(f64::INFINITY, f64::min)
        .min(0.0);
    let hi = bars
        .iter()
        .map(|b| b.1 + b.2)
        .fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.08).max(1e-3);
    let n = bars.len();
    let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    // names wider than their slot are written vertically
    let longest = names.iter().map(|s| s.chars().count()).max().unwrap_or(0) as u32;
    let char_px = style::TICK_PX * 6 / 10;
    let slot = (style::SIZE.0 - 100) / n.max(1) as u32;
    let vertical = longest * char_px > slot * 9 / 10;
    let label_area = if vertical { longest * char_px + 16 } else { 48 };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (style::FONT, style::TITLE_PX))
        .margin(12)
        .x_label_area_size(label_area)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, lo..hi + pad)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|v| {
            let i = v.round();
            if !vertical && (v - i).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc(yl)
        .label_style((style::FONT, style::TICK_PX))
        .axis_desc_style((style::FONT, style::LABEL_PX))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for (i, (_, mean, ci)) in bars.iter().enumerate() {
        let c = style::PALETTE[i % style::PALETTE.len()];
        let x = i as f64;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(x - 0.3, 0.0f64.max(lo)), (x + 0.3, *mean)],
            c.mix(0.85).filled(),
        )))?;
        if *ci <= 0.0 {
            continue;
        }
        let (a, b) = (mean - ci, mean + ci);
        let whisker = [
            vec![(x, a), (x, b)],
            vec![(x - 0.08, a), (x + 0.08, a)],
            vec![(x - 0.08, b), (x + 0.08, b)],
        ];
        chart.draw_series(
            whisker
                .into_iter()
                .map(|p| PathElement::new(p, BLACK.stroke_width(2))),
        )?;
    }
    if vertical {
        // written downwards from just below the axis, one per bar
        let font = (style::FONT, style::TICK_PX)
            .into_font()
            .transform(FontTransform::Rotate90)
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        for (i, name) in names.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(i as f64, lo));
            root.draw(&Text::new(name.clone(), (px, py + 8), font.clone()))?;
        }
    }
    root.present()
}

/// Write `<name>_<metric>.png/.svg` bar charts when the report has a series but no x.
pub fn write(exp: &Experiment, rows: &[Row], dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let (None, Some(series)) = (exp.report.x.as_deref(), exp.report.series.as_deref()) else {
        return Ok(vec![]);
    };
    style::init();
    let mut metrics: Vec<&String> = rows.iter().flat_map(|r| r.stats.keys()).collect();
    metrics.sort();
    metrics.dedup();
    let facets = super::figures::facets(exp, rows, "");
    let mut out = Vec::new();
    for metric in metrics {
        for (f, frows) in &facets {
            out.extend(write_one(
                exp,
                series,
                metric,
                f,
                facets.len() > 1,
                frows,
                dir,
            )?);
        }
    }
    Ok(out)
}

/// One bar chart of `metric` over the rows of facet `f`.
fn write_one(
    exp: &Experiment,
    series: &str,
    metric: &str,
    f: &str,
    suffixed: bool,
    rows: &[Row],
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let bars: Vec<(String, f64, f64)> = rows
        .iter()
        .filter_map(|r| {
            let s = r.stats.get(metric)?;
            let name = r.point.get(series).map(value_str)?;
            Some((name, s.mean, if s.ci95.is_nan() { 0.0 } else { s.ci95 }))
        })
        .collect();
    if bars.is_empty() {
        return Ok(Vec::new());
    }
    let mut base = dir.join(format!("{}_{}", exp.name, metric));
    if suffixed {
        base = dir.join(format!(
            "{}_{}_{}",
            exp.name,
            metric,
            super::figures::facet_suffix(f)
        ));
    }
    let (png, svg) = (base.with_extension("png"), base.with_extension("svg"));
    let with_ci = rows
        .iter()
        .any(|r| r.stats.get(metric).is_some_and(|s| !s.ci95.is_nan()));
    let what = if with_ci {
        "bars: mean, whiskers: 95% CI"
    } else {
        "one value each"
    };
    let mut title = format!("{}: {} ({what})", exp.name, style::label(metric));
    if !f.is_empty() {
        title.push_str(&format!(" ({f})"));
    }
    let yl = style::label(metric);
    let err = |p: &Path, e: String| ReportError::Write {
        path: p.display().to_string(),
        msg: e,
    };
    let (w, h) = style::SIZE;
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    render(
        BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area(),
        &title,
        &yl,
        &bars,
    )
    .map_err(|e| err(&png, e.to_string()))?;
    write_png(&png, &rgb, w, h)?;
    let mut text = String::new();
    render(
        SVGBackend::with_string(&mut text, (w, h)).into_drawing_area(),
        &title,
        &yl,
        &bars,
    )
    .map_err(|e| err(&svg, e.to_string()))?;
    write_atomic(&svg, text.as_bytes())?;
    Ok(vec![png, svg])
}
