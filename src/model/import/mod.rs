//! Weight import: comparing a safetensors file's tensors with a model's parameters, by name
//! and shape, and the checked encoder import built on it.
//!
//! This module owns the comparison behind every load ([`Params::load_prefixed`], which stops
//! at the first problem) and [`Params::import_encoder`], which loads a timm-format encoder
//! (a Zoobot / timm ConvNeXt, ResNet or EfficientNet state dict converted with
//! `scripts/convert_zoobot.py`)
//! into the matching backbone and, when the file does not fit, lists every missing,
//! unexpected and mis-shaped tensor in one [`ParamsError::Mismatch`]. Classifier heads of
//! timm checkpoints (`fc.*`, `head.fc.*`, ...) and BatchNorm `num_batches_tracked` counters
//! are not part of an encoder: they are skipped and reported in the [`ImportReport`]. A 1x1
//! conv kernel (`out x in x 1 x 1`, timm's `conv_mlp` ConvNeXt MLPs such as convnext_nano's)
//! loads into a linear weight (`out x in`) and back. Nothing is changed unless every
//! parameter matches; any float dtype of the file is cast to the parameter's. Fixtures:
//! `src/model/fixtures/timm_*.safetensors` (PyTorch rewrites with timm's names, written by
//! `benches/peers/timm_fixture.py`) and `src/model/fixtures/timm/` (timm's own `resnet18`,
//! `convnext_nano` and `efficientnet_b0` with the features timm computes, and the key / shape
//! lists of timm's full-size variants, written by `benches/peers/timm_fixtures.py`; tested in
//! `timm_tests`).
//!
//! ```no_run
//! # use gzbench::model::{Model, Params};
//! # fn demo(cfg: &gzbench::spec::ModelConfig) -> anyhow::Result<()> {
//! let params = Params::new(0);
//! let model = Model::build(cfg, 3, 64, &params, &candle_core::Device::Cpu)?;
//! let report = params.import_encoder("encoder.safetensors".as_ref(), "backbone.", "")?;
//! println!("{report}");
//! # Ok(()) }
//! ```

use super::load_error::{ImportMismatch, ParamsError, list};
use super::params::Params;
use candle_core::{Tensor, Var};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

/// File keys (relative to the file prefix) of timm classifier heads: skipped by
/// [`Params::import_encoder`] unless a parameter takes them. timm's ConvNeXt `head.norm` is
/// part of gzbench's convnext features and is loaded.
pub const CLASSIFIER_KEYS: &[&str] = &[
    "fc.",
    "head.fc.",
    "head.weight",
    "head.bias",
    "classifier.",
    "last_linear.",
];

/// What [`Params::import_encoder`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportReport {
    pub file: PathBuf,
    /// Parameters set from the file, sorted.
    pub loaded: Vec<String>,
    /// Of those, the ones that took a 1x1 conv kernel as a linear weight.
    pub reshaped: Vec<String>,
    /// File tensors skipped (classifier heads, BatchNorm counters), sorted.
    pub ignored: Vec<String>,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: loaded {} tensors ({} from 1x1 conv kernels); ignored {}",
            self.file.display(),
            self.loaded.len(),
            self.reshaped.len(),
            self.ignored.len()
        )?;
        if !self.ignored.is_empty() {
            write!(f, " ({})", list(&self.ignored, |k| k.clone()))?;
        }
        Ok(())
    }
}

