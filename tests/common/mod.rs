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
