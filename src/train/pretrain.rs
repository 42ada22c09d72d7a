//! Pretrain -> fine-tune hand-off: train a backbone on the `pretrain:` source (astro: Dirichlet-
//! multinomial on simulated GZ DECaLS votes; terrestrial: cross-entropy on proxy classes) and
//! cache its weights under `<cache>/pretrained/<key>/`, where the key hashes everything the
//! weights depend on (pretraining section, model, image size, survey, run format, and the
//! pretraining seed: `pretrain.seed + run seed`, so every seed of a sweep has its own pretraining
//! and the spread over seeds includes the pretraining's). A sweep thus pretrains each backbone
//! once per seed; the cache entry is complete only once its `COMPLETE` marker exists (written
//! last), so an interrupted pretraining is redone. Each pretraining holds out a tenth of its
//! images (at least 16) and writes `record.json`: training and held-out loss per epoch and a
//! held-out score (astro: RMSE of the expected vote fractions; terrestrial: accuracy), which the
//! run copies into its metrics (`pretrain_*`). `--fresh` recomputes the cached pretrainings its
//! runs use ([`refresh`]), as it does the runs. Source `file` pretrains nothing:
//! [`load_backbone`] imports the user's encoder file (`Params::import_encoder`).

use super::{FitOptions, Outputs, fit};
use crate::data::pretrain as pdata;
use crate::model::{HeadSpec, ImportReport, Model, Params, TreeName, loss};
use crate::spec::{DataConfig, ModelConfig, PretrainConfig, PretrainSource, RUN_FORMAT_VERSION};
use crate::tree::Tree;
use crate::universe::terrestrial::CLASSES;
use candle_core::{Device, Result, Tensor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Runs computed at the same time (`--jobs`) wait here rather than pretrain the same backbone twice.
static PRETRAINING: Mutex<()> = Mutex::new(());

/// The caches whose pretrainings this process recomputes ([`refresh`]), each with the keys it
/// has recomputed so far.
static REFRESH: Mutex<Vec<(PathBuf, HashSet<String>)>> = Mutex::new(Vec::new());

/// Recompute every pretraining of `cache` that this process uses, once each, rather than trust
/// what is stored: `--fresh` recomputes the runs, and a run's pretrained backbone is part of it
/// (cached weights from older code would otherwise carry its rounding into the fresh runs).
pub fn refresh(cache: &Path) {
    let mut r = REFRESH.lock().unwrap_or_else(|e| e.into_inner());
    if !r.iter().any(|(c, _)| c == cache) {
        r.push((cache.to_path_buf(), HashSet::new()));
    }
}

/// Whether the entry `key` of `cache` is to be recomputed now (the first time it is asked for
/// after [`refresh`]).
fn must_refresh(cache: &Path, key: &str) -> bool {
    let mut r = REFRESH.lock().unwrap_or_else(|e| e.into_inner());
    r.iter_mut()
        .find(|(c, _)| c == cache)
        .is_some_and(|(_, done)| done.insert(key.to_string()))
}

const WEIGHTS: &str = "weights.safetensors";
const MARKER: &str = "COMPLETE";
const RECORD: &str = "record.json";

/// How a pretraining went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainRecord {
    /// The pretraining seed (`pretrain.seed + run seed`).
    pub seed: u64,
    pub train_images: usize,
    pub held_out_images: usize,
    pub train_loss: Vec<f64>,
    pub held_out_loss: Vec<f64>,
    /// `rmse` (astro: expected vs observed vote fractions) or `accuracy` (terrestrial).
    pub held_out_metric: String,
    pub held_out_score: f64,
}

impl PretrainRecord {
    /// The record as run metrics: last training and held-out loss, held-out score.
    pub fn metrics(&self) -> crate::store::Metrics {
        let mut m = crate::store::Metrics::new();
        let last = |v: &[f64]| v.last().copied().unwrap_or(f64::NAN);
        m.insert("pretrain_train_loss".into(), last(&self.train_loss));
        m.insert("pretrain_val_loss".into(), last(&self.held_out_loss));
        m.insert("pretrain_val_score".into(), self.held_out_score);
        m
    }
}

