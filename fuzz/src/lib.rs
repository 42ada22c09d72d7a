//! Helpers shared by the libFuzzer targets in `fuzz_targets/`: a scratch file per process (the
//! readers take paths) and the location checks the targets assert, the same as the properties
//! in `tests/fuzz_readers/` (a failed check is a crash the fuzzer reports with its input).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Writes `bytes` to `name` in this process's scratch folder (`$TMPDIR/gzbench-fuzz-<pid>`,
/// left for the OS to clean) and returns its path.
pub fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("gzbench-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("scratch folder");
        d
    });
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("scratch folder");
    }
    std::fs::write(&p, bytes).expect("scratch file");
    p
}

/// Lines of `bytes` as line-numbering readers count them (an empty file has none).
pub fn lines(bytes: &[u8]) -> usize {
    bytes.split(|&b| b == b'\n').count() - usize::from(bytes.is_empty() || bytes.ends_with(b"\n"))
}

/// Panics unless `line` is a line of a file of `lines` lines (or the one after its end).
pub fn assert_line(line: u64, lines: usize, msg: &str) {
    assert!(
        (1..=lines as u64 + 1).contains(&line),
        "line {line} is not a line of the file ({lines} lines): {msg}"
    );
}

/// Panics unless `msg` starts with `path:`.
pub fn assert_names(msg: &str, path: &Path) {
    let shown = path.display().to_string();
    assert!(
        msg.starts_with(&format!("{shown}:")),
        "error does not name {shown}: {msg}"
    );
}
