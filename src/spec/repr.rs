//! The `repr:` section of a `representations` experiment: the catalogue the backbone embeds
//! (a sample of the synthetic universe with rare kinds planted at a chosen prevalence) and how
//! retrieval, anomaly ranking and the personalised re-ranking are scored. The backbone is the
//! `model:` and `pretrain:` sections, the images the `data:` section's `image_size` and `survey`.
//! `repr` implements it.

use serde::{Deserialize, Serialize};

/// One representations run. Defaults: 3,000 galaxies with mergers and image artifacts each
/// planted at 2 % (the anomalies), retrieval and tag precision at 10 neighbours, anomaly
/// precision at 50, isolation forest of 100 trees, a researcher interested in mergers with tidal
/// tails who rates 10 candidates in each of 5 rounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReprConfig {
    /// Galaxies embedded (ids 0..n of the universe at the run's seed).
    pub n_galaxies: usize,
    /// Prevalence of each planted rare kind (mergers; image artifacts).
    pub rare_fraction: f64,
    /// Neighbours scored by the retrieval precisions.
    pub k: usize,
    /// Top of the anomaly ranking scored by `anomaly_precision_*`.
    pub anomaly_k: usize,
    /// Neighbours averaged by the k-NN distance anomaly score.
    pub knn_k: usize,
    /// Personalised ranking: rating rounds and candidates rated per round.
    pub rounds: usize,
    pub per_round: usize,
    /// Queries on which the approximate index's recall@k is measured (the first ones).
    pub index_queries: usize,
}

impl Default for ReprConfig {
    fn default() -> Self {
        ReprConfig {
            n_galaxies: 3000,
            rare_fraction: 0.02,
            k: 10,
            anomaly_k: 50,
            knn_k: 10,
            rounds: 5,
            per_round: 10,
            index_queries: 500,
        }
    }
}

impl ReprConfig {
    /// The first value out of range, as `(key, message)`; the message starts `key = value`.
    pub fn check(&self) -> Option<(&'static str, String)> {
        let bad = [
            (
                "n_galaxies",
                self.n_galaxies < 20,
                format!("n_galaxies = {}; expected >= 20", self.n_galaxies),
            ),
            (
                "rare_fraction",
                !(self.rare_fraction > 0.0 && self.rare_fraction < 0.5),
                format!(
                    "rare_fraction = {}; expected in (0, 0.5)",
                    self.rare_fraction
                ),
            ),
            (
                "k",
                self.k == 0 || self.k >= self.n_galaxies,
                format!("k = {}; expected 1 ..= n_galaxies - 1", self.k),
            ),
            (
                "anomaly_k",
                self.anomaly_k == 0 || self.anomaly_k > self.n_galaxies,
                format!("anomaly_k = {}; expected 1 ..= n_galaxies", self.anomaly_k),
            ),
            (
                "knn_k",
                self.knn_k == 0 || self.knn_k >= self.n_galaxies,
                format!("knn_k = {}; expected 1 ..= n_galaxies - 1", self.knn_k),
            ),
        ];
        bad.into_iter().find(|(_, b, _)| *b).map(|(k, _, m)| (k, m))
    }
}
