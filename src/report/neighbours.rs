//! The similarity-search figure of a `representations` experiment: for each arm (sweep point) of
//! the experiment's first seed, one row per example query (the first galaxy of each
//! morphological type) showing the query and its nearest neighbours in that arm's embedding,
//! each captioned with its type. Read from the run directory's `neighbours.json`
//! (`repr::run::NEIGHBOURS`, galaxy indices of the universe at the run's seed), the galaxies
//! rendered again from the universe as the run rendered them (renders are a pure function of
//! seed and id; nothing is embedded or trained here). Written as
//! `<name>_neighbours_<point>.png`; nothing for runs without the file (catalogue arms, runs
//! computed before it existed).

use super::ReportError;
use super::figure_kit::{arm_png, first_seed_files};
use super::mosaic::write_grid;
use crate::repr::run::{Example, NEIGHBOURS, population};
use crate::spec::{DataSource, Experiment, ExperimentKind, RunSpec};
use crate::store::{Store, read_json};
use crate::universe::{RenderConfig, render, sample_galaxy};
use image::imageops::{FilterType, resize};
use std::path::{Path, PathBuf};

/// Tiles are drawn at least this many pixels wide (small cutouts are enlarged, nearest pixel).
const MIN_TILE: u32 = 64;

/// The figures of the module doc.
pub(super) fn write(
    exp: &Experiment,
    runs: &[RunSpec],
    store: &Store,
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let mut files = Vec::new();
    let kind = ExperimentKind::Representations;
    for (spec, file) in first_seed_files(exp, kind, runs, store, NEIGHBOURS) {
        if spec.data.source != DataSource::Synthetic {
            continue;
        }
        let examples: Vec<Example> = read_json(&file)?;
        let tiles = tiles(spec, &examples);
        if tiles.is_empty() {
            continue;
        }
        let cols = examples.first().map_or(1, |e| e.neighbours.len() + 1);
        let path = arm_png(exp, spec, "neighbours", dir)?;
        write_grid(&tiles, cols, &path)?;
        files.push(path);
    }
    Ok(files)
}

/// The captioned cutouts, row by row: each query, then its neighbours.
fn tiles(spec: &RunSpec, examples: &[Example]) -> Vec<(image::RgbImage, String)> {
    let rare = spec.repr.as_ref().map_or(0.02, |r| r.rare_fraction);
    let pop = population(rare);
    let size = spec.data.image_size;
    let rc = RenderConfig::new(size, crate::data::synthetic::survey(spec.data.survey));
    let tile = (size as u32).max(MIN_TILE);
    let mut out = Vec::new();
    for e in examples {
        for (k, &i) in std::iter::once(&e.query).chain(&e.neighbours).enumerate() {
            let g = sample_galaxy(spec.seed, i as u64, &pop);
            let img = render(&g, &rc, spec.seed).to_rgb8();
            let img = resize(&img, tile, tile, FilterType::Nearest);
            let kind = crate::spec::yaml_name(&g.kind);
            let caption = match k {
                0 => format!("query: {kind}"),
                _ => format!("{k}. {kind}"),
            };
            out.push((img, caption));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::spec::{expand, parse_str};

    /// A representations run writes its examples; the report draws one grid per arm of the
    /// first seed, one row per example and a column per neighbour plus the query.
    #[test]
    fn one_grid_per_arm_with_a_row_per_example() {
        let text = "name: nb\nkind: representations\nseeds: [3]\n\
                    repr: { n_galaxies: 150, rare_fraction: 0.05, anomaly_k: 10, \
                    index_queries: 20 }\n\
                    data: { source: synthetic, image_size: 16 }\nmodel: { widths: [4, 8] }\n";
        let exp = parse_str(text, "nb.yaml").unwrap();
        let runs = expand(&exp, text, "nb.yaml").unwrap();
        let root = tempfile::tempdir().unwrap();
        let store = crate::store::Store::new(root.path());
        let dir = store.run_dir(&crate::spec::run_id(&runs[0]));
        std::fs::create_dir_all(&dir).unwrap();
        let device = candle_core::Device::Cpu;
        crate::repr::run(&runs[0], Some(&dir), None, &device).unwrap();
        let examples: Vec<super::Example> =
            crate::store::read_json(&dir.join(super::NEIGHBOURS)).unwrap();
        assert!(
            examples.len() >= 4,
            "one query per type present: {examples:?}"
        );
        for e in &examples {
            assert_eq!(e.neighbours.len(), 7);
            assert!(!e.neighbours.contains(&e.query));
        }
        let figs = root.path().join("figures");
        let files = super::write(&exp, &runs, &store, &figs).unwrap();
        assert_eq!(files.len(), 1);
        let img = image::open(&files[0]).unwrap().to_rgb8();
        let (w, h) = img.dimensions();
        assert_eq!(w, 8 * super::MIN_TILE);
        assert_eq!(h % examples.len() as u32, 0);
        // a run without the file draws nothing
        std::fs::remove_file(dir.join(super::NEIGHBOURS)).unwrap();
        assert!(super::write(&exp, &runs, &store, &figs).unwrap().is_empty());
    }
}
