//! A `representations` run: a backbone (`model:`, `pretrain:`) embeds `repr.n_galaxies` galaxies
//! of the universe at the run's seed, with mergers and image artifacts each planted at
//! `repr.rare_fraction`; the embeddings are scored against the truth. Every arm of a seed embeds
//! the same galaxies, so arms compare paired by seed.
//!
//! Records:
//! * `retrieval_precision`: mean over all galaxies of the share of their `k` nearest neighbours
//!   (exact cosine) of the same morphological type (elliptical, disk, edge-on disk, irregular,
//!   merger); `retrieval_chance` the same for neighbours drawn at random (`sum_c p_c^2`).
//! * `tag_precision` (Walmsley et al.'s search from a single tagged example): mean over mergers of
//!   the share of their `k` nearest neighbours that are mergers; `tag_chance` = the share of
//!   mergers among the other galaxies.
//! * `index_recall`: recall@k of the approximate index against exact search, on the first
//!   `index_queries` galaxies.
//! * `anomaly_precision_{knn,iforest,gaussian}` (precision at `anomaly_k`) and
//!   `anomaly_auc_{...}` of finding the planted anomalies (mergers and artifacts) with each
//!   scorer; `anomaly_prevalence` their share (the precision of a random ranking).
//! * Personalised ranking (a researcher interested in mergers with tidal tails, rating
//!   `per_round` candidates in each of `rounds` rounds, starting from the isolation forest's
//!   ranking): `personal_top100` and `base_top100` (interesting galaxies among the first 100 of
//!   each ranking), `interesting_prevalence`, `ratings`.
//! * `embedding_dim`, and `pretrain_*` when the harness pretrained the backbone.

use crate::data::Dataset;
use crate::repr::anomaly::{
    IsolationForest, gaussian_score, knn_distance, personalised, precision_at_k, roc_auc,
};
use crate::repr::search::{Approx, Exact, recall_at_k};
use crate::spec::RunSpec;
use crate::store::Metrics;
use crate::universe::observe::to_display_planes;
use crate::universe::{
    Galaxy, GalaxyType, PopulationConfig, RenderConfig, render, sample_population,
};
use anyhow::Context;
use candle_core::Device;
use rayon::prelude::*;
use std::path::Path;

/// Trees and sub-sample of the isolation forest.
const TREES: usize = 100;
const SUBSAMPLE: usize = 256;
/// Embedding batch.
const BATCH: usize = 256;

/// Computes one `representations` run (`cache`: the store root, for a pretrained backbone).
pub fn run(spec: &RunSpec, cache: Option<&Path>, device: &Device) -> anyhow::Result<Metrics> {
    let cfg = spec
        .repr
        .as_ref()
        .context("a representations run needs a repr section")?;
    let seed = spec.seed;
    let galaxies = sample_population(seed, cfg.n_galaxies, &population(cfg.rare_fraction));
    let size = spec.data.image_size;
    let rc = RenderConfig::new(size, crate::data::synthetic::survey(spec.data.survey));
    let planes: Vec<Vec<f32>> = galaxies
        .par_iter()
        .map(|g| to_display_planes(&render(g, &rc, seed)))
        .collect();
    let data = Dataset {
        channels: 3,
        size,
        images: planes.concat(),
        targets: vec![0.0; galaxies.len()],
        target_len: 1,
    };
    let head = crate::model::HeadSpec::default();
    let (model, _, loaded) =
        crate::train::pretrain::run_model(spec, &head, 3, size, cache, device)?;
    let emb = crate::repr::embed::embed(&model, &data, BATCH, device, &mut |_, _| {})?;
    let mut m = Metrics::new();
    m.insert(
        "embedding_dim".into(),
        emb.first().map_or(0, |r| r.len()) as f64,
    );
    retrieval(&mut m, &galaxies, &emb, cfg.k, cfg.index_queries, seed)?;
    anomalies(&mut m, &galaxies, &emb, cfg, seed)?;
    if let crate::train::pretrain::Loaded::Pretrained(r) = loaded {
        m.extend(r.metrics());
    }
    if let Some((k, v)) = m.iter().find(|(_, v)| !v.is_finite()) {
        anyhow::bail!("the run's `{k}` is {v}; expected a finite value");
    }
    Ok(m)
}

/// The universe's population with mergers and artifacts each at `rare` of the galaxies.
fn population(rare: f64) -> PopulationConfig {
    let mut pop = PopulationConfig::default();
    let rest: f32 = pop.type_mix[..4].iter().sum();
    let rare = rare as f32;
    pop.type_mix[4] = rare * rest / (1.0 - rare);
    pop.artifact_fraction = rare;
    pop
}

