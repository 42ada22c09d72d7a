//! Figures: one line plot per metric (mean over seeds with a 95% CI band), PNG and SVG.
//!
//! Readable on their own: the x axis is ticked at exactly the swept values; bands are clipped to
//! the metric's range ([`style::bounds`]); a dashed reference line shows what no learning scores
//! (chance 0.5 for ROC AUC, the majority class for accuracy, the prevalence for PR AUC, the mean
//! baseline for RMSE, from the rows' own statistics); the legend is titled with the series key.
//! On the learning curve (`report.power_law`) each series is drawn as its points with 95% CI
//! whiskers and the fitted power law with its 95% bootstrap band ([`super::fit`]).
//! Reads aggregated rows only, never the runs.

use super::figure_kit::{self, Area, Line, Render, facet_suffix, facets, lines};
use super::fit::{Bootstrap, error_of, fit_line};
use super::{ReportError, Row, style};
use crate::spec::Experiment;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A dashed reference line: what a predictor that learned nothing scores.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Reference {
    pub label: String,
    /// `(x, value)` sorted by x; one point = the same value everywhere.
    pub points: Vec<(f64, f64)>,
}

/// The reference line of `metric` over `rows` (at each x, the mean of the reference statistic
/// over the rows there): `majority_accuracy` for accuracy, `prevalence` for PR AUC,
/// `rmse_mean_baseline` for RMSE, and chance (0.5) for ROC AUC. `None` when the rows do not
/// record the statistic (ROC AUC always has one).
pub(super) fn reference(metric: &str, rows: &[Row], x: &str) -> Option<Reference> {
    let values = |stat: &str| -> Vec<(f64, f64)> {
        rows.iter()
            .filter_map(|r| Some((r.point.get(x)?.as_f64()?, r.stats.get(stat)?.mean)))
            .collect()
    };
    reference_from(metric, values)
}

/// The reference level of `metric` for one row without an x axis (a bar): its label and value.
pub(super) fn reference_of_row(metric: &str, row: &Row) -> Option<(String, f64)> {
    let r = reference_from(metric, |stat| {
        row.stats
            .get(stat)
            .map(|s| vec![(0.0, s.mean)])
            .unwrap_or_default()
    })?;
    Some((r.label, r.points[0].1))
}

/// [`reference`] from `values(stat)`, the `(x, value)` of a statistic over the rows.
fn reference_from(metric: &str, values: impl Fn(&str) -> Vec<(f64, f64)>) -> Option<Reference> {
    let (stat, label) = match metric {
        "accuracy" => ("majority_accuracy", "majority class"),
        "pr_auc" => ("prevalence", "prevalence (chance)"),
        "rmse" => ("rmse_mean_baseline", "mean baseline"),
        "roc_auc" => {
            return Some(Reference {
                label: "chance (0.5)".into(),
                points: vec![(0.0, 0.5)],
            });
        }
        _ => return None,
    };
    let mut at: Vec<(f64, f64, usize)> = Vec::new();
    for (xv, v) in values(stat) {
        match at.iter_mut().find(|a| a.0 == xv) {
            Some(a) => {
                a.1 += v;
                a.2 += 1;
            }
            None => at.push((xv, v, 1)),
        }
    }
    at.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut points: Vec<(f64, f64)> = at.into_iter().map(|(x, s, k)| (x, s / k as f64)).collect();
    if points.is_empty() {
        return None;
    }
    if points.iter().all(|p| (p.1 - points[0].1).abs() < 1e-12) {
        points.truncate(1);
    }
    Some(Reference {
        label: label.into(),
        points,
    })
}

/// An x axis ticked (labels and grid lines) at exactly the swept values, over any 1-D f64
/// coordinate (linear or log): plotters' own ticks on a log axis fall only at decades.
struct Swept<C> {
    inner: C,
    ticks: Vec<f64>,
}

