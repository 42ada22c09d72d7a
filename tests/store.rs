//! End-to-end tests of the run store's trust guarantees, through the `gzbench` binary: two
//! processes sharing a store compute each run once; a run-format (results schema) bump is shown
//! as stale by `list` and `runs`, refused by `reproduce --frozen` and recomputed by `reproduce`;
//! a full or read-only results folder stops with a clear error and loses no finished run; a
//! diverging run stops naming the epoch and step.

mod common;
use common::{SWEEP, all_metrics as metrics, gz, run, text};
use gzbench::spec::{RUN_FORMAT_VERSION, RunSpec, run_id};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn experiment(dir: &Path, yaml: &str) -> PathBuf {
    let folder = dir.join("experiments");
    std::fs::create_dir_all(&folder).unwrap();
    let p = folder.join("e2e.yaml");
    std::fs::write(&p, yaml).unwrap();
    p
}

/// The `N computed` count of a `gzbench run` summary line.
fn computed(out: &str) -> usize {
    let at = out.find(" computed").expect("summary line");
    out[..at]
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("count")
}

#[test]
fn two_processes_on_one_store_compute_each_run_once() {
    let dir = tempfile::tempdir().unwrap();
    // runs long enough (~0.3 s each, 2.5 s in all) that the two processes overlap
    let yaml = experiment(dir.path(), &SWEEP.replace("epochs: 2", "epochs: 150"));
    let reference = dir.path().join("reference");
    assert!(run(&yaml, &reference).status().unwrap().success());
    let shared = dir.path().join("shared");
    let a = run(&yaml, &shared).spawn_output();
    let b = run(&yaml, &shared).spawn_output();
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert!(a.status.success(), "{}", text(&a));
    assert!(b.status.success(), "{}", text(&b));
    // every run computed by exactly one of them, none torn, all as a lone process computes them
    assert_eq!(
        computed(&text(&a)) + computed(&text(&b)),
        8,
        "{}\n{}",
        text(&a),
        text(&b)
    );
    assert_eq!(metrics(&shared), metrics(&reference));
    // and at the same time: each computed some (one store-wide lock would leave one idle)
    assert!(
        computed(&text(&a)) > 0 && computed(&text(&b)) > 0,
        "{}\n{}",
        text(&a),
        text(&b)
    );
}

/// `Command::output` on a thread, so two processes run at once.
trait SpawnOutput {
    fn spawn_output(self) -> std::thread::JoinHandle<Output>;
}

impl SpawnOutput for Command {
    fn spawn_output(mut self) -> std::thread::JoinHandle<Output> {
        std::thread::spawn(move || self.output().unwrap())
    }
}

#[test]
fn a_run_format_bump_is_stale_in_list_refused_frozen_and_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = experiment(dir.path(), SWEEP);
    let results = dir.path().join("results");
    assert!(run(&yaml, &results).status().unwrap().success());
    let want = metrics(&results);
    // what a format bump leaves: one run recorded only under the previous format's id
    let runs = results.join("runs");
    let (id, _) = &want[0];
    let text_spec = std::fs::read_to_string(runs.join(id).join("spec.yaml")).unwrap();
    let mut old: RunSpec = serde_yaml::from_str(&text_spec).unwrap();
    assert_eq!(run_id(&old), *id);
    old.run_format = RUN_FORMAT_VERSION - 1;
    let old_id = run_id(&old);
    std::fs::rename(runs.join(id), runs.join(&old_id)).unwrap();
    std::fs::write(
        runs.join(&old_id).join("spec.yaml"),
        serde_yaml::to_string(&old).unwrap(),
    )
    .unwrap();

    let args = |c: &mut Command| {
        c.arg("--experiments")
            .arg(dir.path().join("experiments"))
            .arg("--results")
            .arg(&results)
            .arg("--profile")
            .arg("smoke");
    };
    let mut list = gz();
    list.arg("list");
    args(&mut list);
    let o = list.output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let line = text(&o)
        .lines()
        .find(|l| l.starts_with("e2e "))
        .map(str::to_string)
        .unwrap();
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&cells[..3], ["e2e", "7/8", "1"], "{line}");

    let o = gz()
        .args(["runs", "--stale", "--results"])
        .arg(&results)
        .output()
        .unwrap();
    assert!(text(&o).contains(&old_id), "{}", text(&o));
    assert!(text(&o).contains("1 runs, 1 stale"), "{}", text(&o));

    let mut frozen = gz();
    frozen.args(["reproduce", "--frozen"]);
    args(&mut frozen);
    let o = frozen.output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("e2e: 1 of 8 runs missing (1 of them stale"),
        "{}",
        text(&o)
    );
    assert_eq!(metrics(&results).len(), 8, "--frozen computed nothing");

    let mut again = gz();
    again.arg("reproduce");
    args(&mut again);
    let o = again.output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("removed 1 runs of an older run format"),
        "{}",
        text(&o)
    );
    // the recomputed run is byte-identical, under the current id; the stale one is gone
    assert_eq!(metrics(&results), want);
    assert!(!runs.join(&old_id).exists());
}

