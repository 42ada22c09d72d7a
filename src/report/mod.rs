//! Reports: tables and figures rebuilt from the run store alone (never by retraining).
//!
//! `report(experiment, profile)` expands the experiment's grid, reads each run's `metrics.json`,
//! aggregates over seeds (`aggregate`) and writes `tables/` and `figures/` under
//! `results/<name>/` (the `cpu` profile) or `results/<name>/<profile>/` (the others).

mod aggregate;
mod bars;
mod clump_consensus;
mod clump_examples;
mod clump_pr;
mod compare;
mod figure_kit;
mod figures;
pub mod fit;
mod generated_samples;
pub mod mosaic;
mod neighbours;
pub mod paper;
mod pretraining;
mod reliability;
mod stream_curve;
mod style;
mod tables;
#[cfg(test)]
mod test_rows;
mod triage_curve;

pub use compare::compare_tables;

pub use aggregate::{Diff, Row, Stat, rows, rows_vs};

use crate::runner::plan;
use crate::spec::{DeviceKind, Profile, SpecError};
use crate::store::{Store, StoreError};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {msg}")]
    Write { path: String, msg: String },
}

/// What a report wrote.
#[derive(Debug)]
pub struct Written {
    pub runs: usize,
    pub complete: usize,
    pub files: Vec<PathBuf>,
}

/// Folder of an experiment's tables and figures for `profile` computed on `device`:
/// `<name>/` for the cpu profile, `<name>/<profile>/` for the others, plus `on-<device>/` when
/// the device is not the profile's own (the CPU for smoke and cpu, CUDA for gpu).
pub fn out_dir(store: &Store, name: &str, profile: Profile, device: DeviceKind) -> PathBuf {
    let mut dir = match profile {
        Profile::Cpu => store.root().join(name),
        p => store.root().join(name).join(p.as_str()),
    };
    let own = match profile {
        Profile::Gpu => DeviceKind::Cuda,
        Profile::Smoke | Profile::Cpu => DeviceKind::Cpu,
    };
    if device != own {
        dir.push(format!("on-{}", device.as_str()));
    }
    dir
}

/// Rebuild the tables and figures of the experiment at `path`.
/// Reads the runs computed on `device` (a table never mixes CPU and GPU runs).
pub fn report(
    path: &Path,
    profile: Profile,
    device: DeviceKind,
    store: &Store,
) -> Result<Written, ReportError> {
    let (exp, runs) = plan(path, profile)?;
    let runs = crate::spec::on_device(runs, device);
    let (mut rows, complete) = aggregate::rows_vs(&runs, store, exp.report.reference.as_ref())?;
    // unfiltered: a figure's reference line reads statistics the report does not list (the
    // figures pick their metrics from `report.metrics` themselves)
    let all = rows.clone();
    if let Some(keep) = &exp.report.metrics {
        for r in &mut rows {
            r.stats.retain(|k, _| keep.contains(k));
        }
    }
    let dir = out_dir(store, &exp.name, profile, device);
    let mut files = tables::write(&exp, &rows, &dir.join("tables"))?;
    files.extend(figures::write(&exp, &all, &dir.join("figures"))?);
    files.extend(bars::write(&exp, &all, &dir.join("figures"))?);
    files.extend(reliability::write(&exp, &all, &dir.join("figures"))?);
    files.extend(stream_curve::write(&exp, &all, &dir.join("figures"))?);
    files.extend(triage_curve::write(&exp, &all, &dir.join("figures"))?);
    files.extend(neighbours::write(&exp, &runs, store, &dir.join("figures"))?);
    files.extend(clump_examples::write(
        &exp,
        &runs,
        store,
        &dir.join("figures"),
    )?);
    files.extend(clump_pr::write(&exp, &runs, store, &dir.join("figures"))?);
    files.extend(generated_samples::write(
        &exp,
        &runs,
        store,
        &dir.join("figures"),
    )?);
    files.extend(clump_consensus::write(
        &exp,
        &runs,
        store,
        &dir.join("tables"),
    )?);
    files.extend(fit::write(&exp, &rows, &dir.join("tables"))?);
    files.extend(pretraining::write(
        &exp.name,
        &runs,
        store,
        &dir.join("tables"),
    )?);
    Ok(Written {
        runs: runs.len(),
        complete,
        files,
    })
}
