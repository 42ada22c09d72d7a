//! Helpers shared by the end-to-end test files: the `gzbench` binary as a command, files.
#![allow(dead_code)] // each test file uses its own share

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn gz() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gzbench"))
}

/// `gzbench run <yaml> --results <results>`, ready for more arguments.
pub fn run(yaml: &Path, results: &Path) -> Command {
    let mut c = gz();
    c.arg("run").arg(yaml).arg("--results").arg(results);
    c
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// stdout then stderr.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(o))
}

/// A small sweep: 2 sizes x 2 backbones x 2 seeds = 8 runs of a fraction of a second each.
pub const SWEEP: &str = "name: e2e
kind: train
seeds: [0, 1]
data: { source: shapes, image_size: 16, test_size: 64 }
model: { widths: [4, 8] }
train: { epochs: 2, batch_size: 16 }
sweep:
  data.train_size: [32, 64]
  model.backbone: [linear, cnn-small]
report: { x: data.train_size, series: model.backbone, log_x: true }
";

pub fn complete_runs(results: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(results.join("runs")) else {
        return vec![];
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("COMPLETE").exists())
        .collect();
    v.sort();
    v
}

/// Run directory name -> metrics.json bytes, for complete runs.
pub fn all_metrics(results: &Path) -> Vec<(String, Vec<u8>)> {
    complete_runs(results)
        .iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(p.join("metrics.json")).unwrap(),
            )
        })
        .collect()
}