/// The retrieval records of the module doc.
fn retrieval(
    m: &mut Metrics,
    galaxies: &[Galaxy],
    emb: &[Vec<f32>],
    k: usize,
    index_queries: usize,
    seed: u64,
) -> anyhow::Result<()> {
    let n = galaxies.len();
    let exact = Exact::new(emb)?;
    let nn = exact.query_all(k);
    let share = |list: &[(usize, f32)], f: &dyn Fn(usize) -> bool| {
        list.iter().filter(|(j, _)| f(*j)).count() as f64 / k as f64
    };
    let kind = |i: usize| galaxies[i].kind;
    let prec: f64 = (0..n)
        .map(|i| share(&nn[i], &|j| kind(j) == kind(i)))
        .sum::<f64>()
        / n as f64;
    m.insert("retrieval_precision".into(), prec);
    let chance: f64 = GalaxyType::ALL
        .iter()
        .map(|t| {
            let p = galaxies.iter().filter(|g| g.kind == *t).count() as f64 / n as f64;
            p * p
        })
        .sum();
    m.insert("retrieval_chance".into(), chance);
    let mergers: Vec<usize> = (0..n).filter(|&i| kind(i) == GalaxyType::Merger).collect();
    let tag = mergers
        .iter()
        .map(|&i| share(&nn[i], &|j| kind(j) == GalaxyType::Merger))
        .sum::<f64>()
        / mergers.len().max(1) as f64;
    m.insert("tag_precision".into(), tag);
    let others = (mergers.len().max(1) - 1) as f64 / (n - 1).max(1) as f64;
    m.insert("tag_chance".into(), others);
    let q = index_queries.min(n);
    let approx = Approx::build(emb, seed)?;
    let found: Vec<Vec<(usize, f32)>> = (0..q).map(|i| approx.query(&emb[i], k, Some(i))).collect();
    m.insert("index_recall".into(), recall_at_k(&nn[..q], &found, k));
    Ok(())
}

/// The anomaly and personalised-ranking records of the module doc.
fn anomalies(
    m: &mut Metrics,
    galaxies: &[Galaxy],
    emb: &[Vec<f32>],
    cfg: &crate::spec::ReprConfig,
    seed: u64,
) -> anyhow::Result<()> {
    let n = galaxies.len();
    let anomalous: Vec<bool> = galaxies
        .iter()
        .map(|g| g.kind == GalaxyType::Merger || g.artifact.is_some())
        .collect();
    m.insert(
        "anomaly_prevalence".into(),
        anomalous.iter().filter(|&&a| a).count() as f64 / n as f64,
    );
    let iforest = IsolationForest::fit(emb, TREES, SUBSAMPLE, seed)?.score(emb)?;
    let scores = [
        ("knn", knn_distance(emb, cfg.knn_k)?),
        ("iforest", iforest.clone()),
        ("gaussian", gaussian_score(emb)?),
    ];
    for (name, s) in &scores {
        m.insert(
            format!("anomaly_precision_{name}"),
            precision_at_k(s, &anomalous, cfg.anomaly_k),
        );
        m.insert(format!("anomaly_auc_{name}"), roc_auc(s, &anomalous));
    }
    let interesting: Vec<bool> = galaxies
        .iter()
        .map(|g| g.kind == GalaxyType::Merger && g.tidal.is_some())
        .collect();
    m.insert(
        "interesting_prevalence".into(),
        interesting.iter().filter(|&&a| a).count() as f64 / n as f64,
    );
    let p = personalised(
        emb,
        &iforest,
        &|i| interesting[i],
        cfg.rounds,
        cfg.per_round,
        seed,
    )?;
    m.insert("personal_top100".into(), p.top100_interesting as f64);
    m.insert("base_top100".into(), p.base_top100_interesting as f64);
    m.insert("ratings".into(), p.ratings as f64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::spec::{ExperimentKind, Target, expand, parse_str, task};

    /// Runs of a random and a pretrained backbone record only names `spec::task` knows, with
    /// precisions in [0, 1], the planted anomalies at about their prevalence, and the
    /// pretraining record only where the harness pretrained.
    #[test]
    fn runs_record_the_names_validate_knows() {
        let text = "name: r\nkind: representations\nseeds: [2]\n\
                    repr: { n_galaxies: 120, rare_fraction: 0.05, anomaly_k: 10, \
                    index_queries: 30 }\n\
                    data: { source: synthetic, image_size: 16 }\nmodel: { widths: [4, 8] }\n\
                    pretrain: { n: 32, epochs: 1 }\n\
                    sweep: { pretrain.source: [none, astro] }\n";
        let exp = parse_str(text, "r.yaml").unwrap();
        let known = task::recorded(ExperimentKind::Representations, Target::default());
        let cache = tempfile::tempdir().unwrap();
        let device = candle_core::Device::Cpu;
        for spec in expand(&exp, text, "r.yaml").unwrap() {
            let m = super::run(&spec, Some(cache.path()), &device).unwrap();
            for k in m.keys() {
                assert!(known.contains(&k.as_str()), "`{k}` is not in spec::task");
            }
            for k in ["retrieval_precision", "tag_precision", "index_recall"] {
                assert!((0.0..=1.0).contains(&m[k]), "{k} = {}", m[k]);
            }
            assert!((0.03..0.25).contains(&m["anomaly_prevalence"]), "{m:?}");
            assert_eq!(m["ratings"], 50.0);
            assert_eq!(m["embedding_dim"], 8.0);
            assert_eq!(
                m.contains_key("pretrain_val_score"),
                spec.pretrain.pretrains()
            );
        }
    }

    /// Bad `repr:` values are errors naming the file, line and key; a catalogue source is
    /// refused with a pointer to `gzbench embed`.
    #[test]
    fn bad_repr_sections_are_located_errors() {
        let error = |text: &str| match parse_str(text, "r.yaml") {
            Err(e) => e.to_string(),
            Ok(exp) => expand(&exp, text, "r.yaml").unwrap_err().to_string(),
        };
        let e = error(
            "name: r\nkind: representations\ndata: { source: synthetic }\nrepr:\n  \
             rare_fraction: 0.7\n",
        );
        assert!(
            e.contains("r.yaml:5:") && e.contains("repr.rare_fraction = 0.7"),
            "{e}"
        );
        let e = error("name: r\nkind: representations\ndata:\n  source: shapes\n");
        assert!(
            e.contains("r.yaml:4:") && e.contains("gzbench embed"),
            "{e}"
        );
    }
}
