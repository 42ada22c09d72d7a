//! The `pretrain:` section of a `train` experiment: which source the backbone is pretrained on
//! before the task, and how, or which pretrained encoder file it starts from. Only names and
//! numbers live here; `train::pretrain` implements them.

use super::{d_batch, d_epochs, d_lr};
use serde::{Deserialize, Serialize, Serializer};
use std::path::PathBuf;

/// Registry of pretraining sources (implemented in `train::pretrain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PretrainSource {
    /// Random initialisation.
    #[default]
    None,
    /// Zoobot-style: predict every GZ DECaLS answer of `n` synthetic galaxies from simulated
    /// vote counts with the Dirichlet-multinomial loss.
    Astro,
    /// ImageNet-style: classify `n` terrestrial proxy images (dead-leaves scenes, 8 classes)
    /// with cross-entropy.
    Terrestrial,
    /// Your own pretrained encoder: the timm-named safetensors file at `weights` (e.g. a Zoobot
    /// encoder converted with `scripts/convert_zoobot.py`), its keys under `file_prefix`, is
    /// imported into the backbone; nothing is pretrained and `n`, `epochs`, `lr`, `batch_size`,
    /// `votes` and `seed` are ignored (and left out of the run spec).
    File,
}

/// How the backbone is pretrained before the task. The pretrained weights are cached in the
/// store under `pretrained/<hash of this section, the model and the image size>`, so a sweep
/// pretrains each backbone once. Source `file` instead imports the encoder at `weights`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainConfig {
    #[serde(default)]
    pub source: PretrainSource,
    /// Pretraining images.
    #[serde(default = "d_pretrain_n")]
    pub n: usize,
    #[serde(default = "d_epochs")]
    pub epochs: usize,
    #[serde(default = "d_lr")]
    pub lr: f64,
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    /// `astro`: volunteer votes on the first question (later questions get the votes that
    /// reach them), drawn from each galaxy's true vote probabilities.
    #[serde(default = "d_votes")]
    pub votes: usize,
    /// Seed of the pretraining data and initialisation (not the run seed: one pretraining
    /// serves every seed of the downstream sweep).
    #[serde(default)]
    pub seed: u64,
    /// `file`: the safetensors encoder to start from; a relative path resolves against the
    /// current directory. Required for `file`; an error for `astro` and `terrestrial`; ignored
    /// for `none` (so a sweep over `pretrain.source: [none, file]` can set it once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<PathBuf>,
    /// `file`: the key prefix of the encoder's tensors in the file (e.g. `encoder.`); empty =
    /// plain timm names.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub file_prefix: String,
    /// `astro`: the pretraining cutouts show the central `1 / zoom` of Galaxy Zoo's field (as a
    /// `detection` run's `detect.zoom`, so the backbone learns at the scale it is used); 1 =
    /// Galaxy Zoo's framing.
    #[serde(default = "d_zoom")]
    pub zoom: f64,
}

fn d_zoom() -> f64 {
    1.0
}

fn d_pretrain_n() -> usize {
    2000
}
fn d_votes() -> usize {
    40
}

impl Default for PretrainConfig {
    fn default() -> Self {
        PretrainConfig {
            source: PretrainSource::None,
            n: d_pretrain_n(),
            epochs: d_epochs(),
            lr: d_lr(),
            batch_size: d_batch(),
            votes: d_votes(),
            seed: 0,
            weights: None,
            file_prefix: String::new(),
            zoom: d_zoom(),
        }
    }
}

impl PretrainConfig {
    pub fn is_none(&self) -> bool {
        self.source == PretrainSource::None
    }

    /// Whether a backbone is trained on the source before the task (`astro`, `terrestrial`).
    pub fn pretrains(&self) -> bool {
        matches!(
            self.source,
            PretrainSource::Astro | PretrainSource::Terrestrial
        )
    }

