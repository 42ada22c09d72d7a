//! Checkpoints: `checkpoint.safetensors` (every parameter and buffer by name, the optimizer state
//! as `opt.<i>.m|v`, and a second weight set as `best.<name>`: early stopping's best weights so
//! far, or a diffusion model's moving average of its weights) plus `checkpoint.json` (the
//! histories, the second set's score — the best validation loss, or the moving average's decay —
//! and the optimizer step). Both are written atomically; the
//! JSON is written last and names the tensor file's SHA-256, so a crash between the two writes
//! is detected and the checkpoint ignored rather than half-loaded.

use super::History;
use super::optim::Optim;
use crate::model::Params;
use candle_core::{Device, Result, Tensor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;

const TENSORS: &str = "checkpoint.safetensors";
const META: &str = "checkpoint.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub history: History,
    pub best_val: Option<f64>,
    pub step: u64,
    /// SHA-256 of the tensor file this metadata belongs to.
    pub tensors_sha256: String,
}

pub struct Loaded {
    pub meta: Meta,
    pub best: Option<HashMap<String, Tensor>>,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> candle_core::Error {
    candle_core::Error::Msg(format!("{}: {e}", path.display()))
}

/// Write a checkpoint into `dir`.
pub fn save(
    dir: &Path,
    params: &Params,
    opt: &Optim,
    history: &History,
    best: Option<(f64, &HashMap<String, Tensor>)>,
) -> Result<()> {
    let (mut tensors, step) = opt.state();
    for name in params.names() {
        if let Some(v) = params.var(&name) {
            tensors.insert(name, v.as_tensor().clone());
        }
    }
    if let Some((_, b)) = best {
        for (n, t) in b {
            tensors.insert(format!("best.{n}"), t.clone());
        }
    }
    let bytes = safetensors::serialize(
        tensors
            .iter()
            .map(|(k, t)| Ok((k.clone(), TensorBytes::new(t)?)))
            .collect::<Result<Vec<_>>>()?,
        None,
    )
    .map_err(|e| io_err(&dir.join(TENSORS), e))?;
    let meta = Meta {
        history: history.clone(),
        best_val: best.map(|(v, _)| v),
        step,
        tensors_sha256: hex(&Sha256::digest(&bytes)),
    };
    let json = serde_json::to_vec_pretty(&meta).expect("checkpoint meta serialises");
    for (name, data) in [(TENSORS, &bytes), (META, &json)] {
        crate::atomic::write(&dir.join(name), data).map_err(|(p, e)| io_err(&p, e))?;
    }
    Ok(())
}

/// Load the checkpoint in `dir` into `params` and `opt`; `None` if there is none (or only a
/// torn one, which is ignored).
pub fn load(
    dir: &Path,
    params: &Params,
    opt: &mut Optim,
    device: &Device,
) -> Result<Option<Loaded>> {
    let (tp, mp) = (dir.join(TENSORS), dir.join(META));
    let (Ok(bytes), Ok(json)) = (std::fs::read(&tp), std::fs::read(&mp)) else {
        return Ok(None);
    };
    let meta: Meta = serde_json::from_slice(&json).map_err(|e| io_err(&mp, e))?;
    if meta.tensors_sha256 != hex(&Sha256::digest(&bytes)) {
        return Ok(None);
    }
    let mut tensors = candle_core::safetensors::load_buffer(&bytes, device)?;
    for name in params.names() {
        let t = tensors
            .remove(&name)
            .ok_or_else(|| io_err(&tp, format!("missing tensor `{name}`")))?;
        params.var(&name).expect("listed name").set(&t)?;
    }
    let mut best = HashMap::new();
    let mut state = HashMap::new();
    for (k, t) in tensors {
        match k.strip_prefix("best.") {
            Some(n) => {
                best.insert(n.to_string(), t);
            }
            None => {
                state.insert(k, t);
            }
        }
    }
    opt.restore(&state, meta.step);
    Ok(Some(Loaded {
        best: (!best.is_empty()).then_some(best),
        meta,
    }))
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A tensor's f32 bytes for `safetensors::serialize`.
struct TensorBytes {
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl TensorBytes {
    fn new(t: &Tensor) -> Result<Self> {
        let v = t.flatten_all()?.to_vec1::<f32>()?;
        Ok(TensorBytes {
            shape: t.dims().to_vec(),
            data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        })
    }
}

impl safetensors::View for TensorBytes {
    fn dtype(&self) -> safetensors::Dtype {
        safetensors::Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}
