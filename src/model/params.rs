//! The parameter store of one model: named, seeded tensors (trainable weights and buffers),
//! and their safetensors import / export.
//!
//! Every tensor has a dotted name that follows the builder path (`backbone.layer1.0.conv1.weight`,
//! `head.weight`) and is drawn from its own random stream `model/init/<name>`, so adding a layer
//! never changes the initial values of the others. Names of a backbone are exactly timm's /
//! torchvision's under the `backbone.` prefix, so real encoder weights load with
//! [`Params::import_encoder`]`(file, "backbone.", "")` (checked: every key compared, see
//! `model::import`, which also owns [`Params::load_prefixed`] and the name / shape comparison
//! behind it; errors are `model::load_error`'s). This module does no compute.
//!
//! ```
//! use gzbench::model::Params;
//! let p = Params::new(3);
//! let w = p.uniform("head.weight", &[2, 4], 0.5, &candle_core::Device::Cpu).unwrap();
//! assert_eq!(w.dims(), &[2, 4]);
//! assert_eq!(p.names(), vec!["head.weight".to_string()]);
//! ```

use super::load_error::ParamsError;
use crate::rng::stream;
use candle_core::{DType, Device, Result, Tensor, Var};
use rand_distr::{Distribution, Uniform};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

/// Named parameters of one model: trainable weights and buffers, seeded per name.
pub struct Params {
    seed: u64,
    vars: Mutex<BTreeMap<String, Var>>,
    trainable: Mutex<Vec<(String, Var)>>,
}

impl Params {
    pub fn new(seed: u64) -> Self {
        Params {
            seed,
            vars: Mutex::new(BTreeMap::new()),
            trainable: Mutex::new(Vec::new()),
        }
    }

    /// The seed every initial value (and dropout mask) is drawn under.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A trainable tensor drawn uniformly from `[-bound, bound]` (Kaiming-uniform style bounds).
    pub fn uniform(
        &self,
        name: &str,
        shape: &[usize],
        bound: f64,
        device: &Device,
    ) -> Result<Tensor> {
        let mut r = stream(self.seed, &format!("model/init/{name}"));
        let n: usize = shape.iter().product();
        let b = if bound.is_finite() && bound > 0.0 {
            bound as f32
        } else {
            0.0
        };
        let v: Vec<f32> = match Uniform::new_inclusive(-b, b) {
            Ok(u) => (0..n).map(|_| u.sample(&mut r)).collect(),
            Err(_) => vec![0.0; n],
        };
        self.insert(name, Tensor::from_vec(v, shape, device)?, true)
    }

    /// A constant tensor, trainable or a buffer.
    pub fn constant(
        &self,
        name: &str,
        shape: &[usize],
        value: f64,
        trainable: bool,
        device: &Device,
    ) -> Result<Tensor> {
        self.insert(
            name,
            (Tensor::ones(shape, DType::F32, device)? * value)?,
            trainable,
        )
    }

    fn insert(&self, name: &str, t: Tensor, trainable: bool) -> Result<Tensor> {
        let var = Var::from_tensor(&t)?;
        let mut vars = self.vars.lock().expect("param lock");
        if vars.contains_key(name) {
            candle_core::bail!("parameter `{name}` is defined twice (model builder bug)");
        }
        vars.insert(name.to_string(), var.clone());
        if trainable {
            self.trainable
                .lock()
                .expect("param lock")
                .push((name.to_string(), var.clone()));
        }
        Ok(var.as_tensor().clone())
    }

    /// The variable behind a parameter or buffer (e.g. to update a buffer in place).
    pub fn var(&self, name: &str) -> Option<Var> {
        self.vars.lock().expect("param lock").get(name).cloned()
    }

    /// Trainable variables in creation order (the optimizer's parameter list).
    pub fn trainable(&self) -> Vec<Var> {
        self.trainable_named().into_iter().map(|(_, v)| v).collect()
    }

    /// Trainable variables with their names, in creation order.
    pub fn trainable_named(&self) -> Vec<(String, Var)> {
        self.trainable.lock().expect("param lock").clone()
    }

    /// Trainable variables whose name starts with `prefix` (`"backbone."` or `"head."`), in
    /// creation order: e.g. the head alone when the backbone is frozen.
    pub fn trainable_with_prefix(&self, prefix: &str) -> Vec<Var> {
        self.trainable_named()
            .into_iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .map(|(_, v)| v)
            .collect()
    }

    /// All names (parameters and buffers), sorted.
    pub fn names(&self) -> Vec<String> {
        self.vars
            .lock()
            .expect("param lock")
            .keys()
            .cloned()
            .collect()
    }

    /// Names starting with `prefix`, sorted.
    pub fn names_with_prefix(&self, prefix: &str) -> Vec<String> {
        self.names()
            .into_iter()
            .filter(|n| n.starts_with(prefix))
            .collect()
    }

    /// Current values of every parameter and buffer, by name.
    pub fn tensors(&self) -> BTreeMap<String, Tensor> {
        self.vars
            .lock()
            .expect("param lock")
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect()
    }

