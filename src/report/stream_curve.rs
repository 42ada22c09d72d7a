//! The stream figure of a Galaxy Zoo Express experiment (issue 20, `crate::gzx`): the share of
//! the sample classified (retired by SWAP, by the machine, or done at its vote cap) against the
//! simulated day, one line per arm.
//!
//! Reads the runs' `curve_days_per_point` and `classified_share_t{i}` records (i = 0..=40, the
//! share classified by day `i * curve_days_per_point`) and, where present, `machine_share_t{i}`
//! (the part of that share the machine retired) from the aggregated rows. One solid line per row
//! (the mean over seeds, labelled with its `report.x` value and its `report.series` value) in a
//! band of +- one standard deviation over seeds; where the machine's part is non-zero, that part
//! as a dashed line of the same colour. One figure per facet (the sweep keys other than
//! `report.x` and `report.series`): `<name>_classified_vs_day[_<facet>].png` and `.svg`. Nothing
//! is written when no row has the records. Same style as [`super::reliability`] (font, palette,
//! markers for repeated colours, legend strip).

use super::figures::{facet_suffix, facets, write_png};
use super::tables::value_str;
use super::{ReportError, Row, style};
use crate::spec::Experiment;
use crate::store::write_atomic;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Last curve point index of the records (`classified_share_t0` .. `_t40`).
const LAST: usize = 40;
/// A marker every this many curve points (so repeated colours stay apart without crowding).
const MARK_EVERY: usize = 5;
/// Legend strip: first entry's baseline, height of an entry and of a note line.
pub(super) const LEGEND_TOP: u32 = 72;
pub(super) const ENTRY_H: u32 = 28;
pub(super) const NOTE_H: u32 = 20;

/// One curve point: simulated day, mean share over seeds, its standard deviation over seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    day: f64,
    mean: f64,
    sd: f64,
}

/// One arm's line: its label, the classified share, and the machine's part where non-zero.
#[derive(Debug, Clone, PartialEq)]
struct Curve {
    name: String,
    classified: Vec<Point>,
    machine: Option<Vec<Point>>,
}

/// The points of one record family (`classified_share` or `machine_share`) of a row, in day
/// order; points whose record is missing are skipped.
fn points(row: &Row, what: &str, days_per_point: f64) -> Vec<Point> {
    (0..=LAST)
        .filter_map(|i| {
            let s = row.stats.get(&format!("{what}_t{i}"))?;
            Some(Point {
                day: i as f64 * days_per_point,
                mean: s.mean,
                sd: if s.std.is_finite() { s.std } else { 0.0 },
            })
        })
        .collect()
}

/// The label of a row: its `report.x` value, then its `report.series` value; the experiment's
/// name when it has neither.
pub(super) fn name(exp: &Experiment, row: &Row) -> String {
    let value = |k: &Option<String>| k.as_ref().and_then(|k| row.point.get(k)).map(value_str);
    let parts: Vec<String> = [value(&exp.report.x), value(&exp.report.series)]
        .into_iter()
        .flatten()
        .collect();
    if parts.is_empty() {
        exp.name.clone()
    } else {
        parts.join(", ")
    }
}

/// The curve of a row; `None` without the records (no `classified_share_t0`, or no usable
/// `curve_days_per_point`: a positive finite number).
fn curve(exp: &Experiment, row: &Row) -> Option<Curve> {
    row.stats.get("classified_share_t0")?;
    let dpp = row.stats.get("curve_days_per_point")?.mean;
    if !(dpp.is_finite() && dpp > 0.0) {
        return None;
    }
    let machine = points(row, "machine_share", dpp);
    let machine = machine.iter().any(|p| p.mean != 0.0).then_some(machine);
    Some(Curve {
        name: name(exp, row),
        classified: points(row, "classified_share", dpp),
        machine,
    })
}

/// The curves of one facet's rows, in row order.
fn curves(exp: &Experiment, rows: &[Row]) -> Vec<Curve> {
    rows.iter().filter_map(|r| curve(exp, r)).collect()
}

