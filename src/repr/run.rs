//! A `representations` run: a backbone (`model:`, `pretrain:`) embeds `repr.n_galaxies` galaxies
//! of the universe at the run's seed, with mergers and image artifacts each planted at
//! `repr.rare_fraction`; the embeddings are scored against the truth. Every arm of a seed embeds
//! the same galaxies, so arms compare paired by seed. With `data.source: catalog` (the real arm)
//! it embeds every galaxy of the catalogue instead and records only the retrieval records, by
//! the catalogue's label (the tag: its rarest label), and `n_galaxies`.
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
use crate::universe::{Galaxy, GalaxyType, PopulationConfig, RenderConfig, sample_population};
use anyhow::Context;
use candle_core::Device;
use std::path::Path;

/// Trees and sub-sample of the isolation forest.
const TREES: usize = 100;
const SUBSAMPLE: usize = 256;
/// Embedding batch.
const BATCH: usize = 256;

/// Computes one `representations` run (`cache`: the store root, for a pretrained backbone).
pub fn run(
    spec: &RunSpec,
    dir: Option<&Path>,
    cache: Option<&Path>,
    device: &Device,
) -> anyhow::Result<Metrics> {
    let cfg = spec
        .repr
        .as_ref()
        .context("a representations run needs a repr section")?;
    if spec.data.source == crate::spec::DataSource::Catalog {
        return real(spec, cfg, cache, device);
    }
    let seed = spec.seed;
    let galaxies = sample_population(seed, cfg.n_galaxies, &population(cfg.rare_fraction));
    let size = spec.data.image_size;
    let rc = RenderConfig::new(size, crate::data::synthetic::survey(spec.data.survey));
    let data = Dataset {
        channels: 3,
        size,
        images: crate::data::synthetic::display_images(&galaxies, &rc, seed),
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
    let labels: Vec<usize> = galaxies
        .iter()
        .map(|g| {
            GalaxyType::ALL
                .iter()
                .position(|t| *t == g.kind)
                .unwrap_or(0)
        })
        .collect();
    let merger = GalaxyType::ALL
        .iter()
        .position(|t| *t == GalaxyType::Merger)
        .unwrap_or(0);
    retrieval(
        &mut m,
        &labels,
        merger,
        &emb,
        cfg.k,
        cfg.index_queries,
        seed,
    )?;
    anomalies(&mut m, &galaxies, &emb, cfg, seed)?;
    if let Some(dir) = dir {
        write_examples(&dir.join(NEIGHBOURS), &labels, &emb)?;
    }
    finish(m, loaded)
}

/// The run directory's file of example queries and their nearest neighbours (galaxy indices =
/// ids of the universe at the run's seed), which the report draws.
pub const NEIGHBOURS: &str = "neighbours.json";
/// Neighbours kept per example query.
const EXAMPLE_NEIGHBOURS: usize = 7;

/// One example query and its nearest neighbours, best first.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Example {
    pub query: usize,
    pub neighbours: Vec<usize>,
}

/// Writes [`NEIGHBOURS`]: the first galaxy of each type (in `labels` order) and its
/// [`EXAMPLE_NEIGHBOURS`] nearest neighbours by exact cosine.
fn write_examples(path: &Path, labels: &[usize], emb: &[Vec<f32>]) -> anyhow::Result<()> {
    let exact = Exact::new(emb)?;
    let classes = labels.iter().copied().max().map_or(0, |c| c + 1);
    let examples: Vec<Example> = (0..classes)
        .filter_map(|c| labels.iter().position(|&l| l == c))
        .map(|i| Example {
            query: i,
            neighbours: exact
                .query_row(i, EXAMPLE_NEIGHBOURS)
                .into_iter()
                .map(|(j, _)| j)
                .collect(),
        })
        .collect();
    crate::store::write_json(path, &examples)?;
    Ok(())
}

/// The universe's population with mergers and artifacts each at `rare` of the galaxies.
pub fn population(rare: f64) -> PopulationConfig {
    let mut pop = PopulationConfig::default();
    let rest: f32 = pop.type_mix[..4].iter().sum();
    let rare = rare as f32;
    pop.type_mix[4] = rare * rest / (1.0 - rare);
    pop.artifact_fraction = rare;
    pop
}

