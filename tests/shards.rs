//! Spreading a sweep over processes, end to end through the CLI: `run --shard I/N` and
//! `run --run-id ID` fill a store exactly as one `run` does, and `gzbench slurm` writes a job
//! array over the runs still pending. (Submitting to a real Slurm is scripts/slurm-check.sh.)

mod common;
use common::*;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn shards_together_compute_what_one_run_computes() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = write(dir.path(), "e2e.yaml", SWEEP);
    let (sharded, whole) = (dir.path().join("sharded"), dir.path().join("whole"));
    let mut counts = Vec::new();
    for i in 1..=3 {
        let o = run(&yaml, &sharded)
            .args(["--shard", &format!("{i}/3"), "--no-report"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let out = stdout(&o);
        assert!(out.contains(&format!("e2e (shard {i}/3): ")), "{out}");
        counts.push(complete_runs(&sharded).len());
    }
    // 8 runs at grid positions 0..8: shards of 3, 3 and 2
    assert_eq!(counts, [3, 6, 8]);
    assert!(!sharded.join("e2e").exists(), "--no-report wrote a report");
    let o = run(&yaml, &whole).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(all_metrics(&sharded), all_metrics(&whole));
    // a shard again computes nothing, and still writes the report of what is complete
    let o = run(&yaml, &sharded)
        .args(["--shard", "2/3"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stdout(&o).contains("3 runs (3 already complete, 0 computed, 0 failed)"),
        "{}",
        text(&o)
    );
    assert!(sharded.join("e2e/tables/e2e.csv").is_file());
}

#[test]
fn bad_shards_and_unknown_run_ids_are_input_errors() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = write(dir.path(), "e2e.yaml", SWEEP);
    let results = dir.path().join("r");
    for bad in ["0/3", "4/3", "x/y", "3"] {
        let o = run(&yaml, &results)
            .args(["--shard", bad])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o));
        assert!(stderr(&o).contains("1 <= I <= N"), "{}", stderr(&o));
    }
    let o = run(&yaml, &results)
        .args(["--run-id", "0123456789abcdef"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let e = stderr(&o);
    assert!(
        e.contains("0123456789abcdef") && e.contains("--dry-run"),
        "{e}"
    );
    let o = run(&yaml, &results)
        .args(["--shard", "1/2", "--run-id", "0123456789abcdef"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(complete_runs(&results).is_empty());
}

/// `slurm --dry-run` lines: (id, status).
fn plan(yaml: &std::path::Path, results: &std::path::Path) -> Vec<(String, String)> {
    let o = gz()
        .arg("slurm")
        .arg(yaml)
        .arg("--results")
        .arg(results)
        .arg("--dry-run")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    stdout(&o)
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (id, status) = (w.next()?, w.next()?);
            (id.len() == 16).then(|| (id.to_string(), status.to_string()))
        })
        .collect()
}

#[test]
fn slurm_script_covers_the_pending_runs_and_run_ids_compute_one() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = write(dir.path(), "e2e.yaml", SWEEP);
    let results = dir.path().join("r");
    let before = plan(&yaml, &results);
    assert_eq!(before.len(), 8);
    assert!(before.iter().all(|(_, s)| s == "pending"), "{before:?}");
    // compute one run by id
    let first = before[5].0.clone();
    let o = run(&yaml, &results)
        .args(["--run-id", &first])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let done = complete_runs(&results);
    assert_eq!(done.len(), 1);
    assert!(done[0].ends_with(&first));
    let after = plan(&yaml, &results);
    assert_eq!(after[5], (first.clone(), "complete".to_string()));

    let script = dir.path().join("sweep.sh");
    let o = gz()
        .arg("slurm")
        .arg(&yaml)
        .arg("--results")
        .arg(&results)
        .args([
            "--partition",
            "gpu",
            "--gpus-per-task",
            "1",
            "--array-limit",
            "3",
        ])
        .arg("--out")
        .arg(&script)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let s = std::fs::read_to_string(&script).unwrap();
    assert!(s.contains("#SBATCH --array=0-6%3"), "{s}");
    assert!(s.contains("#SBATCH --partition=gpu") && s.contains("#SBATCH --gpus-per-task=1"));
    assert!(!s.contains("--time") && !s.contains("--account"), "{s}");
    let pending: Vec<&str> = before
        .iter()
        .map(|(id, _)| id.as_str())
        .filter(|id| *id != first)
        .collect();
    assert!(
        s.contains(&format!("ITEMS=(\n  {}\n)", pending.join("\n  "))),
        "{s}"
    );
    let abs = std::path::absolute(&results).unwrap();
    assert!(
        s.contains(&format!("--results {} --no-report --run-id", abs.display())),
        "{s}"
    );
    assert!(s.contains("--dependency=afterany:"), "{s}");
    assert!(
        stderr(&o).contains("--device cuda"),
        "no note on a CPU sweep asking for GPUs"
    );

    // everything complete: nothing to submit, no script
    let o = run(&yaml, &results).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let none = dir.path().join("none.sh");
    let o = gz()
        .arg("slurm")
        .arg(&yaml)
        .arg("--results")
        .arg(&results)
        .arg("--out")
        .arg(&none)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(stdout(&o).contains("nothing to submit"), "{}", text(&o));
    assert!(!none.exists());
}