    /// The first inconsistency of the section, as (the YAML key to point at, what is wrong and
    /// what was expected); `None` when the section is consistent.
    pub fn problem(&self) -> Option<(&'static str, &'static str)> {
        let file = self.source == PretrainSource::File;
        let weights = self.weights.as_ref().map(|w| w.as_os_str().is_empty());
        match weights {
            None if file => Some((
                "pretrain",
                "pretrain.source `file` needs pretrain.weights; expected the path of a \
                 .safetensors encoder, e.g. `weights: zoobot_encoder.safetensors`",
            )),
            Some(true) if file => Some((
                "weights",
                "pretrain.weights is empty; expected the path of a .safetensors encoder",
            )),
            Some(_) if self.pretrains() => Some((
                "weights",
                "pretrain.weights applies to pretrain.source `file` only; expected \
                 `source: file`, or no weights when pretraining on `astro` or `terrestrial`",
            )),
            _ if !(self.zoom.is_finite() && self.zoom >= 1.0) => Some((
                "zoom",
                "pretrain.zoom must be a number >= 1 (1 = Galaxy Zoo's field)",
            )),
            _ if self.pretrains() && !self.file_prefix.is_empty() => Some((
                "file_prefix",
                "pretrain.file_prefix applies to pretrain.source `file` only; expected \
                 `source: file`, or no file_prefix when pretraining on `astro` or `terrestrial`",
            )),
            _ => None,
        }
    }
}

