//! What a `train` run predicts, one [`Task`] per target kind ([`TargetKind`]): the head, the
//! loss, what the metrics see of the outputs, how each metric and its bootstrap are computed, and
//! what a constant guess scores. `runner::train` asks the task and never matches on the target.
//!
//! * binary targets: one logit, BCE, the sigmoid probability; prevalence and majority accuracy;
//! * `gz2-answers`: Dieleman's tree-normalised head and MSE on the weighted vote fractions (the
//!   Kaggle Galaxy Challenge setup), scored on the fractions themselves;
//! * `votes`: Zoobot's Dirichlet head and the Dirichlet-multinomial loss; the metrics see the
//!   expected vote fractions of the questions each galaxy was asked;
//! * `class`: a softmax head, cross-entropy, multi-class accuracy; majority-class accuracy.
//!
//! Which metrics a kind may be scored by is a matter of names, checked by `validate`, so it lives
//! in `spec::task`; both match on [`TargetKind`] exhaustively, so a new kind is implemented in
//! both or does not compile. Nothing here trains or reads files.
//!
//! ```
//! use gzbench::runner::task::Task;
//! use gzbench::spec::{parse_str, expand};
//! let text = "name: t\nkind: train\ndata: { source: shapes }\n";
//! let spec = &expand(&parse_str(text, "t.yaml").unwrap(), text, "t.yaml").unwrap()[0];
//! let task = Task::of(spec).unwrap();
//! assert!(matches!(task, Task::Binary));
//! assert!(task.fits_probe());
//! ```

use crate::data::{Dataset, Splits};
use crate::eval::{self, bootstrap};
use crate::model::heads::expected_fractions;
use crate::model::{HeadSpec, Model, TreeName, loss};
use crate::spec::task::TargetKind;
use crate::spec::{Metric, RunSpec};
use crate::store::Metrics;
use crate::train::Net;
use crate::tree::Tree;
use candle_core::Tensor;

/// One target kind's head, loss, outputs, metrics and baseline.
#[derive(Debug, Clone)]
pub enum Task {
    /// One binary label.
    Binary,
    /// The 37 weighted GZ2 vote fractions.
    Gz2Answers,
    /// The vote counts of every answer of this tree (GZ DECaLS).
    Votes(Tree),
    /// One of this many classes.
    Class(usize),
}

impl Task {
    /// The task of a run's target.
    pub fn of(spec: &RunSpec) -> anyhow::Result<Task> {
        Ok(match spec.task.target.kind() {
            TargetKind::Binary => Task::Binary,
            TargetKind::Gz2Answers => Task::Gz2Answers,
            TargetKind::Votes => Task::Votes(Tree::decals()),
            TargetKind::Class => {
                let classes = spec.data.catalog.as_ref().and_then(|c| c.classes.as_ref());
                let Some(classes) = classes else {
                    anyhow::bail!(
                        "task.target `class` needs data.catalog.classes (the class names)"
                    );
                };
                Task::Class(classes.len())
            }
        })
    }

    /// The target kind this task implements.
    pub fn kind(&self) -> TargetKind {
        match self {
            Task::Binary => TargetKind::Binary,
            Task::Gz2Answers => TargetKind::Gz2Answers,
            Task::Votes(_) => TargetKind::Votes,
            Task::Class(_) => TargetKind::Class,
        }
    }

