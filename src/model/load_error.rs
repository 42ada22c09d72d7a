//! Why loading or saving a model's parameters failed: [`ParamsError`] (every variant names the
//! file) and [`ImportMismatch`], every difference between an encoder file and the model (from
//! `Params::import_encoder`). A leaf module: `model::params` and `model::import` both use it.

use std::fmt;
use std::path::PathBuf;

/// Why loading or saving parameters failed; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    #[error("cannot read weights file {file}: {msg}")]
    Read { file: PathBuf, msg: String },
    #[error(
        "weights file {file} has no tensor `{name}` (needed for parameter `{param}`); \
         it holds {available} tensors, e.g. {example}"
    )]
    Missing {
        file: PathBuf,
        name: String,
        param: String,
        available: usize,
        example: String,
    },
    #[error(
        "weights file {file}: tensor `{name}` has shape {found:?} but parameter `{param}` \
         needs {expected:?}; check the model configuration (widths, depths) matches the file"
    )]
    Shape {
        file: PathBuf,
        name: String,
        param: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("no parameter starts with `{prefix}` (weights file {file})")]
    NoParams { file: PathBuf, prefix: String },
    #[error("cannot write weights file {file}: {msg}")]
    Write { file: PathBuf, msg: String },
    /// An encoder file that does not match the model, every difference listed (from
    /// [`Params::import_encoder`](crate::model::Params::import_encoder)).
    #[error("{0}")]
    Mismatch(Box<ImportMismatch>),
}

/// How many names of each kind an error lists.
const SHOW: usize = 8;

/// The first `SHOW` items, then how many more.
pub(super) fn list<T>(items: &[T], show: impl Fn(&T) -> String) -> String {
    let mut parts: Vec<String> = items.iter().take(SHOW).map(show).collect();
    if items.len() > SHOW {
        parts.push(format!("... and {} more", items.len() - SHOW));
    }
    parts.join(", ")
}

/// Everything that keeps a file from loading into a model ([`ParamsError::Mismatch`]); names
/// are the file's (with the file prefix), sorted.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportMismatch {
    pub file: PathBuf,
    /// The backbone the parameters belong to (`resnet`, `convnext`, `efficientnet`), when
    /// recognised.
    pub backbone: Option<String>,
    pub file_prefix: String,
    /// Tensors the model needs that the file lacks: name, model shape.
    pub missing: Vec<(String, Vec<usize>)>,
    /// File tensors under the prefix that match no parameter (and are no classifier head or
    /// BatchNorm counter): name, file shape.
    pub unexpected: Vec<(String, Vec<usize>)>,
    /// Name, file shape, model shape.
    pub misshaped: Vec<(String, Vec<usize>, Vec<usize>)>,
}

impl fmt::Display for ImportMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (missing, unexpected, misshaped) = (&self.missing, &self.unexpected, &self.misshaped);
        let file_prefix = self.file_prefix.as_str();
        let what = self
            .backbone
            .as_ref()
            .map_or("the model's parameters".to_string(), |b| {
                format!("the {b} backbone")
            });
        let mut parts = Vec::new();
        if !missing.is_empty() {
            let l = list(missing, |(n, s)| format!("{n} {s:?}"));
            parts.push(format!("{} missing ({l})", missing.len()));
        }
        if !unexpected.is_empty() {
            let l = list(unexpected, |(n, s)| format!("{n} {s:?}"));
            parts.push(format!("{} unexpected ({l})", unexpected.len()));
        }
        if !misshaped.is_empty() {
            let l = list(misshaped, |(n, f, m)| {
                format!("{n}: file {f:?}, model {m:?}")
            });
            parts.push(format!("{} mis-shaped ({l})", misshaped.len()));
        }
        let names = self
            .backbone
            .as_ref()
            .map_or("the model's".to_string(), |b| format!("timm {b}"));
        write!(
            f,
            "{}: does not match {what}: {}; expected {names} names under prefix {file_prefix:?}",
            self.file.display(),
            parts.join(", ")
        )?;
        // A prefix the file's names carry: `encoder.stem.0.weight` for a missing `stem.0.weight`.
        let carried = missing.iter().find_map(|(m, _)| {
            let rest = &m[file_prefix.len()..];
            unexpected.iter().find_map(|(u, _)| {
                let head = u.strip_suffix(rest)?;
                (head.len() > file_prefix.len() && head.ends_with('.')).then(|| head.to_string())
            })
        });
        if let Some(p) = carried {
            write!(
                f,
                "; the file's names seem to carry the prefix {p:?}: use it as the file prefix, \
                 or strip it with `scripts/convert_zoobot.py --strip-prefix {p}`"
            )?;
        } else if missing.is_empty() && unexpected.is_empty() {
            write!(
                f,
                "; check that the model configuration (depths, dims, width_multiplier) matches \
                 the file"
            )?;
        }
        // A ResNet stem of the other kind: `conv1.weight` 7x7 in the file, 3x3 in the model.
        let stem = misshaped.iter().find_map(|(n, file, model)| {
            let kernel = |s: &[usize]| (s.len() == 4).then(|| (s[2], s[3]));
            (n.strip_prefix(file_prefix) == Some("conv1.weight"))
                .then(|| (kernel(file), kernel(model)))
        });
        match stem {
            Some((Some((7, 7)), Some((3, 3)))) => write!(
                f,
                "; the file's `conv1` is a 7x7 ImageNet stem (timm / Zoobot ResNets): set \
                 `model.stem: imagenet`"
            ),
            Some((Some((3, 3)), Some((7, 7)))) => write!(
                f,
                "; the file's `conv1` is a 3x3 small-image stem: set `model.stem: small`"
            ),
            _ => Ok(()),
        }
    }
}
