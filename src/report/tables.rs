//! Tables: one row per grid point, `<metric>_mean/_std/_ci95` and `n`, as CSV, Parquet, Markdown, LaTeX.
//!
//! With a `report.reference` arm, each metric also gets its paired difference against that arm:
//! `<metric>_diff`, `<metric>_diff_ci95`, `<metric>_p` and a `reference` column naming the arm
//! (`key=value, ...`) in CSV and Parquet, and one `Δ<metric> vs <arm>` column in Markdown and
//! LaTeX (`+0.0123 ± 0.0100 (p=0.031)`, `ref` on the reference rows).

use super::{ReportError, Row};
use crate::spec::Experiment;
use crate::store::write_atomic;
use polars::prelude::*;
use serde_yaml::Value;
use std::path::{Path, PathBuf};

/// Printed precision of Markdown and LaTeX tables (and of `reproduce --check`).
pub const DIGITS: usize = 4;

/// The reference arm as `key=value, key=value`, if the report has one.
pub fn reference_label(exp: &Experiment) -> Option<String> {
    exp.report.reference.as_ref().map(|r| {
        r.iter()
            .map(|(k, v)| format!("{k}={}", value_str(v)))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// A p-value as printed: two significant digits above 0.01, three decimals below, `<0.001`.
pub fn p_str(p: f64) -> String {
    match p {
        p if p.is_nan() => "-".into(),
        p if p < 0.001 => "<0.001".into(),
        p if p < 0.1 => format!("{p:.3}"),
        p => format!("{p:.2}"),
    }
}

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
        if reference_label(exp).is_some() {
            let diff = |f: fn(&super::Diff) -> f64| {
                rows.iter()
                    .map(|r| r.diffs.get(m).map(f))
                    .collect::<Vec<Option<f64>>>()
            };
            cols.push(Column::new(format!("{m}_diff").into(), diff(|d| d.mean)));
            cols.push(Column::new(
                format!("{m}_diff_ci95").into(),
                diff(|d| d.ci95),
            ));
            cols.push(Column::new(format!("{m}_p").into(), diff(|d| d.p)));
        }
    }
    let n: Vec<u32> = rows
        .iter()
        .map(|r| r.stats.values().map(|s| s.n).max().unwrap_or(0) as u32)
        .collect();
    cols.push(Column::new("n".into(), n));
    if let Some(label) = reference_label(exp) {
        cols.push(Column::new("reference".into(), vec![label; rows.len()]));
    }
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

/// The difference cell (Markdown, LaTeX) of `row` for `metric`: `ref` on the reference arm.
fn diff_cell(r: &Row, metric: &str) -> (String, String) {
    if r.is_reference {
        return ("ref".into(), "ref".into());
    }
    match r.diffs.get(metric) {
        None => ("-".into(), "-".into()),
        Some(d) if d.ci95.is_nan() => (
            format!("{:+.DIGITS$}", d.mean),
            format!("${:+.DIGITS$}$", d.mean),
        ),
        Some(d) => (
            format!(
                "{:+.DIGITS$} ± {:.DIGITS$} (p={})",
                d.mean,
                d.ci95,
                p_str(d.p)
            ),
            format!(
                "${:+.DIGITS$} \\pm {:.DIGITS$}$ ($p{}{}$)",
                d.mean,
                d.ci95,
                if d.p < 0.001 { "" } else { "=" },
                p_str(d.p)
            ),
        ),
    }
}

/// Markdown and LaTeX (booktabs) renderings: `mean ± 95% CI half-width`, n seeds, and with a
/// reference arm one `Δ<metric> vs <arm>` column after each metric.
pub fn markdown_and_latex(exp: &Experiment, rows: &[Row]) -> (String, String) {
    let (keys, metrics) = columns(exp, rows);
    let reference = reference_label(exp);
    let header: Vec<String> = keys
        .iter()
        .cloned()
        .chain(metrics.iter().flat_map(|m| {
            let delta = reference.as_ref().map(|r| format!("Δ{m} vs {r}"));
            std::iter::once(m.clone()).chain(delta)
        }))
        .chain(["n".to_string()])
        .collect();
    let cols = header.len() - keys.len();
    let mut md = format!(
        "| {} |\n|{}|\n",
        header.join(" | "),
        header.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    let esc = |s: &str| s.replace('_', "\\_");
    let mut tex = format!(
        "\\begin{{tabular}}{{{}}}\n\\toprule\n{} \\\\\n\\midrule\n",
        "l".repeat(keys.len()) + &"r".repeat(cols),
        header
            .iter()
            .map(|h| esc(h).replace('Δ', "$\\Delta$"))
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
            if reference.is_some() {
                let (a, b) = diff_cell(r, name);
                m.push(a);
                t.push(b);
            }
        }
        let n = r.stats.values().map(|s| s.n).max().unwrap_or(0).to_string();
        m.push(n.clone());
        t.push(n);
        md += &format!("| {} |\n", m.join(" | "));
        tex += &format!("{} \\\\\n", t.join(" & "));
    }
    tex += "\\bottomrule\n\\end{tabular}\n";
    md += &format!(
        "\nValues: mean ± half-width of the 95% interval over seeds and, for runs that kept them, \
         {} bootstrap resamples of the test galaxies; n = seeds.\n",
        crate::eval::bootstrap::REPLICATES
    );
    if let Some(r) = &reference {
        md += &format!(
            "Δ vs {r}: paired difference from the reference arm {r} (same seed, same bootstrap \
             resamples of the test galaxies), mean ± half-width of its 95% interval (seeds + \
             bootstrap over test galaxies) and the two-sided p-value of no difference (Student t \
             over seeds); `ref` marks the reference rows.\n"
        );
    }
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

#[cfg(test)]
mod tests {
    use super::super::{Diff, Stat};
    use super::*;

    #[test]
    fn differences_against_the_reference_arm_are_tabulated() {
        let text = "name: t\nkind: train\ndata: { source: shapes }\nsweep:\n  model.backbone: [linear, cnn-small]\nreport:\n  reference: { model.backbone: linear }\n";
        let exp = crate::spec::parse_str(text, "t.yaml").unwrap();
        let stat = |mean| Stat {
            mean,
            std: 0.01,
            ci95: 0.02,
            n: 3,
        };
        let row = |b: &str, mean, diff: Option<Diff>| Row {
            point: [("model.backbone".to_string(), Value::from(b))].into(),
            stats: [("accuracy".to_string(), stat(mean))].into(),
            diffs: diff
                .map(|d| ("accuracy".to_string(), d))
                .into_iter()
                .collect(),
            is_reference: diff.is_none(),
        };
        let d = Diff {
            mean: 0.0123,
            ci95: 0.01,
            p: 0.0312,
            n: 3,
        };
        let rows = vec![row("linear", 0.7, None), row("cnn-small", 0.7123, Some(d))];
        let (md, tex) = markdown_and_latex(&exp, &rows);
        assert!(
            md.starts_with(
                "| model.backbone | accuracy | Δaccuracy vs model.backbone=linear | n |\n"
            ),
            "{md}"
        );
        assert!(
            md.contains("| linear | 0.7000 ± 0.0200 | ref | 3 |"),
            "{md}"
        );
        assert!(
            md.contains("| cnn-small | 0.7123 ± 0.0200 | +0.0123 ± 0.0100 (p=0.031) | 3 |"),
            "{md}"
        );
        assert!(md.contains("paired difference from the reference arm model.backbone=linear"));
        assert!(
            tex.contains("$\\Delta$accuracy") && tex.contains("($p=0.031$)"),
            "{tex}"
        );
        let df = frame(&exp, &rows).unwrap();
        let names: Vec<&str> = df.get_column_names().iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "model.backbone",
                "accuracy_mean",
                "accuracy_std",
                "accuracy_ci95",
                "accuracy_diff",
                "accuracy_diff_ci95",
                "accuracy_p",
                "n",
                "reference"
            ]
        );
        let p = df.column("accuracy_p").unwrap().f64().unwrap();
        assert_eq!((p.get(0), p.get(1)), (None, Some(0.0312)));
        assert_eq!(p_str(0.51), "0.51");
        assert_eq!(p_str(0.004), "0.004");
        assert_eq!(p_str(0.0001), "<0.001");
    }
}
