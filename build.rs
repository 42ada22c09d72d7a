//! Build script: records which code the binary is built from, for the provenance every run
//! stores (`results/runs/<id>/provenance.json`): the git revision (`GZBENCH_GIT_REV`, "unknown"
//! outside a git checkout) and whether the sources that are compiled differ from it
//! (`GZBENCH_GIT_DIRTY`: "true" / "false" / "unknown"), and both as `--version` prints them
//! (`GZBENCH_VERSION_LINE`).
//!
//! It reruns when a compiled source changes or when git's HEAD or branch moves (a commit, a
//! checkout), so the flag is never older than the sources.

use std::path::Path;
use std::process::Command;

/// What the dirty flag looks at: everything that goes into the binary.
const SOURCES: [&str; 4] = ["src", "build.rs", "Cargo.toml", "Cargo.lock"];

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    for s in SOURCES {
        println!("cargo:rerun-if-changed={s}");
    }
    let rev = git(&["rev-parse", "HEAD"]);
    // HEAD and the branch it points to move on a commit or a checkout (not the index: `git
    // status` rewrites it, which would rebuild the crate after every look at the tree)
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        let branch = git(&["symbolic-ref", "-q", "HEAD"]);
        let watched = ["HEAD", "packed-refs"]
            .into_iter()
            .map(str::to_string)
            .chain(branch);
        for f in watched {
            let p = Path::new(&dir).join(f);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
    let mut status = vec!["--no-optional-locks", "status", "--porcelain", "--"];
    status.extend(SOURCES);
    let dirty = match (&rev, git(&status)) {
        (Some(_), Some(changes)) => (!changes.is_empty()).to_string(),
        _ => "unknown".to_string(),
    };
    println!(
        "cargo:rustc-env=GZBENCH_GIT_REV={}",
        rev.as_deref().unwrap_or("unknown")
    );
    println!("cargo:rustc-env=GZBENCH_GIT_DIRTY={dirty}");
    let short: String = rev
        .as_deref()
        .unwrap_or("unknown")
        .chars()
        .take(10)
        .collect();
    let plus = if dirty == "true" { "+dirty" } else { "" };
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    println!("cargo:rustc-env=GZBENCH_VERSION_LINE={version} ({short}{plus})");
}