/// One parameter the file cannot fill.
pub(super) enum Problem {
    Missing {
        param: String,
        name: String,
        shape: Vec<usize>,
    },
    Shape {
        param: String,
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
}

/// The comparison of a file with the selected parameters.
pub(super) struct Plan {
    /// Parameter name, variable, value (reshaped, cast) for every parameter that matches.
    pub updates: Vec<(String, Var, Tensor)>,
    /// Parameters the file cannot fill, in parameter-name order.
    pub problems: Vec<Problem>,
    /// Parameters that take a 1x1 conv kernel.
    pub reshaped: Vec<String>,
    /// File tensors under the file prefix that no parameter takes: name, shape (sorted).
    pub unused: Vec<(String, Vec<usize>)>,
}

fn read_error(file: &Path, e: impl fmt::Display) -> ParamsError {
    ParamsError::Read {
        file: file.to_path_buf(),
        msg: e.to_string(),
    }
}

/// A shape without its trailing size-1 dimensions.
fn squeeze_trailing(dims: &[usize]) -> &[usize] {
    let keep = dims.iter().rposition(|&d| d != 1).map_or(0, |i| i + 1);
    &dims[..keep]
}

/// Every tensor of `file`, on the device of the selected parameters (an error if none is
/// selected).
pub(super) fn read(
    file: &Path,
    selected: &[(String, Var)],
    prefix: &str,
) -> Result<HashMap<String, Tensor>, ParamsError> {
    let Some((_, first)) = selected.first() else {
        return Err(ParamsError::NoParams {
            file: file.to_path_buf(),
            prefix: prefix.to_string(),
        });
    };
    candle_core::safetensors::load(file, first.device()).map_err(|e| read_error(file, e))
}

impl Plan {
    /// Compare: parameter `<param_prefix><rest>` takes file tensor `<file_prefix><rest>`.
    pub(super) fn new(
        file: &Path,
        selected: &[(String, Var)],
        loaded: &HashMap<String, Tensor>,
        param_prefix: &str,
        file_prefix: &str,
    ) -> Result<Self, ParamsError> {
        let mut plan = Plan {
            updates: Vec::with_capacity(selected.len()),
            problems: Vec::new(),
            reshaped: Vec::new(),
            unused: Vec::new(),
        };
        let mut used = BTreeSet::new();
        for (param, var) in selected {
            let name = format!("{file_prefix}{}", &param[param_prefix.len()..]);
            let Some(t) = loaded.get(&name) else {
                plan.problems.push(Problem::Missing {
                    param: param.clone(),
                    name,
                    shape: var.dims().to_vec(),
                });
                continue;
            };
            used.insert(name.clone());
            let t = if t.dims() != var.dims()
                && squeeze_trailing(t.dims()) == squeeze_trailing(var.dims())
            {
                plan.reshaped.push(param.clone());
                t.reshape(var.dims()).map_err(|e| read_error(file, e))?
            } else if t.dims() != var.dims() {
                plan.problems.push(Problem::Shape {
                    param: param.clone(),
                    name,
                    expected: var.dims().to_vec(),
                    found: t.dims().to_vec(),
                });
                continue;
            } else {
                t.clone()
            };
            let t = t.to_dtype(var.dtype()).map_err(|e| read_error(file, e))?;
            plan.updates.push((param.clone(), var.clone(), t));
        }
        plan.unused = loaded
            .iter()
            .filter(|(k, _)| k.starts_with(file_prefix) && !used.contains(*k))
            .map(|(k, t)| (k.clone(), t.dims().to_vec()))
            .collect();
        plan.unused.sort();
        Ok(plan)
    }
}

/// Set every variable (after all were checked).
pub(super) fn apply(file: &Path, updates: Vec<(String, Var, Tensor)>) -> Result<(), ParamsError> {
    for (_, var, t) in updates {
        var.set(&t).map_err(|e| read_error(file, e))?;
    }
    Ok(())
}

/// Whether an unused file key (relative to the file prefix) is a classifier head or a
/// BatchNorm counter, not part of an encoder.
pub fn is_ignored_key(rest: &str) -> bool {
    rest.ends_with("num_batches_tracked") || CLASSIFIER_KEYS.iter().any(|k| rest.starts_with(k))
}

/// The backbone a set of parameter names belongs to, when it is a timm-named one.
fn backbone_of(selected: &[(String, Var)], param_prefix: &str) -> Option<String> {
    let has = |p: &str| {
        selected
            .iter()
            .any(|(n, _)| n[param_prefix.len()..].starts_with(p))
    };
    if has("conv1.") && has("layer1.") {
        Some("resnet".into())
    } else if has("stem.0.") && has("stages.") {
        Some("convnext".into())
    } else if has("conv_stem.") && has("blocks.") {
        Some("efficientnet".into())
    } else {
        None
    }
}

impl Params {
    /// Load the parameters whose name starts with `param_prefix`: parameter
    /// `<param_prefix><rest>` takes file tensor `<file_prefix><rest>`. Every selected parameter
    /// must be in the file with the same shape (extra tensors in the file are ignored; a 1x1
    /// conv kernel loads into a linear weight); values are cast to the parameter's dtype.
    /// Nothing is changed unless all of them are found. Fails on the first missing or
    /// mis-shaped tensor; [`Params::import_encoder`] is the checked variant for encoder files,
    /// which lists every difference.
    pub fn load_prefixed(
        &self,
        file: &Path,
        param_prefix: &str,
        file_prefix: &str,
    ) -> std::result::Result<(), ParamsError> {
        let selected = self.selected(param_prefix);
        let loaded = read(file, &selected, param_prefix)?;
        let plan = Plan::new(file, &selected, &loaded, param_prefix, file_prefix)?;
        match plan.problems.into_iter().next() {
            Some(Problem::Missing { param, name, .. }) => {
                let mut keys: Vec<&String> = loaded.keys().collect();
                keys.sort();
                Err(ParamsError::Missing {
                    file: file.to_path_buf(),
                    name,
                    param,
                    available: loaded.len(),
                    example: keys
                        .iter()
                        .take(3)
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
            Some(Problem::Shape {
                param,
                name,
                expected,
                found,
            }) => Err(ParamsError::Shape {
                file: file.to_path_buf(),
                name,
                param,
                expected,
                found,
            }),
            None => apply(file, plan.updates),
        }
    }

    /// Load a timm-format encoder: parameter `<param_prefix><rest>` takes file tensor
    /// `<file_prefix><rest>` (for a backbone: `import_encoder(file, "backbone.", "")`). Every
    /// key is compared; unless each selected parameter finds a tensor of its shape (or a 1x1
    /// conv kernel for a linear weight) and every other file tensor under `file_prefix` is a
    /// classifier head or BatchNorm counter, nothing is changed and one
    /// [`ParamsError::Mismatch`] lists all missing, unexpected and mis-shaped tensors.
    pub fn import_encoder(
        &self,
        file: &Path,
        param_prefix: &str,
        file_prefix: &str,
    ) -> Result<ImportReport, ParamsError> {
        let selected = self.selected(param_prefix);
        let loaded = read(file, &selected, param_prefix)?;
        let plan = Plan::new(file, &selected, &loaded, param_prefix, file_prefix)?;
        let (ignored, unexpected): (Vec<_>, Vec<_>) = plan
            .unused
            .into_iter()
            .partition(|(k, _)| is_ignored_key(&k[file_prefix.len()..]));
        if !plan.problems.is_empty() || !unexpected.is_empty() {
            let (mut missing, mut misshaped) = (Vec::new(), Vec::new());
            for p in plan.problems {
                match p {
                    Problem::Missing { name, shape, .. } => missing.push((name, shape)),
                    Problem::Shape {
                        name,
                        expected,
                        found,
                        ..
                    } => misshaped.push((name, found, expected)),
                }
            }
            return Err(ParamsError::Mismatch(Box::new(ImportMismatch {
                file: file.to_path_buf(),
                backbone: backbone_of(&selected, param_prefix),
                file_prefix: file_prefix.to_string(),
                missing,
                unexpected,
                misshaped,
            })));
        }
        let loaded_names = plan.updates.iter().map(|(n, _, _)| n.clone()).collect();
        apply(file, plan.updates)?;
        Ok(ImportReport {
            file: file.to_path_buf(),
            loaded: loaded_names,
            reshaped: plan.reshaped,
            ignored: ignored.into_iter().map(|(k, _)| k).collect(),
        })
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod timm_tests;
