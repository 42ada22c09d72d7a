//! Bar charts for experiments without an x axis (`report.series` only, e.g. one bar per backbone):
//! one PNG + SVG per metric, the mean over seeds with its 95% interval as a whisker (clipped to
//! the metric's range) and, where one applies, the dashed reference level of each bar (chance,
//! majority class, prevalence, mean baseline; see [`super::figures::reference`]).

use super::figure_kit::{self, Area, Render, facet_suffix, facets};
use super::{ReportError, Row, style, tables::value_str};
use crate::spec::Experiment;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// One bar: name, mean, 95% CI half-width (0 if unknown), reference level.
type Bar = (String, f64, f64, Option<f64>);

fn render<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    yl: &str,
    bounds: (f64, f64),
    bars: &[Bar],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let clip = |v: f64| v.clamp(bounds.0, bounds.1);
    let lo = bars
        .iter()
        .flat_map(|b| [clip(b.1 - b.2), b.3.unwrap_or(0.0)])
        .fold(f64::INFINITY, f64::min)
        .min(0.0);
    let hi = bars
        .iter()
        .flat_map(|b| [clip(b.1 + b.2), b.3.unwrap_or(f64::NEG_INFINITY)])
        .fold(f64::NEG_INFINITY, f64::max);
    let top_mean = bars.iter().map(|b| b.1).fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.08).max(1e-3);
    let top = if top_mean < bounds.1 {
        (hi + pad).min(bounds.1)
    } else {
        hi + pad
    };
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
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, lo..top)?;
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
        .max_light_lines(0)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;
    for (i, (_, mean, ci, _)) in bars.iter().enumerate() {
        let c = style::PALETTE[i % style::PALETTE.len()];
        let x = i as f64;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(x - 0.3, 0.0f64.max(lo)), (x + 0.3, *mean)],
            c.mix(0.85).filled(),
        )))?;
        if *ci <= 0.0 {
            continue;
        }
        let (a, b) = (clip(mean - ci), clip(mean + ci));
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
    // reference levels: one dashed line across the chart when all bars share it, else one
    // across each bar's slot
    let levels: Vec<(usize, f64)> = bars
        .iter()
        .enumerate()
        .filter_map(|(i, b)| Some((i, b.3?)))
        .collect();
    let shared = levels.len() == n && levels.iter().all(|l| (l.1 - levels[0].1).abs() < 1e-12);
    let segments: Vec<(f64, f64, f64)> = if shared {
        vec![(-0.5, n as f64 - 0.5, levels[0].1)]
    } else {
        levels
            .iter()
            .map(|&(i, v)| (i as f64 - 0.45, i as f64 + 0.45, v))
            .collect()
    };
    for (x0, x1, v) in segments {
        chart.draw_series(DashedLineSeries::new(
            [(x0, v), (x1, v)],
            8,
            6,
            style::REFERENCE.stroke_width(2),
        ))?;
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

/// Write `<name>_<metric>.png/.svg` bar charts when the report has a series but no x: for the
/// metrics of `report.metrics` (in its order; every recorded one without it). `rows` are
/// unfiltered, so the reference levels can read statistics that are not plotted.
pub fn write(exp: &Experiment, rows: &[Row], dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let (None, Some(series)) = (exp.report.x.as_deref(), exp.report.series.as_deref()) else {
        return Ok(vec![]);
    };
    style::init();
    let mut metrics: Vec<&String> = rows.iter().flat_map(|r| r.stats.keys()).collect();
    metrics.sort();
    metrics.dedup();
    if let Some(keep) = &exp.report.metrics {
        metrics = keep.iter().filter(|m| metrics.contains(m)).collect();
    }
    let facets = facets(exp, rows, "");
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
    let mut reference_label = None;
    let bars: Vec<Bar> = rows
        .iter()
        .filter_map(|r| {
            let s = r.stats.get(metric)?;
            let name = r.point.get(series).map(value_str)?;
            let level = super::figures::reference_of_row(metric, r).map(|(label, v)| {
                reference_label = Some(label);
                v
            });
            Some((
                name,
                s.mean,
                if s.ci95.is_nan() { 0.0 } else { s.ci95 },
                level,
            ))
        })
        .collect();
    if bars.is_empty() {
        return Ok(Vec::new());
    }
    let mut base = dir.join(format!("{}_{}", exp.name, metric));
    if suffixed {
        base = dir.join(format!("{}_{}_{}", exp.name, metric, facet_suffix(f)));
    }
    let with_ci = rows
        .iter()
        .any(|r| r.stats.get(metric).is_some_and(|s| !s.ci95.is_nan()));
    let what = if with_ci {
        "bars: mean, whiskers: 95% CI"
    } else {
        "one value each"
    };
    let what = match &reference_label {
        Some(l) => format!("{what}, dashed: {l}"),
        None => what.to_string(),
    };
    let mut title = format!("{}: {} ({what})", exp.name, style::label(metric));
    if !f.is_empty() {
        title.push_str(&format!(" ({f})"));
    }
    let chart = Chart {
        title,
        y_label: style::label(metric),
        bounds: style::bounds(metric),
        bars,
    };
    figure_kit::write_one(&chart, &base)
}

/// One bar chart, as drawn by [`render`].
struct Chart {
    title: String,
    y_label: String,
    bounds: (f64, f64),
    bars: Vec<Bar>,
}

impl Render for Chart {
    fn size(&self) -> (u32, u32) {
        style::SIZE
    }

    fn render<DB: DrawingBackend>(&self, root: Area<DB>) -> DrawResult<DB> {
        render(root, &self.title, &self.y_label, self.bounds, &self.bars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_pixels(bars: &[Bar]) -> usize {
        style::init();
        let (w, h) = style::SIZE;
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        render(
            BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area(),
            "t",
            "ROC AUC",
            style::bounds("roc_auc"),
            bars,
        )
        .unwrap();
        let RGBColor(r, g, b) = style::REFERENCE;
        rgb.chunks(3).filter(|p| p == &[r, g, b]).count()
    }

    #[test]
    fn reference_levels_are_drawn_and_whiskers_clipped() {
        // whiskers past 1 must not fail or stretch the axis; the dashed chance line shows
        let with: Vec<Bar> = vec![
            ("a".into(), 0.97, 0.2, Some(0.5)),
            ("b".into(), 0.6, 0.1, Some(0.5)),
        ];
        let without: Vec<Bar> = with.iter().map(|b| (b.0.clone(), b.1, b.2, None)).collect();
        let (on, off) = (reference_pixels(&with), reference_pixels(&without));
        assert!(on > off + 300, "{on} vs {off}");
        // bars with different levels: one segment per bar, shorter than the shared line
        let apart: Vec<Bar> = vec![
            ("a".into(), 0.97, 0.2, Some(0.5)),
            ("b".into(), 0.6, 0.1, Some(0.3)),
        ];
        let split = reference_pixels(&apart);
        assert!(split > off + 300 && split < on, "{split} vs {on}");
    }
}