/// Write the figure of every facet whose rows carry the records.
pub(super) fn write(
    exp: &Experiment,
    rows: &[Row],
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    if !rows.iter().any(|r| curve(exp, r).is_some()) {
        return Ok(vec![]);
    }
    style::init();
    let fs = facets(exp, rows, exp.report.x.as_deref().unwrap_or(""));
    let mut out = Vec::new();
    for (f, frows) in &fs {
        let cs = curves(exp, frows);
        if cs.is_empty() {
            continue;
        }
        let mut name = format!("{}_classified_vs_day", exp.name);
        let mut title = format!("{}: share of galaxies classified", exp.name);
        if fs.len() > 1 {
            name = format!("{name}_{}", facet_suffix(f));
            title.push_str(&format!(" ({f})"));
        }
        let legend = legend_title(exp);
        out.extend(write_one(&title, legend.as_deref(), &cs, &dir.join(name))?);
    }
    Ok(out)
}

/// The legend's title: the labels of the keys the line names are made of.
pub(super) fn legend_title(exp: &Experiment) -> Option<String> {
    let keys: Vec<String> = [&exp.report.x, &exp.report.series]
        .into_iter()
        .flatten()
        .map(|k| style::label(k))
        .collect();
    (!keys.is_empty()).then(|| keys.join(", "))
}

pub(super) type DrawResult<DB> =
    Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// What the legend notes say.
const NOTES: [&str; 3] = [
    "lines: mean over seeds",
    "bands: +- 1 sd over seeds",
    "dashed: retired by the machine",
];

/// Legend entries: one per curve, one more per machine line.
fn entries(curves: &[Curve]) -> usize {
    curves.len() + curves.iter().filter(|c| c.machine.is_some()).count()
}

/// Figure size: the style's, taller when the legend strip needs it.
fn size(curves: &[Curve]) -> (u32, u32) {
    let legend = LEGEND_TOP + ENTRY_H * entries(curves) as u32 + 8 + NOTE_H * NOTES.len() as u32;
    (style::SIZE.0, style::SIZE.1.max(legend + 16))
}

/// Font size of the legend entries: the style's label size, shrunk (to no less than 10 px) so
/// the longest entry fits the strip right of its line sample (DejaVu Sans: about 0.55 em per
/// character).
fn entry_px(curves: &[Curve]) -> u32 {
    let longest = curves
        .iter()
        .map(|c| c.name.chars().count() + if c.machine.is_some() { 10 } else { 0 })
        .max()
        .unwrap_or(1)
        .max(1);
    let room = f64::from(style::LEGEND_WIDTH - 50);
    ((room / (0.55 * longest as f64)) as u32).clamp(10, style::LABEL_PX)
}

/// The last day of any curve (at least 1, so the axis has a span).
fn last_day(curves: &[Curve]) -> f64 {
    curves
        .iter()
        .flat_map(|c| c.classified.iter().map(|p| p.day))
        .fold(1.0, f64::max)
}

