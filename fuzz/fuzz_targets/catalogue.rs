//! libFuzzer target `catalogue`: bytes as a CSV or Parquet catalogue (the first byte picks the
//! format and the mapping: binary label, classes, GZ DECaLS vote counts, GZ2 vote fractions,
//! ids and images only) through `data::catalog::read_catalogue` and `check_files`. Errors must
//! name the catalogue and the row's line, or the column at fault.
#![no_main]

use gzbench::data::catalog::{CatalogError, Want, check_files, read_catalogue};
use gzbench::spec::CatalogConfig;
use gzbench::tree::Tree;
use gzbench_fuzz::{lines, scratch};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static DECALS: LazyLock<Tree> = LazyLock::new(Tree::decals);
static GZ2: LazyLock<Tree> = LazyLock::new(Tree::gz2);
static CLASSES: LazyLock<Vec<(String, Vec<String>)>> = LazyLock::new(|| {
    vec![
        ("elliptical".into(), vec!["0".into()]),
        ("spiral".into(), vec!["1".into(), "2".into()]),
    ]
});
static EXCLUDE: LazyLock<Vec<String>> = LazyLock::new(|| vec!["-1".into()]);

/// Whether `msg` says `line N` for a line of the file.
fn names_line(msg: &str, n: usize) -> bool {
    msg.match_indices("line ").any(|(i, m)| {
        let digits: String = msg[i + m.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits
            .parse::<usize>()
            .is_ok_and(|l| (1..=n.max(1)).contains(&l))
    })
}

fn check(e: &CatalogError, shown: &str, parquet: bool, n: usize) {
    let ok = match e {
        CatalogError::Row { path, row, .. } => {
            path == shown
                && match row.strip_prefix(" row ") {
                    Some(r) => r.parse::<usize>().is_ok_and(|r| r >= 1),
                    None => row
                        .parse::<usize>()
                        .is_ok_and(|l| (1..=n.max(1)).contains(&l)),
                }
        }
        CatalogError::Column { path, .. } | CatalogError::MissingImages { path, .. } => {
            path == shown
        }
        CatalogError::Read { path, msg } => {
            path == shown
                && (parquet
                    || msg.starts_with("no data: empty CSV")
                    || msg.starts_with("no rows")
                    || names_line(msg, n))
        }
        CatalogError::Missing { .. } | CatalogError::TooFew { .. } => false,
    };
    assert!(ok, "not located in {shown} ({n} lines): {e}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let parquet = pick & 0x80 != 0;
    let mapping = match pick % 5 {
        0 => "{ file: c, file_column: file, label_column: ring }",
        1 => "{ file: c, id_column: objid, file_pattern: 'img/{id}.png', label_column: t }",
        2 => "{ file: c, id_column: iauname, file_column: file, votes: decals }",
        3 => "{ file: c, id_column: iauname, file_column: file }",
        _ => "{ file: c, file_column: file }",
    };
    let cfg: CatalogConfig = serde_yaml::from_str(mapping).expect("mapping");
    let want = match pick % 5 {
        0 => Want::Label("ring"),
        1 => Want::Class("t", &CLASSES, &EXCLUDE),
        2 => Want::Votes(&DECALS),
        3 => Want::Fractions(&GZ2),
        _ => Want::Nothing,
    };
    let path = scratch(if parquet { "cat.parquet" } else { "cat.csv" }, body);
    let shown = path.display().to_string();
    let n = lines(body);
    match read_catalogue(&path, None, &cfg, want) {
        Err(e) => check(&e, &shown, parquet, n),
        Ok(entries) => {
            if let Err(e) = check_files(&path, &entries) {
                check(&e, &shown, parquet, n);
            }
        }
    }
});
