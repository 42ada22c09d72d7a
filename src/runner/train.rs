//! Kind `train`: build the data splits, load the pretrained backbone if the run has a `pretrain:`
//! source, train the model, evaluate the requested metrics on the test set.
//!
//! The target's [`Task`] decides the head, the loss, what the metrics see and how they and the
//! constant-guess baselines are computed (`runner::task`; nothing here matches on the target).
//! `model.invariance: augment` augments every training batch; `eval.tta_views` averages test
//! predictions over exact rotations/flips. A frozen backbone on a binary or class target gets a
//! converged linear probe (`train::probe`) instead of gradient steps on its head.
//!
//! Besides the asked metrics, a run records the reference levels of a constant guess
//! (`majority_accuracy`, `prevalence`), how training went (`train_loss`, `val_loss`,
//! `steps_trained`, `best_step`, ... or the probe's `probe_lambda`) and its pretraining
//! (`pretrain_*`), and 200 bootstrap resamples of each metric over the test galaxies. A metric
//! that is not finite fails the run.

use super::task::Task;
use crate::eval::rotation::{dataset_equivariance_spread, predict_tta};
use crate::model::{Model, Params};
use crate::spec::{Invariance, Metric, RunSpec};
use crate::store::{Bootstrap, Metrics};
use crate::{data, train};
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
    match &spec.rare {
        Some(rare) => super::rare::run(spec, rare, splits, dir, cache, device, on_epoch),
        None => {
            let fitted = fit(spec, &splits, dir, cache, device, on_epoch)?;
            score(spec, &fitted, &splits, device)
        }
    }
}

/// A trained model of a run and how its training went.
pub(super) struct Fitted {
    task: Task,
    model: Model,
    history: train::History,
    probe: Option<train::probe::ProbeFit>,
    loaded: train::pretrain::Loaded,
}

