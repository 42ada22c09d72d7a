//! Executes experiments: expand the grid, skip complete runs, compute the rest, record them.
//!
//! What one run computes is chosen by the experiment `kind` (one file per kind, matched
//! exhaustively in [`run_one`]); adding a kind never touches the sweep logic below. Runs are
//! independent, so `--jobs N` computes N at once; each run's result depends only on its spec.

mod crowd;
mod rare;
mod select;
pub mod task;
mod train;
mod votes;

pub use select::{Select, SelectError};

use crate::spec::{self, ExperimentKind, Profile, RunSpec, SpecError, run_id};
use crate::store::{Bootstrap, Metrics, Provenance, RunClaim, Store, StoreError};
use candle_core::Device;
use serde::Serialize;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// Progress callbacks (the CLI draws bars; tests pass no-ops).
pub trait Progress: Sync {
    fn start(&self, _total: usize, _done: usize) {}
    fn run_started(&self, _id: &str) {}
    /// After each training epoch: mean loss and training images per second.
    fn epoch(&self, _id: &str, _epoch: usize, _epochs: usize, _loss: f64, _rate: f64) {}
    fn run_finished(&self, _id: &str) {}
}

pub struct Quiet;
impl Progress for Quiet {}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error("run {id} ({point}) failed: {msg}")]
    Run {
        id: String,
        point: String,
        msg: String,
    },
}

/// How a sweep went.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    pub experiment: String,
    pub total: usize,
    pub skipped: usize,
    pub computed: usize,
    pub failed: usize,
    /// Runs whose data is not on this machine (a real-data folder is absent), left undone.
    pub unavailable: usize,
    /// Why, once per distinct reason.
    pub unavailable_reasons: Vec<String>,
    /// Runs left undone because the store could not be written.
    pub not_attempted: usize,
    pub seconds: f64,
}

#[derive(Serialize)]
struct Timing<'a> {
    seconds: f64,
    device: &'a str,
    /// Seconds the training loop waited for a batch (0 when the batch thread kept ahead).
    data_wait_seconds: f64,
}

/// Compute one run: its metrics and their bootstrap replicates over test galaxies (none for
/// kinds without a test set of galaxies); `dir` is its run directory (for checkpoints) and
/// `cache` the store root (for pretrained backbones), if it has them.
pub fn run_one(
    spec: &RunSpec,
    dir: Option<&Path>,
    cache: Option<&Path>,
    device: &Device,
    on_epoch: &mut dyn FnMut(usize, f64, f64),
) -> anyhow::Result<(Metrics, Bootstrap)> {
    match spec.kind {
        ExperimentKind::Train => train::run(spec, dir, cache, device, on_epoch),
        ExperimentKind::Crowd => Ok((crowd::run(spec)?, Bootstrap::new())),
        ExperimentKind::Votes => Ok((votes::run(spec)?, Bootstrap::new())),
        ExperimentKind::Stream => Ok((crate::gzx::run(spec, cache, device)?, Bootstrap::new())),
        ExperimentKind::Detection => Ok((
            crate::clumps::run(spec, dir, cache, device)?,
            Bootstrap::new(),
        )),
        ExperimentKind::Representations => Ok((
            crate::repr::run(spec, dir, cache, device)?,
            Bootstrap::new(),
        )),
    }
}

/// The resolved runs of an experiment file at a profile.
pub fn plan(path: &Path, profile: Profile) -> Result<(spec::Experiment, Vec<RunSpec>), SpecError> {
    let file = path.display().to_string();
    let text = spec::read_text(path)?;
    let exp = spec::parse_str(&text, &file)?;
    let exp = spec::with_profile(&exp, profile, &text, &file)?;
    let runs = spec::expand(&exp, &text, &file)?;
    // only kinds that train on a target or read one from a catalogue need the source to have it
    let targeted = |r: &RunSpec| match r.kind {
        ExperimentKind::Train | ExperimentKind::Votes => true,
        ExperimentKind::Representations => r.data.source == crate::spec::DataSource::Catalog,
        ExperimentKind::Crowd | ExperimentKind::Stream | ExperimentKind::Detection => false,
    };
    for r in runs.iter().filter(|r| targeted(r)) {
        if let Err(e) = crate::data::check(r) {
            let (line, col) = spec::locate(&text, "target");
            return Err(SpecError::At {
                file,
                line,
                col,
                msg: format!("{e} (at {})", point_label(r)),
            });
        }
    }
    // a catalogue not on this machine is an error unless the data is marked optional
    if let Some((section, key, value, msg)) = runs.iter().find_map(crate::data::missing_data) {
        let (line, col) = spec::locate_in(&text, section, key, Some(&value));
        return Err(SpecError::At {
            file,
            line,
            col,
            msg,
        });
    }
    Ok((exp, runs))
}

/// How [`run_experiment`] runs.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Runs computed at the same time.
    pub jobs: usize,
    /// Recompute complete runs too (their directories are rewritten), and the pretrained
    /// backbones they use.
    pub fresh: bool,
    /// Which runs of the grid this process computes (a shard, named ids, or all).
    pub select: Select,
}

