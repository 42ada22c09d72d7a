//! The run store: one directory per run id under `<root>/runs/`, crash-safe and shareable.
//!
//! A run directory holds `spec.yaml` (the resolved run spec), `metrics.json` (deterministic
//! results only), `bootstrap.json` (metric -> its bootstrap replicates over test galaxies, see
//! [`crate::eval::bootstrap`]; only when the run has any, and absent in runs recorded before it
//! existed), `timing.json` (wall time, device: not deterministic) and, written last,
//! `provenance.json` (which code and device computed it, see [`provenance`]) and, written last,
//! the completion marker `COMPLETE`. Every file is written to a temporary name, synced and
//! renamed into place, so a SIGKILL at any moment leaves either the old state or the new one.
//! A directory without `COMPLETE` is a crashed run: it is wiped and redone. A process computes
//! a run only while it holds that run's claim, an exclusive lock on `<root>/runs/.locks/<id>`
//! (the OS frees it when the process dies, so a killed run never leaves a stale lock): several
//! `gzbench run` processes can share one store, each run computed once.
//!
//! The store knows nothing about what a run computes; `report` reads it without retraining.

pub mod provenance;

use crate::spec::{RunSpec, run_id};
pub use provenance::Provenance;
use serde::{Serialize, de::DeserializeOwned};
use std::collections::BTreeMap;
use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};

/// Metric name -> value for one run, in a fixed (sorted) order so files are byte-stable.
pub type Metrics = BTreeMap<String, f64>;

/// Metric name -> its bootstrap replicates over test galaxies for one run (replicate `b` of two
/// runs with the same test set scores the same resample of galaxies).
pub type Bootstrap = BTreeMap<String, Vec<f64>>;

const BOOTSTRAP: &str = "bootstrap.json";

