//! Kind `train`: build the data splits, load the pretrained backbone if the run has a `pretrain:`
//! source, train the model, evaluate the requested metrics on the test set.
//!
//! The target decides the head and the loss: a binary target gets one logit and BCE; the 37 GZ2
//! answers get Dieleman's tree-normalised head and MSE on the weighted vote fractions (the Kaggle
//! Galaxy Challenge setup); vote counts of a catalogue get Zoobot's Dirichlet head and the
//! Dirichlet-multinomial loss, and the metrics see the expected vote fractions of the questions
//! each galaxy was asked; classes get a softmax head, cross-entropy and multi-class accuracy. `model.invariance: augment` augments every training batch;
//! `eval.tta_views` averages test predictions over exact rotations/flips.

use crate::eval::bootstrap;
use crate::eval::rotation::{dataset_equivariance_spread, predict_tta};
use crate::model::heads::expected_fractions;
use crate::model::{HeadSpec, Model, Params, TreeName, loss};
use crate::spec::{Invariance, Metric, RunSpec, Target};
use crate::store::{Bootstrap, Metrics};
use crate::train::{Net, Outputs};
use crate::tree::Tree;
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
) -> anyhow::Result<(Metrics, Bootstrap)> {
    let splits = data::build(spec)?;
    let binary = spec.task.target.is_binary();
    let votes = (spec.task.target == Target::Votes).then(Tree::decals);
    let classes = (spec.task.target == Target::Class)
        .then(|| spec.data.catalog.as_ref().and_then(|c| c.classes.as_ref()))
        .flatten()
        .map(|c| c.len());
    let head = match (binary, &votes) {
        (true, _) => HeadSpec::default(),
        (false, _) if classes.is_some() => HeadSpec::MultiClass {
            classes: classes.unwrap_or(2),
            dropout: 0.0,
        },
        (false, Some(_)) => HeadSpec::Dirichlet {
            tree: TreeName::Decals,
            dropout: 0.0,
        },
        (false, None) => HeadSpec::Dieleman {
            tree: TreeName::Gz2,
            dropout: 0.0,
        },
    };
    let params = Params::new(spec.seed);
    let (c, size) = (splits.train.channels, splits.train.size);
    let mut model = Model::with_head(&spec.model, &head, c, size, &params, device)?;
    let (pretrain, data) = (&spec.pretrain, &spec.data);
    train::pretrain::load_backbone(pretrain, &spec.model, data, cache, &params, device)?;
    model.set_frozen_backbone(spec.train.freeze_backbone);
    let checkpoint_dir = dir
        .filter(|_| spec.train.checkpoint)
        .map(|d| d.join(crate::store::CHECKPOINT));
    let outputs = Outputs(&model);
    let answers = |o: &Tensor, y: &Tensor| match (&votes, classes) {
        (Some(tree), _) => loss::dirichlet_multinomial_loss(o, y, tree),
        (None, Some(_)) => loss::cross_entropy(o, y),
        (None, None) => loss::mse(o, y),
    };
    let (net, loss_fn): (&dyn Net, train::Loss) = if binary {
        (&model, &train::bce_with_logits)
    } else {
        (&outputs, &answers)
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
        match (binary, &votes) {
            (true, _) => candle_nn::ops::sigmoid(&y),
            (false, Some(tree)) => expected_fractions(&y, tree),
            (false, None) if classes.is_some() => candle_nn::ops::softmax_last_dim(&y),
            (false, None) => Ok(y),
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
    // vote counts: compare fractions, on the questions each galaxy was asked
    let (p, targets) = match &votes {
        Some(tree) => eval::asked_fractions(&p, &splits.test.targets, tree),
        None => (p, splits.test.targets.clone()),
    };
    let mut m = Metrics::new();
    // bootstrap replicates over test galaxies, resampled by the data seed (paired across runs)
    let (mut boot, seed, y) = (Bootstrap::new(), spec.data.data_seed, &splits.test.targets);
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
            Metric::Accuracy if classes.is_some() => {
                let reps = bootstrap::replicates_multiclass(&rows, y, seed);
                boot.insert(metric.as_str().to_string(), reps);
                eval::multiclass_accuracy(&rows, y)
            }
            _ => {
                let v = eval::try_compute(metric, &p, &targets)?;
                let reps = match &votes {
                    Some(t) => bootstrap::replicates_asked(metric, &rows.concat(), y, t, seed)?,
                    None => {
                        let k = splits.test.target_len;
                        bootstrap::replicates(metric, &p, &targets, k, seed)?
                    }
                };
                boot.insert(metric.as_str().to_string(), reps);
                v
            }
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
    boot.retain(|k, r| m.contains_key(k) && !r.is_empty() && r.iter().all(|x| x.is_finite()));
    Ok((m, boot))
}
