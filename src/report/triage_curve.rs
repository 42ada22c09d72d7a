//! The triage figure of a Galaxy Zoo Express experiment (issue 20, `crate::gzx::triage`):
//! Dieleman's triage, how accurate the final machine is on the galaxies it is most confident
//! about, against the share of the triage set it decides (its coverage, most confident first).
//!
//! Reads the runs' `triage_accuracy_cov{25,50,75,90}` and `triage_accuracy` records (accuracy
//! against the truth at coverage 0.25, 0.5, 0.75, 0.9 and 1) from the aggregated rows: one line
//! with markers per row that has them (the machine arms; the mean over seeds, labelled with its
//! `report.x` and `report.series` values), whiskers of the 95% interval over seeds (`ci95`).
//! Where present, `triage_coverage_at_95` / `_99` (the largest coverage still 95 / 99 % accurate)
//! are short vertical ticks in the line's colour at accuracy 0.95 / 0.99, and the mean of
//! `triage_volunteer_accuracy` over the rows (the 40-vote consensus on the same set) is a dashed
//! grey reference line. One figure per facet: `<name>_triage[_<facet>].png` and `.svg`. Nothing
//! is written when no row has `triage_accuracy_cov25`. Same style as [`super::stream_curve`].

use super::figure_kit::{
    self, Area, DrawResult, ENTRY_H, LEGEND_TOP, Render, colour, draw_mesh, legend_arm,
    legend_dashed, legend_key, legend_label, legend_notes, legend_title, line_chart, name,
    size_for_legend, split_legend, write_facets,
};
use super::{ReportError, Row, style};
use crate::spec::Experiment;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// The curve's records and their coverage, in coverage order.
const POINTS: [(f64, &str); 5] = [
    (0.25, "triage_accuracy_cov25"),
    (0.5, "triage_accuracy_cov50"),
    (0.75, "triage_accuracy_cov75"),
    (0.9, "triage_accuracy_cov90"),
    (1.0, "triage_accuracy"),
];
/// The coverage-at-accuracy records and the accuracy their tick is drawn at.
const AT: [(&str, f64); 2] = [
    ("triage_coverage_at_95", 0.95),
    ("triage_coverage_at_99", 0.99),
];
/// Label of the volunteers' reference line.
const VOLUNTEERS: &str = "40 volunteers (majority)";
/// Half-height of a coverage tick, pixels.
const TICK_HALF: i32 = 9;

/// One curve point: coverage, mean accuracy over seeds, half-width of its 95% interval (0 when
/// the row has none).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    cov: f64,
    mean: f64,
    half: f64,
}

/// One machine arm's line, and its coverage ticks `(coverage, accuracy level)`.
#[derive(Debug, Clone, PartialEq)]
struct Curve {
    name: String,
    points: Vec<Point>,
    ticks: Vec<(f64, f64)>,
}

/// One facet's figure.
#[derive(Debug, Clone, PartialEq)]
struct Figure {
    title: String,
    legend_title: Option<String>,
    curves: Vec<Curve>,
    /// Mean accuracy of the volunteers' consensus over the rows that have it.
    volunteers: Option<f64>,
}

/// The curve of a row; `None` without `triage_accuracy_cov25`. Missing points are skipped, as
/// are coverage ticks that are missing or not positive (0: no coverage reaches the accuracy).
fn curve(exp: &Experiment, row: &Row) -> Option<Curve> {
    row.stats.get(POINTS[0].1)?;
    let points = POINTS
        .iter()
        .filter_map(|&(cov, key)| {
            let s = row.stats.get(key)?;
            s.mean.is_finite().then_some(Point {
                cov,
                mean: s.mean,
                half: if s.ci95.is_finite() { s.ci95 } else { 0.0 },
            })
        })
        .collect();
    let ticks = AT
        .iter()
        .filter_map(|&(key, level)| {
            let c = row.stats.get(key)?.mean;
            (c.is_finite() && c > 0.0).then_some((c.min(1.0), level))
        })
        .collect();
    Some(Curve {
        name: name(exp, row),
        points,
        ticks,
    })
}