const MARKER: &str = "COMPLETE";
const PROVENANCE: &str = "provenance.json";
/// Folder of the per-run lock files under `runs/` (not part of any run, never committed).
const LOCKS: &str = ".locks";
/// Sub-folder of a run directory where the trainer keeps its checkpoint.
pub const CHECKPOINT: &str = "checkpoint";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: corrupt store file: {msg}")]
    Corrupt { path: String, msg: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Write `bytes` to `path` atomically (see [`crate::atomic`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    crate::atomic::write(path, bytes).map_err(|(p, source)| StoreError::Io {
        path: p.display().to_string(),
        source,
    })
}

/// A run store rooted at a results folder (default `results/`).
pub struct Store {
    root: PathBuf,
}

/// Exclusive right to compute one run; released on drop or process death.
pub struct RunClaim {
    id: String,
    _file: File,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Store { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }

    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.runs_dir().join(id)
    }

    /// The lock file of run `id` (created if absent) and its path, for messages.
    fn claim_file(&self, id: &str) -> Result<(File, PathBuf), StoreError> {
        let dir = self.runs_dir().join(LOCKS);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join(id);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        Ok((file, path))
    }

    /// Claim run `id` if no other process holds it (`None` when one does).
    pub fn try_claim(&self, id: &str) -> Result<Option<RunClaim>, StoreError> {
        let (file, path) = self.claim_file(id)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(RunClaim {
                id: id.to_string(),
                _file: file,
            })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(io(&path)(e)),
        }
    }

    /// Claim run `id`, waiting while another process holds it.
    pub fn claim(&self, id: &str) -> Result<RunClaim, StoreError> {
        let (file, path) = self.claim_file(id)?;
        file.lock().map_err(io(&path))?;
        Ok(RunClaim {
            id: id.to_string(),
            _file: file,
        })
    }

    pub fn is_complete(&self, id: &str) -> bool {
        self.run_dir(id).join(MARKER).is_file()
    }

    /// Start a run: wipe whatever a crashed attempt left except its `checkpoint/` folder (the
    /// trainer validates and resumes from it), write its spec. Needs the run's claim.
    pub fn begin(&self, spec: &RunSpec, claim: &RunClaim) -> Result<PathBuf, StoreError> {
        assert_eq!(claim.id, run_id(spec), "the claim is for another run");
        let dir = self.run_dir(&claim.id);
        if dir.exists() {
            for entry in fs::read_dir(&dir).map_err(io(&dir))? {
                let path = entry.map_err(io(&dir))?.path();
                if path.file_name() == Some(CHECKPOINT.as_ref()) {
                    continue;
                }
                let removed = if path.is_dir() {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                removed.map_err(io(&path))?;
            }
        }
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let yaml = serde_yaml::to_string(spec).expect("run spec serialises");
        write_atomic(&dir.join("spec.yaml"), yaml.as_bytes())?;
        Ok(dir)
    }

    /// Finish a run: metrics, bootstrap replicates (if any), timing, provenance, then the
    /// completion marker last. Needs the run's claim.
    pub fn finish(
        &self,
        results: (&Metrics, &Bootstrap),
        timing: &impl Serialize,
        provenance: &Provenance,
        claim: &RunClaim,
    ) -> Result<(), StoreError> {
        let (metrics, bootstrap) = results;
        let dir = self.run_dir(&claim.id);
        write_json(&dir.join("metrics.json"), metrics)?;
        if !bootstrap.is_empty() {
            write_json(&dir.join(BOOTSTRAP), bootstrap)?;
        }
        write_json(&dir.join("timing.json"), timing)?;
        write_json(&dir.join(PROVENANCE), provenance)?;
        write_atomic(&dir.join(MARKER), b"")?;
        Ok(())
    }

    /// Complete runs of the same spec and device computed under an older run format (id and
    /// format, oldest first): results a format bump left stale.
    pub fn older_runs(&self, spec: &RunSpec) -> Vec<(String, u32)> {
        (1..spec.run_format)
            .filter_map(|format| {
                let old = RunSpec {
                    run_format: format,
                    ..spec.clone()
                };
                let id = run_id(&old);
                self.is_complete(&id).then_some((id, format))
            })
            .collect()
    }

    /// Record a finished run in one step (tests of what reads the store).
    #[cfg(test)]
    pub fn put(&self, spec: &RunSpec, metrics: &Metrics, bootstrap: &Bootstrap) {
        let claim = self.try_claim(&run_id(spec)).unwrap().expect("unclaimed");
        self.begin(spec, &claim).unwrap();
        let p = Provenance::of_this_build(&candle_core::Device::Cpu);
        self.finish((metrics, bootstrap), &0, &p, &claim).unwrap();
    }

    /// Provenance of a run, if it has a readable one.
    pub fn provenance(&self, id: &str) -> Option<Provenance> {
        read_json(&self.run_dir(id).join(PROVENANCE)).ok()
    }

    /// The ids of every run directory in the store, sorted.
    pub fn ids(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.runs_dir();
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut ids = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if !name.starts_with('.') && entry.path().is_dir() {
                ids.push(name);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Delete a run's checkpoint, so the next attempt trains from the start (a `--fresh`
    /// recomputation, not a resumption). Needs the run's claim.
    pub fn discard_checkpoint(&self, claim: &RunClaim) -> Result<(), StoreError> {
        let dir = self.run_dir(&claim.id).join(CHECKPOINT);
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        Ok(())
    }

    /// Delete run `id` (a run superseded by its recomputation). Needs the run's claim.
    pub fn remove(&self, claim: &RunClaim) -> Result<(), StoreError> {
        let dir = self.run_dir(&claim.id);
        fs::remove_dir_all(&dir).map_err(io(&dir))
    }

    /// Metrics of a complete run, or `None` if the run is not complete.
    pub fn metrics(&self, id: &str) -> Result<Option<Metrics>, StoreError> {
        if !self.is_complete(id) {
            return Ok(None);
        }
        read_json(&self.run_dir(id).join("metrics.json")).map(Some)
    }

    /// Bootstrap replicates of a complete run; `None` if the run is not complete or recorded
    /// none (crowd and votes runs, runs from before bootstraps were kept).
    pub fn bootstrap(&self, id: &str) -> Result<Option<Bootstrap>, StoreError> {
        let path = self.run_dir(id).join(BOOTSTRAP);
        if !self.is_complete(id) || !path.is_file() {
            return Ok(None);
        }
        read_json(&path).map(Some)
    }
}

pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), StoreError> {
    let mut text = serde_json::to_string_pretty(value).expect("serialisable");
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, StoreError> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
        path: path.display().to_string(),
        msg: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RunSpec {
        let t = "name: s\nkind: train\n";
        let e = crate::spec::parse_str(t, "s.yaml").unwrap();
        crate::spec::expand(&e, t, "s.yaml").unwrap().remove(0)
    }

    #[test]
    fn run_is_complete_only_after_finish() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let s = spec();
        let id = run_id(&s);
        let claim = store.try_claim(&id).unwrap().unwrap();
        store.begin(&s, &claim).unwrap();
        assert!(!store.is_complete(&id));
        assert!(store.metrics(&id).unwrap().is_none());
        let m: Metrics = [("accuracy".to_string(), 0.75)].into();
        let b: Bootstrap = [("accuracy".to_string(), vec![0.5, 1.0])].into();
        let p = Provenance::of_this_build(&candle_core::Device::Cpu);
        store
            .finish((&m, &b), &serde_json::json!({"seconds": 1.0}), &p, &claim)
            .unwrap();
        assert_eq!(store.provenance(&id), Some(p));
        assert_eq!(store.ids().unwrap(), vec![id.clone()]);
        assert_eq!(store.metrics(&id).unwrap().unwrap()["accuracy"], 0.75);
        assert_eq!(store.bootstrap(&id).unwrap(), Some(b));
        // a run recorded without replicates (or before they existed) has none
        fs::remove_file(store.run_dir(&id).join(BOOTSTRAP)).unwrap();
        assert_eq!(store.bootstrap(&id).unwrap(), None);
        // a new attempt wipes the old files first
        store.begin(&s, &claim).unwrap();
        assert!(!store.is_complete(&id));
    }

    #[test]
    fn a_claimed_run_cannot_be_claimed_twice() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let claim = store.try_claim("abc").unwrap().expect("free");
        // a second open of the lock file (as another process would) finds it held
        assert!(store.try_claim("abc").unwrap().is_none());
        assert!(store.try_claim("other").unwrap().is_some());
        drop(claim);
        assert!(store.try_claim("abc").unwrap().is_some());
        // lock files are not runs
        assert!(store.ids().unwrap().is_empty());
    }

    #[test]
    fn atomic_write_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b.json");
        write_atomic(&p, b"x").unwrap();
        write_atomic(&p, b"yz").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"yz");
        assert_eq!(fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }
}
