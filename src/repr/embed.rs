//! Embeddings: a backbone's features of every image of a catalogue ([`embed`], evaluation mode,
//! one row per image in order), optionally reduced by PCA ([`crate::repr::pca`]), stored as a
//! Parquet table with columns `id` (string) and `embedding` (list of f32, one length for all
//! rows) by [`write_parquet`] and read back, checked, by [`read_parquet`] (what `gzbench
//! similar` and the anomaly rankers read).
//!
//! What `gzbench embed` embeds (the first galaxies of the synthetic universe or a catalogue's
//! cutouts) and with which weights (seeded initialisation, a harness-pretrained backbone, a
//! user's encoder file or a run's checkpoint) is in [`inputs`].

pub mod inputs;

pub use inputs::{
    Backbone, Images, Job, Summary, Weights, checkpoint_spec, embed_catalogue, load_images,
    load_model,
};

use crate::data::Dataset;
use crate::model::Model;
use candle_core::Device;
use polars::prelude::*;
use std::path::Path;

/// Why embeddings could not be computed, reduced, written or read.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A file that could not be read or written, or holds the wrong thing.
    #[error("{path}: {msg}")]
    File { path: String, msg: String },
    /// PCA asked for something the data cannot give.
    #[error("PCA: {0}")]
    Pca(String),
    /// Bad input that is not a file (mismatched lengths, an empty catalogue, ...).
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Catalog(#[from] crate::data::catalog::CatalogError),
    #[error("{0}")]
    Other(String),
}

fn file_err(path: &Path, msg: impl std::fmt::Display) -> EmbedError {
    EmbedError::File {
        path: path.display().to_string(),
        msg: msg.to_string(),
    }
}

/// The backbone features of every image of `data`, in order, in evaluation mode (BatchNorm uses
/// its running statistics, no dropout), `batch` images at a time; `progress(done, total)` after
/// each batch.
pub fn embed(
    model: &Model,
    data: &Dataset,
    batch: usize,
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
) -> candle_core::Result<Vec<Vec<f32>>> {
    let total = data.len();
    let mut rows = Vec::with_capacity(total);
    crate::train::for_each_batch(data, batch, device, |idx, x, _| {
        let f = model.features(x, false)?.flatten_from(1)?;
        rows.extend(f.to_vec2::<f32>()?);
        progress(idx.last().map_or(0, |&i| i + 1), total);
        Ok(())
    })?;
    Ok(rows)
}

/// Name of the id column of an embeddings table.
pub const ID: &str = "id";
/// Name of the embedding column (list of f32) of an embeddings table.
pub const EMBEDDING: &str = "embedding";

/// Check that `rows` are one per id, all of one non-zero length, finite; returns the length.
fn check_rows(ids: &[String], rows: &[Vec<f32>]) -> Result<usize, String> {
    if ids.len() != rows.len() {
        return Err(format!(
            "{} ids for {} embeddings; expected one id per row",
            ids.len(),
            rows.len()
        ));
    }
    let d = rows.first().map_or(0, Vec::len);
    for (i, r) in rows.iter().enumerate() {
        if r.len() != d {
            return Err(format!(
                "ragged embeddings: row {} (id `{}`) has {} values, row 1 has {d}",
                i + 1,
                ids[i],
                r.len()
            ));
        }
        if let Some(j) = r.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "row {} (id `{}`) value {j} is {}; expected finite embeddings",
                i + 1,
                ids[i],
                r[j]
            ));
        }
    }
    if d == 0 && !rows.is_empty() {
        return Err("embeddings of length 0".into());
    }
    Ok(d)
}

/// Write `ids` and their embeddings `rows` to `path` as Parquet (columns `id`, `embedding`),
/// atomically (a temporary name in the same folder, then a rename). Fails on mismatched lengths,
/// ragged rows or non-finite values, before anything is written.
pub fn write_parquet(path: &Path, ids: &[String], rows: &[Vec<f32>]) -> Result<(), EmbedError> {
    let d = check_rows(ids, rows).map_err(|m| file_err(path, m))?;
    let mut b = ListPrimitiveChunkedBuilder::<Float32Type>::new(
        EMBEDDING.into(),
        rows.len(),
        rows.len() * d,
        DataType::Float32,
    );
    for r in rows {
        b.append_slice(r);
    }
    let id = Column::new(ID.into(), ids);
    let emb = b.finish().into_series().into_column();
    let mut df = DataFrame::new(rows.len(), vec![id, emb]).map_err(|e| file_err(path, e))?;
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes)
        .finish(&mut df)
        .map_err(|e| file_err(path, e))?;
    crate::atomic::write(path, &bytes).map_err(|(p, e)| file_err(&p, e))
}

/// Read an embeddings table written by [`write_parquet`] (or by anyone: `id` may be any type
/// castable to text, `embedding` a list of any numbers). Errors name the file and what is wrong:
/// not Parquet, a missing column, a null id or embedding, ragged rows, non-finite values.
pub fn read_parquet(path: &Path) -> Result<(Vec<String>, Vec<Vec<f32>>), EmbedError> {
    let err = |m: String| file_err(path, m);
    let f = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let df = ParquetReader::new(f)
        .finish()
        .map_err(|e| err(format!("{e}; expected a Parquet file")))?;
    let col = |name: &str| {
        df.column(name).map_err(|_| {
            let have: Vec<String> = df
                .get_column_names()
                .iter()
                .map(|n| format!("`{n}`"))
                .collect();
            err(format!(
                "no column `{name}` (columns: {}); expected `{ID}` and `{EMBEDDING}`",
                have.join(", ")
            ))
        })
    };
    let ids = col(ID)?
        .cast(&DataType::String)
        .map_err(|e| err(format!("column `{ID}`: {e}; expected text")))?;
    let ids = ids.str().map_err(|e| err(e.to_string()))?;
    let ids: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.map(str::to_string)
                .ok_or_else(|| err(format!("row {}: null `{ID}`", i + 1)))
        })
        .collect::<Result<_, _>>()?;
    let emb = col(EMBEDDING)?
        .cast(&DataType::List(Box::new(DataType::Float32)))
        .map_err(|e| {
            err(format!(
                "column `{EMBEDDING}`: {e}; expected a list of numbers"
            ))
        })?;
    let list = emb.list().map_err(|e| err(e.to_string()))?;
    let mut rows = Vec::with_capacity(list.len());
    for (i, s) in list.series_iter().enumerate() {
        let s = s.ok_or_else(|| err(format!("row {}: null `{EMBEDDING}`", i + 1)))?;
        let v = s.f32().map_err(|e| err(e.to_string()))?;
        let row: Option<Vec<f32>> = v.iter().collect();
        rows.push(row.ok_or_else(|| err(format!("row {}: null value in `{EMBEDDING}`", i + 1)))?);
    }
    check_rows(&ids, &rows).map_err(err)?;
    Ok((ids, rows))
}

#[cfg(test)]
mod tests;