impl<C: Ranged<ValueType = f64>> Ranged for Swept<C> {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(v, limit)
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        // only bold lines (the swept values): no light grid between them
        if hint.weight().allow_light_points() {
            return Vec::new();
        }
        let max = hint.max_num_points().max(1);
        let step = self.ticks.len().div_ceil(max).max(1);
        self.ticks.iter().copied().step_by(step).collect()
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

impl<C: Ranged<ValueType = f64>> ValueFormatter<f64> for Swept<C> {
    fn format_ext(&self, v: &f64) -> String {
        style::tick(v)
    }
}

/// A fitted learning curve of one line, in the metric's units: `(x, fit, band low, band high)`.
type Curve = Vec<(f64, f64, f64, f64)>;

/// Everything one figure shows.
struct Plot<'a> {
    title: String,
    x_label: String,
    y_label: String,
    legend_title: Option<String>,
    lines: &'a [Line],
    /// Per line, its fitted curve (the learning-curve figure) or `None`.
    fits: Vec<Option<(Curve, Bootstrap)>>,
    reference: Option<Reference>,
    bounds: (f64, f64),
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn clip(v: f64, (lo, hi): (f64, f64)) -> f64 {
    v.clamp(lo, hi)
}

fn draw<DB: DrawingBackend, X: Ranged<ValueType = f64> + ValueFormatter<f64>>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    xr: X,
    xspan: (f64, f64),
    yr: (f64, f64),
    plot: &Plot,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (w, _) = root.dim_in_pixel();
    let (area, legend) = root.split_horizontally(w - style::LEGEND_WIDTH);
    let n_ticks = plot
        .lines
        .iter()
        .map(|l| l.points.len())
        .max()
        .unwrap_or(1)
        .max(12);
    let mut chart = ChartBuilder::on(&area)
        .caption(&plot.title, (style::FONT, style::title_px(&plot.title, w)))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(xr, RangedCoordf64::from(yr.0..yr.1))?;
    chart
        .configure_mesh()
        .x_labels(n_ticks)
        .y_labels(8)
        .x_desc(&plot.x_label)
        .y_desc(&plot.y_label)
        .label_style((style::FONT, style::TICK_PX))
        .axis_desc_style((style::FONT, style::LABEL_PX))
        .max_light_lines(0)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;
    let b = plot.bounds;
    if let Some(r) = &plot.reference {
        let mut pts = r.points.clone();
        pts.insert(0, (xspan.0, pts[0].1));
        pts.push((xspan.1, pts[pts.len() - 1].1));
        chart.draw_series(DashedLineSeries::new(
            pts,
            8,
            6,
            style::REFERENCE.stroke_width(2),
        ))?;
    }
    // Many series: lighter bands so the lines stay readable.
    let band_alpha = if plot.lines.len() > style::PALETTE.len() {
        0.07
    } else {
        0.18
    };
    for (i, l) in plot.lines.iter().enumerate() {
        let c = style::PALETTE[i % style::PALETTE.len()];
        match &plot.fits[i] {
            Some((curve, _)) => {
                let band: Vec<(f64, f64)> = curve
                    .iter()
                    .map(|p| (p.0, p.3))
                    .chain(curve.iter().rev().map(|p| (p.0, p.2)))
                    .collect();
                chart.draw_series(std::iter::once(Polygon::new(band, c.mix(0.18).filled())))?;
                chart.draw_series(LineSeries::new(
                    curve.iter().map(|p| (p.0, p.1)),
                    c.stroke_width(2),
                ))?;
                chart.draw_series(l.points.iter().filter(|p| p.ci > 0.0).map(|p| {
                    PathElement::new(
                        vec![(p.x, clip(p.mean - p.ci, b)), (p.x, clip(p.mean + p.ci, b))],
                        c.stroke_width(2),
                    )
                }))?;
            }
            None => {
                let band: Vec<(f64, f64)> = l
                    .points
                    .iter()
                    .map(|p| (p.x, clip(p.mean + p.ci, b)))
                    .chain(l.points.iter().rev().map(|p| (p.x, clip(p.mean - p.ci, b))))
                    .collect();
                chart.draw_series(std::iter::once(Polygon::new(
                    band,
                    c.mix(band_alpha).filled(),
                )))?;
                let pts = l.points.iter().map(|p| (p.x, p.mean));
                if i / style::PALETTE.len() % 2 == 1 {
                    chart.draw_series(DashedLineSeries::new(pts, 10, 5, c.stroke_width(2)))?;
                } else {
                    chart.draw_series(LineSeries::new(pts, c.stroke_width(2)))?;
                }
            }
        }
        for p in &l.points {
            chart.draw_series(std::iter::once(style::marker(i, (p.x, p.mean), c)))?;
        }
    }
    legend::draw_legend(&legend, plot)
}

/// The fitted curve of line `l` over its x span (120 points, log-spaced on a log axis), turned
/// from errors back into the metric and clipped to its bounds.
fn curve(metric: &str, l: &Line, bs: &Bootstrap, log_x: bool, bounds: (f64, f64)) -> Curve {
    let (x0, x1) = (l.points[0].x, l.points[l.points.len() - 1].x);
    (0..=120)
        .map(|i| {
            let t = i as f64 / 120.0;
            let x = if log_x {
                (x0.ln() + t * (x1.ln() - x0.ln())).exp()
            } else {
                x0 + t * (x1 - x0)
            };
            let (e0, e1) = bs.band(x);
            let (m0, m1) = (error_of(metric, e0), error_of(metric, e1));
            (
                x,
                clip(error_of(metric, bs.fit.at(x)), bounds),
                clip(m0.min(m1), bounds),
                clip(m0.max(m1), bounds),
            )
        })
        .collect()
}