    /// The metrics the task can be scored by (`validate` checks `eval.metrics` against them).
    pub fn valid_metrics(&self) -> &'static [Metric] {
        self.kind().valid_metrics()
    }

    /// The head on top of the backbone.
    pub fn head(&self) -> HeadSpec {
        match self {
            Task::Binary => HeadSpec::default(),
            Task::Class(classes) => HeadSpec::MultiClass {
                classes: *classes,
                dropout: 0.0,
            },
            Task::Votes(_) => HeadSpec::Dirichlet {
                tree: TreeName::Decals,
                dropout: 0.0,
            },
            Task::Gz2Answers => HeadSpec::Dieleman {
                tree: TreeName::Gz2,
                dropout: 0.0,
            },
        }
    }

    /// The network training sees: the single logit (`N`) of a binary target, else the head's
    /// outputs (`N x outputs`).
    pub fn net<'a>(&self, model: &'a Model) -> TaskNet<'a> {
        TaskNet {
            model,
            logit: matches!(self, Task::Binary),
        }
    }

    /// The training loss of [`Task::net`]'s output against a batch of targets.
    pub fn loss(&self, out: &Tensor, y: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Task::Binary => crate::train::bce_with_logits(out, y),
            Task::Votes(tree) => loss::dirichlet_multinomial_loss(out, y, tree),
            Task::Class(_) => loss::cross_entropy(out, y),
            Task::Gz2Answers => loss::mse(out, y),
        }
    }

    /// Whether a frozen backbone gets a converged linear probe (`train::probe`) instead of
    /// gradient steps on its head: binary and class targets.
    pub fn fits_probe(&self) -> bool {
        matches!(self, Task::Binary | Task::Class(_))
    }

    /// What the metrics see of images `x`: probabilities for a binary target and classes,
    /// expected vote fractions for vote counts, the fractions for GZ2 answers.
    pub fn outputs(&self, model: &Model, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = model.forward_outputs(x, false)?;
        match self {
            Task::Binary => candle_nn::ops::sigmoid(&y),
            Task::Votes(tree) => expected_fractions(&y, tree),
            Task::Class(_) => candle_nn::ops::softmax_last_dim(&y),
            Task::Gz2Answers => Ok(y),
        }
    }

    /// The test set's predictions (one row of [`Task::outputs`] per galaxy) as the metrics
    /// score them: vote counts compare fractions on the questions each galaxy was asked.
    pub fn predictions(&self, rows: Vec<Vec<f32>>, test: &Dataset) -> Predictions {
        let p: Vec<f32> = rows.concat();
        let (p, targets) = match self {
            Task::Votes(tree) => eval::asked_fractions(&p, &test.targets, tree),
            _ => (p, test.targets.clone()),
        };
        Predictions { rows, p, targets }
    }

    /// `metric` on the test set and its bootstrap replicates over test galaxies (resampled by
    /// `seed`; `None`: not bootstrapped). `equivariance_spread` needs the model: the runner
    /// computes it.
    pub fn score(
        &self,
        metric: Metric,
        pred: &Predictions,
        splits: &Splits,
        seed: u64,
    ) -> anyhow::Result<(f64, Option<Vec<f64>>)> {
        let (test, y) = (&splits.test, &splits.test.targets);
        Ok(match (metric, self) {
            (Metric::RmseMeanBaseline, Task::Votes(tree)) => {
                // in the units of `rmse`: fractions of the questions each galaxy was asked
                let base = eval::mean_fraction_baseline(&splits.train.targets, tree);
                let base = base.repeat(test.len());
                let (b, y) = eval::asked_fractions(&base, y, tree);
                (eval::rmse(&b, &y), None)
            }
            (Metric::RmseMeanBaseline, _) => {
                let base = eval::mean_baseline(&splits.train.targets, test.target_len, test.len());
                (eval::rmse(&base, y), None)
            }
            (Metric::Accuracy, Task::Class(_)) => {
                let reps = bootstrap::replicates_multiclass(&pred.rows, y, seed);
                (eval::multiclass_accuracy(&pred.rows, y), Some(reps))
            }
            _ => {
                let v = eval::try_compute(metric, &pred.p, &pred.targets)?;
                let reps = match self {
                    Task::Votes(t) => {
                        bootstrap::replicates_asked(metric, &pred.rows.concat(), y, t, seed)?
                    }
                    _ => {
                        let k = test.target_len;
                        bootstrap::replicates(metric, &pred.p, &pred.targets, k, seed)?
                    }
                };
                (v, Some(reps))
            }
        })
    }

    /// What a constant guess scores, for the reference lines of tables and figures: the
    /// majority-class accuracy of the test set (binary and class targets) and the positive
    /// prevalence (binary: the PR-AUC of a random ranking).
    pub fn baselines(&self, test: &Dataset) -> Metrics {
        let mut m = Metrics::new();
        let y = &test.targets;
        if y.is_empty() {
            return m;
        }
        match self {
            Task::Binary => {
                let prevalence = y.iter().filter(|&&t| t >= 0.5).count() as f64 / y.len() as f64;
                m.insert("prevalence".into(), prevalence);
                m.insert("majority_accuracy".into(), prevalence.max(1.0 - prevalence));
            }
            Task::Class(k) => {
                let mut counts = vec![0usize; *k];
                for &t in y {
                    if let Some(c) = counts.get_mut(t as usize) {
                        *c += 1;
                    }
                }
                let top = counts.iter().copied().max().unwrap_or(0);
                m.insert("majority_accuracy".into(), top as f64 / y.len() as f64);
            }
            Task::Gz2Answers | Task::Votes(_) => {}
        }
        m
    }
}

