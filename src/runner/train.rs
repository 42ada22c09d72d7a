//! Kind `train`: build the data splits, load the pretrained backbone if the run has a `pretrain:`
//! source, train the model, evaluate the requested metrics on the test set.
//!
//! The target decides the head and the loss: a binary target gets one logit and BCE; the 37 GZ2
//! answers get Dieleman's tree-normalised head and MSE on the weighted vote fractions (the Kaggle
//! Galaxy Challenge setup); vote counts of a catalogue get Zoobot's Dirichlet head and the
//! Dirichlet-multinomial loss, and the metrics see the expected vote fractions of the questions
//! each galaxy was asked; classes get a softmax head, cross-entropy and multi-class accuracy.
//! `model.invariance: augment` augments every training batch; `eval.tta_views` averages test
//! predictions over exact rotations/flips. A frozen backbone on a binary or class target gets a
//! converged linear probe (`train::probe`) instead of gradient steps on its head.
//!
//! Besides the asked metrics, a run records the reference levels of a constant guess
//! (`majority_accuracy`, `prevalence`), how training went (`train_loss`, `val_loss`,
//! `steps_trained`, `best_step`, ... or the probe's `probe_lambda`) and its pretraining
//! (`pretrain_*`), and 200 bootstrap resamples of each metric over the test galaxies. A metric
//! that is not finite fails the run.

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
    let pretrain = train::pretrain::seeded(pretrain, spec.seed);
    let loaded =
        train::pretrain::load_backbone(&pretrain, &spec.model, data, cache, &params, device)?;
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
    // head-only on a binary or class target: a converged linear probe, not gradient steps
    let probe_fit = spec.train.freeze_backbone
        && (binary || classes.is_some())
        && spec.model.invariance != Invariance::Augment;
    let (history, probe) = if probe_fit {
        let fit = train::probe::fit_head(&model, &params, &splits.train, &splits.val, device)?;
        (train::History::default(), Some(fit))
    } else {
        let h = train::fit(
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
        (h, None)
    };
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
    let metrics = match spec.eval.metrics.is_empty() {
        true => crate::spec::task::default_metrics(spec.task.target),
        false => spec.eval.metrics.clone(),
    };
    for &metric in &metrics {
        let v = match metric {
            Metric::EquivarianceSpread => {
                dataset_equivariance_spread(&shown, &splits.test, EVAL_BATCH, device)?
            }
            Metric::RmseMeanBaseline => {
                let t = splits.test.target_len;
                match &votes {
                    // in the units of `rmse`: fractions of the questions each galaxy was asked
                    Some(tree) => {
                        let base = eval::mean_fraction_baseline(&splits.train.targets, tree);
                        let base = base.repeat(splits.test.len());
                        let (b, y) = eval::asked_fractions(&base, &splits.test.targets, tree);
                        eval::rmse(&b, &y)
                    }
                    None => {
                        let base = eval::mean_baseline(&splits.train.targets, t, splits.test.len());
                        eval::rmse(&base, &splits.test.targets)
                    }
                }
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
    m.extend(baselines(&splits, binary, classes));
    m.extend(training_record(&history, probe.as_ref()));
    if let train::pretrain::Loaded::Pretrained(record) = &loaded {
        m.extend(record.metrics());
    }
    if let Some((k, v)) = m.iter().find(|(_, v)| !v.is_finite()) {
        anyhow::bail!("the run's `{k}` is {v}; expected a finite value (a diverged fit)");
    }
    boot.retain(|k, r| m.contains_key(k) && !r.is_empty() && r.iter().all(|x| x.is_finite()));
    Ok((m, boot))
}

/// What a constant guess scores, for the reference lines of tables and figures: the
/// majority-class accuracy of the test set (binary and class targets) and the positive
/// prevalence (binary: the PR-AUC of a random ranking).
fn baselines(splits: &data::Splits, binary: bool, classes: Option<usize>) -> Metrics {
    let mut m = Metrics::new();
    let y = &splits.test.targets;
    if y.is_empty() {
        return m;
    }
    if binary {
        let prevalence = y.iter().filter(|&&t| t >= 0.5).count() as f64 / y.len() as f64;
        m.insert("prevalence".into(), prevalence);
        m.insert("majority_accuracy".into(), prevalence.max(1.0 - prevalence));
    } else if let Some(k) = classes {
        let mut counts = vec![0usize; k];
        for &t in y {
            if let Some(c) = counts.get_mut(t as usize) {
                *c += 1;
            }
        }
        let top = counts.iter().copied().max().unwrap_or(0);
        m.insert("majority_accuracy".into(), top as f64 / y.len() as f64);
    }
    m
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