/// The curves of one facet's rows, in row order.
fn curves(exp: &Experiment, rows: &[Row]) -> Vec<Curve> {
    rows.iter().filter_map(|r| curve(exp, r)).collect()
}

/// Mean of `triage_volunteer_accuracy` over the rows that have it.
fn volunteers(rows: &[Row]) -> Option<f64> {
    let vs: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.stats.get("triage_volunteer_accuracy"))
        .map(|s| s.mean)
        .filter(|m| m.is_finite())
        .collect();
    (!vs.is_empty()).then(|| vs.iter().sum::<f64>() / vs.len() as f64)
}

/// Write the figure of every facet whose rows carry the records.
pub(super) fn write(
    exp: &Experiment,
    rows: &[Row],
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let what = ("triage", "machine accuracy against coverage");
    write_facets(exp, rows, dir, what, |title, frows| {
        let curves = curves(exp, frows);
        (!curves.is_empty()).then(|| Figure {
            title,
            legend_title: legend_title(exp),
            curves,
            volunteers: volunteers(frows),
        })
    })
}

/// What the legend notes say.
const NOTES: [&str; 4] = [
    "points: mean over seeds",
    "whiskers: 95% interval",
    "coverage: the machine decides",
    "  its most confident first",
];
/// Legend entry of the coverage ticks.
const TICKS: &str = "coverage still 95 / 99 %";

impl Figure {
    /// Legend entries: one per curve, one for the volunteers, one for the ticks.
    fn entries(&self) -> usize {
        self.curves.len() + usize::from(self.volunteers.is_some()) + usize::from(self.has_ticks())
    }

    fn has_ticks(&self) -> bool {
        self.curves.iter().any(|c| !c.ticks.is_empty())
    }

    /// Font size of the legend entries: the style's label size, shrunk (to no less than 10 px)
    /// so the longest fits the strip right of its line sample (about 0.45 em per character).
    fn entry_px(&self) -> u32 {
        let longest = self
            .curves
            .iter()
            .map(|c| c.name.chars().count())
            .chain(self.volunteers.map(|_| VOLUNTEERS.len()))
            .chain(self.has_ticks().then_some(TICKS.len()))
            .max()
            .unwrap_or(1);
        figure_kit::entry_px(longest, 0.45)
    }

    /// The axes' ranges: coverage from the smallest tick (or 0.25) to 1, accuracy from a
    /// multiple of 0.05 below everything drawn (whiskers, volunteers, tick levels) to 1, each
    /// with a little room past the ends (more right of coverage 1 for the levels' labels).
    fn ranges(&self) -> ((f64, f64), (f64, f64)) {
        let ticks = self.curves.iter().flat_map(|c| &c.ticks);
        let x_lo = ticks.clone().map(|t| t.0).fold(POINTS[0].0, f64::min);
        let y_lo = self
            .curves
            .iter()
            .flat_map(|c| c.points.iter().map(|p| p.mean - p.half))
            .chain(self.volunteers)
            .chain(ticks.map(|t| t.1))
            .fold(1.0, f64::min);
        let y_lo = ((y_lo - 0.01) * 20.0).floor().max(0.0) / 20.0;
        let (xs, ys) = (1.0 - x_lo, 1.0 - y_lo);
        let right = if self.has_ticks() { 0.1 } else { 0.03 };
        (
            (x_lo - 0.04 * xs, 1.0 + right * xs),
            (y_lo, 1.0 + 0.03 * ys),
        )
    }

