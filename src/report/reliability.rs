//! The reliability figure of an online SWAP experiment (`crowd_swap`): is SWAP's posterior
//! P(positive) calibrated? For each tenth of the posterior, the observed frequency of the
//! positive class among the galaxies whose final posterior fell there, against their mean
//! posterior, with the diagonal of perfect calibration and a 95% Wilson interval per bin.
//!
//! Reads the runs' `reliability_bin{b}_n`, `_pos` and `_p` records (counts and sums, see
//! `crowd::swap_eval`) from the aggregated rows, pooled over seeds by adding them (the mean over
//! seeds times the number of seeds). One panel per `report.x` value (the cap), one line per
//! `report.series` value (the gold fraction), one figure per facet (the other sweep keys, e.g.
//! the crowd regime): `<name>_reliability[_<facet>].png` and `.svg`; a point's area is
//! proportional to its bin's galaxies (most sit in the two retirement bins). Nothing is written for
//! rows without the records. Same style as [`super::figures`] (font, palette, legend strip).

use super::figure_kit::{
    Area, DrawResult, ENTRY_H, LEGEND_TOP, Render, colour, draw_mesh, label_font, legend_dashed,
    legend_key, legend_line, legend_notes, point_value, split_legend, write_facets,
};
use super::tables::value_str;
use super::{ReportError, Row, style};
use crate::spec::Experiment;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Posterior bins of the records (tenths of P(positive)).
const BINS: usize = 10;
/// Figure height per row of panels.
const PANEL_H: u32 = 400;

/// One bin of one line: mean posterior, observed positive frequency, its 95% Wilson interval,
/// galaxies pooled over seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bin {
    p: f64,
    freq: f64,
    lo: f64,
    hi: f64,
    n: f64,
}

/// One line: a series value and its non-empty bins.
struct Curve {
    name: String,
    bins: Vec<Bin>,
}

/// One panel: its caption and lines.
struct Panel {
    caption: String,
    curves: Vec<Curve>,
}

/// The 95% Wilson score interval of `k` successes in `n` trials.
fn wilson(k: f64, n: f64) -> (f64, f64) {
    let z = 1.959_963_984_540_054;
    let p = k / n;
    let d = 1.0 + z * z / n;
    let c = (p + z * z / (2.0 * n)) / d;
    let h = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / d;
    ((c - h).max(0.0), (c + h).min(1.0))
}

/// The pooled bins of a row (`None` when it has no reliability records).
fn bins(row: &Row) -> Option<Vec<Bin>> {
    let sum = |b: usize, what: &str| {
        row.stats
            .get(&format!("reliability_bin{b}_{what}"))
            .map(|s| s.mean * s.n as f64)
    };
    sum(0, "n")?;
    let mut out = Vec::new();
    for b in 0..BINS {
        let (Some(n), Some(k), Some(p)) = (sum(b, "n"), sum(b, "pos"), sum(b, "p")) else {
            continue;
        };
        // counts pooled from means: round off the float noise
        let (n, k) = (n.round(), k.round());
        if n < 1.0 {
            continue;
        }
        let (lo, hi) = wilson(k, n);
        out.push(Bin {
            p: p / n,
            freq: k / n,
            lo,
            hi,
            n,
        });
    }
    Some(out)
}

/// The panels of one facet's rows: one per `x` value (or one), one curve per series value.
fn panels(exp: &Experiment, rows: &[Row]) -> Vec<Panel> {
    let x = exp.report.x.as_deref();
    let mut xs: Vec<(f64, String)> = Vec::new();
    for r in rows {
        let v = x.and_then(|k| r.point.get(k));
        let key = (
            v.and_then(|v| v.as_f64()).unwrap_or(0.0),
            v.map(value_str).unwrap_or_default(),
        );
        if !xs.contains(&key) {
            xs.push(key);
        }
    }
    xs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = Vec::new();
    for (_, xv) in xs {
        let mut curves: Vec<Curve> = Vec::new();
        for r in rows {
            let here = x.and_then(|k| r.point.get(k)).map(value_str);
            if here.unwrap_or_default() != xv {
                continue;
            }
            let Some(bins) = bins(r) else { continue };
            let name = point_value(r, &exp.report.series).unwrap_or_else(|| "SWAP".into());
            curves.push(Curve { name, bins });
        }
        if curves.is_empty() {
            continue;
        }
        let caption = match x {
            Some(k) => format!("{} = {xv}", style::label(k)),
            None => String::new(),
        };
        out.push(Panel { caption, curves });
    }
    out
}

