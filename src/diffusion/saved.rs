//! A trained diffusion model on disk, what `gzbench generate` samples from: `model.json` (the
//! U-Net's shape, the noise steps, the image size, the condition's answer names, the sampling
//! defaults), `weights.safetensors` and `conditions.csv` (the condition vector of every galaxy
//! the model was trained on, with its label, so a user can ask for the conditions of a class).
//!
//! A `generative_augmentation` run writes its model under `<run>/diffusion/` (not committed:
//! `results/runs/*/diffusion/` is ignored by git).

use super::{Diffusion, DiffusionSpec, unet::UNetSpec};
use candle_core::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `model.json`.
pub const MODEL: &str = "model.json";
/// `weights.safetensors`.
pub const WEIGHTS: &str = "weights.safetensors";
/// `conditions.csv`.
pub const CONDITIONS: &str = "conditions.csv";

/// What `model.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedModel {
    pub unet: UNetSpec,
    pub noise_steps: usize,
    /// What the network predicts (absent in files of `eps` models written before it counted).
    #[serde(default)]
    pub prediction: super::Prediction,
    /// Side of the square images (channels: `unet.channels`), values in `[-1, 1]` for the
    /// display stretch `(x + 1) / 2`.
    pub image_size: usize,
    /// Names of the condition vector's entries (`unet.cond_dim` of them).
    pub condition_names: Vec<String>,
    /// The binary label of `conditions.csv` (e.g. `ring`).
    pub label: String,
    /// Sampling defaults: DDIM steps and guidance weight.
    pub sample_steps: usize,
    pub guidance: f64,
    /// Optimizer steps the model was trained for.
    pub train_steps: usize,
}

/// One training galaxy's condition.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionRow {
    pub id: u64,
    pub label: bool,
    pub values: Vec<f32>,
}

/// Why a saved model cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SavedError {
    #[error("{path}: {msg}")]
    File { path: PathBuf, msg: String },
}

fn err(path: &Path, msg: impl std::fmt::Display) -> SavedError {
    SavedError::File {
        path: path.to_path_buf(),
        msg: msg.to_string(),
    }
}

/// Write `model` with `meta` and the training conditions `rows` into `dir` (created).
pub fn save(
    dir: &Path,
    model: &Diffusion,
    meta: &SavedModel,
    rows: &[ConditionRow],
) -> Result<(), SavedError> {
    std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
    let path = dir.join(MODEL);
    let json = serde_json::to_vec_pretty(meta).map_err(|e| err(&path, e))?;
    crate::store::write_atomic(&path, &json).map_err(|e| err(&path, e))?;
    let path = dir.join(WEIGHTS);
    model.params.save(&path).map_err(|e| err(&path, e))?;
    let path = dir.join(CONDITIONS);
    let mut text = format!("id,{},{}\n", meta.label, meta.condition_names.join(","));
    for r in rows {
        let v: Vec<String> = r.values.iter().map(|v| v.to_string()).collect();
        text.push_str(&format!("{},{},{}\n", r.id, r.label as u8, v.join(",")));
    }
    crate::store::write_atomic(&path, text.as_bytes()).map_err(|e| err(&path, e))
}

/// The model in `dir`, its `model.json` and its conditions; sampling noise drawn from `seed`.
pub fn load(
    dir: &Path,
    seed: u64,
    dev: &Device,
) -> Result<(Diffusion, SavedModel, Vec<ConditionRow>), SavedError> {
    let path = dir.join(MODEL);
    let text = std::fs::read(&path).map_err(|e| {
        err(
            &path,
            format!("{e}; expected a diffusion model folder (model.json, weights.safetensors, conditions.csv)"),
        )
    })?;
    let meta: SavedModel = serde_json::from_slice(&text).map_err(|e| err(&path, e))?;
    if meta.condition_names.len() != meta.unet.cond_dim {
        return Err(err(
            &path,
            format!(
                "{} condition names for a condition of {}; expected one per entry",
                meta.condition_names.len(),
                meta.unet.cond_dim
            ),
        ));
    }
    let spec = DiffusionSpec {
        unet: meta.unet.clone(),
        steps: meta.noise_steps,
        prediction: meta.prediction,
        p_uncond: 0.0,
        lr: 1e-3,
    };
    let model = Diffusion::new(&spec, seed, dev).map_err(|e| err(&path, e))?;
    let path = dir.join(WEIGHTS);
    model.params.load(&path).map_err(|e| err(&path, e))?;
    let rows = read_conditions(&dir.join(CONDITIONS), &meta)?;
    Ok((model, meta, rows))
}

