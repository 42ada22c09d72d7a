//! The synthetic universe written as a catalogue on disk (what `gzbench synth` makes, and what
//! `data::catalog` can read back): a sample of galaxies as PNG cutouts plus a catalogue (`catalogue.csv` and `catalogue.parquet`) holding every truth column of each galaxy,
//! its clump bounding boxes, and its true answers and vote fractions in both Galaxy Zoo trees.
//!
//! Flags `has_ring`, `has_bar`, `has_clumps` are the physical truth, `has_visible_ring`,
//! `has_visible_bar`, `has_visible_clumps` whether the feature can be seen in the written cutout
//! (the `ring` / `bar` / `clumpy` targets; `ring-physical` ... are the former), with the
//! measurements behind them in `visibility.ring.size`, `.snr`, `.contrast` (and `visibility.bar.*`,
//! `visibility.clumps` as JSON), see `universe::visibility`.
//! Truth columns are the galaxy's own fields flattened (`bulge.sersic_n`, `flux.0`, ...; absent
//! components are empty), so a new truth field appears in the catalogue without code here. Tree
//! columns: `gz2:<question>` / `decals:<question>` hold the true answer's name (empty where the
//! question is not reached), `Class1.1`..`Class11.6` the Kaggle-weighted GZ2 vote fractions, and
//! `<question>_<answer>_fraction` the DECaLS vote fractions. Images are written as they are
//! rendered (atomically, one file each); the catalogue is written last, so an interrupted run
//! never leaves a catalogue that lists missing images.
//!
//! Beside the catalogue, `clumps.csv` holds one row per clump (`universe::clump_truth`, normal
//! clumps then odd ones): `galaxy,clump,x,y,x0,y0,x1,y1,odd,visible,flux_r,snr,contrast`, the
//! centre and box in pixels of the written cutout (x = column, y = row).

use crate::tree::Tree;
use crate::universe::{
    PopulationConfig, RenderConfig, Survey, TreeLink, TrueAnswers, Visibility, VoteProbabilities,
    render, sample_population, save_png,
};
use polars::prelude::*;
use rayon::prelude::*;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// What to write: `n` galaxies of the population drawn with `seed`, rendered at `size` pixels
/// as `survey` sees them, under the folder `out`.
#[derive(Debug, Clone)]
pub struct SyntheticCatalog {
    pub n: usize,
    pub size: usize,
    pub survey: Survey,
    pub seed: u64,
    pub out: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{path}: {msg}")]
    Write { path: String, msg: String },
    #[error("the cutout side must be at least 8 pixels, got {0}")]
    Size(usize),
}

fn werr(path: &Path, msg: impl std::fmt::Display) -> WriteError {
    WriteError::Write {
        path: path.display().to_string(),
        msg: msg.to_string(),
    }
}

/// Columns of `clumps.csv`.
pub const CLUMP_HEADER: &str = "galaxy,clump,x,y,x0,y0,x1,y1,odd,visible,flux_r,snr,contrast\n";

/// Images are rendered and written in chunks of this many, reporting progress after each.
const CHUNK: usize = 256;

/// The files [`write()`] wrote beside `images/`.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub catalogue_csv: PathBuf,
    pub catalogue_parquet: PathBuf,
    pub clumps_csv: PathBuf,
}

impl Written {
    /// The three paths: the catalogue (CSV, Parquet), then `clumps.csv`.
    pub fn paths(&self) -> [&Path; 3] {
        [
            &self.catalogue_csv,
            &self.catalogue_parquet,
            &self.clumps_csv,
        ]
    }
}