/// One facet's figure: its title, the legend's key (the series key), its panels.
struct Figure {
    title: String,
    legend_title: Option<String>,
    panels: Vec<Panel>,
}

/// Write the reliability figure of every facet whose rows carry the records.
pub fn write(exp: &Experiment, rows: &[Row], dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let what = ("reliability", "reliability of SWAP's posterior");
    write_facets(exp, rows, dir, what, |title, frows| {
        let panels = panels(exp, frows);
        (!panels.is_empty()).then(|| Figure {
            title,
            legend_title: exp.report.series.clone(),
            panels,
        })
    })
}

/// Columns and rows of the panel grid.
fn grid(n: usize) -> (usize, usize) {
    let cols = if n <= 1 { 1 } else { 2 };
    (cols, n.div_ceil(cols))
}

fn size(n: usize) -> (u32, u32) {
    let (_, r) = grid(n);
    (style::SIZE.0, 50 + PANEL_H * r as u32)
}

impl Render for Figure {
    fn size(&self) -> (u32, u32) {
        size(self.panels.len())
    }

    fn render<DB: DrawingBackend>(&self, root: Area<DB>) -> DrawResult<DB> {
        let (area, legend, _) = split_legend(&root)?;
        let area = area.titled(&self.title, (style::FONT, style::TITLE_PX))?;
        let panels = &self.panels;
        let (cols, nrows) = grid(panels.len());
        let cells = area.split_evenly((nrows, cols));
        for (panel, cell) in panels.iter().zip(&cells) {
            let mut chart = ChartBuilder::on(cell)
                .caption(&panel.caption, (style::FONT, style::LABEL_PX))
                .margin(10)
                .x_label_area_size(44)
                .y_label_area_size(56)
                .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
            let desc = ("SWAP posterior P(positive)", "observed share positive");
            draw_mesh(&mut chart, (6, 6), desc, style::TICK_PX)?;
            chart.draw_series(DashedLineSeries::new(
                vec![(0.0, 0.0), (1.0, 1.0)],
                8,
                6,
                style::REFERENCE.stroke_width(2),
            ))?;
            let n_max = panel
                .curves
                .iter()
                .flat_map(|c| c.bins.iter().map(|b| b.n))
                .fold(1.0, f64::max);
            for (i, c) in panel.curves.iter().enumerate() {
                let col = colour(i);
                chart.draw_series(c.bins.iter().map(|b| {
                    PathElement::new(vec![(b.p, b.lo), (b.p, b.hi)], col.stroke_width(2))
                }))?;
                chart.draw_series(LineSeries::new(
                    c.bins.iter().map(|b| (b.p, b.freq)),
                    col.stroke_width(2),
                ))?;
                chart.draw_series(
                    c.bins
                        .iter()
                        .map(|b| Circle::new((b.p, b.freq), radius(b.n, n_max), col.filled())),
                )?;
            }
        }
        draw_legend(&legend, self.legend_title.as_deref(), panels)
    }
}

/// Marker radius of a bin of `n` galaxies: area proportional to `n` (the largest bin of the
/// panel, `n_max`, gets 10 px), at least 2 px.
fn radius(n: f64, n_max: f64) -> i32 {
    (10.0 * (n / n_max).sqrt()).round().max(2.0) as i32
}

/// What the legend notes say.
const NOTES: [&str; 5] = [
    "points: bins of 0.1 in the",
    "  posterior, at their mean",
    "point area: galaxies in the bin",
    "  (pooled over seeds)",
    "whiskers: 95% Wilson interval",
];

/// The legend strip: the series key, one entry per series value, the diagonal, the notes.
fn draw_legend<DB: DrawingBackend>(
    legend: &Area<DB>,
    legend_title: Option<&str>,
    panels: &[Panel],
) -> DrawResult<DB> {
    let font = label_font();
    legend_key(legend, legend_title)?;
    let mut y = if legend_title.is_some() {
        LEGEND_TOP as i32
    } else {
        40
    };
    let mut names: Vec<&str> = Vec::new();
    for c in panels.iter().flat_map(|p| &p.curves) {
        if !names.contains(&c.name.as_str()) {
            names.push(&c.name);
        }
    }
    for (i, name) in names.iter().enumerate() {
        let c = colour(i);
        let mark = Circle::new((23, y), 4, c.filled()).into_dyn();
        legend_line(legend, y, c, mark, name, &font)?;
        y += ENTRY_H as i32;
    }
    let line = style::REFERENCE.stroke_width(2);
    legend_dashed(legend, y, (8, 6), line, "calibrated", &font)?;
    legend_notes(legend, y + ENTRY_H as i32 + 8, &NOTES)
}