/// The test set's predictions: one row per galaxy (`rows`), and the flat values the metrics
/// compare (`p` against `targets`; for vote counts, fractions on the asked questions).
pub struct Predictions {
    pub rows: Vec<Vec<f32>>,
    pub p: Vec<f32>,
    pub targets: Vec<f32>,
}

/// A model as its task trains it ([`Task::net`]).
pub struct TaskNet<'a> {
    model: &'a Model,
    logit: bool,
}

impl Net for TaskNet<'_> {
    fn forward(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        if self.logit {
            self.model.forward(x, train)
        } else {
            self.model.forward_outputs(x, train)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dataset of `n` one-pixel images with these targets.
    fn set(targets: Vec<f32>, target_len: usize) -> Dataset {
        let n = targets.len() / target_len;
        Dataset {
            channels: 1,
            size: 1,
            images: vec![0.0; n],
            targets,
            target_len,
        }
    }

    /// Every target kind's task scores each of its valid metrics (but `equivariance_spread`,
    /// the runner's) on made-up predictions, with bootstrap replicates for the metrics of
    /// predictions, and says what a constant guess scores.
    #[test]
    fn every_kind_scores_its_valid_metrics() {
        let n = 8;
        for &kind in crate::spec::all::<TargetKind>() {
            let task = match kind {
                TargetKind::Binary => Task::Binary,
                TargetKind::Gz2Answers => Task::Gz2Answers,
                TargetKind::Votes => Task::Votes(Tree::decals()),
                TargetKind::Class => Task::Class(3),
            };
            assert_eq!(task.kind(), kind);
            let (k, targets, rows): (usize, Vec<f32>, Vec<Vec<f32>>) = match &task {
                Task::Binary => (
                    1,
                    (0..n).map(|i| (i % 2) as f32).collect(),
                    (0..n).map(|i| vec![0.2 + 0.07 * i as f32]).collect(),
                ),
                Task::Gz2Answers => (
                    37,
                    (0..n * 37).map(|i| (i % 5) as f32 / 5.0).collect(),
                    (0..n).map(|i| vec![0.1 * (i % 4) as f32; 37]).collect(),
                ),
                Task::Votes(tree) => {
                    let a = tree.n_answers();
                    let counts = (0..n * a).map(|i| (i % 3) as f32).collect();
                    (a, counts, (0..n).map(|_| vec![0.5; a]).collect())
                }
                Task::Class(c) => (
                    1,
                    (0..n).map(|i| (i % c) as f32).collect(),
                    (0..n)
                        .map(|i| vec![0.2, 0.3 + 0.01 * i as f32, 0.5])
                        .collect(),
                ),
            };
            let splits = Splits {
                train: set(targets.clone(), k),
                val: set(targets.clone(), k),
                test: set(targets, k),
            };
            let pred = task.predictions(rows, &splits.test);
            for &metric in task.valid_metrics() {
                if metric == Metric::EquivarianceSpread {
                    continue;
                }
                let (v, reps) = task.score(metric, &pred, &splits, 1).unwrap();
                assert!(v.is_finite(), "{kind:?} {}", metric.as_str());
                if metric.from_predictions() {
                    let reps = reps.unwrap_or_default();
                    assert_eq!(
                        reps.len(),
                        bootstrap::REPLICATES,
                        "{kind:?} {}",
                        metric.as_str()
                    );
                }
            }
            let base = task.baselines(&splits.test);
            assert_eq!(
                base.contains_key("majority_accuracy"),
                task.fits_probe(),
                "{kind:?}"
            );
        }
    }
}
