//! Tables: one row per grid point, `<metric>_mean/_std/_ci95` and `n`, as CSV, Parquet, Markdown, LaTeX.

use super::{ReportError, Row};
use crate::spec::Experiment;
use crate::store::write_atomic;
use polars::prelude::*;
use serde_yaml::Value;
use std::path::{Path, PathBuf};

/// Printed precision of Markdown and LaTeX tables (and of `reproduce --check`).
pub const DIGITS: usize = 4;

/// Sweep keys in column order, then metric names.
fn columns(exp: &Experiment, rows: &[Row]) -> (Vec<String>, Vec<String>) {
    let mut keys: Vec<String> = exp.sweep.keys().cloned().collect();
    // the series and x keys first, in that order, then the rest
    for k in [&exp.report.x, &exp.report.series].into_iter().flatten() {
        if let Some(i) = keys.iter().position(|x| x == k) {
            let k = keys.remove(i);
            keys.insert(0, k);
        }
    }
    let mut metrics: Vec<String> = rows.iter().flat_map(|r| r.stats.keys().cloned()).collect();
    metrics.sort();
    metrics.dedup();
    if let Some(order) = &exp.report.metrics {
        metrics = order
            .iter()
            .filter(|m| metrics.contains(m))
            .cloned()
            .collect();
    }
    (keys, metrics)
}

pub fn value_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// The table as a polars DataFrame.
pub fn frame(exp: &Experiment, rows: &[Row]) -> PolarsResult<DataFrame> {
    let (keys, metrics) = columns(exp, rows);
    let mut cols: Vec<Column> = Vec::new();
    for k in &keys {
        let vals: Vec<&Value> = rows.iter().map(|r| &r.point[k]).collect();
        if vals.iter().all(|v| v.is_number()) {
            cols.push(Column::new(
                k.as_str().into(),
                vals.iter()
                    .map(|v| v.as_f64().unwrap_or(f64::NAN))
                    .collect::<Vec<f64>>(),
            ));
        } else {
            cols.push(Column::new(
                k.as_str().into(),
                vals.iter().map(|v| value_str(v)).collect::<Vec<String>>(),
            ));
        }
    }
    for m in &metrics {
        let get = |f: fn(&super::Stat) -> f64| {
            rows.iter()
                .map(|r| r.stats.get(m).map(f))
                .collect::<Vec<Option<f64>>>()
        };
        cols.push(Column::new(format!("{m}_mean").into(), get(|s| s.mean)));
        cols.push(Column::new(format!("{m}_std").into(), get(|s| s.std)));
        cols.push(Column::new(
            format!("{m}_ci95").into(),
            get(|s| if s.ci95.is_nan() { f64::NAN } else { s.ci95 }),
        ));
    }
    let n: Vec<u32> = rows
        .iter()
        .map(|r| r.stats.values().map(|s| s.n).max().unwrap_or(0) as u32)
        .collect();
    cols.push(Column::new("n".into(), n));
    DataFrame::new(rows.len(), cols)
}

fn cell(s: Option<&super::Stat>) -> (String, String) {
    match s {
        None => ("-".into(), "-".into()),
        Some(s) if s.ci95.is_nan() => (
            format!("{:.DIGITS$}", s.mean),
            format!("{:.DIGITS$}", s.mean),
        ),
        Some(s) => (
            format!("{:.DIGITS$} ± {:.DIGITS$}", s.mean, s.ci95),
            format!("${:.DIGITS$} \\pm {:.DIGITS$}$", s.mean, s.ci95),
        ),
    }
}

/// Markdown and LaTeX (booktabs) renderings: `mean ± 95% CI half-width`, n seeds.
pub fn markdown_and_latex(exp: &Experiment, rows: &[Row]) -> (String, String) {
    let (keys, metrics) = columns(exp, rows);
    let header: Vec<String> = keys
        .iter()
        .cloned()
        .chain(metrics.iter().cloned())
        .chain(["n".to_string()])
        .collect();
    let mut md = format!(
        "| {} |\n|{}|\n",
        header.join(" | "),
        header.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    let esc = |s: &str| s.replace('_', "\\_");
    let mut tex = format!(
        "\\begin{{tabular}}{{{}}}\n\\toprule\n{} \\\\\n\\midrule\n",
        "l".repeat(keys.len()) + &"r".repeat(metrics.len() + 1),
        header
            .iter()
            .map(|h| esc(h))
            .collect::<Vec<_>>()
            .join(" & ")
    );
    for r in rows {
        let mut m = Vec::new();
        let mut t = Vec::new();
        for k in &keys {
            m.push(value_str(&r.point[k]));
            t.push(esc(&value_str(&r.point[k])));
        }
        for name in &metrics {
            let (a, b) = cell(r.stats.get(name));
            m.push(a);
            t.push(b);
        }
        let n = r.stats.values().map(|s| s.n).max().unwrap_or(0).to_string();
        m.push(n.clone());
        t.push(n);
        md += &format!("| {} |\n", m.join(" | "));
        tex += &format!("{} \\\\\n", t.join(" & "));
    }
    tex += "\\bottomrule\n\\end{tabular}\n";
    md += "\nValues: mean ± half-width of the 95% t-interval over seeds; n = seeds.\n";
    (md, tex)
}

/// Write `<name>.csv`, `.parquet`, `.md`, `.tex` under `dir`.
pub fn write(exp: &Experiment, rows: &[Row], dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let base = dir.join(&exp.name);
    let err = |p: &Path, e: PolarsError| ReportError::Write {
        path: p.display().to_string(),
        msg: e.to_string(),
    };
    let mut df = frame(exp, rows).map_err(|e| err(dir, e))?;
    let paths: Vec<PathBuf> = ["csv", "parquet", "md", "tex"]
        .iter()
        .map(|x| base.with_extension(x))
        .collect();
    let mut csv = Vec::new();
    CsvWriter::new(&mut csv)
        .with_float_precision(Some(6))
        .finish(&mut df)
        .map_err(|e| err(&paths[0], e))?;
    write_atomic(&paths[0], &csv)?;
    let mut pq = Vec::new();
    ParquetWriter::new(&mut pq)
        .finish(&mut df)
        .map_err(|e| err(&paths[1], e))?;
    write_atomic(&paths[1], &pq)?;
    let (md, tex) = markdown_and_latex(exp, rows);
    write_atomic(&paths[2], md.as_bytes())?;
    write_atomic(&paths[3], tex.as_bytes())?;
    Ok(paths)
}