#[test]
fn a_diverging_run_stops_naming_the_epoch_and_step() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = experiment(
        dir.path(),
        "name: nan\nkind: train\ndata: { source: shapes, image_size: 16, train_size: 64, test_size: 32 }\n\
         model: { backbone: cnn-small, widths: [4, 8] }\ntrain: { epochs: 3, batch_size: 16, lr: 1.0e30 }\n",
    );
    let o = run(&yaml, &dir.path().join("r")).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("training diverged: the loss is") && t.contains("at epoch 1, step "),
        "{t}"
    );
    assert!(metrics(&dir.path().join("r")).is_empty());
}

/// A small tmpfs mounted for one test, unmounted on drop (needs root, as CI has).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .expect("mount(8)");
        assert!(
            o.status.success(),
            "this test mounts a small tmpfs and needs root: {}",
            text(&o)
        );
        Tmpfs(at.to_path_buf())
    }

    fn remount(&self, opts: &str) {
        let o = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_or_read_only_results_folder_stops_cleanly_and_keeps_finished_runs() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(&dir.path().join("mnt"), "16m");
    let results = fs.0.join("results");
    let yaml = experiment(dir.path(), SWEEP);
    assert!(run(&yaml, &results).status().unwrap().success());
    let finished = metrics(&results);
    assert_eq!(finished.len(), 8);
    // more seeds, then fill the disk: the first new run cannot be written
    let more = experiment(
        dir.path(),
        &SWEEP.replace("seeds: [0, 1]", "seeds: [0, 1, 2]"),
    );
    let filler = fs.0.join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=1M"])
        .arg(format!("of={}", filler.display()))
        .output();
    let o = run(&more, &results).output().unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("No space left on device"), "{t}");
    assert!(
        t.contains("cannot be written") && t.contains("were not attempted"),
        "{t}"
    );
    assert_eq!(metrics(&results), finished, "finished runs are kept intact");
    // no torn files: nothing but complete runs and their claims
    for e in std::fs::read_dir(results.join("runs")).unwrap() {
        let p = e.unwrap().path();
        for f in std::fs::read_dir(&p).unwrap() {
            let name = f.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.contains(".tmp-"), "{} left {name}", p.display());
        }
    }

    // read-only: the same, with the OS's words
    std::fs::remove_file(&filler).unwrap();
    fs.remount("ro");
    let o = run(&more, &results).output().unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("Read-only file system"), "{t}");
    assert_eq!(metrics(&results), finished);

    // writable again: the rest is computed, the first eight untouched
    fs.remount("rw");
    let o = run(&more, &results).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let all = metrics(&results);
    assert_eq!(all.len(), 12);
    assert!(finished.iter().all(|f| all.contains(f)));
}

/// The committed store holds every run of every committed experiment, at the smoke and cpu
/// profiles, under this gzbench's run format: a format bump without recomputed results, or an
/// experiment changed without its runs, fails here (CI recomputes only the smoke runs).
#[test]
fn the_committed_store_is_complete_for_this_run_format() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for profile in ["smoke", "cpu"] {
        let o = gz()
            .current_dir(root)
            .args(["list", "--profile", profile])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let out = text(&o);
        let rows: Vec<Vec<&str>> = out
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|c| c.len() > 3 && c[1].contains('/'))
            .collect();
        assert!(rows.len() >= 10, "{out}");
        for c in rows {
            let (done, total) = c[1].split_once('/').unwrap();
            assert_eq!(done, total, "{profile}: {} runs missing: {out}", c[0]);
            assert_eq!(c[2], "0", "{profile}: {} has stale runs: {out}", c[0]);
        }
    }
}
