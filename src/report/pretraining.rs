//! The pretraining table: how each seed's pretraining went (`<name>_pretraining.md` / `.csv`),
//! read from the `pretrain_*` records of the experiment's runs.
//!
//! Every run of one seed and source loads the same pretrained backbone, so the table has one row
//! per (source, seed): final training loss, held-out loss and held-out score of that
//! pretraining (astro: RMSE of the expected vote fractions; terrestrial: class accuracy), then
//! one summary row per source (mean ± sample standard deviation over seeds). No table is written
//! when no run pretrained.

use super::ReportError;
use crate::spec::{PretrainSource, RunSpec, run_id, yaml_name};
use crate::store::{Store, write_atomic};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const COLUMNS: [&str; 3] = [
    "pretrain_train_loss",
    "pretrain_val_loss",
    "pretrain_val_score",
];

/// What the held-out score of a source measures.
fn score_name(source: PretrainSource) -> &'static str {
    match source {
        PretrainSource::Astro => "RMSE of vote fractions",
        PretrainSource::Terrestrial => "class accuracy",
        PretrainSource::None | PretrainSource::File => "-",
    }
}

/// Write `<name>_pretraining.{md,csv}` under `dir` if any run recorded its pretraining.
pub fn write(
    name: &str,
    runs: &[RunSpec],
    store: &Store,
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    // (source, seed) -> the record's three numbers (identical for every run of that pair)
    let mut rows: BTreeMap<(String, u64), (PretrainSource, [f64; 3])> = BTreeMap::new();
    for run in runs {
        let Some(m) = store.metrics(&run_id(run))? else {
            continue;
        };
        let vals = COLUMNS.map(|c| m.get(c).copied().unwrap_or(f64::NAN));
        if vals.iter().all(|v| v.is_nan()) {
            continue;
        }
        let key = (yaml_name(&run.pretrain.source), run.seed);
        rows.entry(key).or_insert((run.pretrain.source, vals));
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut md = String::from(
        "| pretrain.source | seed | final training loss | held-out loss | held-out score | score |\n\
         |---|---|---|---|---|---|\n",
    );
    let mut csv = String::from("source,seed,train_loss,held_out_loss,held_out_score,score\n");
    let mut by_source: BTreeMap<String, (PretrainSource, Vec<[f64; 3]>)> = BTreeMap::new();
    for ((source, seed), (kind, v)) in &rows {
        md += &format!(
            "| {source} | {seed} | {:.4} | {:.4} | {:.4} | {} |\n",
            v[0],
            v[1],
            v[2],
            score_name(*kind)
        );
        csv += &format!(
            "{source},{seed},{},{},{},{}\n",
            v[0],
            v[1],
            v[2],
            score_name(*kind)
        );
        by_source
            .entry(source.clone())
            .or_insert((*kind, Vec::new()))
            .1
            .push(*v);
    }
    for (source, (kind, vs)) in &by_source {
        let cell = |i: usize| {
            let s = super::Stat::of(&vs.iter().map(|v| v[i]).collect::<Vec<f64>>());
            match s.n {
                n if n < 2 => format!("{:.4}", s.mean),
                _ => format!("{:.4} ± {:.4}", s.mean, s.std),
            }
        };
        md += &format!(
            "| {source} | all ({}) | {} | {} | {} | {} |\n",
            vs.len(),
            cell(0),
            cell(1),
            cell(2),
            score_name(*kind)
        );
    }
    md += "\nOne pretraining per source and run seed (seed = pretrain.seed + run seed); held out: a \
           tenth of the pretraining images (at least 16). `all` rows: mean ± sample standard \
           deviation over seeds.\n";
    let base = dir.join(format!("{name}_pretraining"));
    let (mdp, csvp) = (base.with_extension("md"), base.with_extension("csv"));
    write_atomic(&mdp, md.as_bytes())?;
    write_atomic(&csvp, csv.as_bytes())?;
    Ok(vec![mdp, csvp])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Profile, parse_str, with_profile};

    #[test]
    fn one_row_per_source_and_seed_and_a_summary() {
        let text = "name: p\nkind: train\nseeds: [0, 1]\ndata: { source: shapes }\n\
                    sweep:\n  pretrain.source: [none, terrestrial]\n  train.freeze_backbone: [true, false]\n";
        let exp = parse_str(text, "p.yaml").unwrap();
        let exp = with_profile(&exp, Profile::Cpu, text, "p.yaml").unwrap();
        let runs = crate::spec::expand(&exp, text, "p.yaml").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        for run in &runs {
            let mut m = crate::store::Metrics::new();
            if run.pretrain.source == PretrainSource::Terrestrial {
                m.insert("pretrain_train_loss".into(), 1.0 + run.seed as f64);
                m.insert("pretrain_val_loss".into(), 2.0);
                m.insert("pretrain_val_score".into(), 0.5 + 0.1 * run.seed as f64);
            }
            store.put(run, &m, &Default::default());
        }
        let files = write("p", &runs, &store, dir.path()).unwrap();
        let md = std::fs::read_to_string(&files[0]).unwrap();
        assert!(
            md.contains("| terrestrial | 0 | 1.0000 | 2.0000 | 0.5000 | class accuracy |"),
            "{md}"
        );
        assert!(md.contains("| terrestrial | 1 | 2.0000 |"), "{md}");
        // mean 1.5, sample sd of (1, 2) = 0.7071
        assert!(
            md.contains("| terrestrial | all (2) | 1.5000 ± 0.7071 |"),
            "{md}"
        );
        assert!(!md.contains("| none |"), "{md}");
    }
}