/// Field by field as derived (so existing specs, and the run ids and cache keys hashed from
/// them, are unchanged; `zoom` only when not 1), except that a `file` section is only its source, weights and prefix:
/// the pretraining settings it ignores do not change its run ids.
impl Serialize for PretrainConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Full<'a> {
            source: PretrainSource,
            n: usize,
            epochs: usize,
            lr: f64,
            batch_size: usize,
            votes: usize,
            seed: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            weights: Option<&'a PathBuf>,
            #[serde(skip_serializing_if = "empty")]
            file_prefix: &'a str,
            #[serde(skip_serializing_if = "is_one")]
            zoom: f64,
        }
        #[derive(Serialize)]
        struct File<'a> {
            source: PretrainSource,
            #[serde(skip_serializing_if = "Option::is_none")]
            weights: Option<&'a PathBuf>,
            #[serde(skip_serializing_if = "empty")]
            file_prefix: &'a str,
        }
        fn empty(s: &&str) -> bool {
            s.is_empty()
        }
        fn is_one(z: &f64) -> bool {
            *z == 1.0
        }
        if self.source == PretrainSource::File {
            return File {
                source: self.source,
                weights: self.weights.as_ref(),
                file_prefix: &self.file_prefix,
            }
            .serialize(s);
        }
        Full {
            source: self.source,
            n: self.n,
            epochs: self.epochs,
            lr: self.lr,
            batch_size: self.batch_size,
            votes: self.votes,
            seed: self.seed,
            weights: self.weights.as_ref(),
            file_prefix: &self.file_prefix,
            zoom: self.zoom,
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{expand, parse_str, run_id};

    const BASE: &str = "name: p\nkind: train\ndata: { source: shapes, image_size: 16 }\n";

    fn err(text: &str) -> String {
        parse_str(text, "p.yaml").unwrap_err().to_string()
    }

    #[test]
    fn zoom_enters_the_spec_only_when_set_and_must_be_at_least_one() {
        let plain = serde_yaml::to_string(&PretrainConfig::default()).unwrap();
        assert!(!plain.contains("zoom"), "{plain}");
        let zoomed = PretrainConfig {
            zoom: 2.0,
            ..PretrainConfig::default()
        };
        assert!(serde_yaml::to_string(&zoomed).unwrap().contains("zoom: 2"));
        let e = err(&format!("{BASE}pretrain:\n  source: astro\n  zoom: 0.5\n"));
        assert!(e.contains("pretrain.zoom must be a number >= 1"), "{e}");
    }

    #[test]
    fn file_needs_weights_and_pretraining_sources_reject_them() {
        let e = err(&format!("{BASE}pretrain:\n  source: file\n"));
        assert!(
            e.starts_with("p.yaml:4:1: pretrain.source `file` needs pretrain.weights; expected"),
            "{e}"
        );
        let e = err(&format!("{BASE}pretrain:\n  source: file\n  weights: ''\n"));
        assert!(
            e.starts_with("p.yaml:6:3: pretrain.weights is empty; expected the path"),
            "{e}"
        );
        let e = err(&format!(
            "{BASE}pretrain:\n  source: astro\n  weights: e.safetensors\n"
        ));
        assert!(
            e.starts_with("p.yaml:6:3: pretrain.weights applies to pretrain.source `file` only"),
            "{e}"
        );
        let e = err(&format!(
            "{BASE}pretrain:\n  source: terrestrial\n  file_prefix: encoder.\n"
        ));
        assert!(
            e.starts_with("p.yaml:6:3: pretrain.file_prefix applies to pretrain.source `file`"),
            "{e}"
        );
        // A sweep point is checked too, and the error points at the key.
        let e = err(&format!(
            "{BASE}pretrain: {{ weights: e.safetensors }}\nsweep:\n  pretrain.source: [none, astro]\n"
        ));
        assert!(
            e.contains("p.yaml:4:13: pretrain.weights applies to"),
            "{e}"
        );
        // `none` ignores them, so `[none, file]` can share one weights key.
        let t = format!(
            "{BASE}pretrain: {{ weights: e.safetensors, file_prefix: enc. }}\nsweep:\n  pretrain.source: [none, file]\n"
        );
        let exp = parse_str(&t, "p.yaml").unwrap();
        let runs = expand(&exp, &t, "p.yaml").unwrap();
        assert_eq!(runs[1].pretrain.source, PretrainSource::File);
        assert_eq!(
            runs[1].pretrain.weights,
            Some(PathBuf::from("e.safetensors"))
        );
        assert_eq!(runs[1].pretrain.file_prefix, "enc.");
    }

    #[test]
    fn file_ignores_the_pretraining_settings() {
        // `n: 0` and an 8-pixel image would be refused if anything were pretrained.
        let t = "name: p\nkind: train\ndata: { source: shapes, image_size: 8 }\npretrain: { source: file, weights: e.safetensors, n: 0, epochs: 9 }\n";
        let exp = parse_str(t, "p.yaml").unwrap();
        assert!(!exp.pretrain.pretrains());
        let json = serde_json::to_string(&exp.pretrain).unwrap();
        assert_eq!(json, r#"{"source":"file","weights":"e.safetensors"}"#);
        let plain = t.replace(", n: 0, epochs: 9", "");
        let ids = [t, plain.as_str()].map(|t| {
            let exp = parse_str(t, "p.yaml").unwrap();
            run_id(&expand(&exp, t, "p.yaml").unwrap()[0])
        });
        assert_eq!(ids[0], ids[1]);
        let t = plain.replace("e.safetensors", "e.safetensors, file_prefix: 'encoder.'");
        let exp = parse_str(&t, "p.yaml").unwrap();
        let json = serde_json::to_string(&exp.pretrain).unwrap();
        let want = r#"{"source":"file","weights":"e.safetensors","file_prefix":"encoder."}"#;
        assert_eq!(json, want);
        assert_eq!(
            serde_json::from_str::<PretrainConfig>(want).unwrap(),
            exp.pretrain
        );
    }

    #[test]
    fn defaults_serialise_as_before() {
        // The run ids and pretraining cache keys of existing experiments hash these strings.
        let json = |p: &PretrainConfig| serde_json::to_string(p).unwrap();
        assert_eq!(
            json(&PretrainConfig::default()),
            r#"{"source":"none","n":2000,"epochs":5,"lr":0.003,"batch_size":32,"votes":40,"seed":0}"#
        );
        let astro = PretrainConfig {
            source: PretrainSource::Astro,
            n: 3000,
            seed: 4,
            ..Default::default()
        };
        assert_eq!(
            json(&astro),
            r#"{"source":"astro","n":3000,"epochs":5,"lr":0.003,"batch_size":32,"votes":40,"seed":4}"#
        );
        let t = "name: p\nkind: train\npretrain: { source: astro }\n";
        let exp = parse_str(t, "p.yaml").unwrap();
        let yaml = serde_yaml::to_string(&exp.pretrain).unwrap();
        assert!(
            !yaml.contains("weights") && !yaml.contains("file_prefix"),
            "{yaml}"
        );
    }
}