/// The retrieval records of the module doc, for any labelling: `labels[i]` is galaxy `i`'s
/// class (its morphological type, or a catalogue's label), `tag` the class searched from single
/// tagged examples.
fn retrieval(
    m: &mut Metrics,
    labels: &[usize],
    tag: usize,
    emb: &[Vec<f32>],
    k: usize,
    index_queries: usize,
    seed: u64,
) -> anyhow::Result<()> {
    let n = labels.len();
    let exact = Exact::new(emb)?;
    let nn = exact.query_all(k);
    let share = |list: &[(usize, f32)], c: usize| {
        list.iter().filter(|(j, _)| labels[*j] == c).count() as f64 / k as f64
    };
    let prec: f64 = (0..n).map(|i| share(&nn[i], labels[i])).sum::<f64>() / n as f64;
    m.insert("retrieval_precision".into(), prec);
    let classes = labels.iter().copied().max().map_or(0, |c| c + 1);
    let mut counts = vec![0usize; classes];
    for &c in labels {
        counts[c] += 1;
    }
    let chance: f64 = counts.iter().map(|&c| (c as f64 / n as f64).powi(2)).sum();
    m.insert("retrieval_chance".into(), chance);
    let tagged: Vec<usize> = (0..n).filter(|&i| labels[i] == tag).collect();
    let prec_tag =
        tagged.iter().map(|&i| share(&nn[i], tag)).sum::<f64>() / tagged.len().max(1) as f64;
    m.insert("tag_precision".into(), prec_tag);
    let others = (tagged.len().max(1) - 1) as f64 / (n - 1).max(1) as f64;
    m.insert("tag_chance".into(), others);
    let q = index_queries.min(n);
    let approx = Approx::build(emb, seed)?;
    let found: Vec<Vec<(usize, f32)>> = (0..q).map(|i| approx.query(&emb[i], k, Some(i))).collect();
    m.insert("index_recall".into(), recall_at_k(&nn[..q], &found, k));
    Ok(())
}

/// The real arm: every galaxy of the `data.catalog` catalogue (training pool and test rows),
/// embedded and searched by its label (`task.target: label` or `class`); the tag is the rarest
/// label. Nothing is planted, so no anomaly records.
fn real(
    spec: &RunSpec,
    cfg: &crate::spec::ReprConfig,
    cache: Option<&Path>,
    device: &Device,
) -> anyhow::Result<Metrics> {
    let c = spec
        .data
        .catalog
        .as_ref()
        .context("data.source catalog needs data.catalog")?;
    let (pool, test, _) = crate::data::catalog_splits(spec, c)?;
    let all: Vec<_> = pool.into_iter().chain(test).collect();
    let opt = crate::data::catalog::ImageOptions::new(spec.data.image_size, c);
    let data = crate::data::catalog::load(&all, &opt)?;
    let labels: Vec<usize> = data
        .targets
        .iter()
        .map(|&t| t.round().max(0.0) as usize)
        .collect();
    let head = crate::model::HeadSpec::default();
    let (model, _, loaded) =
        crate::train::pretrain::run_model(spec, &head, data.channels, data.size, cache, device)?;
    let emb = crate::repr::embed::embed(&model, &data, BATCH, device, &mut |_, _| {})?;
    let classes = labels.iter().copied().max().map_or(0, |c| c + 1);
    let tag = (0..classes)
        .min_by_key(|&c| labels.iter().filter(|&&l| l == c).count())
        .unwrap_or(0);
    let mut m = Metrics::new();
    m.insert(
        "embedding_dim".into(),
        emb.first().map_or(0, |r| r.len()) as f64,
    );
    m.insert("n_galaxies".into(), labels.len() as f64);
    retrieval(
        &mut m,
        &labels,
        tag,
        &emb,
        cfg.k.min(labels.len().saturating_sub(1)).max(1),
        cfg.index_queries,
        spec.seed,
    )?;
    finish(m, loaded)
}

/// Adds the pretraining record; fails on a non-finite record.
fn finish(mut m: Metrics, loaded: crate::train::pretrain::Loaded) -> anyhow::Result<Metrics> {
    if let crate::train::pretrain::Loaded::Pretrained(r) = loaded {
        m.extend(r.metrics());
    }
    if let Some((k, v)) = m.iter().find(|(_, v)| !v.is_finite()) {
        anyhow::bail!("the run's `{k}` is {v}; expected a finite value");
    }
    Ok(m)
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
            let m = super::run(&spec, None, Some(cache.path()), &device).unwrap();
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

    /// Bad `repr:` values are errors naming the file, line and key; a `shapes` source is
    /// refused (`shapes` has no galaxies to search).
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
        assert!(e.contains("r.yaml:4:") && e.contains("not `shapes`"), "{e}");
    }
}