#[cfg(test)]
mod tests {
    use super::super::test_rows;
    use super::*;
    use serde_yaml::Value;

    const YAML: &str = "name: s\nkind: crowd\ncrowd: { strategy: swap, online: true }\nsweep:\n  crowd.votes_per_galaxy: [10, 40]\n  crowd.gold_fraction: [0.0, 0.05]\nreport:\n  x: crowd.votes_per_galaxy\n  series: crowd.gold_fraction\n";

    /// A row over 2 seeds whose per-seed mean records are `(n, pos, p)` in bins 0 and 9.
    fn row(cap: u64, gold: f64, b0: (f64, f64, f64), b9: (f64, f64, f64)) -> Row {
        let stat = |mean| test_rows::stat(mean, 0.0, 0.0, 2);
        let mut stats = std::collections::BTreeMap::new();
        for b in 0..BINS {
            let (n, k, p) = match b {
                0 => b0,
                9 => b9,
                _ => (0.0, 0.0, 0.0),
            };
            stats.insert(format!("reliability_bin{b}_n"), stat(n));
            stats.insert(format!("reliability_bin{b}_pos"), stat(k));
            stats.insert(format!("reliability_bin{b}_p"), stat(p));
        }
        let point = [
            ("crowd.votes_per_galaxy", Value::from(cap)),
            ("crowd.gold_fraction", Value::from(gold)),
        ];
        test_rows::row(&point, stats)
    }

    #[test]
    fn wilson_interval_by_hand() {
        // k = 8 of n = 10: centre (0.8 + 1.92/10) / 1.384, half-width 1.96 sqrt(0.016 + 0.0096)
        // / 1.384 (z = 1.96 rounded in the hand values)
        let (lo, hi) = wilson(8.0, 10.0);
        assert!(
            (lo - 0.4902).abs() < 5e-4 && (hi - 0.9433).abs() < 5e-4,
            "{lo} {hi}"
        );
        assert_eq!(wilson(0.0, 5.0).0, 0.0);
    }

    #[test]
    fn bins_pool_seeds_and_the_figure_is_written() {
        let exp = test_rows::exp(YAML);
        // per seed: bin 0 holds 40 galaxies (2 positive, posteriors summing to 0.4), bin 9 holds
        // 10 (9 positive, posteriors 9.95)
        let rows = vec![
            row(10, 0.0, (40.0, 2.0, 0.4), (10.0, 9.0, 9.95)),
            row(10, 0.05, (30.0, 1.0, 0.3), (12.0, 10.5, 11.9)),
            row(40, 0.0, (45.0, 1.5, 0.2), (9.0, 8.0, 8.95)),
            row(40, 0.05, (44.0, 1.0, 0.2), (8.0, 7.5, 7.95)),
        ];
        let b = bins(&rows[0]).unwrap();
        assert_eq!(b.len(), 2, "empty bins are skipped");
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(b[0].n == 80.0 && close(b[0].freq, 0.05) && close(b[0].p, 0.01));
        assert!(b[1].n == 20.0 && close(b[1].freq, 0.9) && close(b[1].p, 0.995));
        assert!(b[1].lo < 0.9 && b[1].hi > 0.9 && b[1].hi <= 1.0);
        let ps = panels(&exp, &rows);
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[1].caption, "votes per galaxy = 40");
        let names: Vec<&str> = ps[1].curves.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["0.0", "0.05"]);
        let dir = tempfile::tempdir().unwrap();
        let files = write(&exp, &rows, dir.path()).unwrap();
        test_rows::assert_pairs(&files, &["s_reliability"]);
        let img = image::open(&files[0]).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), size(2));
        assert!(
            test_rows::has_colour(&img, &style::PALETTE[0]),
            "first series drawn"
        );
        test_rows::svg_with(&files[1], &["votes per galaxy = 40", "calibrated", "0.05"]);
        let plain: Vec<Row> = rows
            .iter()
            .map(|r| Row {
                stats: Default::default(),
                ..r.clone()
            })
            .collect();
        test_rows::writes_nothing(|dir| write(&exp, &plain, dir));
    }
}
