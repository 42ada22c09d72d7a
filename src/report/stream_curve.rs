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

use super::figure_kit::{
    self, Area, DrawResult, ENTRY_H, LEGEND_TOP, Render, colour, draw_mesh, legend_arm,
    legend_dashed, legend_key, legend_notes, legend_title, line_chart, name, size_for_legend,
    split_legend, write_facets,
};
use super::{ReportError, Row, style};
use crate::spec::Experiment;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Last curve point index of the records (`classified_share_t0` .. `_t40`).
const LAST: usize = 40;
/// A marker every this many curve points (so repeated colours stay apart without crowding).
const MARK_EVERY: usize = 5;
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

/// One facet's figure: its title, the legend's key, the arms' curves.
struct Figure {
    title: String,
    legend_title: Option<String>,
    curves: Vec<Curve>,
}

/// Write the figure of every facet whose rows carry the records.
pub(super) fn write(
    exp: &Experiment,
    rows: &[Row],
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let what = ("classified_vs_day", "share of galaxies classified");
    write_facets(exp, rows, dir, what, |title, frows| {
        let curves = curves(exp, frows);
        (!curves.is_empty()).then(|| Figure {
            title,
            legend_title: legend_title(exp),
            curves,
        })
    })
}

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
    size_for_legend(entries(curves), NOTES.len())
}

/// Font size of the legend entries: the style's label size, shrunk (to no less than 10 px) so
/// the longest entry fits the strip right of its line sample (DejaVu Sans: about 0.55 em per
/// character).
fn entry_px(curves: &[Curve]) -> u32 {
    let longest = curves
        .iter()
        .map(|c| c.name.chars().count() + if c.machine.is_some() { 10 } else { 0 })
        .max()
        .unwrap_or(1);
    figure_kit::entry_px(longest, 0.55)
}

/// The last day of any curve (at least 1, so the axis has a span).
fn last_day(curves: &[Curve]) -> f64 {
    curves
        .iter()
        .flat_map(|c| c.classified.iter().map(|p| p.day))
        .fold(1.0, f64::max)
}

impl Render for Figure {
    fn size(&self) -> (u32, u32) {
        size(&self.curves)
    }

    fn render<DB: DrawingBackend>(&self, root: Area<DB>) -> DrawResult<DB> {
        let (area, legend, w) = split_legend(&root)?;
        let last = last_day(&self.curves);
        // a little room past the ends so lines and markers on them stay visible
        let (x, y) = (-0.01 * last..1.02 * last, -0.02f64..1.02f64);
        let mut chart = line_chart(&area, &self.title, w, x, y)?;
        let desc = ("simulated day", "share of galaxies classified");
        draw_mesh(&mut chart, (10, 6), desc, style::LABEL_PX)?;
        // many arms: lighter bands so the lines stay readable
        let alpha = if self.curves.len() > style::PALETTE.len() {
            0.07
        } else {
            0.18
        };
        for (i, c) in self.curves.iter().enumerate() {
            let col = colour(i);
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
        self.draw_legend(&legend)
    }
}

impl Figure {
    /// The legend strip: the key, one entry per arm (line and marker), one per machine line
    /// (dashed), the notes.
    fn draw_legend<DB: DrawingBackend>(&self, legend: &Area<DB>) -> DrawResult<DB> {
        let entry = (style::FONT, entry_px(&self.curves)).into_font();
        legend_key(legend, self.legend_title.as_deref())?;
        let mut y = LEGEND_TOP as i32;
        for (i, c) in self.curves.iter().enumerate() {
            let col = colour(i);
            legend_arm(legend, y, i, &c.name, &entry)?;
            y += ENTRY_H as i32;
            if c.machine.is_some() {
                let label = format!("{} (machine)", c.name);
                legend_dashed(legend, y, (10, 5), col.stroke_width(3), &label, &entry)?;
                y += ENTRY_H as i32;
            }
        }
        legend_notes(legend, y + 8, &NOTES)
    }
}

#[cfg(test)]
mod tests;
