//! `gzbench similar`: arguments, the id look-up and printing only; `repr::embed` reads the
//! embeddings and `repr::search` finds the neighbours.

use super::*;
use crate::repr::search::{Approx, Exact};

/// Print the galaxies most similar (cosine of their embeddings) to one galaxy of an embeddings
/// table written by `gzbench embed` (columns `id`, `embedding`), best first; the galaxy itself
/// is left out.
///
/// Exact search by default; `--approx` queries an HNSW index instead (built on one thread from
/// `--seed`: the same answer every time).
///
/// Example: gzbench similar --embeddings embeddings.parquet --id 17 --k 10
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub(super) struct SimilarArgs {
    /// Embeddings table (Parquet: `id`, `embedding`).
    #[arg(long, value_name = "FILE")]
    embeddings: PathBuf,
    /// The galaxy to find neighbours of (a value of the `id` column).
    #[arg(long)]
    id: String,
    /// Neighbours to print.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Use the approximate (HNSW) index instead of the exact search.
    #[arg(long)]
    approx: bool,
    /// Seed of the approximate index.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output: `table` (aligned columns) or `csv` (`rank,id,cosine`).
    #[arg(long, value_enum, default_value_t = SimilarFormat::Table)]
    format: SimilarFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SimilarFormat {
    Table,
    Csv,
}

pub(super) fn similar(a: SimilarArgs) -> Result<(), CliError> {
    if a.k == 0 {
        return Err(bad_input("--k must be positive"));
    }
    let file = a.embeddings.display();
    let (ids, rows) = crate::repr::embed::read_parquet(&a.embeddings).map_err(bad_input)?;
    let Some(row) = ids.iter().position(|i| *i == a.id) else {
        let some: Vec<&str> = ids.iter().take(5).map(String::as_str).collect();
        let more = if ids.len() > 5 { ", ..." } else { "" };
        return Err(bad_input(format!(
            "{file}: no galaxy with id `{}` among its {} ids ({}{more})",
            a.id,
            ids.len(),
            some.join(", ")
        )));
    };
    if rows[row].iter().all(|&x| x == 0.0) {
        return Err(bad_input(format!(
            "{file}: the embedding of `{}` is all zeros: its cosine similarity is undefined",
            a.id
        )));
    }
    let found = if a.approx {
        let ix = Approx::build(&rows, a.seed).map_err(|e| bad_input(format!("{file}: {e}")))?;
        ix.query_row(row, a.k)
    } else {
        let ix = Exact::new(&rows).map_err(|e| bad_input(format!("{file}: {e}")))?;
        ix.query_row(row, a.k)
    };
    match a.format {
        SimilarFormat::Csv => {
            say!("rank,id,cosine");
            for (r, (j, s)) in found.iter().enumerate() {
                say!("{},{},{s:.6}", r + 1, csv_field(&ids[*j]));
            }
        }
        SimilarFormat::Table => {
            let w = found.iter().map(|(j, _)| ids[*j].len()).max().unwrap_or(0);
            let w = w.max(2);
            say!("rank  {:<w$}  cosine", "id");
            for (r, (j, s)) in found.iter().enumerate() {
                say!("{:>4}  {:<w$}  {s:.4}", r + 1, ids[*j]);
            }
        }
    }
    Ok(())
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
