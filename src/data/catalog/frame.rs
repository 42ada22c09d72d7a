//! Reading a catalogue file into a polars frame: CSV or Parquet, with every problem polars
//! reports without a place (stray quotes, a wrong field count, bytes that are not UTF-8, a
//! damaged Parquet file, columns of unequal length) turned into an error naming the file and the
//! line.

use super::CatalogError;
use polars::prelude::*;
use std::path::Path;

pub(super) fn read_frame(path: &Path) -> Result<DataFrame, CatalogError> {
    let shown = path.display().to_string();
    if !path.is_file() {
        return Err(CatalogError::Missing { path: shown });
    }
    let read = |msg: String| CatalogError::Read {
        path: shown.clone(),
        msg,
    };
    let parquet = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    if parquet {
        let f = std::fs::File::open(path).map_err(|e| read(e.to_string()))?;
        // polars' Parquet decoder panics on some damaged files (e.g. `thrift bool field` on a
        // flipped metadata byte): a panic there is the file's fault, reported as an error
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ParquetReader::new(f).finish()
        }));
        let df = decoded
            .map_err(|panic| {
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                read(format!(
                    "damaged Parquet file (the decoder failed: {why}); expected a Parquet file"
                ))
            })?
            .map_err(|e| read(format!("{e}; expected a Parquet file")))?;
        // a damaged file can decode into columns of different lengths (indexing them panics)
        let rows = df.columns().first().map_or(0, |c| c.len());
        if let Some(c) = df.columns().iter().find(|c| c.len() != rows) {
            return Err(read(format!(
                "column `{}` holds {} values but the first column {rows}; expected a Parquet file with one value per row in every column",
                c.name(),
                c.len()
            )));
        }
        Ok(df)
    } else {
        // every column as text: a stray value is reported by row, not as a parse failure
        CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .and_then(|r| r.finish())
            .map_err(|e| {
                csv_problem(path)
                    .unwrap_or_else(|| read(format!("{e}; expected a CSV file with a header row")))
            })
    }
}

/// The first line of CSV file `path` that is not UTF-8, has a field count unlike the header's
/// (as the `csv` crate reads it), or else misuses a quote, as a row error: polars' CSV errors
/// name no line. `None` if no line is at fault.
fn csv_problem(path: &Path) -> Option<CatalogError> {
    let at = |line: u64, msg: String| CatalogError::Row {
        path: path.display().to_string(),
        row: line.to_string(),
        msg: format!(
            "{msg}; expected a CSV file with a header row and as many fields on every line"
        ),
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .ok()?;
    let mut width = None;
    for rec in rdr.records() {
        match rec {
            Err(e) => match e.kind() {
                csv::ErrorKind::Utf8 { pos: Some(p), err } => {
                    let field = err.field() + 1;
                    return Some(at(p.line(), format!("field {field} is not UTF-8 text")));
                }
                _ => break,
            },
            Ok(r) => match (width, r.len()) {
                (None, n) => width = Some(n),
                (Some(w), n) if w == n => {}
                (Some(w), n) => {
                    let line = r.position()?.line();
                    return Some(at(line, format!("{n} fields where the header has {w}")));
                }
            },
        }
    }
    let (line, what) = quote_problem(&std::fs::read(path).ok()?)?;
    Some(at(line, what.into()))
}

/// The line of the first quote in `bytes` that breaks RFC 4180 (which polars follows), and
/// what is wrong with it.
fn quote_problem(bytes: &[u8]) -> Option<(u64, &'static str)> {
    let (mut line, mut i, mut field_start) = (1, 0, true);
    while i < bytes.len() {
        if field_start && bytes[i] == b'"' {
            let open = line;
            i += 1;
            loop {
                match bytes.get(i) {
                    None => return Some((open, "a quoted field is never closed")),
                    Some(b'"') if bytes.get(i + 1) == Some(&b'"') => i += 2,
                    Some(b'"') => break,
                    Some(&b) => {
                        line += u64::from(b == b'\n');
                        i += 1;
                    }
                }
            }
            i += 1;
            if !matches!(bytes.get(i), None | Some(b',' | b'\n' | b'\r')) {
                return Some((line, "text after the closing quote of a quoted field"));
            }
            field_start = false;
            continue;
        }
        match bytes[i] {
            b',' => field_start = true,
            b'\n' => {
                line += 1;
                field_start = true;
            }
            b'"' => return Some((line, "a quote inside a field that does not start with one")),
            _ => field_start = false,
        }
        i += 1;
    }
    None
}
