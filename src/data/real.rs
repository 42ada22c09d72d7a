//! Real Galaxy Zoo cutouts from a catalogue: the GZ DECaLS ring sample (`gz-decals-rings/`:
//! `catalog.csv` with `iauname,file,ring,...` and 212 px RGB PNGs, plus the fixed `test/` split).
//!
//! Images are resized to the model's size (triangle filter, which averages like the box filter
//! the fixture was binned with) and enter the network as RGB / 255 in 0..1, the same
//! representation the synthetic cutouts use. Training and validation galaxies are drawn without
//! replacement from the pool by the run seed (stream `data/real/pool`); the test split is always
//! the whole `test/` folder. Errors name the file, the row and what was expected.

use super::Dataset;
use crate::rng::stream;
use rand::seq::SliceRandom;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RealError {
    #[error(
        "{path}: real-data folder not found; set data.path, or GZBENCH_SHARED_DATA to the folder holding `gz-decals-rings/`"
    )]
    Missing { path: String },
    #[error("{path}: {msg}")]
    Read { path: String, msg: String },
    #[error("{path}:{row}: {msg}")]
    Row { path: String, row: u64, msg: String },
    #[error(
        "{path}: the pool holds {available} galaxies but data.train_size + data.val_size = {wanted}; expected at most {available}"
    )]
    TooFew {
        path: String,
        available: usize,
        wanted: usize,
    },
}

/// One catalogue row: image path and binary label.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: String,
    pub image: PathBuf,
    pub label: bool,
}

/// The default location of the shared real fixtures: `$GZBENCH_SHARED_DATA`, else
/// `../shared/data` next to the working directory.
pub fn shared_data() -> PathBuf {
    std::env::var_os("GZBENCH_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/data"))
}

/// Read `<folder>/catalog.csv` (columns `iauname`, `file`, `ring`).
pub fn read_catalogue(folder: &Path) -> Result<Vec<Entry>, RealError> {
    if !folder.is_dir() {
        return Err(RealError::Missing {
            path: folder.display().to_string(),
        });
    }
    let path = folder.join("catalog.csv");
    let shown = path.display().to_string();
    let read = |msg: String| RealError::Read {
        path: shown.clone(),
        msg,
    };
    let mut r = csv::Reader::from_path(&path).map_err(|e| read(e.to_string()))?;
    let headers = r.headers().map_err(|e| read(e.to_string()))?.clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            read(format!(
                "no `{name}` column; expected a header with iauname, file, ring"
            ))
        })
    };
    let (ci, cf, cr) = (col("iauname")?, col("file")?, col("ring")?);
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| read(e.to_string()))?;
        let row = rec.position().map_or(0, |p| p.line());
        let bad = |msg: String| RealError::Row {
            path: shown.clone(),
            row,
            msg,
        };
        let label = match rec.get(cr) {
            Some("1") => true,
            Some("0") => false,
            other => {
                return Err(bad(format!(
                    "column `ring` = {:?}; expected 0 or 1",
                    other.unwrap_or("")
                )));
            }
        };
        let file = rec.get(cf).unwrap_or("");
        if file.is_empty() {
            return Err(bad("column `file` is empty; expected an image path".into()));
        }
        out.push(Entry {
            id: rec.get(ci).unwrap_or("").to_string(),
            image: folder.join(file),
            label,
        });
    }
    Ok(out)
}

/// Load `entries` as a dataset of `size` x `size` RGB images.
pub fn load(entries: &[Entry], size: usize) -> Result<Dataset, RealError> {
    use rayon::prelude::*;
    let images: Vec<Vec<f32>> = entries
        .par_iter()
        .map(|e| {
            let img = image::open(&e.image).map_err(|err| RealError::Read {
                path: e.image.display().to_string(),
                msg: format!("{err}; expected a PNG or JPEG image"),
            })?;
            let rgb = image::imageops::resize(
                &img.to_rgb8(),
                size as u32,
                size as u32,
                image::imageops::FilterType::Triangle,
            );
            let n = size * size;
            let mut planar = vec![0f32; 3 * n];
            for (i, px) in rgb.pixels().enumerate() {
                for c in 0..3 {
                    planar[c * n + i] = px[c] as f32 / 255.0;
                }
            }
            Ok(planar)
        })
        .collect::<Result<_, RealError>>()?;
    Ok(Dataset {
        channels: 3,
        size,
        images: images.concat(),
        targets: entries.iter().map(|e| e.label as u8 as f32).collect(),
        target_len: 1,
    })
}

/// Train and validation entries drawn from the pool by `seed`, without replacement.
pub fn draw_pool(
    pool: &[Entry],
    folder: &Path,
    seed: u64,
    train: usize,
    val: usize,
) -> Result<(Vec<Entry>, Vec<Entry>), RealError> {
    if train + val > pool.len() {
        return Err(RealError::TooFew {
            path: folder.display().to_string(),
            available: pool.len(),
            wanted: train + val,
        });
    }
    let mut order: Vec<usize> = (0..pool.len()).collect();
    order.shuffle(&mut stream(seed, "data/real/pool"));
    let pick = |r: &[usize]| r.iter().map(|&i| pool[i].clone()).collect();
    Ok((pick(&order[..train]), pick(&order[train..train + val])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rings() -> Option<PathBuf> {
        let p = crate::tree::shared_data("gz-decals-rings");
        if p.is_none() {
            eprintln!(
                "SKIPPED: gz-decals-rings not found (set GZBENCH_SHARED_DATA); real ring loader untested"
            );
        }
        p
    }

    #[test]
    fn loads_the_real_ring_catalogue_and_images() {
        let Some(folder) = rings() else { return };
        let pool = read_catalogue(&folder).unwrap();
        assert_eq!(pool.len(), 350);
        assert_eq!(pool.iter().filter(|e| e.label).count(), 175);
        let test = read_catalogue(&folder.join("test")).unwrap();
        assert_eq!(test.len(), 120);
        let ids: std::collections::HashSet<_> = pool.iter().map(|e| &e.id).collect();
        assert!(
            test.iter().all(|e| !ids.contains(&e.id)),
            "test split overlaps the pool"
        );
        let (tr, va) = draw_pool(&pool, &folder, 3, 25, 10).unwrap();
        assert_eq!((tr.len(), va.len()), (25, 10));
        assert_eq!(draw_pool(&pool, &folder, 3, 25, 10).unwrap().0, tr);
        let d = load(&tr[..4], 64).unwrap();
        assert_eq!(d.images.len(), 4 * 3 * 64 * 64);
        assert!(d.images.iter().all(|v| (0.0..=1.0).contains(v)));
        // the galaxy is in the middle: the centre is brighter than the corners
        let n = 64 * 64;
        let centre = d.images[n + 32 * 64 + 32];
        let corner = d.images[n];
        assert!(centre > corner + 0.1, "{centre} vs {corner}");
        assert!(matches!(
            draw_pool(&pool, &folder, 0, 300, 100),
            Err(RealError::TooFew { .. })
        ));
    }

    #[test]
    fn bad_rows_name_file_row_and_expectation() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("catalog.csv"),
            "iauname,file,ring\nA,images/a.png,1\nB,images/b.png,yes\n",
        )
        .unwrap();
        let e = read_catalogue(dir.path()).unwrap_err().to_string();
        assert!(
            e.ends_with("catalog.csv:3: column `ring` = \"yes\"; expected 0 or 1"),
            "{e}"
        );
        let e = read_catalogue(&dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("real-data folder not found"), "{e}");
    }
}
