//! Sweep expansion: an experiment's `sweep:` and `seeds:` become fully resolved [`RunSpec`]s with ids.

use super::load::{SpecError, explain, locate, set_path};
use super::{
    CrowdRunConfig, DataConfig, DetectConfig, EvalConfig, Experiment, ExperimentKind, ModelConfig,
    PretrainConfig, RareConfig, ReprConfig, StreamConfig, TaskConfig, TrainConfig,
};
use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Bumped whenever a code change alters what a run computes, so old run ids are not reused.
pub const RUN_FORMAT_VERSION: u32 = 4;

/// Everything one run needs, fully resolved. Its hash is the run id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    pub experiment: String,
    pub kind: ExperimentKind,
    pub seed: u64,
    /// The sweep coordinates of this run (dotted key -> value), for reports.
    pub point: BTreeMap<String, Value>,
    pub data: DataConfig,
    pub task: TaskConfig,
    pub model: ModelConfig,
    pub train: TrainConfig,
    pub eval: EvalConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crowd: Option<CrowdRunConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repr: Option<ReprConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detect: Option<DetectConfig>,
    #[serde(default, skip_serializing_if = "PretrainConfig::is_none")]
    pub pretrain: PretrainConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rare: Option<RareConfig>,
    pub gzbench: String,
    pub run_format: u32,
    /// Where the run is computed. Part of the id so GPU runs (not bit-identical to CPU ones) never
    /// stand in for CPU runs; the CPU, the default, is left out of the serialised spec, so CPU ids
    /// are those of the runs recorded before the field existed.
    #[serde(default, skip_serializing_if = "DeviceKind::is_cpu")]
    pub device: DeviceKind,
}

/// The kind of device a run is computed on.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    #[default]
    Cpu,
    Cuda,
}

impl DeviceKind {
    pub fn is_cpu(&self) -> bool {
        *self == DeviceKind::Cpu
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Cuda => "cuda",
        }
    }

    /// The kind of a candle device (Metal counts as `cuda`'s sibling: not the CPU).
    pub fn of(device: &candle_core::Device) -> Self {
        if device.is_cpu() {
            DeviceKind::Cpu
        } else {
            DeviceKind::Cuda
        }
    }
}

/// The same run computed on `device` (its id changes unless `device` is the CPU).
pub fn on_device(mut runs: Vec<RunSpec>, device: DeviceKind) -> Vec<RunSpec> {
    for r in &mut runs {
        r.device = device;
    }
    runs
}

/// Stable id of a run spec: the first 16 hex digits of the SHA-256 of its canonical JSON.
pub fn run_id(spec: &RunSpec) -> String {
    // `data.optional` (skip or fail when the data is absent) changes nothing a run computes
    let json = if spec.data.optional {
        let mut s = spec.clone();
        s.data.optional = false;
        serde_json::to_string(&s)
    } else {
        serde_json::to_string(spec)
    }
    .expect("run spec serialises");
    let digest = Sha256::digest(json.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The base sections of an experiment, as one YAML mapping that sweep keys index into.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sections {
    data: DataConfig,
    task: TaskConfig,
    model: ModelConfig,
    train: TrainConfig,
    eval: EvalConfig,
    crowd: CrowdRunConfig,
    stream: StreamConfig,
    repr: ReprConfig,
    detect: DetectConfig,
    pretrain: PretrainConfig,
    #[serde(default)]
    rare: RareConfig,
}

/// Every run of the experiment: the product of the sweep lists, times the seeds (seed varies fastest).
pub fn expand(exp: &Experiment, text: &str, file: &str) -> Result<Vec<RunSpec>, SpecError> {
    let base = Sections {
        data: exp.data.clone(),
        task: exp.task.clone(),
        model: exp.model.clone(),
        train: exp.train.clone(),
        eval: exp.eval.clone(),
        crowd: exp.crowd.clone(),
        stream: exp.stream.clone(),
        repr: exp.repr.clone(),
        detect: exp.detect.clone(),
        pretrain: exp.pretrain.clone(),
        rare: exp.rare.clone().unwrap_or_default(),
    };
    let base = serde_yaml::to_value(&base).expect("sections serialise");
    // Check each sweep value on its own first, so an error names exactly the key and value at fault.
    for (key, values) in &exp.sweep {
        for v in values {
            let mut doc = base.clone();
            set_path(&mut doc, &key.split('.').collect::<Vec<_>>(), v.clone());
            if let Err(e) = serde_yaml::from_value::<Sections>(doc) {
                let (line, col) = locate(text, key);
                let value = serde_yaml::to_string(v).unwrap_or_default();
                return Err(SpecError::At {
                    file: file.into(),
                    line,
                    col,
                    msg: format!(
                        "sweep `{key}` = {}: {}",
                        value.trim(),
                        explain(&e.to_string())
                    ),
                });
            }
        }
    }
    let mut points: Vec<BTreeMap<String, Value>> = vec![BTreeMap::new()];
    for (key, values) in &exp.sweep {
        points = points
            .into_iter()
            .flat_map(|p| {
                values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.insert(key.clone(), v.clone());
                    q
                })
            })
            .collect();
    }
    let mut runs = Vec::new();
    for point in points {
        let mut doc = base.clone();
        for (key, value) in &point {
            set_path(&mut doc, &key.split('.').collect::<Vec<_>>(), value.clone());
        }
        let s: Sections = serde_yaml::from_value(doc).map_err(|e| {
            let key = point
                .keys()
                .find(|k| {
                    e.to_string()
                        .contains(k.split('.').next_back().unwrap_or(k))
                })
                .or(point.keys().next());
            let key = key.cloned().unwrap_or_default();
            let (line, col) = locate(text, &key);
            let value = serde_yaml::to_string(&point[&key]).unwrap_or_default();
            SpecError::At {
                file: file.into(),
                line,
                col,
                msg: format!(
                    "sweep `{key}` = {}: {}",
                    value.trim(),
                    explain(&e.to_string())
                ),
            }
        })?;
        check_sizes(&s, exp.kind, exp.rare.is_some(), text, file)?;
        let mut s = s;
        if exp.kind == ExperimentKind::Train {
            check_metrics(&s, text, file)?;
            if s.eval.metrics.is_empty() {
                s.eval.metrics = super::task::default_metrics(s.task.target);
            }
        }
        for &seed in &exp.seeds {
            runs.push(RunSpec {
                experiment: exp.name.clone(),
                kind: exp.kind,
                seed,
                point: point.clone(),
                data: s.data.clone(),
                task: s.task.clone(),
                model: s.model.clone(),
                train: s.train.clone(),
                eval: s.eval.clone(),
                crowd: matches!(exp.kind, ExperimentKind::Crowd | ExperimentKind::Stream)
                    .then(|| s.crowd.clone()),
                stream: (exp.kind == ExperimentKind::Stream).then(|| s.stream.clone()),
                repr: (exp.kind == ExperimentKind::Representations).then(|| s.repr.clone()),
                detect: (exp.kind == ExperimentKind::Detection).then(|| s.detect.clone()),
                pretrain: s.pretrain.clone(),
                rare: exp.rare.is_some().then(|| s.rare.clone()),
                gzbench: env!("CARGO_PKG_VERSION").to_string(),
                run_format: RUN_FORMAT_VERSION,
                device: DeviceKind::Cpu,
            });
        }
    }
    Ok(runs)
}

