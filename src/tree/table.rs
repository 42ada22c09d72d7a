//! `VoteTable`: loads per-galaxy vote counts for a [`Tree`] from a CSV file (id column
//! first, then any columns; the tree's answer columns are picked by name), with errors
//! that name the file, the 1-based line, the column and what was expected.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{Tree, TreeError};
use crate::csv_line::record_line;

/// Accepted names for the first (id) column: GZ DECaLS catalogues use `iauname` /
/// `id_str`, Zooniverse exports `subject_id` (as in `decals_votes_1618.csv`), Kaggle's
/// Galaxy Challenge `GalaxyID`.
pub const ID_COLUMNS: [&str; 5] = ["iauname", "id_str", "id", "subject_id", "GalaxyID"];

/// Vote counts per galaxy, one row per galaxy, columns in `tree.answer_columns()` order.
#[derive(Debug, Clone, PartialEq)]
pub struct VoteTable {
    pub ids: Vec<String>,
    pub counts: Vec<Vec<f64>>,
    path: PathBuf,
    lines: Vec<u64>,
}

impl VoteTable {
    /// Reads `path` (see [`VoteTable::from_reader`]).
    pub fn from_csv(path: impl AsRef<Path>, tree: &Tree) -> Result<VoteTable, TreeError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| TreeError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_reader(file, path, tree)
    }

    /// Reads CSV from `reader`; `path` is used in error messages. The first column must be
    /// an id column (one of [`ID_COLUMNS`]); every answer column of `tree` must be present
    /// and each of its cells a finite, non-negative number. Other columns are ignored.
    /// Dependency rules are *not* enforced here: see [`VoteTable::check`].
    pub fn from_reader<R: Read>(
        reader: R,
        path: impl AsRef<Path>,
        tree: &Tree,
    ) -> Result<VoteTable, TreeError> {
        let path = path.as_ref().to_path_buf();
        // read whole, so that record lines can be told exactly (`csv_line`)
        let mut bytes = Vec::new();
        let mut reader = reader;
        reader
            .read_to_end(&mut bytes)
            .map_err(|source| TreeError::Io {
                path: path.clone(),
                source,
            })?;
        let csv_err = |source: csv::Error| TreeError::Csv {
            path: path.clone(),
            line: source.position().map_or(0, |p| record_line(&bytes, p)),
            source,
        };
        let mut rdr = csv::ReaderBuilder::new().from_reader(&bytes[..]);
        let header = rdr.headers().map_err(csv_err)?.clone();
        let first = header.get(0).unwrap_or("").trim();
        if !ID_COLUMNS.contains(&first) {
            return Err(TreeError::IdColumn {
                path,
                found: first.to_string(),
                expected: ID_COLUMNS.map(|c| format!("`{c}`")).join(", "),
            });
        }
        let columns = tree.answer_columns();
        let mut index = Vec::with_capacity(columns.len());
        for column in &columns {
            match header.iter().position(|h| h.trim() == column) {
                Some(j) => index.push(j),
                None => {
                    return Err(TreeError::MissingColumn {
                        path,
                        column: column.clone(),
                        tree: tree.name().to_string(),
                        n_columns: columns.len(),
                    });
                }
            }
        }
        let mut table = VoteTable {
            ids: Vec::new(),
            counts: Vec::new(),
            path: path.clone(),
            lines: Vec::new(),
        };
        for record in rdr.records() {
            let record = record.map_err(csv_err)?;
            let line = record.position().map_or(0, |p| record_line(&bytes, p));
            let mut row = Vec::with_capacity(index.len());
            for (column, &j) in columns.iter().zip(&index) {
                let raw = record.get(j).unwrap_or("");
                row.push(parse_count(raw).map_err(|problem| TreeError::BadCell {
                    path: path.clone(),
                    line,
                    column: column.clone(),
                    value: raw.to_string(),
                    problem,
                })?);
            }
            table
                .ids
                .push(record.get(0).unwrap_or("").trim().to_string());
            table.counts.push(row);
            table.lines.push(line);
        }
        Ok(table)
    }

    /// Number of rows (galaxies).
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The file (or name) the table was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// 1-based line of row `row` in the source file.
    pub fn line(&self, row: usize) -> u64 {
        self.lines[row]
    }

    /// Per-question vote fractions of every row ([`Tree::fractions`]).
    pub fn fractions(&self, tree: &Tree) -> Vec<Vec<f64>> {
        self.counts.iter().map(|c| tree.fractions(c)).collect()
    }

    /// Kaggle-weighted targets of every row ([`Tree::weighted_targets`]).
    pub fn weighted_targets(&self, tree: &Tree) -> Vec<Vec<f64>> {
        self.counts
            .iter()
            .map(|c| tree.weighted_targets(&tree.fractions(c)))
            .collect()
    }

    /// Checks row `row` with [`Tree::check_votes`]; errors carry file, line and id.
    pub fn check(&self, tree: &Tree, row: usize) -> Result<(), TreeError> {
        tree.check_votes(&self.counts[row])
            .map_err(|e| TreeError::Row {
                path: self.path.clone(),
                line: self.lines[row],
                id: self.ids[row].clone(),
                source: Box::new(e),
            })
    }

    /// Every row that fails [`VoteTable::check`], as `(row, error)`.
    pub fn violations(&self, tree: &Tree) -> Vec<(usize, TreeError)> {
        (0..self.len())
            .filter_map(|row| self.check(tree, row).err().map(|e| (row, e)))
            .collect()
    }
}

