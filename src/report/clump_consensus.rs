//! The click-aggregation table of a `detection` experiment: how well the simulated Clump Scout
//! volunteers' consensus recovers the visible clumps of the test galaxies, reliability-weighted
//! (`crowd_*` records) against the plain share of viewers (`crowd_share_*`): completeness and
//! purity at the consensus threshold, completeness by clump contrast and galaxy redshift. The
//! consensus of a seed does not depend on the arm (pretraining, labels, training-set size), so
//! each seed's first complete run is read once; cells are mean +- standard deviation over seeds.
//! Written as `tables/<name>_consensus.md`; nothing for other kinds or without complete runs.

use super::ReportError;
use crate::clumps::score::BINS;
use crate::spec::{Experiment, ExperimentKind, RunSpec, run_id};
use crate::store::{Metrics, Store, write_atomic};
use std::path::{Path, PathBuf};

/// Columns: (record suffix, heading).
fn columns() -> Vec<(String, String)> {
    let mut c = vec![
        ("completeness".to_string(), "completeness".to_string()),
        ("purity".into(), "purity".into()),
    ];
    for (what, head) in [("contrast", "contrast"), ("z", "redshift")] {
        for b in BINS {
            c.push((
                format!("completeness_{what}_{b}"),
                format!("compl. {head} {b}"),
            ));
        }
    }
    c
}

fn cell(values: &[f64]) -> String {
    if values.is_empty() {
        return "—".into();
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return format!("{mean:.3}");
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    format!("{mean:.3} ± {:.3}", var.sqrt())
}

/// The table of the module doc.
pub(super) fn write(
    exp: &Experiment,
    runs: &[RunSpec],
    store: &Store,
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    if exp.kind != ExperimentKind::Detection {
        return Ok(Vec::new());
    }
    let mut per_seed: Vec<Metrics> = Vec::new();
    for &seed in &exp.seeds {
        for r in runs.iter().filter(|r| r.seed == seed) {
            if let Some(m) = store.metrics(&run_id(r))? {
                per_seed.push(m);
                break;
            }
        }
    }
    if per_seed.is_empty() {
        return Ok(Vec::new());
    }
    let cols = columns();
    let mut md = format!(
        "| aggregation (seeds: {}) | {} |\n|---|{}\n",
        per_seed.len(),
        cols.iter()
            .map(|c| c.1.as_str())
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(cols.len())
    );
    for (label, prefix) in [
        ("reliability-weighted", "crowd_"),
        ("plain share", "crowd_share_"),
    ] {
        let cells: Vec<String> = cols
            .iter()
            .map(|(k, _)| {
                let v: Vec<f64> = per_seed
                    .iter()
                    .filter_map(|m| m.get(&format!("{prefix}{k}")).copied())
                    .collect();
                cell(&v)
            })
            .collect();
        md.push_str(&format!("| {label} | {} |\n", cells.join(" | ")));
    }
    let path = dir.join(format!("{}_consensus.md", exp.name));
    std::fs::create_dir_all(dir).map_err(|e| ReportError::Write {
        path: dir.display().to_string(),
        msg: e.to_string(),
    })?;
    write_atomic(&path, md.as_bytes())?;
    Ok(vec![path])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_mean_and_sample_sd() {
        assert_eq!(cell(&[]), "—");
        assert_eq!(cell(&[0.5]), "0.500");
        // mean 0.6, sample variance ((0.1)^2 * 2) / 1 = 0.02, sd 0.1414
        assert_eq!(cell(&[0.5, 0.7]), "0.600 ± 0.141");
        assert_eq!(columns().len(), 8);
    }
}