/// Render `cfg.n` galaxies into `cfg.out/images/` and write the catalogue; `progress(done)` is
/// called after each chunk.
pub fn write(cfg: &SyntheticCatalog, progress: &dyn Fn(usize)) -> Result<Written, WriteError> {
    if cfg.size < 8 {
        return Err(WriteError::Size(cfg.size));
    }
    let images = cfg.out.join("images");
    std::fs::create_dir_all(&images).map_err(|e| werr(&images, e))?;
    let galaxies = sample_population(cfg.seed, cfg.n, &PopulationConfig::default());
    let rc = RenderConfig::new(cfg.size, cfg.survey);
    let digits = cfg.n.saturating_sub(1).to_string().len().max(6);
    let file = |id: u64| format!("images/{id:0digits$}.png");
    for (i, chunk) in galaxies.chunks(CHUNK).enumerate() {
        chunk.par_iter().try_for_each(|g| {
            let path = cfg.out.join(file(g.id));
            save_png(&path, &render(g, &rc, cfg.seed)).map_err(|e| werr(&path, e))
        })?;
        progress((i * CHUNK + chunk.len()).min(cfg.n));
    }
    let mut rows: Vec<Vec<(String, Value)>> = Vec::with_capacity(galaxies.len());
    let mut clumps = String::from(CLUMP_HEADER);
    let (gz2, decals) = (Tree::gz2(), Tree::decals());
    let links = [&gz2, &decals].map(|t| TreeLink::new(t).expect("built-in trees are linked"));
    for g in &galaxies {
        let mut truth = Vec::new();
        flatten(
            "",
            &serde_json::to_value(g).expect("galaxy serialises"),
            &mut truth,
        );
        let vis = Visibility::of(g, &rc);
        flatten(
            "visibility",
            &serde_json::to_value(&vis).expect("visibility serialises"),
            &mut truth,
        );
        // an absent component flattens to one null column; its presence is a flag instead
        truth.retain(|(_, v)| !v.is_null());
        let mut row = vec![("file".to_string(), Value::from(file(g.id)))];
        for (name, present) in [
            ("has_bar", g.bar.is_some()),
            ("has_visible_bar", vis.bar_visible()),
            ("has_ring", g.ring.is_some()),
            ("has_visible_ring", vis.ring_visible()),
            ("has_clumps", !g.clumps.is_empty()),
            ("has_visible_clumps", vis.clumps_visible()),
            ("has_dust_lane", g.dust_lane.is_some()),
            ("has_tidal", g.tidal.is_some()),
            ("has_artifact", g.artifact.is_some()),
        ] {
            row.push((name.into(), Value::from(present)));
        }
        row.extend(truth);
        let boxes = serde_json::to_string(&g.clump_boxes(&rc)).expect("boxes serialise");
        row.push(("clump_boxes".into(), Value::from(boxes)));
        for (k, c) in g.clump_truth(&rc).iter().enumerate() {
            let r = c.rect;
            clumps.push_str(&format!(
                "{},{k},{},{},{},{},{},{},{},{},{},{},{}\n",
                g.id,
                c.centre.x,
                c.centre.y,
                r.x0,
                r.y0,
                r.x1,
                r.y1,
                c.odd,
                c.visible,
                c.flux_r,
                c.snr,
                c.contrast
            ));
        }
        let a = TrueAnswers::from_galaxy(g);
        let p = VoteProbabilities::from_answers(&a, g.difficulty);
        for ((tree, link), prefix) in [&gz2, &decals].iter().zip(&links).zip(["gz2", "decals"]) {
            for (q, chosen) in tree.questions().iter().zip(link.answers(&a)) {
                let name = chosen.map(|c| q.answers[c].clone());
                row.push((
                    format!("{prefix}:{}", q.name),
                    name.map_or(Value::Null, Value::from),
                ));
            }
            let f = link.fractions(&a, &p);
            let (values, columns) = if prefix == "gz2" {
                (tree.weighted_targets(&f), tree.answer_columns())
            } else {
                let cols = tree
                    .answer_columns()
                    .into_iter()
                    .map(|c| format!("{c}_fraction"));
                (f, cols.collect())
            };
            row.extend(columns.into_iter().zip(values.into_iter().map(Value::from)));
        }
        rows.push(row);
    }
    let mut df = frame(&rows).map_err(|e| werr(&cfg.out, e))?;
    let csv_path = cfg.out.join("catalogue.csv");
    let pq_path = cfg.out.join("catalogue.parquet");
    let mut csv = Vec::new();
    CsvWriter::new(&mut csv)
        .finish(&mut df)
        .map_err(|e| werr(&csv_path, e))?;
    let mut pq = Vec::new();
    ParquetWriter::new(&mut pq)
        .finish(&mut df)
        .map_err(|e| werr(&pq_path, e))?;
    let clumps_path = cfg.out.join("clumps.csv");
    let clumps = clumps.into_bytes();
    for (path, bytes) in [(&clumps_path, &clumps), (&csv_path, &csv), (&pq_path, &pq)] {
        crate::atomic::write(path, bytes).map_err(|(p, e)| werr(&p, e))?;
    }
    Ok(Written {
        catalogue_csv: csv_path,
        catalogue_parquet: pq_path,
        clumps_csv: clumps_path,
    })
}