/// Parses one count cell; `Err` holds what is wrong with it.
fn parse_count(raw: &str) -> Result<f64, &'static str> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("is empty");
    }
    let v: f64 = s.parse().map_err(|_| "is not a number")?;
    if v.is_nan() {
        Err("is NaN")
    } else if v.is_infinite() {
        Err("is infinite")
    } else if v < 0.0 {
        Err("is negative")
    } else {
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared_data::require_or_skip;

    const DECALS_VOTES: &str = "gz-decals-votes/decals_votes_1618.csv";

    #[test]
    fn loads_all_real_decals_rows_and_counts_violations() {
        let Some(path) = require_or_skip(DECALS_VOTES) else {
            return;
        };
        let tree = Tree::decals();
        let table = VoteTable::from_csv(&path, &tree).unwrap();
        assert_eq!(table.len(), 1618);
        assert!(table.ids.iter().all(|id| !id.is_empty()));
        assert_eq!(table.line(0), 2);
        let violations = table.violations(&tree);
        println!("real DECaLS rows violating the tree: {}", violations.len());
        for (_, e) in violations.iter().take(5) {
            println!("  {e}");
        }
        assert!(violations.is_empty());
        // The dependencies are tight, not just upper bounds: a dependent question's total
        // equals its required answers' votes in >= 95% of rows (97.6-99.9% in this file);
        // a wrongly chosen parent answer would break this.
        let slices = tree.question_slices();
        for (qi, q) in tree.questions().iter().enumerate() {
            if q.requires.is_empty() {
                continue;
            }
            let equal = table
                .counts
                .iter()
                .filter(|c| {
                    let total: f64 = c[slices[qi].clone()].iter().sum();
                    let parent: f64 = q.requires.iter().map(|&r| c[tree.flat_index(r)]).sum();
                    total == parent
                })
                .count();
            println!("  {}: total == parent votes in {equal}/1618 rows", q.name);
            assert!(equal * 100 >= 95 * table.len(), "{}", q.name);
        }

        // Our fractions equal the table's own `<q>_<a>_fraction` columns, and our totals
        // its `<q>_total-votes` columns.
        let mut rdr = csv::Reader::from_path(&path).unwrap();
        let header = rdr.headers().unwrap().clone();
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        let frac_cols: Vec<usize> = tree
            .answer_columns()
            .iter()
            .map(|c| col(&format!("{c}_fraction")))
            .collect();
        let total_cols: Vec<usize> = (0..tree.n_questions())
            .map(|q| col(&tree.total_column(q).unwrap()))
            .collect();
        let fractions = table.fractions(&tree);
        for (row, rec) in rdr.records().enumerate() {
            let rec = rec.unwrap();
            for (i, &j) in frac_cols.iter().enumerate() {
                let theirs: f64 = rec[j].parse().unwrap();
                assert!(
                    (theirs - fractions[row][i]).abs() < 1e-9,
                    "row {row} col {i}"
                );
            }
            for (q, s) in tree.question_slices().into_iter().enumerate() {
                let ours: f64 = table.counts[row][s].iter().sum();
                assert_eq!(ours, rec[total_cols[q]].parse::<f64>().unwrap());
            }
        }
    }

    /// Writes `body` to a fresh temporary file and returns its path.
    fn temp_csv(name: &str, body: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gzscratch_tree_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        path
    }

    /// A DECaLS CSV: header `iauname,<answer columns>`, one row per `rows` entry with
    /// all counts 0 except `(column, cell)` overrides.
    fn decals_csv(rows: &[&[(&str, &str)]]) -> String {
        let cols = Tree::decals().answer_columns();
        let mut s = format!("iauname,{}\n", cols.join(","));
        for (i, overrides) in rows.iter().enumerate() {
            let cells: Vec<&str> = cols
                .iter()
                .map(|c| overrides.iter().find(|o| o.0 == c).map_or("0", |o| o.1))
                .collect();
            s += &format!("J{i:06},{}\n", cells.join(","));
        }
        s
    }

    fn load_err(name: &str, body: &str) -> (PathBuf, String) {
        let path = temp_csv(name, body);
        let err = VoteTable::from_csv(&path, &Tree::decals()).unwrap_err();
        (path, err.to_string())
    }

    #[test]
    fn missing_column_names_file_line_and_column() {
        let body = decals_csv(&[&[]]).replacen(",bar_weak,", ",bar_weakk,", 1);
        let (path, e) = load_err("missing.csv", &body);
        let want = format!("{}:1: missing column `bar_weak`", path.display());
        assert!(e.starts_with(&want), "{e}");
    }

    #[test]
    fn non_numeric_cell_names_file_line_and_column() {
        let body = decals_csv(&[&[], &[], &[("bar_strong", "three")]]);
        let (path, e) = load_err("text.csv", &body);
        let want = format!(
            "{}:4: column `bar_strong`: value `three` is not a number",
            path.display()
        );
        assert!(e.starts_with(&want), "{e}");
        assert!(
            e.contains("expected a finite, non-negative vote count"),
            "{e}"
        );
    }

    #[test]
    fn negative_and_nan_cells_are_rejected() {
        let body = decals_csv(&[&[("how-rounded_round", "-2")]]);
        let (path, e) = load_err("negative.csv", &body);
        let want = format!(
            "{}:2: column `how-rounded_round`: value `-2` is negative",
            path.display()
        );
        assert!(e.starts_with(&want), "{e}");

        let body = decals_csv(&[&[], &[("merging_none", "NaN")]]);
        let (path, e) = load_err("nan.csv", &body);
        let want = format!(
            "{}:3: column `merging_none`: value `NaN` is NaN",
            path.display()
        );
        assert!(e.starts_with(&want), "{e}");
    }

    #[test]
    fn bad_id_column_and_ragged_rows_are_rejected() {
        let body = decals_csv(&[&[]]).replacen("iauname", "galaxy", 1);
        let (path, e) = load_err("id.csv", &body);
        assert!(e.starts_with(&format!("{}:1: first column is `galaxy`", path.display())));

        let body = decals_csv(&[&[], &[]]) + "J9,1,2\n";
        let (path, e) = load_err("ragged.csv", &body);
        assert!(
            e.starts_with(&format!("{}:4: malformed CSV", path.display())),
            "{e}"
        );

        let path = std::env::temp_dir().join("gzscratch_tree_absent/nope.csv");
        let e = VoteTable::from_csv(&path, &Tree::decals())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("{}: cannot open", path.display())),
            "{e}"
        );
    }

    #[test]
    fn row_check_reports_file_line_and_id() {
        let tree = Tree::decals();
        let ok: &[(&str, &str)] = &[
            ("smooth-or-featured_smooth", "3"),
            ("how-rounded_round", "3"),
        ];
        let bad: &[(&str, &str)] = &[
            ("smooth-or-featured_smooth", "1"),
            ("how-rounded_round", "2"),
        ];
        let path = temp_csv("dep.csv", &decals_csv(&[ok, bad]));
        let table = VoteTable::from_csv(&path, &tree).unwrap();
        assert_eq!(table.ids, ["J000000", "J000001"]);
        table.check(&tree, 0).unwrap();
        let v = table.violations(&tree);
        assert_eq!(v.len(), 1);
        let e = v[0].1.to_string();
        let want = format!(
            "{}:3 (id `J000001`): question `how-rounded` has 2 votes",
            path.display()
        );
        assert!(e.starts_with(&want), "{e}");
        assert!(
            e.contains("smooth-or-featured_smooth) received only 1"),
            "{e}"
        );
    }

    /// Found by `tests/fuzz_readers`: after blank lines the table named the line of the first
    /// blank line instead of the bad record's.
    #[test]
    fn bad_cell_after_blank_lines_names_its_own_line() {
        let body = decals_csv(&[&[], &[("bar_strong", "three")]]);
        let mut lines: Vec<&str> = body.lines().collect();
        lines.insert(2, "\r");
        lines.insert(2, "");
        let (path, e) = load_err("blank.csv", &(lines.join("\n") + "\n"));
        let want = format!("{}:5: column `bar_strong`", path.display());
        assert!(e.starts_with(&want), "{e}");
    }
}