    /// The legend strip: the key, one entry per arm (line and marker), the volunteers' line,
    /// the coverage ticks, the notes.
    fn draw_legend<DB: DrawingBackend>(&self, legend: &Area<DB>) -> DrawResult<DB> {
        let entry = (style::FONT, self.entry_px()).into_font();
        legend_key(legend, self.legend_title.as_deref())?;
        let mut y = LEGEND_TOP as i32;
        for (i, c) in self.curves.iter().enumerate() {
            legend_arm(legend, y, i, &c.name, &entry)?;
            y += ENTRY_H as i32;
        }
        if self.volunteers.is_some() {
            let line = style::REFERENCE.stroke_width(2);
            legend_dashed(legend, y, (8, 6), line, VOLUNTEERS, &entry)?;
            y += ENTRY_H as i32;
        }
        if self.has_ticks() {
            let bar = vec![(23, y - TICK_HALF), (23, y + TICK_HALF)];
            legend.draw(&PathElement::new(bar, style::REFERENCE.stroke_width(3)))?;
            legend_label(legend, y, TICKS, &entry)?;
            y += ENTRY_H as i32;
        }
        legend_notes(legend, y + 8, &NOTES)
    }
}

impl Render for Figure {
    /// Figure size: the style's, taller when the legend strip needs it.
    fn size(&self) -> (u32, u32) {
        size_for_legend(self.entries(), NOTES.len())
    }

    fn render<DB: DrawingBackend>(&self, root: Area<DB>) -> DrawResult<DB> {
        let (area, legend, w) = split_legend(&root)?;
        let ((x0, x1), (y0, y1)) = self.ranges();
        let mut chart = line_chart(&area, &self.title, w, x0..x1, y0..y1)?;
        let desc = (
            "coverage (share of galaxies the machine decides)",
            "accuracy (against the truth)",
        );
        draw_mesh(&mut chart, (10, 8), desc, style::LABEL_PX)?;
        if let Some(v) = self.volunteers {
            chart.draw_series(DashedLineSeries::new(
                vec![(x0, v), (x1, v)],
                8,
                6,
                style::REFERENCE.stroke_width(2),
            ))?;
        }
        // the accuracy levels of the ticks, faint, labelled right of the last points
        let x_end = 1.0 + 0.015 * (x1 - x0);
        let small = (style::FONT, style::TICK_PX)
            .into_font()
            .color(&style::REFERENCE);
        for (_, level) in AT {
            if !self
                .curves
                .iter()
                .any(|c| c.ticks.iter().any(|t| t.1 == level))
            {
                continue;
            }
            chart.draw_series(DashedLineSeries::new(
                vec![(x0, level), (x_end, level)],
                2,
                4,
                style::REFERENCE.mix(0.6).stroke_width(1),
            ))?;
            let text = format!("{} %", (level * 100.0).round());
            let at = EmptyElement::at((x_end, level)) + Text::new(text, (4, -8), small.clone());
            chart.draw_series(std::iter::once(at))?;
        }
        let clip = |v: f64| v.clamp(y0, y1);
        for (i, c) in self.curves.iter().enumerate() {
            let col = colour(i);
            chart.draw_series(c.points.iter().filter(|p| p.half > 0.0).map(|p| {
                let ends = vec![
                    (p.cov, clip(p.mean - p.half)),
                    (p.cov, clip(p.mean + p.half)),
                ];
                PathElement::new(ends, col.stroke_width(1))
            }))?;
            chart.draw_series(LineSeries::new(
                c.points.iter().map(|p| (p.cov, p.mean)),
                col.stroke_width(2),
            ))?;
            for p in &c.points {
                chart.draw_series(std::iter::once(style::marker(i, (p.cov, p.mean), col)))?;
            }
            chart.draw_series(c.ticks.iter().map(|&at| {
                let bar = vec![(0, -TICK_HALF), (0, TICK_HALF)];
                EmptyElement::at(at) + PathElement::new(bar, col.stroke_width(3))
            }))?;
        }
        self.draw_legend(&legend)
    }
}

#[cfg(test)]
mod tests;
