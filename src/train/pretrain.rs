//! Pretrain -> fine-tune hand-off: train a backbone on the `pretrain:` source (astro: Dirichlet-
//! multinomial on simulated GZ DECaLS votes; terrestrial: cross-entropy on proxy classes) and
//! cache its weights under `<cache>/pretrained/<key>/`, where the key hashes everything the
//! weights depend on (pretraining section, model, image size, survey, run format). A sweep thus
//! pretrains each backbone once; the cache entry is complete only once its `COMPLETE` marker
//! exists (written last), so an interrupted pretraining is redone.

use super::{FitOptions, Outputs, fit};
use crate::data::pretrain as pdata;
use crate::model::{HeadSpec, Model, Params, TreeName, loss};
use crate::spec::{DataConfig, ModelConfig, PretrainConfig, PretrainSource, RUN_FORMAT_VERSION};
use crate::tree::Tree;
use crate::universe::terrestrial::CLASSES;
use candle_core::{Device, Result, Tensor};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Runs computed at the same time (`--jobs`) wait here rather than pretrain the same backbone twice.
static PRETRAINING: Mutex<()> = Mutex::new(());

const WEIGHTS: &str = "weights.safetensors";
const MARKER: &str = "COMPLETE";

fn key(p: &PretrainConfig, m: &ModelConfig, d: &DataConfig) -> String {
    let json = serde_json::json!({
        "pretrain": p, "model": m, "image_size": d.image_size, "survey": d.survey,
        "run_format": RUN_FORMAT_VERSION,
    });
    let digest = Sha256::digest(json.to_string().as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The cached pretrained weights for this configuration, pretraining them first if needed.
/// `None` when the source is `none`.
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
        PretrainSource::None => return Ok(None),
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
    let dir = cache.join("pretrained").join(key(p, m, d));
    let weights = dir.join(WEIGHTS);
    let _guard = PRETRAINING.lock().unwrap_or_else(|e| e.into_inner());
    if dir.join(MARKER).is_file() {
        return Ok(Some(weights));
    }
    let data = match p.source {
        PretrainSource::Astro => pdata::astro(p.seed, p.n, d.image_size, d.survey, p.votes),
        _ => pdata::terrestrial(p.seed, p.n, d.image_size),
    };
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
            val: None,
            checkpoint: None,
            augment: false,
            on_epoch: &mut |_, _, _| {},
        },
    )?;
    std::fs::create_dir_all(&dir).map_err(|e| err(&dir, &e))?;
    params.save(&weights).map_err(|e| err(&weights, &e))?;
    let meta = serde_json::json!({ "pretrain": p, "model": m, "image_size": d.image_size,
        "survey": d.survey, "train_loss": history.train_loss });
    let meta = serde_json::to_vec_pretty(&meta).expect("meta serialises");
    for (name, bytes) in [("spec.json", meta.as_slice()), (MARKER, b"".as_slice())] {
        crate::atomic::write(&dir.join(name), bytes).map_err(|(p, e)| err(&p, &e))?;
    }
    Ok(Some(weights))
}

type LossFn = fn(&Tensor, &Tensor) -> Result<Tensor>;

fn astro_loss(concentrations: &Tensor, counts: &Tensor) -> Result<Tensor> {
    loss::dirichlet_multinomial_loss(concentrations, counts, &Tree::decals())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Backbone;

    #[test]
    fn pretrains_once_and_the_weights_load_into_a_task_model() {
        let cache = tempfile::tempdir().unwrap();
        let m = ModelConfig {
            backbone: Backbone::CnnSmall,
            widths: vec![4, 8],
            ..Default::default()
        };
        let d = DataConfig {
            image_size: 16,
            ..Default::default()
        };
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
}