/// Train the run's model on `splits.train` (validated on `splits.val`; checkpoints under `dir`).
pub(super) fn fit(
    spec: &RunSpec,
    splits: &data::Splits,
    dir: Option<&Path>,
    cache: Option<&Path>,
    device: &Device,
    on_epoch: &mut dyn FnMut(usize, f64, f64),
) -> anyhow::Result<Fitted> {
    let task = Task::of(spec)?;
    let params = Params::new(spec.seed);
    let (c, size) = (splits.train.channels, splits.train.size);
    let mut model = Model::with_head(&spec.model, &task.head(), c, size, &params, device)?;
    let (pretrain, data) = (&spec.pretrain, &spec.data);
    let pretrain = train::pretrain::seeded(pretrain, spec.seed);
    let loaded =
        train::pretrain::load_backbone(&pretrain, &spec.model, data, cache, &params, device)?;
    model.set_frozen_backbone(spec.train.freeze_backbone);
    let checkpoint_dir = dir
        .filter(|_| spec.train.checkpoint)
        .map(|d| d.join(crate::store::CHECKPOINT));
    let net = task.net(&model);
    let loss_fn = |o: &Tensor, y: &Tensor| task.loss(o, y);
    // head-only on a binary or class target: a converged linear probe, not gradient steps
    let probe_fit = spec.train.freeze_backbone
        && task.fits_probe()
        && spec.model.invariance != Invariance::Augment;
    let (history, probe) = if probe_fit {
        let fit = train::probe::fit_head(&model, &params, &splits.train, &splits.val, device)?;
        (train::History::default(), Some(fit))
    } else {
        let h = train::fit(
            &net,
            &params,
            &loss_fn,
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
        (h, None)
    };
    Ok(Fitted {
        task,
        model,
        history,
        probe,
        loaded,
    })
}

/// What the metrics see of every image of `data`: probabilities for a binary target, answer
/// fractions otherwise, one row per image.
pub(super) fn predict(
    f: &Fitted,
    data: &data::Dataset,
    device: &Device,
) -> anyhow::Result<Vec<Vec<f32>>> {
    let mut rows = Vec::with_capacity(data.len());
    train::for_each_batch(data, EVAL_BATCH, device, |_, x, _| {
        rows.extend(f.task.outputs(&f.model, x)?.to_vec2::<f32>()?);
        Ok(())
    })?;
    Ok(rows)
}

/// The run's metrics of the fitted model on `splits.test`, with their bootstrap replicates,
/// the constant-guess baselines and how training went.
pub(super) fn score(
    spec: &RunSpec,
    f: &Fitted,
    splits: &data::Splits,
    device: &Device,
) -> anyhow::Result<(Metrics, Bootstrap)> {
    let (task, model) = (&f.task, &f.model);
    // what the metrics see: probabilities for a binary target, answer fractions otherwise
    let shown = |x: &Tensor| task.outputs(model, x);
    let rows = match spec.eval.tta_views {
        Some(v) => predict_tta(&shown, &splits.test, v, EVAL_BATCH, device)?,
        None => predict(f, &splits.test, device)?,
    };
    let pred = task.predictions(rows, &splits.test);
    let mut m = Metrics::new();
    // bootstrap replicates over test galaxies, resampled by the data seed (paired across runs)
    let (mut boot, seed) = (Bootstrap::new(), spec.data.data_seed);
    let metrics = match spec.eval.metrics.is_empty() {
        true => task.kind().default_metrics(),
        false => spec.eval.metrics.clone(),
    };
    for &metric in &metrics {
        let (v, reps) = match metric {
            Metric::EquivarianceSpread => (
                dataset_equivariance_spread(&shown, &splits.test, EVAL_BATCH, device)?,
                None,
            ),
            _ => task.score(metric, &pred, splits, seed)?,
        };
        if let Some(reps) = reps {
            boot.insert(metric.as_str().to_string(), reps);
        }
        if !v.is_finite() {
            anyhow::bail!(
                "metric `{}` is {v} on {} test galaxies; expected a finite value (a constant \
                 prediction, or a test set with one class only, has no {})",
                metric.as_str(),
                splits.test.len(),
                metric.as_str()
            );
        }
        m.insert(metric.as_str().to_string(), v);
    }
    m.extend(task.baselines(&splits.test));
    m.extend(training_record(&f.history, f.probe.as_ref()));
    if let train::pretrain::Loaded::Pretrained(record) = &f.loaded {
        m.extend(record.metrics());
    }
    if let Some((k, v)) = m.iter().find(|(_, v)| !v.is_finite()) {
        anyhow::bail!("the run's `{k}` is {v}; expected a finite value (a diverged fit)");
    }
    boot.retain(|k, r| m.contains_key(k) && !r.is_empty() && r.iter().all(|x| x.is_finite()));
    Ok((m, boot))
}

/// How training went: the final training loss, the validation loss of the kept weights, the
/// optimizer steps taken and where the kept weights were (gradient training), or the probe's
/// penalty and convergence (a linear probe).
fn training_record(h: &train::History, probe: Option<&train::probe::ProbeFit>) -> Metrics {
    let mut m = Metrics::new();
    if let Some(p) = probe {
        m.insert("train_loss".into(), p.train_loss);
        if p.val_loss.is_finite() {
            m.insert("val_loss".into(), p.val_loss);
        }
        m.insert("probe_lambda".into(), p.lambda);
        m.insert("probe_grad_norm".into(), p.grad_norm);
        return m;
    }
    if let Some(&last) = h.train_loss.last() {
        m.insert("train_loss".into(), last);
    }
    m.insert("epochs_trained".into(), h.train_loss.len() as f64);
    m.insert("steps_trained".into(), h.steps as f64);
    m.insert("stopped_early".into(), f64::from(u8::from(h.stopped_early)));
    if let Some(best) = h.best_epoch {
        m.insert("best_step".into(), ((best + 1) * h.steps_per_epoch) as f64);
        let at = h.val_epochs.iter().position(|&e| e == best);
        if let Some(v) = at.and_then(|i| h.val_loss.get(i)) {
            m.insert("val_loss".into(), *v);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use crate::spec::{ExperimentKind, expand, parse_str, task};

    /// A run records only names `spec::task` knows (what `validate` lets `report.metrics` ask
    /// for), for a frozen probe and a trained network; the probe's loss is below ln 2.
    #[test]
    fn records_are_the_names_validate_knows() {
        let text = "name: r\nkind: train\nseeds: [0]\n\
                    data: { source: shapes, image_size: 16, train_size: 40, test_size: 64 }\n\
                    model: { widths: [4, 8] }\n\
                    train: { epochs: 2, batch_size: 8, min_steps: 12, early_stopping_patience: 1 }\n\
                    eval: { metrics: [accuracy, roc_auc, pr_auc, f1, log_loss] }\n\
                    sweep: { train.freeze_backbone: [true, false] }\n";
        let exp = parse_str(text, "r.yaml").unwrap();
        let known = task::recorded(ExperimentKind::Train, exp.task.target);
        for spec in expand(&exp, text, "r.yaml").unwrap() {
            let (m, boot) = super::run(
                &spec,
                None,
                None,
                &candle_core::Device::Cpu,
                &mut |_, _, _| {},
            )
            .unwrap();
            for k in m.keys() {
                assert!(known.contains(&k.as_str()), "`{k}` is not in spec::task");
            }
            assert_eq!(boot["accuracy"].len(), crate::eval::bootstrap::REPLICATES);
            if spec.train.freeze_backbone {
                assert!(m["train_loss"] < std::f64::consts::LN_2, "{m:?}");
                assert!(m.contains_key("probe_lambda"));
            } else {
                assert!(m["steps_trained"] >= 12.0, "{m:?}");
            }
        }
    }
}