/// Run every incomplete run of the experiment at `path` on `device` (or every run, `fresh`).
/// Failed runs are reported, not fatal to the others; a store that cannot be written (disk
/// full, read-only) stops the sweep at once, keeping every run finished before. Runs another
/// process is computing in the same store are left to it and waited for at the end (`on_wait`
/// names each), so two processes on one store compute each run once. Only the runs `opts.select`
/// picks are computed and counted in the summary.
pub fn run_experiment(
    path: &Path,
    profile: Profile,
    store: &Store,
    device: &Device,
    opts: RunOptions,
    progress: &dyn Progress,
    on_wait: impl Fn(&str),
) -> Result<(Summary, Vec<RunError>), RunError> {
    let started = Instant::now();
    let (exp, runs) = plan(path, profile)?;
    let runs = spec::on_device(runs, spec::DeviceKind::of(device));
    let runs = opts.select.pick(runs, run_id)?;
    let mut reasons: Vec<String> = Vec::new();
    let mut unavailable = 0;
    let todo: Vec<&RunSpec> = runs
        .iter()
        .filter(|r| opts.fresh || !store.is_complete(&run_id(r)))
        .filter(|r| match crate::data::unavailable(r) {
            None => true,
            Some(why) => {
                unavailable += 1;
                if !reasons.contains(&why) {
                    reasons.push(why);
                }
                false
            }
        })
        .collect();
    progress.start(
        runs.len() - unavailable,
        runs.len() - unavailable - todo.len(),
    );
    if opts.fresh {
        crate::train::pretrain::refresh(store.root());
    }
    let provenance = Provenance::of_this_build(device);
    let next = AtomicUsize::new(0);
    let errors = Mutex::new(Vec::new());
    let elsewhere = Mutex::new(Vec::new());
    let (computed, finished_elsewhere) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let store_failed = AtomicBool::new(false);
    // a store error (it cannot be written) stops every worker; a run's own error only that run
    let failed = |e: RunError| {
        if matches!(e, RunError::Store(_)) {
            store_failed.store(true, Ordering::SeqCst);
        }
        errors.lock().expect("errors lock").push(e);
    };
    // one run under its claim
    let compute = |spec: &RunSpec, claim: RunClaim| {
        let id = run_id(spec);
        if !opts.fresh && store.is_complete(&id) {
            // another process finished it between the scan and the claim
            finished_elsewhere.fetch_add(1, Ordering::SeqCst);
            progress.run_finished(&id);
            return;
        }
        progress.run_started(&id);
        let done = (|| {
            if opts.fresh {
                store.discard_checkpoint(&claim)?;
            }
            compute_one(spec, store, device, &claim, &provenance, progress)
        })();
        match done {
            Ok(()) => {
                computed.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) => failed(e),
        }
        progress.run_finished(&id);
    };
    let work = || {
        while let Some(spec) = todo.get(next.fetch_add(1, Ordering::SeqCst)) {
            if store_failed.load(Ordering::SeqCst) {
                break;
            }
            match store.try_claim(&run_id(spec)) {
                Ok(Some(claim)) => compute(spec, claim),
                Ok(None) => elsewhere.lock().expect("elsewhere lock").push(*spec),
                Err(e) => failed(e.into()),
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 1..opts.jobs.max(1).min(todo.len().max(1)) {
            s.spawn(work);
        }
        work();
    });
    // runs another process held: wait for it, then compute whatever it left undone
    for spec in elsewhere.into_inner().expect("elsewhere lock") {
        if store_failed.load(Ordering::SeqCst) {
            break;
        }
        let id = run_id(spec);
        on_wait(&id);
        match store.claim(&id) {
            Ok(claim) => compute(spec, claim),
            Err(e) => failed(e.into()),
        }
    }
    let errors = errors.into_inner().expect("errors lock");
    let (computed, elsewhere) = (computed.into_inner(), finished_elsewhere.into_inner());
    let summary = Summary {
        experiment: exp.name,
        total: runs.len(),
        skipped: runs.len() - unavailable - todo.len() + elsewhere,
        computed,
        failed: errors.len(),
        unavailable,
        unavailable_reasons: reasons,
        not_attempted: todo.len() - computed - elsewhere - errors.len(),
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((summary, errors))
}

/// Compute and record one claimed run.
fn compute_one(
    spec: &RunSpec,
    store: &Store,
    device: &Device,
    claim: &RunClaim,
    provenance: &Provenance,
    progress: &dyn Progress,
) -> Result<(), RunError> {
    let id = run_id(spec);
    let t0 = Instant::now();
    let dir = store.begin(spec, claim)?;
    let epochs = spec.train.epochs;
    crate::engine::prefetch::take_wait_seconds();
    let results = run_one(
        spec,
        Some(&dir),
        Some(store.root()),
        device,
        &mut |e, loss, rate| progress.epoch(&id, e, epochs, loss, rate),
    )
    .map_err(|e| RunError::Run {
        id: id.clone(),
        point: point_label(spec),
        msg: format!("{e:#}"),
    })?;
    let timing = Timing {
        seconds: t0.elapsed().as_secs_f64(),
        device: &provenance.device_detail,
        data_wait_seconds: crate::engine::prefetch::take_wait_seconds(),
    };
    store.finish((&results.0, &results.1), &timing, provenance, claim)?;
    Ok(())
}

/// `key=value, ..., seed=s` for messages.
pub fn point_label(spec: &RunSpec) -> String {
    let mut parts: Vec<String> = spec
        .point
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                serde_yaml::to_string(v).unwrap_or_default().trim()
            )
        })
        .collect();
    parts.push(format!("seed={}", spec.seed));
    parts.join(", ")
}
