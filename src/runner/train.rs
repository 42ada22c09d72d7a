//! Kind `train`: build the data splits, load the pretrained backbone if the run has a `pretrain:`
//! source, train the model, evaluate the requested metrics on the test set.
//!
//! The target decides the head and the loss: a binary target gets one logit and BCE; the 37 GZ2
//! answers get Dieleman's tree-normalised head and MSE on the weighted vote fractions (the Kaggle
//! Galaxy Challenge setup). `model.invariance: augment` augments every training batch;
//! `eval.tta_views` averages test predictions over exact rotations/flips.

use crate::eval::rotation::{dataset_equivariance_spread, predict_tta};
use crate::model::{HeadSpec, Model, Params, TreeName, loss};
use crate::spec::{Invariance, Metric, RunSpec};
use crate::store::Metrics;
use crate::train::{Net, Outputs};
use crate::{data, eval, train};
use candle_core::{Device, Tensor};
use std::path::Path;

const EVAL_BATCH: usize = 256;

pub fn run(
    spec: &RunSpec,
    dir: Option<&Path>,
    cache: Option<&Path>,
    device: &Device,
    on_epoch: &mut dyn FnMut(usize, f64, f64),
) -> anyhow::Result<Metrics> {
    let splits = data::build(spec)?;
    let binary = spec.task.target.is_binary();
    let head = if binary {
        HeadSpec::default()
    } else {
        HeadSpec::Dieleman {
            tree: TreeName::Gz2,
            dropout: 0.0,
        }
    };
    let params = Params::new(spec.seed);
    let (c, size) = (splits.train.channels, splits.train.size);
    let mut model = Model::with_head(&spec.model, &head, c, size, &params, device)?;
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
    let outputs = Outputs(&model);
    let (net, loss_fn): (&dyn Net, train::Loss) = if binary {
        (&model, &train::bce_with_logits)
    } else {
        (&outputs, &loss::mse)
    };
    let history = train::fit(
        net,
        &params,
        loss_fn,
        &splits.train,
        &spec.train,
        device,
        train::FitOptions {
            seed: spec.seed,
            val: Some(&splits.val),
            checkpoint: checkpoint_dir.as_deref(),
            augment: spec.model.invariance == Invariance::Augment,
            on_epoch,
        },
    )?;
    // what the metrics see: probabilities for a binary target, answer fractions otherwise
    let shown = |x: &Tensor| -> candle_core::Result<Tensor> {
        let y = model.forward_outputs(x, false)?;
        if binary {
            candle_nn::ops::sigmoid(&y)
        } else {
            Ok(y)
        }
    };
    let rows = match spec.eval.tta_views {
        Some(v) => predict_tta(&shown, &splits.test, v, EVAL_BATCH, device)?,
        None => {
            let mut rows = Vec::with_capacity(splits.test.len());
            train::for_each_batch(&splits.test, EVAL_BATCH, device, |_, x, _| {
                rows.extend(shown(x)?.to_vec2::<f32>()?);
                Ok(())
            })?;
            rows
        }
    };
    let p: Vec<f32> = rows.concat();
    let mut m = Metrics::new();
    for &metric in &spec.eval.metrics {
        let v = match metric {
            Metric::EquivarianceSpread => {
                dataset_equivariance_spread(&shown, &splits.test, EVAL_BATCH, device)?
            }
            Metric::RmseMeanBaseline => {
                let t = splits.test.target_len;
                let base = eval::mean_baseline(&splits.train.targets, t, splits.test.len());
                eval::rmse(&base, &splits.test.targets)
            }
            _ => eval::try_compute(metric, &p, &splits.test.targets)?,
        };
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
            history.train_loss.len() as f64,
        );
        if let Some(&v) = history.val_loss.get(best) {
            m.insert("val_loss".to_string(), v);
        }
    }
    Ok(m)
}