/// `conditions.csv` of `meta`: every row `id,label,values...` with the header `save` writes.
fn read_conditions(path: &Path, meta: &SavedModel) -> Result<Vec<ConditionRow>, SavedError> {
    let text = std::fs::read_to_string(path).map_err(|e| err(path, e))?;
    let mut lines = text.lines();
    let header = format!("id,{},{}", meta.label, meta.condition_names.join(","));
    if lines.next() != Some(header.as_str()) {
        return Err(err(
            path,
            "line 1: the header does not match model.json's condition names",
        ));
    }
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let at = |msg: String| err(path, format!("line {}: {msg}", i + 2));
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != 2 + meta.condition_names.len() {
            return Err(at(format!(
                "{} cells; expected {}",
                cells.len(),
                2 + meta.condition_names.len()
            )));
        }
        let id = cells[0]
            .parse()
            .map_err(|_| at(format!("id `{}` is not an integer", cells[0])))?;
        let label = match cells[1] {
            "0" => false,
            "1" => true,
            other => return Err(at(format!("label `{other}`; expected 0 or 1"))),
        };
        let values = cells[2..]
            .iter()
            .map(|c| {
                c.parse::<f32>()
                    .map_err(|_| at(format!("`{c}` is not a number")))
            })
            .collect::<Result<_, _>>()?;
        rows.push(ConditionRow { id, label, values });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_model_loads_back_and_samples_the_same() {
        let spec = DiffusionSpec {
            unet: UNetSpec {
                channels: 3,
                base: 8,
                mults: vec![1, 2],
                cond_dim: 2,
                groups: 4,
            },
            steps: 10,
            prediction: crate::diffusion::Prediction::V,
            p_uncond: 0.1,
            lr: 1e-3,
        };
        let dev = Device::Cpu;
        let model = Diffusion::new(&spec, 3, &dev).unwrap();
        let meta = SavedModel {
            unet: spec.unet.clone(),
            noise_steps: 10,
            prediction: crate::diffusion::Prediction::V,
            image_size: 8,
            condition_names: vec!["a".into(), "b".into()],
            label: "ring".into(),
            sample_steps: 5,
            guidance: 2.0,
            train_steps: 0,
        };
        let rows = vec![
            ConditionRow {
                id: 7,
                label: true,
                values: vec![0.25, 1.0],
            },
            ConditionRow {
                id: 9,
                label: false,
                values: vec![0.0, 0.5],
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &model, &meta, &rows).unwrap();
        let (back, meta_back, rows_back) = load(dir.path(), 3, &dev).unwrap();
        assert_eq!((meta_back, rows_back), (meta, rows));
        let cond = candle_core::Tensor::new(&[[0.25f32, 1.0]], &dev).unwrap();
        let a = model
            .sample(&cond, 0, 5, 2.0, [3, 8, 8])
            .unwrap()
            .flatten_all()
            .unwrap();
        let b = back
            .sample(&cond, 0, 5, 2.0, [3, 8, 8])
            .unwrap()
            .flatten_all()
            .unwrap();
        assert_eq!(a.to_vec1::<f32>().unwrap(), b.to_vec1::<f32>().unwrap());
        std::fs::write(dir.path().join(CONDITIONS), "id,ring,a,b\n1,2,0,0\n").unwrap();
        let e = load(dir.path(), 3, &dev).err().unwrap().to_string();
        assert!(e.contains("line 2: label `2`"), "{e}");
    }
}
