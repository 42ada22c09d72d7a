//! End-to-end tests of where data is looked for: a data file that does not exist is an error of
//! the experiment (exit 2, located) unless its data is marked `data.optional`, in which case its
//! runs are skipped with the reason; never computed without it under the same run id.

mod common;
use common::{gz, run, stderr, write};

/// A catalogue path that does not exist is an error of the experiment (exit 2, located at
/// `data.path`, naming the path looked for), for `validate` and `run` alike.
#[test]
fn a_missing_catalogue_is_a_located_error() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = write(
        dir.path(),
        "real.yaml",
        "name: real\nkind: train\ndata: { source: catalog, path: /nonexistent/rings, train_size: 10, test_size: 10, catalog: { file: catalog.csv, file_column: file, label_column: ring } }\ntask: { target: label }\n",
    );
    let want = "real.yaml:3:32: data.catalog.file `catalog.csv`: /nonexistent/rings/catalog.csv not found (under data.path `/nonexistent/rings`); expected an existing file: fix data.path or the file name, or mark external data `data.optional: true`";
    let o = gz().arg("validate").arg(&yaml).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains(want), "{}", stderr(&o));
    let o = run(&yaml, &dir.path().join("res")).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains(want), "{}", stderr(&o));
    assert!(!dir.path().join("res/runs").exists());
}

/// A real-data experiment whose data is marked optional and absent is skipped with a message
/// naming the file looked for, not failed.
#[test]
fn missing_optional_real_data_is_skipped_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = write(
        dir.path(),
        "real.yaml",
        "name: real\nkind: train\ndata: { source: catalog, optional: true, path: /nonexistent/rings, train_size: 10, test_size: 10, catalog: { file: catalog.csv, file_column: file, label_column: ring } }\ntask: { target: label }\n",
    );
    let o = gz().arg("validate").arg(&yaml).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("catalogue not checked: /nonexistent/rings/catalog.csv: catalogue not found"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = run(&yaml, &dir.path().join("res")).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("skipped 1 runs"), "{err}");
    assert!(
        err.contains("/nonexistent/rings/catalog.csv: catalogue not found"),
        "{err}"
    );
    // tables written on a machine that had the data survive a run on one that has not
    let table = dir.path().join("res/real/tables/real.md");
    std::fs::create_dir_all(table.parent().unwrap()).unwrap();
    std::fs::write(&table, "| committed |\n").unwrap();
    let o = run(&yaml, &dir.path().join("res")).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("real: no complete "), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&table).unwrap(), "| committed |\n");
    // a target the source does not provide is bad input, found by validate
    let bad = write(
        dir.path(),
        "bad.yaml",
        "name: bad\nkind: train\ndata: { source: catalog, catalog: { file: c.csv, file_column: f } }\ntask: { target: bar }\n",
    );
    let o = gz().arg("validate").arg(&bad).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("bad.yaml:4:9: task.target `bar` is not provided by data.source `catalog`; expected one of `label`"),
        "{}",
        stderr(&o)
    );
}

/// A detection run's evaluation-only real set (`detect.real`) counts as its data: absent, the
/// run is refused (located at `detect.real`) or, with optional data, skipped; it is never
/// computed without its real metrics under the id of a run that has them.
#[test]
fn a_missing_real_evaluation_set_is_refused_or_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = write(
        dir.path(),
        "det.yaml",
        "name: det\nkind: detection\ndata: { source: synthetic }\ndetect: { real: gzh-s82-clumps }\n",
    );
    let o = gz()
        .arg("validate")
        .arg(&yaml)
        .env("GZBENCH_SHARED_DATA", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let want = "det.yaml:4:17: detect.real `gzh-s82-clumps`: /nonexistent/gzh-s82-clumps/clumps.csv not found";
    assert!(stderr(&o).contains(want), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("or set detect.real: none"),
        "{}",
        stderr(&o)
    );

    let optional = write(
        dir.path(),
        "opt.yaml",
        "name: opt\nkind: detection\ndata: { source: synthetic, optional: true }\ndetect: { real: gzh-s82-clumps }\n",
    );
    let o = run(&optional, &dir.path().join("res"))
        .env("GZBENCH_SHARED_DATA", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("skipped 1 runs"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("/nonexistent/gzh-s82-clumps/clumps.csv not found"),
        "{}",
        stderr(&o)
    );
}