/// The y range showing every band, whisker, fit and reference, padded by 8% but not past the
/// metric's bounds (unless a mean sits on a bound: the padding keeps its marker visible).
fn y_range(plot: &Plot) -> (f64, f64) {
    let mut ys: Vec<f64> = Vec::new();
    for l in plot.lines {
        for p in &l.points {
            ys.extend([p.mean - p.ci, p.mean + p.ci].map(|v| clip(v, plot.bounds)));
        }
    }
    for (c, _) in plot.fits.iter().flatten() {
        ys.extend(c.iter().flat_map(|p| [p.2, p.3]));
    }
    if let Some(r) = &plot.reference {
        ys.extend(r.points.iter().map(|p| p.1));
    }
    let (y0, y1) = ys
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let pad = ((y1 - y0) * 0.08).max(1e-3);
    let (lo, hi) = plot.bounds;
    let means = plot
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.mean));
    let (m0, m1) = means.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let bottom = if m0 > lo {
        (y0 - pad).max(lo)
    } else {
        y0 - pad
    };
    let top = if m1 < hi {
        (y1 + pad).min(hi)
    } else {
        y1 + pad
    };
    (bottom, top)
}

fn render<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    log_x: bool,
    plot: &Plot,
) -> DrawResult<DB> {
    let mut ticks: Vec<f64> = plot
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.x))
        .collect();
    ticks.sort_by(f64::total_cmp);
    ticks.dedup();
    let (x0, x1) = (ticks[0], ticks[ticks.len() - 1]);
    let yr = y_range(plot);
    if log_x && x0 > 0.0 {
        let span = (x0 / 1.15, x1 * 1.15);
        let inner: plotters::coord::combinators::LogCoord<f64> =
            (span.0..span.1).log_scale().into();
        draw(root, Swept { inner, ticks }, span, yr, plot)
    } else {
        let xp = ((x1 - x0) * 0.05).max(0.5);
        let span = (x0 - xp, x1 + xp);
        let inner = RangedCoordf64::from(span.0..span.1);
        draw(root, Swept { inner, ticks }, span, yr, plot)
    }
}

/// Write `<name>_<metric>.png` and `.svg` for every metric (those of `report.metrics`, in its
/// order, else every recorded one; one pair per facet, suffixed with its values, when sweep keys
/// other than `x` and `series` vary); nothing without a `report.x`. `rows` are unfiltered: the
/// reference lines read statistics (`majority_accuracy`, `prevalence`, `rmse_mean_baseline`)
/// that need not be plotted themselves.
pub fn write(exp: &Experiment, rows: &[Row], dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let Some(x) = exp.report.x.as_deref() else {
        return Ok(vec![]);
    };
    style::init();
    let mut metrics: Vec<&String> = rows.iter().flat_map(|r| r.stats.keys()).collect();
    metrics.sort();
    metrics.dedup();
    if let Some(keep) = &exp.report.metrics {
        metrics = keep.iter().filter(|m| metrics.contains(m)).collect();
    }
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
            let plot = plot(exp, x, metric, f, frows, &ls);
            out.extend(write_one(exp, &plot, &dir.join(name))?);
        }
    }
    Ok(out)
}

/// What the figure of `metric` over the rows of facet `f` shows.
fn plot<'a>(
    exp: &Experiment,
    x: &str,
    metric: &str,
    f: &str,
    rows: &[Row],
    ls: &'a [Line],
) -> Plot<'a> {
    let bounds = style::bounds(metric);
    let fits = ls
        .iter()
        .map(|l| {
            if exp.report.power_law.as_deref() != Some(metric) {
                return None;
            }
            let bs = fit_line(metric, l)?;
            Some((curve(metric, l, &bs, exp.report.log_x, bounds), bs))
        })
        .collect();
    let mut title = format!("{}: {}", exp.name, style::label(metric));
    if !f.is_empty() {
        title.push_str(&format!(" ({f})"));
    }
    let xl = style::label(x);
    Plot {
        title,
        x_label: if xl == x { xl } else { format!("{xl} [{x}]") },
        y_label: style::label(metric),
        legend_title: exp.report.series.clone(),
        lines: ls,
        fits,
        reference: reference(metric, rows, x),
        bounds,
    }
}

/// The figure of one plot: its data and whether the x axis is logarithmic.
struct Figure<'a> {
    plot: &'a Plot<'a>,
    log_x: bool,
}

impl Render for Figure<'_> {
    fn size(&self) -> (u32, u32) {
        style::SIZE
    }

    fn render<DB: DrawingBackend>(&self, root: Area<DB>) -> DrawResult<DB> {
        render(root, self.log_x, self.plot)
    }
}

fn write_one(exp: &Experiment, plot: &Plot, base: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let fig = Figure {
        plot,
        log_x: exp.report.log_x,
    };
    figure_kit::write_one(&fig, base)
}

mod legend;
#[cfg(test)]
mod tests;
