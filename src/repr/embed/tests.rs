//! Tests of `repr::embed`: the Parquet table round-trips exactly and its reader names the file
//! and the fault; embeddings are the backbone's evaluation-mode features, in order.

use super::*;

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("g{i}")).collect()
}

#[test]
fn parquet_round_trip_is_exact_and_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/e.parquet");
    let rows: Vec<Vec<f32>> = (0..5)
        .map(|i| (0..3).map(|j| (i * 3 + j) as f32 * 0.1 - 0.7).collect())
        .collect();
    let mut rows = rows;
    rows[2][1] = f32::MIN_POSITIVE;
    rows[4][0] = -1e30;
    write_parquet(&path, &ids(5), &rows).unwrap();
    let (i, r) = read_parquet(&path).unwrap();
    assert_eq!(i, ids(5));
    assert_eq!(r, rows, "bit-exact f32 round trip");
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["e.parquet".to_string()], "no temporary left");
    // an empty table round-trips too
    let empty = dir.path().join("empty.parquet");
    write_parquet(&empty, &[], &[]).unwrap();
    assert_eq!(read_parquet(&empty).unwrap(), (vec![], vec![]));
}

#[test]
fn bad_rows_are_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.parquet");
    let ragged = vec![vec![1.0, 2.0], vec![3.0]];
    let e = write_parquet(&path, &ids(2), &ragged)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("e.parquet") && e.contains("ragged") && e.contains("g1"),
        "{e}"
    );
    let nan = vec![vec![1.0], vec![f32::NAN]];
    let e = write_parquet(&path, &ids(2), &nan).unwrap_err().to_string();
    assert!(e.contains("NaN") && e.contains("row 2"), "{e}");
    let e = write_parquet(&path, &ids(3), &nan).unwrap_err().to_string();
    assert!(e.contains("3 ids for 2 embeddings"), "{e}");
    assert!(!path.exists());
}

/// A Parquet file written directly with polars (not through `write_parquet`).
fn raw(path: &Path, cols: Vec<Column>) {
    let h = cols[0].len();
    let mut df = DataFrame::new(h, cols).unwrap();
    ParquetWriter::new(std::fs::File::create(path).unwrap())
        .finish(&mut df)
        .unwrap();
}

fn list_f64(rows: &[&[f64]]) -> Column {
    let mut b = ListPrimitiveChunkedBuilder::<Float64Type>::new(
        EMBEDDING.into(),
        rows.len(),
        8,
        DataType::Float64,
    );
    for r in rows {
        b.append_slice(r);
    }
    b.finish().into_series().into_column()
}

#[test]
fn reader_names_the_file_and_the_fault() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.parquet");
    let msg = |p: &Path| read_parquet(p).unwrap_err().to_string();
    // missing file, not Parquet
    assert!(msg(&p).contains("x.parquet"));
    std::fs::write(&p, "id,embedding\n").unwrap();
    let e = msg(&p);
    assert!(
        e.contains("x.parquet") && e.contains("expected a Parquet file"),
        "{e}"
    );
    // missing column, listing what is there
    raw(&p, vec![Column::new("name".into(), ["a", "b"])]);
    let e = msg(&p);
    assert!(e.contains("no column `id`") && e.contains("`name`"), "{e}");
    // f64 lists and integer ids are accepted (cast)
    raw(
        &p,
        vec![
            Column::new(ID.into(), [7i64, 8]),
            list_f64(&[&[1.5, 2.0], &[3.0, 4.25]]),
        ],
    );
    let (i, r) = read_parquet(&p).unwrap();
    assert_eq!(i, vec!["7", "8"]);
    assert_eq!(r, vec![vec![1.5, 2.0], vec![3.0, 4.25]]);
    // ragged and non-finite rows
    raw(
        &p,
        vec![
            Column::new(ID.into(), ["a", "b"]),
            list_f64(&[&[1.0, 2.0], &[3.0]]),
        ],
    );
    let e = msg(&p);
    assert!(
        e.contains("x.parquet") && e.contains("ragged") && e.contains("`b`"),
        "{e}"
    );
    raw(
        &p,
        vec![
            Column::new(ID.into(), ["a", "b"]),
            list_f64(&[&[1.0], &[f64::INFINITY]]),
        ],
    );
    let e = msg(&p);
    assert!(e.contains("inf") && e.contains("finite"), "{e}");
    // an embedding column that is not a list of numbers
    raw(
        &p,
        vec![
            Column::new(ID.into(), ["a"]),
            Column::new(EMBEDDING.into(), ["oops"]),
        ],
    );
    let e = msg(&p);
    assert!(e.contains("x.parquet") && e.contains("`embedding`"), "{e}");
}
