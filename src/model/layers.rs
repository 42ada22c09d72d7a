//! Layers shared by backbones: the parameter store, convolution, batch-norm and linear layers.

use crate::rng::stream;
use candle_core::{DType, Device, Module, Result, Tensor, Var};
use candle_nn::VarMap;
use rand_distr::{Distribution, Uniform};
use std::sync::Mutex;

/// Named parameters of one model: trainable weights and buffers, seeded per name.
pub struct Params {
    seed: u64,
    map: VarMap,
    trainable: Mutex<Vec<(String, Var)>>,
}

impl Params {
    pub fn new(seed: u64) -> Self {
        Params {
            seed,
            map: VarMap::new(),
            trainable: Mutex::new(Vec::new()),
        }
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
        let u = Uniform::new_inclusive(-bound as f32, bound as f32).expect("finite bound");
        let v: Vec<f32> = (0..n).map(|_| u.sample(&mut r)).collect();
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
        self.map
            .data()
            .lock()
            .expect("param lock")
            .insert(name.to_string(), var.clone());
        if trainable {
            self.trainable
                .lock()
                .expect("param lock")
                .push((name.to_string(), var.clone()));
        }
        Ok(var.as_tensor().clone())
    }

    /// The variable behind a buffer, to update it in place.
    pub fn var(&self, name: &str) -> Option<Var> {
        self.map
            .data()
            .lock()
            .expect("param lock")
            .get(name)
            .cloned()
    }

    /// Trainable variables in creation order (the optimizer's parameter list).
    pub fn trainable(&self) -> Vec<Var> {
        self.trainable
            .lock()
            .expect("param lock")
            .iter()
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .map
            .data()
            .lock()
            .expect("param lock")
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }
}

pub struct Linear(candle_nn::Linear);

impl Linear {
    pub fn new(p: &Params, name: &str, inp: usize, out: usize, dev: &Device) -> Result<Self> {
        let bound = 1.0 / (inp as f64).sqrt();
        let w = p.uniform(&format!("{name}.weight"), &[out, inp], bound, dev)?;
        let b = p.uniform(&format!("{name}.bias"), &[out], bound, dev)?;
        Ok(Linear(candle_nn::Linear::new(w, Some(b))))
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.0.forward(x)
    }
}

/// 2-D convolution without bias (it is followed by batch-norm), `k x k`, stride 1, same padding.
pub struct Conv2d {
    weight: Tensor,
    pad: usize,
}

impl Conv2d {
    pub fn new(
        p: &Params,
        name: &str,
        inp: usize,
        out: usize,
        k: usize,
        dev: &Device,
    ) -> Result<Self> {
        let bound = (6.0 / (inp * k * k) as f64).sqrt();
        let weight = p.uniform(&format!("{name}.weight"), &[out, inp, k, k], bound, dev)?;
        Ok(Conv2d { weight, pad: k / 2 })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        crate::engine::conv::conv2d(x, &self.weight, 1, self.pad, 1)
    }
}

/// Spatial batch normalisation with running statistics stored as buffers (momentum 0.1).
pub struct BatchNorm {
    weight: Tensor,
    bias: Tensor,
    mean: Var,
    var: Var,
}

impl BatchNorm {
    const EPS: f64 = 1e-5;
    const MOMENTUM: f64 = 0.1;

    pub fn new(p: &Params, name: &str, c: usize, dev: &Device) -> Result<Self> {
        let weight = p.constant(&format!("{name}.weight"), &[c], 1.0, true, dev)?;
        let bias = p.constant(&format!("{name}.bias"), &[c], 0.0, true, dev)?;
        p.constant(&format!("{name}.running_mean"), &[c], 0.0, false, dev)?;
        p.constant(&format!("{name}.running_var"), &[c], 1.0, false, dev)?;
        let mean = p
            .var(&format!("{name}.running_mean"))
            .expect("just inserted");
        let var = p
            .var(&format!("{name}.running_var"))
            .expect("just inserted");
        Ok(BatchNorm {
            weight,
            bias,
            mean,
            var,
        })
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        use crate::engine::batchnorm as bn;
        if train {
            let out = bn::batch_norm_train(x, &self.weight, &self.bias, Self::EPS)?;
            bn::update_running_stats(&self.mean, &self.var, &out, Self::MOMENTUM)?;
            return Ok(out.y);
        }
        let (mean, var) = (self.mean.as_tensor(), self.var.as_tensor());
        bn::batch_norm_eval(x, mean, var, &self.weight, &self.bias, Self::EPS)
    }
}