/// The pretraining section of a run of seed `run_seed`: its seed offset by the run seed.
pub fn seeded(p: &PretrainConfig, run_seed: u64) -> PretrainConfig {
    PretrainConfig {
        seed: p.seed.wrapping_add(run_seed),
        ..p.clone()
    }
}

/// The cache key of a pretraining: its settings, and the device kind when it is not the CPU
/// (weights pretrained on a GPU, not bit-identical to the CPU's, never reach a CPU run; CPU
/// keys are those from before the device counted).
fn key(p: &PretrainConfig, m: &ModelConfig, d: &DataConfig, device: &Device) -> String {
    let mut json = serde_json::json!({
        "pretrain": p, "model": m, "image_size": d.image_size, "survey": d.survey,
        "run_format": RUN_FORMAT_VERSION,
    });
    let kind = crate::spec::DeviceKind::of(device);
    if !kind.is_cpu() {
        json["device"] = kind.as_str().into();
    }
    let digest = Sha256::digest(json.to_string().as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The network of run `spec` for `channels x size x size` inputs: the `model:` backbone with
/// `head`, initialised from the run seed, its backbone then set as the `pretrain:` section says
/// ([`load_backbone`], pretraining seeded by the run seed). Returns the model, its parameters and
/// what was loaded.
pub fn run_model(
    spec: &crate::spec::RunSpec,
    head: &HeadSpec,
    channels: usize,
    size: usize,
    cache: Option<&Path>,
    device: &Device,
) -> anyhow::Result<(Model, Params, Loaded)> {
    let params = Params::new(spec.seed);
    let model = Model::with_head(&spec.model, head, channels, size, &params, device)?;
    let pretrain = seeded(&spec.pretrain, spec.seed);
    let loaded = load_backbone(&pretrain, &spec.model, &spec.data, cache, &params, device)?;
    Ok((model, params, loaded))
}

/// Sets the backbone of the model built on `params` as the `pretrain:` section says: `file`
/// imports the encoder at `weights` (under `file_prefix`; any missing, unexpected or mis-shaped
/// tensor fails the run with the full list); `astro` / `terrestrial` load the cached pretrained
/// backbone from the store at `cache`, pretraining it first if needed; `none` keeps the random
/// initialisation. `p` is the run's section as resolved by [`seeded`]. Returns what a `file`
/// import loaded, or how the pretraining went.
pub fn load_backbone(
    p: &PretrainConfig,
    m: &ModelConfig,
    d: &DataConfig,
    cache: Option<&Path>,
    params: &Params,
    device: &Device,
) -> anyhow::Result<Loaded> {
    match p.source {
        PretrainSource::None => Ok(Loaded::Nothing),
        PretrainSource::File => import_file(p, params).map(Loaded::File),
        PretrainSource::Astro | PretrainSource::Terrestrial => {
            let cache = cache.ok_or_else(|| anyhow::anyhow!("pretraining needs a run store"))?;
            match pretrained(p, m, d, cache, device)? {
                Some(w) => {
                    params.load_prefixed(&w, "backbone.", "backbone.")?;
                    let path = w.with_file_name(RECORD);
                    let text = std::fs::read(&path)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    let record = serde_json::from_slice(&text)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    Ok(Loaded::Pretrained(record))
                }
                None => Ok(Loaded::Nothing),
            }
        }
    }
}

/// What [`load_backbone`] put into the backbone.
#[derive(Debug)]
pub enum Loaded {
    /// Random initialisation.
    Nothing,
    /// A user's encoder file.
    File(ImportReport),
    /// A backbone pretrained by the harness, and how its pretraining went.
    Pretrained(PretrainRecord),
}

/// `file`: the encoder at `p.weights` (relative to the current directory) into `backbone.`.
fn import_file(p: &PretrainConfig, params: &Params) -> anyhow::Result<ImportReport> {
    let w = p
        .weights
        .as_deref()
        .filter(|w| !w.as_os_str().is_empty())
        .ok_or_else(|| anyhow::anyhow!("pretrain.source `file` needs pretrain.weights"))?;
    if !w.is_file() {
        let cwd = std::env::current_dir().unwrap_or_default();
        anyhow::bail!(
            "pretrain.weights `{}`: no such file; expected a .safetensors encoder (a relative \
             path resolves against the current directory, {})",
            w.display(),
            cwd.display()
        );
    }
    params
        .import_encoder(w, "backbone.", &p.file_prefix)
        .map_err(|e| anyhow::anyhow!("pretrain.weights: {e}"))
}

/// The cached pretrained weights for this configuration, pretraining them first if needed.
/// `None` when there is nothing to pretrain (source `none` or `file`).
pub fn pretrained(
    p: &PretrainConfig,
    m: &ModelConfig,
    d: &DataConfig,
    cache: &Path,
    device: &Device,
) -> Result<Option<PathBuf>> {
    let err = |path: &Path, e: &dyn std::fmt::Display| {
        candle_core::Error::Msg(format!("{}: {e}", path.display()))
    };
    let (head, loss): (HeadSpec, LossFn) = match p.source {
        PretrainSource::None | PretrainSource::File => return Ok(None),
        PretrainSource::Astro => (
            HeadSpec::Dirichlet {
                tree: TreeName::Decals,
                dropout: 0.0,
            },
            astro_loss,
        ),
        PretrainSource::Terrestrial => (
            HeadSpec::MultiClass {
                classes: CLASSES.len(),
                dropout: 0.0,
            },
            loss::cross_entropy,
        ),
    };
    let key = key(p, m, d, device);
    let dir = cache.join("pretrained").join(&key);
    let weights = dir.join(WEIGHTS);
    let _guard = PRETRAINING.lock().unwrap_or_else(|e| e.into_inner());
    if must_refresh(cache, &key) {
        // incomplete until recomputed, should this process stop half-way
        match std::fs::remove_file(dir.join(MARKER)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(err(&dir, &e)),
            _ => {}
        }
    } else if dir.join(MARKER).is_file() && dir.join(RECORD).is_file() {
        return Ok(Some(weights));
    }
    let held_out = (p.n / 10).max(16);
    let all = match p.source {
        PretrainSource::Astro => pdata::astro(
            p.seed,
            p.n + held_out,
            d.image_size,
            d.survey,
            p.votes,
            p.zoom,
        ),
        _ => pdata::terrestrial(p.seed, p.n + held_out, d.image_size),
    };
    let (data, val) = split_tail(&all, p.n);
    let params = Params::new(p.seed);
    let model = Model::with_head(m, &head, data.channels, data.size, &params, device)?;
    let net = Outputs(&model);
    let cfg = crate::spec::TrainConfig {
        lr: p.lr,
        epochs: p.epochs,
        batch_size: p.batch_size,
        schedule: crate::spec::Schedule::Cosine,
        ..Default::default()
    };
    let history = fit(
        &net,
        &params,
        &loss,
        &data,
        &cfg,
        device,
        FitOptions {
            seed: p.seed,
            val: Some(&val),
            checkpoint: None,
            augment: false,
            on_epoch: &mut |_, _, _| {},
        },
    )?;
    let (held_out_metric, held_out_score) = held_out_score(&model, p.source, &val, device)?;
    let record = PretrainRecord {
        seed: p.seed,
        train_images: data.len(),
        held_out_images: val.len(),
        train_loss: history.train_loss,
        held_out_loss: history.val_loss,
        held_out_metric: held_out_metric.into(),
        held_out_score,
    };
    std::fs::create_dir_all(&dir).map_err(|e| err(&dir, &e))?;
    params.save(&weights).map_err(|e| err(&weights, &e))?;
    let meta = serde_json::json!({ "pretrain": p, "model": m, "image_size": d.image_size,
        "survey": d.survey });
    let meta = serde_json::to_vec_pretty(&meta).expect("meta serialises");
    let rec = serde_json::to_vec_pretty(&record).expect("record serialises");
    for (name, bytes) in [
        ("spec.json", meta.as_slice()),
        (RECORD, rec.as_slice()),
        (MARKER, b"".as_slice()),
    ] {
        crate::atomic::write(&dir.join(name), bytes).map_err(|(p, e)| err(&p, &e))?;
    }
    Ok(Some(weights))
}

/// The first `n` images of `all`, and the rest.
fn split_tail(
    all: &crate::data::Dataset,
    n: usize,
) -> (crate::data::Dataset, crate::data::Dataset) {
    let head: Vec<usize> = (0..n.min(all.len())).collect();
    let tail: Vec<usize> = (n.min(all.len())..all.len()).collect();
    (all.subset(&head), all.subset(&tail))
}

/// The pretrained model's score on its held-out images: astro, the RMSE of its expected vote
/// fractions against the observed ones on the questions each galaxy was asked; terrestrial,
/// the accuracy of its class.
fn held_out_score(
    model: &Model,
    source: PretrainSource,
    val: &crate::data::Dataset,
    device: &Device,
) -> Result<(&'static str, f64)> {
    let rows = super::predict_outputs(&Outputs(model), val, 256, device)?;
    Ok(match source {
        PretrainSource::Astro => {
            let tree = Tree::decals();
            let k = rows.first().map_or(0, Vec::len);
            let t = Tensor::from_vec(rows.concat(), (rows.len(), k), device)?;
            let f = crate::model::heads::expected_fractions(&t, &tree)?;
            let f = f.flatten_all()?.to_vec1::<f32>()?;
            let (p, y) = crate::eval::asked_fractions(&f, &val.targets, &tree);
            ("rmse", crate::eval::rmse(&p, &y))
        }
        _ => (
            "accuracy",
            crate::eval::multiclass_accuracy(&rows, &val.targets),
        ),
    })
}

type LossFn = fn(&Tensor, &Tensor) -> Result<Tensor>;

fn astro_loss(concentrations: &Tensor, counts: &Tensor) -> Result<Tensor> {
    loss::dirichlet_multinomial_loss(concentrations, counts, &Tree::decals())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Backbone;

    /// A cnn-small of `widths` on 16 px images: pretrained in a fraction of a second.
    fn tiny(widths: Vec<usize>) -> (ModelConfig, DataConfig) {
        let m = ModelConfig {
            backbone: Backbone::CnnSmall,
            widths,
            ..Default::default()
        };
        let d = DataConfig {
            image_size: 16,
            ..Default::default()
        };
        (m, d)
    }

    #[test]
    fn pretrains_once_and_the_weights_load_into_a_task_model() {
        let cache = tempfile::tempdir().unwrap();
        let (m, d) = tiny(vec![4, 8]);
        for source in [PretrainSource::Astro, PretrainSource::Terrestrial] {
            let p = PretrainConfig {
                source,
                n: 24,
                epochs: 1,
                batch_size: 8,
                ..Default::default()
            };
            let w = pretrained(&p, &m, &d, cache.path(), &Device::Cpu)
                .unwrap()
                .unwrap();
            let stamp = std::fs::metadata(&w).unwrap().modified().unwrap();
            // cached: the second call does not pretrain again
            let again = pretrained(&p, &m, &d, cache.path(), &Device::Cpu)
                .unwrap()
                .unwrap();
            assert_eq!(w, again);
            assert_eq!(stamp, std::fs::metadata(&w).unwrap().modified().unwrap());
            // the backbone (not the head, whose shape differs) loads into a binary-task model
            let params = Params::new(9);
            Model::build(&m, 3, 16, &params, &Device::Cpu).unwrap();
            params.load_prefixed(&w, "backbone.", "backbone.").unwrap();
            let name = "backbone.stages.0.conv.weight";
            let loaded = params.var(name).unwrap().as_tensor().flatten_all().unwrap();
            let file = candle_core::safetensors::load(&w, &Device::Cpu).unwrap();
            let saved = file[name].flatten_all().unwrap();
            assert_eq!(
                loaded.to_vec1::<f32>().unwrap(),
                saved.to_vec1::<f32>().unwrap()
            );
        }
        assert!(
            pretrained(
                &PretrainConfig::default(),
                &m,
                &d,
                cache.path(),
                &Device::Cpu
            )
            .unwrap()
            .is_none()
        );
    }

    /// After `refresh`, a cached pretraining is recomputed once (stale weights are replaced by
    /// the same bits as the first pretraining's), then trusted again.
    #[test]
    fn refresh_recomputes_each_cached_pretraining_once() {
        let cache = tempfile::tempdir().unwrap();
        let (m, d) = tiny(vec![4]);
        let p = PretrainConfig {
            source: PretrainSource::Terrestrial,
            n: 16,
            epochs: 1,
            batch_size: 8,
            ..Default::default()
        };
        let get = || {
            pretrained(&p, &m, &d, cache.path(), &Device::Cpu)
                .unwrap()
                .unwrap()
        };
        let w = get();
        let good = std::fs::read(&w).unwrap();
        std::fs::write(&w, b"stale").unwrap();
        get();
        assert_eq!(
            std::fs::read(&w).unwrap(),
            b"stale",
            "trusted before refresh"
        );
        refresh(cache.path());
        get();
        assert_eq!(std::fs::read(&w).unwrap(), good, "recomputed after refresh");
        std::fs::write(&w, b"stale").unwrap();
        get();
        assert_eq!(
            std::fs::read(&w).unwrap(),
            b"stale",
            "recomputed once per process"
        );
    }

    /// Each run seed gets its own pretraining, with a record of how it went.
    #[test]
    fn pretraining_is_seeded_by_the_run_and_recorded() {
        let cache = tempfile::tempdir().unwrap();
        let (m, d) = tiny(vec![4, 8]);
        let p = PretrainConfig {
            source: PretrainSource::Terrestrial,
            n: 24,
            epochs: 2,
            batch_size: 8,
            ..Default::default()
        };
        let dev = Device::Cpu;
        let w0 = pretrained(&seeded(&p, 0), &m, &d, cache.path(), &dev)
            .unwrap()
            .unwrap();
        let w1 = pretrained(&seeded(&p, 1), &m, &d, cache.path(), &dev)
            .unwrap()
            .unwrap();
        assert_ne!(w0, w1, "two run seeds share one pretraining");
        let (a, b) = (std::fs::read(&w0).unwrap(), std::fs::read(&w1).unwrap());
        assert_ne!(a, b);
        let rec: PretrainRecord =
            serde_json::from_slice(&std::fs::read(w1.with_file_name(RECORD)).unwrap()).unwrap();
        assert_eq!(
            (rec.seed, rec.train_images, rec.held_out_images),
            (1, 24, 16)
        );
        assert_eq!((rec.train_loss.len(), rec.held_out_loss.len()), (2, 2));
        assert_eq!(rec.held_out_metric, "accuracy");
        assert!((0.0..=1.0).contains(&rec.held_out_score));
        let metrics = rec.metrics();
        assert!(metrics["pretrain_val_loss"].is_finite(), "{metrics:?}");
    }

    fn fixture() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/model/fixtures/timm_resnet.safetensors")
    }

    /// The resnet layout of the timm fixture (`model::import` tests).
    fn fixture_model(dims: Vec<usize>) -> ModelConfig {
        ModelConfig {
            backbone: Backbone::Resnet,
            depths: Some(vec![2, 2, 2, 2]),
            dims: Some(dims),
            ..Default::default()
        }
    }

    #[test]
    fn file_source_imports_the_encoder_without_pretraining() {
        let m = fixture_model(vec![2, 4, 8, 16]);
        let d = DataConfig {
            image_size: 16,
            ..Default::default()
        };
        let file = fixture();
        let stored = candle_core::safetensors::load(&file, &Device::Cpu).unwrap();
        let p = PretrainConfig {
            source: PretrainSource::File,
            weights: Some(file.clone()),
            ..Default::default()
        };
        let cache = tempfile::tempdir().unwrap();
        assert!(
            pretrained(&p, &m, &d, cache.path(), &Device::Cpu)
                .unwrap()
                .is_none()
        );
        let params = Params::new(3);
        Model::build(&m, 3, 16, &params, &Device::Cpu).unwrap();
        // no store needed: nothing is pretrained or cached
        let Loaded::File(report) = load_backbone(&p, &m, &d, None, &params, &Device::Cpu).unwrap()
        else {
            panic!("a file source imports a file")
        };
        assert_eq!(report.loaded, params.names_with_prefix("backbone."));
        assert!(std::fs::read_dir(cache.path()).unwrap().next().is_none());
        let got = params.var("backbone.layer1.0.conv1.weight").unwrap();
        let got = got.as_tensor().flatten_all().unwrap().to_vec1::<f32>();
        let want = stored["layer1.0.conv1.weight"].flatten_all().unwrap();
        assert_eq!(got.unwrap(), want.to_vec1::<f32>().unwrap());

        // `file_prefix`: the same encoder stored under `encoder.`
        let dir = tempfile::tempdir().unwrap();
        let prefixed = dir.path().join("prefixed.safetensors");
        let renamed: std::collections::HashMap<_, _> = stored
            .iter()
            .map(|(k, v)| (format!("encoder.{k}"), v.clone()))
            .collect();
        candle_core::safetensors::save(&renamed, &prefixed).unwrap();
        let q = PretrainConfig {
            weights: Some(prefixed),
            file_prefix: "encoder.".into(),
            ..p.clone()
        };
        let params = Params::new(3);
        Model::build(&m, 3, 16, &params, &Device::Cpu).unwrap();
        load_backbone(&q, &m, &d, None, &params, &Device::Cpu).unwrap();
        // without the prefix, no file key matches a parameter
        let q = PretrainConfig {
            file_prefix: String::new(),
            ..q
        };
        let e = load_backbone(&q, &m, &d, None, &params, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing") && e.contains("unexpected"), "{e}");
    }

    #[test]
    fn file_source_errors_name_the_file_and_the_mismatch() {
        let d = DataConfig::default();
        let missing = PretrainConfig {
            source: PretrainSource::File,
            weights: Some(PathBuf::from("no/such/encoder.safetensors")),
            ..Default::default()
        };
        let m = fixture_model(vec![2, 4, 8, 16]);
        let params = Params::new(3);
        Model::build(&m, 3, 16, &params, &Device::Cpu).unwrap();
        let e = load_backbone(&missing, &m, &d, None, &params, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("pretrain.weights `no/such/encoder.safetensors`: no such file"),
            "{e}"
        );
        assert!(
            e.contains("relative path resolves against the current directory"),
            "{e}"
        );
        // a wider model: every tensor is listed as mis-shaped and nothing is loaded
        let wide = fixture_model(vec![4, 8, 16, 32]);
        let params = Params::new(3);
        Model::build(&wide, 3, 16, &params, &Device::Cpu).unwrap();
        let before = params.var("backbone.conv1.weight").unwrap();
        let before = before.as_tensor().flatten_all().unwrap().to_vec1::<f32>();
        let p = PretrainConfig {
            weights: Some(fixture()),
            ..missing
        };
        let e = load_backbone(&p, &wide, &d, None, &params, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("pretrain.weights: "), "{e}");
        assert!(e.contains("100 mis-shaped"), "{e}");
        let after = params.var("backbone.conv1.weight").unwrap();
        let after = after.as_tensor().flatten_all().unwrap().to_vec1::<f32>();
        assert_eq!(before.unwrap(), after.unwrap());
    }
}