fn render<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    legend_title: Option<&str>,
    curves: &[Curve],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (w, _) = root.dim_in_pixel();
    let (area, legend) = root.split_horizontally(w - style::LEGEND_WIDTH);
    let last = last_day(curves);
    let mut chart = ChartBuilder::on(&area)
        .caption(title, (style::FONT, style::title_px(title, w)))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(64)
        // a little room past the ends so lines and markers on them stay visible
        .build_cartesian_2d(-0.01 * last..1.02 * last, -0.02f64..1.02f64)?;
    chart
        .configure_mesh()
        .x_labels(10)
        .y_labels(6)
        .x_desc("simulated day")
        .y_desc("share of galaxies classified")
        .x_label_formatter(&|v| style::tick(v))
        .y_label_formatter(&|v| style::tick(v))
        .label_style((style::FONT, style::TICK_PX))
        .axis_desc_style((style::FONT, style::LABEL_PX))
        .max_light_lines(0)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;
    // many arms: lighter bands so the lines stay readable
    let alpha = if curves.len() > style::PALETTE.len() {
        0.07
    } else {
        0.18
    };
    for (i, c) in curves.iter().enumerate() {
        let col = style::PALETTE[i % style::PALETTE.len()];
        let pts = &c.classified;
        if pts.iter().any(|p| p.sd > 0.0) {
            let band: Vec<(f64, f64)> = pts
                .iter()
                .map(|p| (p.day, (p.mean + p.sd).clamp(0.0, 1.0)))
                .chain(
                    pts.iter()
                        .rev()
                        .map(|p| (p.day, (p.mean - p.sd).clamp(0.0, 1.0))),
                )
                .collect();
            chart.draw_series(std::iter::once(Polygon::new(band, col.mix(alpha).filled())))?;
        }
        chart.draw_series(LineSeries::new(
            pts.iter().map(|p| (p.day, p.mean)),
            col.stroke_width(2),
        ))?;
        for p in pts.iter().step_by(MARK_EVERY) {
            chart.draw_series(std::iter::once(style::marker(i, (p.day, p.mean), col)))?;
        }
        if let Some(m) = &c.machine {
            chart.draw_series(DashedLineSeries::new(
                m.iter().map(|p| (p.day, p.mean)),
                10,
                5,
                col.stroke_width(2),
            ))?;
        }
    }
    draw_legend(&legend, legend_title, curves)
}

/// The legend strip: the key, one entry per arm (line and marker), one per machine line
/// (dashed), the notes.
fn draw_legend<DB: DrawingBackend>(
    legend: &DrawingArea<DB, plotters::coord::Shift>,
    legend_title: Option<&str>,
    curves: &[Curve],
) -> DrawResult<DB> {
    let font = (style::FONT, style::LABEL_PX).into_font();
    let small = (style::FONT, style::TICK_PX).into_font();
    let entry = (style::FONT, entry_px(curves)).into_font();
    if let Some(t) = legend_title {
        legend.draw(&Text::new(t.to_string(), (8, 40), font.clone()))?;
    }
    let mut y = LEGEND_TOP as i32;
    for (i, c) in curves.iter().enumerate() {
        let col = style::PALETTE[i % style::PALETTE.len()];
        legend.draw(&PathElement::new(
            vec![(8, y), (38, y)],
            col.stroke_width(3),
        ))?;
        legend.draw(&style::marker(i, (23, y), col))?;
        legend.draw(&Text::new(c.name.clone(), (46, y - 9), entry.clone()))?;
        y += ENTRY_H as i32;
        if c.machine.is_some() {
            legend.draw(&DashedPathElement::new(
                vec![(8, y), (38, y)],
                10,
                5,
                col.stroke_width(3),
            ))?;
            let label = format!("{} (machine)", c.name);
            legend.draw(&Text::new(label, (46, y - 9), entry.clone()))?;
            y += ENTRY_H as i32;
        }
    }
    y += 8;
    for note in NOTES {
        legend.draw(&Text::new(note, (8, y), small.clone()))?;
        y += NOTE_H as i32;
    }
    Ok(())
}

fn write_one(
    title: &str,
    legend_title: Option<&str>,
    curves: &[Curve],
    base: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let (png, svg) = (base.with_extension("png"), base.with_extension("svg"));
    let err = |p: &Path, e: String| ReportError::Write {
        path: p.display().to_string(),
        msg: e,
    };
    let (w, h) = size(curves);
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    render(
        BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area(),
        title,
        legend_title,
        curves,
    )
    .map_err(|e| err(&png, e.to_string()))?;
    write_png(&png, &rgb, w, h)?;
    let mut text = String::new();
    render(
        SVGBackend::with_string(&mut text, (w, h)).into_drawing_area(),
        title,
        legend_title,
        curves,
    )
    .map_err(|e| err(&svg, e.to_string()))?;
    write_atomic(&svg, text.as_bytes())?;
    Ok(vec![png, svg])
}

#[cfg(test)]
mod tests;
