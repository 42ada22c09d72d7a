//! The shared read-only data folder: real Galaxy Zoo fixtures (`gz-decals-rings/`, `gz1-sdss/`,
//! `gz-decals-votes/`, `gzh-s82-clumps/`, `zooniverse-exports/`) that live beside the
//! repository, never inside it. This module is the one place that says where that folder is and
//! what a test or check does when it is absent; it reads no file.
//!
//! Where ([`root`]), first match wins:
//! 1. `$GZBENCH_SHARED_DATA` when set and non-empty, whether or not it exists (an explicit
//!    setting is never second-guessed: a wrong one is reported, not silently replaced);
//! 2. `../shared/data` relative to the working directory, when it is a folder (the path the
//!    committed experiments have always resolved from the repository root);
//! 3. `../shared/data` beside the source tree the binary was built from
//!    (`CARGO_MANIFEST_DIR/../shared/data`), when it is a folder: tests and a binary run from
//!    another directory still find the checkout's neighbour;
//! 4. otherwise `../shared/data` (relative, absent): what messages name.
//!
//! The resolved folder is never written into a run spec: a catalogue path relative to it is
//! resolved when the run reads its data, so run ids do not depend on where the folder is.
//!
//! Absent data: tests that need the folder call [`require_or_skip`], which skips them with a
//! message naming the path, unless `GZBENCH_REQUIRE_SHARED_DATA` is set (to anything but `0`),
//! in which case they fail with the same message. CI sets it, so a real-data test cannot pass
//! vacuously there; `gzbench reproduce --check` obeys it too.
//!
//! ```
//! let rings = gzbench::shared_data::root().join("gz-decals-rings/catalog.csv");
//! assert!(rings.ends_with("shared/data/gz-decals-rings/catalog.csv") || std::env::var_os("GZBENCH_SHARED_DATA").is_some());
//! ```

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The variable naming the shared data folder.
pub const ENV: &str = "GZBENCH_SHARED_DATA";
/// The variable that turns "skipped: shared data absent" into a failure (CI sets it to 1).
pub const REQUIRE_ENV: &str = "GZBENCH_REQUIRE_SHARED_DATA";
/// The folder's default place, relative to the working directory.
const DEFAULT: &str = "../shared/data";

/// The shared data folder (see the module comment for the order it is looked for in).
pub fn root() -> PathBuf {
    pick(
        std::env::var_os(ENV),
        &[
            PathBuf::from(DEFAULT),
            Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT),
        ],
    )
}

/// `$GZBENCH_SHARED_DATA` if set and non-empty, else the first candidate that is a folder, else
/// the first candidate.
fn pick(env: Option<OsString>, candidates: &[PathBuf]) -> PathBuf {
    if let Some(dir) = env.filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    candidates
        .iter()
        .find(|c| c.is_dir())
        .or(candidates.first())
        .cloned()
        .unwrap_or_else(|| PathBuf::from(DEFAULT))
}

/// `rel` inside the shared data folder, if it exists there.
pub fn file(rel: &str) -> Option<PathBuf> {
    let p = root().join(rel);
    p.exists().then_some(p)
}

/// Whether absent shared data is a failure rather than a skip (`GZBENCH_REQUIRE_SHARED_DATA`
/// set to anything but empty or `0`).
pub fn required() -> bool {
    is_required(std::env::var_os(REQUIRE_ENV))
}

fn is_required(v: Option<OsString>) -> bool {
    v.is_some_and(|v| !v.is_empty() && v != "0")
}

/// How the folder was chosen, for messages.
fn origin() -> String {
    match std::env::var_os(ENV).filter(|d| !d.is_empty()) {
        Some(_) => format!("from ${ENV}"),
        None => format!(
            "${ENV} unset; tried {DEFAULT} from the working directory and beside the source tree"
        ),
    }
}

/// Why `what` cannot be read: the path looked for, how the folder was chosen and the fix.
pub fn missing_message(what: &str, path: &Path) -> String {
    format!(
        "{what}: {} not found (shared data folder {}, {}); set {ENV} to the folder holding \
         gz-decals-rings/, gz1-sdss/, gz-decals-votes/, gzh-s82-clumps/ and zooniverse-exports/",
        path.display(),
        root().display(),
        origin()
    )
}

/// For tests that need the shared data: `Some(path)` of `rel` when it exists; otherwise prints
/// `skipped: <test>: <why>` and returns `None`, or, under `GZBENCH_REQUIRE_SHARED_DATA`, panics
/// with that message so the test fails instead of passing without checking anything.
pub fn require_or_skip(rel: &str) -> Option<PathBuf> {
    let path = root().join(rel);
    let test = std::thread::current()
        .name()
        .unwrap_or("shared-data test")
        .to_string();
    match decide(&test, &path, path.exists(), required()) {
        Ok(found) => found,
        Err(msg) => panic!("{msg}"),
    }
}

/// The decision of [`require_or_skip`]: `Ok(Some)` present, `Ok(None)` skipped (after printing
/// why), `Err(message)` a failure.
fn decide(
    test: &str,
    path: &Path,
    exists: bool,
    required: bool,
) -> Result<Option<PathBuf>, String> {
    if exists {
        return Ok(Some(path.to_path_buf()));
    }
    let why = missing_message(test, path);
    if required {
        return Err(format!(
            "{why} ({REQUIRE_ENV} is set: real-data tests must run)"
        ));
    }
    eprintln!("skipped: {why}");
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_folder_wins_even_when_absent() {
        let here = PathBuf::from("src");
        let got = pick(
            Some("/nonexistent/data".into()),
            std::slice::from_ref(&here),
        );
        assert_eq!(got, PathBuf::from("/nonexistent/data"));
        // empty = unset
        assert_eq!(pick(Some("".into()), std::slice::from_ref(&here)), here);
    }

    #[test]
    fn the_first_existing_candidate_else_the_first() {
        let (a, b) = (PathBuf::from("/nonexistent/a"), PathBuf::from("src"));
        assert_eq!(pick(None, &[a.clone(), b.clone()]), b);
        let c = PathBuf::from("/nonexistent/c");
        assert_eq!(pick(None, &[a.clone(), c]), a);
    }

    #[test]
    fn required_means_set_and_not_zero() {
        assert!(!is_required(None));
        assert!(!is_required(Some("".into())));
        assert!(!is_required(Some("0".into())));
        assert!(is_required(Some("1".into())));
        assert!(is_required(Some("yes".into())));
    }

    #[test]
    fn absent_data_skips_or_fails_naming_the_path_and_the_fix() {
        let p = Path::new("/nonexistent/shared/x.csv");
        assert_eq!(decide("t", p, true, true), Ok(Some(p.to_path_buf())));
        assert_eq!(decide("t", p, false, false), Ok(None));
        let e = decide("my_test", p, false, true).unwrap_err();
        assert!(
            e.starts_with("my_test: /nonexistent/shared/x.csv not found"),
            "{e}"
        );
        assert!(e.contains("set GZBENCH_SHARED_DATA to the folder"), "{e}");
        assert!(e.contains("GZBENCH_REQUIRE_SHARED_DATA is set"), "{e}");
    }
}