/// Every `eval.metrics` entry is valid for the run's target (`spec::task`).
fn check_metrics(s: &Sections, text: &str, file: &str) -> Result<(), SpecError> {
    let valid = super::task::valid_metrics(s.task.target);
    match s.eval.metrics.iter().find(|m| !valid.contains(m)) {
        None => Ok(()),
        Some(bad) => {
            let (line, col) = super::load::locate_in(text, "eval", "metrics", Some(bad.as_str()));
            Err(SpecError::At {
                file: file.into(),
                line,
                col,
                msg: format!(
                    "eval.metrics: `{}` does not apply to task.target `{}`; expected some of {}",
                    bad.as_str(),
                    super::yaml_name(&s.task.target),
                    valid
                        .iter()
                        .map(|m| m.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
        }
    }
}

fn check_sizes(
    s: &Sections,
    kind: ExperimentKind,
    rare: bool,
    text: &str,
    file: &str,
) -> Result<(), SpecError> {
    let checks = [
        (
            "image_size",
            s.data.image_size >= 8,
            "data.image_size must be at least 8 pixels",
        ),
        (
            "train_size",
            s.data.train_size >= 2,
            "data.train_size must be at least 2",
        ),
        (
            "test_size",
            s.data.test_size >= 2,
            "data.test_size must be at least 2",
        ),
        (
            "positive_fraction",
            s.data.positive_fraction.is_none_or(|f| f > 0.0 && f < 1.0),
            "data.positive_fraction must be strictly between 0 and 1",
        ),
        (
            "early_stopping_patience",
            s.train.early_stopping_patience.is_none()
                || s.data.val_size > 0
                || s.data.val_fraction > 0.0,
            "train.early_stopping_patience needs a validation set: set data.val_fraction or data.val_size > 0",
        ),
        (
            "val_fraction",
            (0.0..0.9).contains(&s.data.val_fraction),
            "data.val_fraction must be in [0, 0.9)",
        ),
        (
            "source",
            !s.pretrain.pretrains() || (s.data.image_size >= 16 && s.pretrain.n >= 2),
            "pretrain needs data.image_size >= 16 and pretrain.n >= 2",
        ),
        (
            s.pretrain.problem().map_or("pretrain", |p| p.0),
            s.pretrain.problem().is_none(),
            s.pretrain.problem().map_or("", |p| p.1),
        ),
        (
            "catalog",
            (s.data.source == crate::spec::DataSource::Catalog) == s.data.catalog.is_some(),
            "data.catalog is required for data.source `catalog`, and only there",
        ),
        (
            "catalog",
            s.data
                .catalog
                .as_ref()
                .is_none_or(|c| c.problem().is_none()),
            s.data
                .catalog
                .as_ref()
                .and_then(|c| c.problem())
                .unwrap_or(""),
        ),
        (
            "label_column",
            s.task.target != crate::spec::Target::Label
                || s.data
                    .catalog
                    .as_ref()
                    .is_some_and(|c| c.label_column.is_some()),
            "task.target `label` needs data.catalog.label_column",
        ),
        (
            "catalog",
            kind != ExperimentKind::Train
                || s.data
                    .catalog
                    .as_ref()
                    .is_none_or(|c| c.file_column.is_some() || c.file_pattern.is_some()),
            "data.catalog needs file_column or file_pattern (the images to train on)",
        ),
        (
            "classes",
            s.task.target != crate::spec::Target::Class
                || s.data
                    .catalog
                    .as_ref()
                    .is_some_and(|c| c.label_column.is_some() && c.classes.is_some()),
            "task.target `class` needs data.catalog.label_column and data.catalog.classes",
        ),
        (
            "question",
            (kind == ExperimentKind::Votes)
                == s.task
                    .question
                    .as_deref()
                    .is_some_and(|q| crate::tree::Tree::decals().question_index(q).is_some()),
            "kind `votes` needs task.question, a question of the decals tree (smooth-or-featured, \
             disk-edge-on, has-spiral-arms, bar, ...), and only kind `votes` takes one",
        ),
        (
            "votes",
            s.task.target != crate::spec::Target::Votes
                || s.data.catalog.as_ref().is_some_and(|c| c.votes.is_some()),
            "task.target `votes` needs data.catalog.votes (the tree: decals)",
        ),
        (
            "source",
            match kind {
                ExperimentKind::Stream | ExperimentKind::Detection => {
                    s.data.source == crate::spec::DataSource::Synthetic
                }
                ExperimentKind::Representations => s.data.source != crate::spec::DataSource::Shapes,
                _ => true,
            },
            "kinds `stream` and `detection` render galaxies of the synthetic universe (data.source \
             must be `synthetic`); kind `representations` embeds the synthetic universe or a catalogue \
             (`synthetic` or `catalog`, not `shapes`)",
        ),
        (
            "val_size",
            kind != ExperimentKind::Detection || s.data.val_size == 0,
            "kind `detection` holds out data.val_fraction of the labelled galaxies for validation; \
             data.val_size (a separate validation draw) is not supported",
        ),
        (
            "tta_views",
            s.eval.tta_views.is_none_or(|v| v == 4 || v == 8),
            "eval.tta_views must be 4 or 8",
        ),
        (
            "positive_fraction",
            s.task.target.is_binary() || s.data.positive_fraction.is_none(),
            "data.positive_fraction applies to binary targets only",
        ),
        (
            "rare",
            !rare
                || (kind == ExperimentKind::Train
                    && s.data.source == crate::spec::DataSource::Synthetic
                    && s.task.target.is_binary()),
            "rare: needs kind `train` on a binary target of data.source `synthetic` (its \
             `oracle` arm renders new positives and its `generated` arm conditions on the \
             universe's Galaxy Zoo answers)",
        ),
        (
            "step_every",
            s.train.step_every >= 1,
            "train.step_every must be at least 1 epoch",
        ),
        (
            "batch_size",
            s.train.batch_size >= 1,
            "train.batch_size must be at least 1",
        ),
        (
            "epochs",
            s.train.epochs >= 1,
            "train.epochs must be at least 1",
        ),
        (
            "lr",
            s.train.lr > 0.0 && s.train.lr.is_finite(),
            "train.lr must be a positive number",
        ),
        (
            "widths",
            !s.model.widths.is_empty() && s.model.widths.iter().all(|&w| w > 0),
            "model.widths must be a non-empty list of positive channel counts",
        ),
        (
            "stem",
            s.model.stem.is_small() || s.model.backbone == crate::spec::Backbone::Resnet,
            "model.stem `imagenet` applies to backbone `resnet` only",
        ),
        (
            "views",
            crate::spec::SUPPORTED_VIEWS.contains(&s.model.views),
            "model.views must be 8 (rotations x flip), 4 (rotations) or 16 (Dieleman's parts)",
        ),
    ];
    for (key, ok, msg) in checks {
        if !ok {
            let (line, col) = locate(text, key);
            return Err(SpecError::At {
                file: file.into(),
                line,
                col,
                msg: msg.into(),
            });
        }
    }
    let section = match kind {
        ExperimentKind::Stream => s.stream.check().map(|c| ("stream", c)),
        ExperimentKind::Representations => s.repr.check().map(|c| ("repr", c)),
        ExperimentKind::Detection => s.detect.check().map(|c| ("detect", c)),
        _ => None,
    };
    let section = section.or_else(|| s.rare.check().map(|c| ("rare", c)).filter(|_| rare));
    if let Some((name, (key, msg))) = section {
        let (line, col) = super::load::locate_in(text, name, key, None);
        return Err(SpecError::At {
            file: file.into(),
            line,
            col,
            msg: format!("{name}.{msg}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