/// Flatten a JSON value into `(dotted key, scalar)` pairs; arrays of numbers become `key.0`..,
/// other arrays (clumps, tidal tails) a count `n_<key>` plus the JSON text.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                flatten(&key(k), x, out);
            }
        }
        Value::Array(items) if !items.is_empty() && items.iter().all(|x| x.is_number()) => {
            for (i, x) in items.iter().enumerate() {
                out.push((key(&i.to_string()), x.clone()));
            }
        }
        Value::Array(items) => {
            let count = match prefix.rsplit_once('.') {
                Some((head, last)) => format!("{head}.n_{last}"),
                None => format!("n_{prefix}"),
            };
            out.push((count, Value::from(items.len())));
            out.push((prefix.to_string(), Value::from(v.to_string())));
        }
        _ => out.push((prefix.to_string(), v.clone())),
    }
}

fn is_tree_column(k: &str) -> bool {
    k.starts_with("gz2:")
        || k.starts_with("decals:")
        || k.starts_with("Class")
        || k.ends_with("_fraction")
        || k == "clump_boxes"
}

/// Rows of `(column, value)` -> a DataFrame with columns in first-seen order; a column is
/// numeric unless one of its values is a string or bool (then text / boolean); missing = null.
fn frame(rows: &[Vec<(String, Value)>]) -> PolarsResult<DataFrame> {
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    let maps: Vec<BTreeMap<&str, &Value>> = rows
        .iter()
        .map(|r| r.iter().map(|(k, v)| (k.as_str(), v)).collect())
        .collect();
    for r in rows {
        for (k, _) in r {
            if seen.insert(k.as_str()) {
                order.push(k.as_str());
            }
        }
    }
    // Truth columns (after the file name and flags, before the tree columns) in name order,
    // whatever row introduced them.
    let is_truth = |k: &str| !k.starts_with("has_") && k != "file" && !is_tree_column(k);
    let (mut truth, rest): (Vec<&str>, Vec<&str>) = order.into_iter().partition(|k| is_truth(k));
    truth.sort_unstable();
    let flags = rest.iter().take_while(|k| !is_tree_column(k)).count();
    let order: Vec<&str> = rest[..flags]
        .iter()
        .copied()
        .chain(truth)
        .chain(rest[flags..].iter().copied())
        .collect();
    let cols = order
        .iter()
        .map(|&k| {
            let vals: Vec<Option<&Value>> = maps
                .iter()
                .map(|m| m.get(k).copied().filter(|v| !v.is_null()))
                .collect();
            let name = PlSmallStr::from(k);
            if vals.iter().flatten().any(|v| v.is_string()) {
                let s: Vec<Option<String>> = vals
                    .iter()
                    .map(|v| {
                        v.map(|v| match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                    })
                    .collect();
                Column::new(name, s)
            } else if vals.iter().flatten().any(|v| v.is_boolean()) {
                let b: Vec<Option<bool>> =
                    vals.iter().map(|v| v.and_then(|v| v.as_bool())).collect();
                Column::new(name, b)
            } else {
                let f: Vec<Option<f64>> = vals.iter().map(|v| v.and_then(|v| v.as_f64())).collect();
                Column::new(name, f)
            }
        })
        .collect();
    DataFrame::new(rows.len(), cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_images_and_a_catalogue_with_truth_and_answers() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = SyntheticCatalog {
            n: 12,
            size: 32,
            survey: Survey::SdssLike,
            seed: 2,
            out: dir.path().to_path_buf(),
        };
        let done = std::sync::Mutex::new(vec![]);
        let paths = write(&cfg, &|d| done.lock().unwrap().push(d)).unwrap();
        assert_eq!(*done.lock().unwrap(), vec![12]);
        let df = CsvReadOptions::default()
            .try_into_reader_with_file_path(Some(paths.catalogue_csv.clone()))
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(df.height(), 12);
        for col in [
            "file",
            "type",
            "redshift",
            "difficulty",
            "bulge_fraction",
            "has_ring",
            "has_visible_ring",
            "has_visible_bar",
            "has_clumps",
            "has_visible_clumps",
            "n_clumps",
            "spiral.pitch_deg",
            "clump_boxes",
            "gz2:smooth-or-featured",
            "decals:bar",
            "Class1.1",
            "Class11.6",
            "smooth-or-featured_smooth_fraction",
        ] {
            assert!(df.column(col).is_ok(), "missing column {col}");
        }
        let files = df.column("file").unwrap().str().unwrap();
        for f in files.iter().flatten() {
            let img = image::open(dir.path().join(f)).unwrap();
            assert_eq!((img.width(), img.height()), (32, 32));
        }
        // Kaggle Q1 fractions sum to one
        let q1: f64 = ["Class1.1", "Class1.2", "Class1.3"]
            .iter()
            .map(|c| df.column(c).unwrap().f64().unwrap().get(0).unwrap())
            .sum();
        assert!((q1 - 1.0).abs() < 1e-5, "{q1}");
        let pq = ParquetReader::new(std::fs::File::open(&paths.catalogue_parquet).unwrap())
            .finish()
            .unwrap();
        assert_eq!(pq.shape(), df.shape());
    }

    #[test]
    fn clumps_csv_reads_back_as_the_clump_truth() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = SyntheticCatalog {
            n: 40,
            size: 32,
            survey: Survey::DecalsLike,
            seed: 3,
            out: dir.path().to_path_buf(),
        };
        let paths = write(&cfg, &|_| {}).unwrap();
        assert_eq!(paths.clumps_csv, dir.path().join("clumps.csv"));
        let text = std::fs::read_to_string(&paths.clumps_csv).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(CLUMP_HEADER.trim_end()));
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        let rc = RenderConfig::new(32, Survey::DecalsLike);
        let galaxies = sample_population(3, 40, &PopulationConfig::default());
        let expect: Vec<(u64, usize, crate::universe::ClumpTruth)> = galaxies
            .iter()
            .flat_map(|g| {
                let t = g.clump_truth(&rc);
                t.into_iter().enumerate().map(move |(k, c)| (g.id, k, c))
            })
            .collect();
        assert!(expect.len() >= 5, "{} clumps", expect.len());
        assert_eq!(rows.len(), expect.len());
        let f = |s: &str| s.parse::<f32>().unwrap();
        for (r, (id, k, c)) in rows.iter().zip(&expect) {
            assert_eq!(r.len(), 13);
            assert_eq!(
                (r[0].parse::<u64>().unwrap(), r[1].parse::<usize>().unwrap()),
                (*id, *k)
            );
            assert_eq!((f(r[2]), f(r[3])), (c.centre.x, c.centre.y));
            let rect = crate::geom::Rect::new(f(r[4]), f(r[5]), f(r[6]), f(r[7]));
            assert_eq!(rect, c.rect);
            assert_eq!((r[8] == "true", r[9] == "true"), (c.odd, c.visible));
            assert_eq!(
                (f(r[10]), f(r[11]), f(r[12])),
                (c.flux_r, c.snr, c.contrast)
            );
            let inside = (0.0..32.0).contains(&c.centre.x);
            assert!(!inside || (rect.x0 < c.centre.x && c.centre.x < rect.x1));
        }
        // the visible flags agree with the catalogue's has_visible_clumps
        let df = CsvReadOptions::default()
            .try_into_reader_with_file_path(Some(paths.catalogue_csv.clone()))
            .unwrap()
            .finish()
            .unwrap();
        let flags = df.column("has_visible_clumps").unwrap().bool().unwrap();
        for (g, flag) in galaxies.iter().zip(flags.iter()) {
            let any = expect.iter().any(|(id, _, c)| *id == g.id && c.visible);
            assert_eq!(Some(any), flag, "galaxy {}", g.id);
        }
    }
}
