//! The precision-recall figure of a `detection` experiment: purity against completeness over
//! score thresholds, read from the run directories' `pr_curves.json` (`clumps::run::CURVES`) of
//! the experiment's first seed at its largest training set. One solid line per arm (pretraining
//! and training labels), and the simulated volunteers' consensus on the same test galaxies as two
//! grey lines (reliability-weighted solid, plain share dashed), the score of each catalogue swept
//! from its highest value down. Written as `<name>_precision_recall.png` and `.svg`; nothing when
//! no run has the file.

use super::figure_kit::{
    Area, DrawResult, ENTRY_H, LEGEND_TOP, Render, colour, draw_mesh, entry_px, first_seed_files,
    legend_arm, legend_dashed, legend_key, legend_notes, line_chart, size_for_legend, split_legend,
    write_one,
};
use super::{ReportError, style};
use crate::clumps::run::{CURVES, Curves};
use crate::eval::detection::PrPoint;
use crate::spec::{Experiment, ExperimentKind, RunSpec};
use crate::store::{Store, read_json};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// One line: its legend label and its points (completeness, purity).
struct Line {
    name: String,
    points: Vec<(f64, f64)>,
}

struct Figure {
    title: String,
    arms: Vec<Line>,
    crowd: Option<(Line, Line)>,
}

fn points(c: &[PrPoint]) -> Vec<(f64, f64)> {
    c.iter()
        .filter(|p| p.completeness.is_finite() && p.purity.is_finite())
        .map(|p| (p.completeness, p.purity))
        .collect()
}

/// The figure of the module doc.
pub(super) fn write(
    exp: &Experiment,
    runs: &[RunSpec],
    store: &Store,
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let files = first_seed_files(exp, ExperimentKind::Detection, runs, store, CURVES);
    let largest = files
        .iter()
        .map(|(r, _)| r.data.train_size)
        .max()
        .unwrap_or(0);
    let mut arms = Vec::new();
    let mut crowd = None;
    for (spec, file) in files.iter().filter(|(r, _)| r.data.train_size == largest) {
        let c: Curves = read_json(file)?;
        let label = |k: &str| spec.point.get(k).map(super::tables::value_str);
        let name: Vec<String> = ["pretrain.source", "detect.labels"]
            .iter()
            .filter_map(|k| label(k))
            .collect();
        arms.push(Line {
            name: if name.is_empty() {
                exp.name.clone()
            } else {
                name.join(", ")
            },
            points: points(&c.detector),
        });
        crowd.get_or_insert_with(|| {
            (
                Line {
                    name: "volunteers (weighted)".into(),
                    points: points(&c.crowd),
                },
                Line {
                    name: "volunteers (share)".into(),
                    points: points(&c.crowd_share),
                },
            )
        });
    }
    if arms.is_empty() {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(dir).map_err(|e| ReportError::Write {
        path: dir.display().to_string(),
        msg: e.to_string(),
    })?;
    style::init();
    let fig = Figure {
        title: format!(
            "{}: purity vs completeness ({largest} labelled galaxies, seed {})",
            exp.name,
            exp.seeds.first().copied().unwrap_or(0)
        ),
        arms,
        crowd,
    };
    write_one(&fig, &dir.join(format!("{}_precision_recall", exp.name)))
}

const NOTES: [&str; 2] = ["score threshold swept", "one seed, test galaxies"];

impl Render for Figure {
    fn size(&self) -> (u32, u32) {
        size_for_legend(self.arms.len() + 2, NOTES.len())
    }

    fn render<DB: DrawingBackend>(&self, root: Area<DB>) -> DrawResult<DB> {
        let (area, legend, w) = split_legend(&root)?;
        let mut chart = line_chart(&area, &self.title, w, -0.01..1.01, -0.01..1.01)?;
        draw_mesh(
            &mut chart,
            (10, 6),
            ("completeness", "purity"),
            style::LABEL_PX,
        )?;
        for (i, l) in self.arms.iter().enumerate() {
            let col = colour(i);
            chart.draw_series(LineSeries::new(
                l.points.iter().copied(),
                col.stroke_width(2),
            ))?;
            let every = (l.points.len() / 8).max(1);
            for &p in l.points.iter().step_by(every) {
                chart.draw_series(std::iter::once(style::marker(i, p, col)))?;
            }
        }
        if let Some((weighted, share)) = &self.crowd {
            let grey = style::REFERENCE;
            chart.draw_series(LineSeries::new(
                weighted.points.iter().copied(),
                grey.stroke_width(3),
            ))?;
            chart.draw_series(DashedLineSeries::new(
                share.points.iter().copied(),
                10,
                5,
                grey.stroke_width(3),
            ))?;
        }
        let longest = self
            .arms
            .iter()
            .map(|l| l.name.chars().count())
            .max()
            .unwrap_or(1)
            .max(21);
        let entry = (style::FONT, entry_px(longest, 0.55)).into_font();
        legend_key(&legend, Some("pretraining, labels"))?;
        let mut y = LEGEND_TOP as i32;
        for (i, l) in self.arms.iter().enumerate() {
            legend_arm(&legend, y, i, &l.name, &entry)?;
            y += ENTRY_H as i32;
        }
        if let Some((weighted, share)) = &self.crowd {
            let grey = style::REFERENCE;
            legend_dashed(
                &legend,
                y,
                (400, 1),
                grey.stroke_width(3),
                &weighted.name,
                &entry,
            )?;
            y += ENTRY_H as i32;
            legend_dashed(
                &legend,
                y,
                (10, 5),
                grey.stroke_width(3),
                &share.name,
                &entry,
            )?;
            y += ENTRY_H as i32;
        }
        legend_notes(&legend, y + 8, &NOTES)
    }
}
