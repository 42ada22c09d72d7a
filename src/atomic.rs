//! Atomic file writes: every file gzbench writes goes to a temporary name in the same folder, is
//! synced, then renamed into place, so a crash leaves the old file or the new one, never a torn one.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

/// Write `bytes` to `path` atomically (creating its folder). Errors are returned with the path
/// that failed: the temporary file or the target; the temporary is removed on failure.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), (std::path::PathBuf, std::io::Error)> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| (dir.to_path_buf(), e))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let step = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    // a failed write (a full disk) leaves no partial temporary behind
    let cleanup = |e| {
        let _ = fs::remove_file(&tmp);
        e
    };
    step().map_err(|e| (tmp.clone(), cleanup(e)))?;
    fs::rename(&tmp, path).map_err(|e| (path.to_path_buf(), cleanup(e)))
}
