//! Kind `train`: build the data splits, load the pretrained backbone if the run has a `pretrain:`
//! source, train the model, evaluate the requested metrics on the test set.

use crate::model::{Model, Params};
use crate::spec::RunSpec;
use crate::store::Metrics;
use crate::{data, eval, train};
use candle_core::Device;
use std::path::Path;

pub fn run(
    spec: &RunSpec,
    dir: Option<&Path>,
    cache: Option<&Path>,
    device: &Device,
    on_epoch: &mut dyn FnMut(usize, f64, f64),
) -> anyhow::Result<Metrics> {
    let splits = data::build(spec)?;
    let params = Params::new(spec.seed);
    let mut model = Model::build(
        &spec.model,
        splits.train.channels,
        splits.train.size,
        &params,
        device,
    )?;
    if !spec.pretrain.is_none() {
        let cache = cache.ok_or_else(|| anyhow::anyhow!("pretraining needs a run store"))?;
        if let Some(w) =
            train::pretrain::pretrained(&spec.pretrain, &spec.model, &spec.data, cache, device)?
        {
            params.load_prefixed(&w, "backbone.", "backbone.")?;
        }
    }
    model.set_frozen_backbone(spec.train.freeze_backbone);
    let checkpoint_dir = dir
        .filter(|_| spec.train.checkpoint)
        .map(|d| d.join(crate::store::CHECKPOINT));
    let history = train::fit(
        &model,
        &params,
        &train::bce_with_logits,
        &splits.train,
        &spec.train,
        device,
        train::FitOptions {
            seed: spec.seed,
            val: Some(&splits.val),
            checkpoint: checkpoint_dir.as_deref(),
            on_epoch,
        },
    )?;
    let p = train::predict(&model, &splits.test, 256, device)?;
    let mut m = Metrics::new();
    for &metric in &spec.eval.metrics {
        let v = eval::compute(metric, &p, &splits.test.targets);
        if v.is_finite() {
            m.insert(metric.as_str().to_string(), v);
        }
    }
    if let Some(&last) = history.train_loss.last() {
        m.insert("train_loss".to_string(), last);
    }
    if let Some(best) = history.best_epoch {
        m.insert(
            "epochs_trained".to_string(),
            (history.train_loss.len()) as f64,
        );
        if let Some(&v) = history.val_loss.get(best) {
            m.insert("val_loss".to_string(), v);
        }
    }
    Ok(m)
}