    /// Load every parameter and buffer from a safetensors file holding exactly these names.
    pub fn load(&self, file: &Path) -> std::result::Result<(), ParamsError> {
        self.load_prefixed(file, "", "")
    }

    /// Parameters and buffers whose name starts with `prefix`, sorted by name.
    pub(super) fn selected(&self, prefix: &str) -> Vec<(String, Var)> {
        self.vars
            .lock()
            .expect("param lock")
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect()
    }

    /// Save every parameter and buffer to a safetensors file (written atomically).
    pub fn save(&self, file: &Path) -> std::result::Result<(), ParamsError> {
        let write = |msg: String| ParamsError::Write {
            file: file.to_path_buf(),
            msg,
        };
        let tensors = self.tensors();
        let mut cpu = Vec::with_capacity(tensors.len());
        for (n, t) in tensors {
            let t = t
                .to_device(&Device::Cpu)
                .and_then(|t| t.contiguous())
                .map_err(|e| write(e.to_string()))?;
            cpu.push((n, t));
        }
        let bytes = safetensors::tensor::serialize(cpu.iter().map(|(n, t)| (n.as_str(), t)), None)
            .map_err(|e| write(e.to_string()))?;
        crate::atomic::write(file, &bytes).map_err(|(p, e)| write(format!("{}: {e}", p.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(seed: u64) -> Params {
        let p = Params::new(seed);
        let d = Device::Cpu;
        p.uniform("backbone.conv.weight", &[2, 3], 1.0, &d).unwrap();
        p.constant("backbone.bn.running_var", &[2], 1.0, false, &d)
            .unwrap();
        p.uniform("head.weight", &[1, 2], 1.0, &d).unwrap();
        p
    }

    fn values(p: &Params) -> BTreeMap<String, Vec<f32>> {
        p.tensors()
            .into_iter()
            .map(|(n, t)| (n, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
            .collect()
    }

    #[test]
    fn save_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.safetensors");
        let a = store(1);
        a.var("backbone.bn.running_var")
            .unwrap()
            .set(&Tensor::new(&[2.0f32, 3.0], &Device::Cpu).unwrap())
            .unwrap();
        a.save(&file).unwrap();
        let b = store(2);
        assert_ne!(values(&a), values(&b));
        b.load(&file).unwrap();
        assert_eq!(values(&a), values(&b));
    }

    #[test]
    fn prefixed_load_and_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.safetensors");
        let a = store(1);
        a.save(&file).unwrap();
        // Only the head is taken from the file.
        let b = store(2);
        let before = values(&b);
        b.load_prefixed(&file, "head.", "head.").unwrap();
        let after = values(&b);
        assert_eq!(after["head.weight"], values(&a)["head.weight"]);
        assert_eq!(
            after["backbone.conv.weight"],
            before["backbone.conv.weight"]
        );

        // A missing tensor names the file and the tensor; nothing is changed.
        let err = b.load_prefixed(&file, "backbone.", "").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("w.safetensors") && msg.contains("`bn.running_var`"),
            "{msg}"
        );
        assert_eq!(
            values(&b)["backbone.conv.weight"],
            before["backbone.conv.weight"]
        );

        // A mis-shaped tensor names both shapes.
        let c = Params::new(0);
        c.uniform("head.weight", &[3, 2], 1.0, &Device::Cpu)
            .unwrap();
        let msg = c
            .load_prefixed(&file, "head.", "head.")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("[1, 2]") && msg.contains("[3, 2]"), "{msg}");

        let msg = c
            .load(&dir.path().join("nope.safetensors"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("nope.safetensors"), "{msg}");
    }

    #[test]
    fn one_by_one_conv_kernels_load_into_linear_weights() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("conv.safetensors");
        let a = Params::new(1);
        a.uniform("mlp.fc1.weight", &[4, 2, 1, 1], 1.0, &Device::Cpu)
            .unwrap();
        a.save(&file).unwrap();
        let b = Params::new(2);
        b.uniform("mlp.fc1.weight", &[4, 2], 1.0, &Device::Cpu)
            .unwrap();
        b.load(&file).unwrap();
        let flat = |p: &Params| values(p)["mlp.fc1.weight"].clone();
        assert_eq!(flat(&a), flat(&b));
        let c = Params::new(2);
        c.uniform("mlp.fc1.weight", &[2, 4], 1.0, &Device::Cpu)
            .unwrap();
        assert!(c.load(&file).is_err());
    }

    #[test]
    fn prefixes_split_backbone_and_head() {
        let p = store(0);
        assert_eq!(p.trainable().len(), 2);
        assert_eq!(p.trainable_with_prefix("head.").len(), 1);
        assert_eq!(
            p.names_with_prefix("backbone."),
            vec!["backbone.bn.running_var", "backbone.conv.weight"]
        );
        assert!(
            p.constant("head.weight", &[1], 0.0, true, &Device::Cpu)
                .is_err()
        );
    }
}
