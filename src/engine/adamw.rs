//! The AdamW update (PyTorch's rule: decoupled weight decay, bias-corrected moments) of many
//! parameters in one fused step.
//!
//! On the CPU each tensor is updated in one pass over its elements. On a GPU (the `cuda`
//! feature) every parameter, gradient and moment of the step is updated by one kernel launch
//! (`adamw_multi` in `cuda/kernels.cu`), in place, instead of about a dozen element-wise
//! launches per parameter.
//!
//! Both follow, operation by operation in `f32`, the chain of candle tensor ops the optimizer
//! used before this op existed (`m·b1 + g·(1-b1)`, ..., each scalar product `x·c + 0` as
//! candle's `affine` computes it), so CPU results are bit-identical to that chain; the test
//! checks it.

use candle_core::{DType, Result, Tensor, Var, bail};

/// The hyper-parameters of one step.
#[derive(Debug, Clone, Copy)]
pub struct Hyper {
    pub lr: f64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// This step's number, from 1.
    pub step: i32,
}

impl Hyper {
    /// `{b1, 1-b1, b2, 1-b2, 1/(1-b1^t), 1/(1-b2^t), eps, 1-lr·wd, lr}` as `f32`, exactly as
    /// candle's scalar ops round them.
    pub fn consts(&self) -> [f32; 9] {
        [
            self.beta1,
            1.0 - self.beta1,
            self.beta2,
            1.0 - self.beta2,
            1.0 / (1.0 - self.beta1.powi(self.step)),
            1.0 / (1.0 - self.beta2.powi(self.step)),
            self.eps,
            1.0 - self.lr * self.weight_decay,
            self.lr,
        ]
        .map(|v| v as f32)
    }
}

/// One parameter's share of a step: the moments are replaced (CPU) or updated in place (GPU),
/// so on a GPU `m` and `v` must each own their storage (not be clones of one another).
pub struct Slot<'a> {
    pub param: &'a Var,
    pub grad: &'a Tensor,
    pub m: &'a mut Tensor,
    pub v: &'a mut Tensor,
}

/// Zero moments for `param` (same shape, dtype and device).
pub fn zero_moment(param: &Var) -> Result<Tensor> {
    param.as_tensor().zeros_like()
}

/// Apply one AdamW step to every slot.
pub fn step(slots: &mut [Slot], h: &Hyper) -> Result<()> {
    for s in slots.iter() {
        let p = s.param.as_tensor();
        if p.dtype() != DType::F32
            || [s.grad, &*s.m, &*s.v]
                .iter()
                .any(|t| t.dtype() != DType::F32)
        {
            bail!(
                "adamw: only f32 parameters are supported, got {:?}",
                p.dtype()
            )
        }
        if [s.grad, &*s.m, &*s.v].iter().any(|t| t.dims() != p.dims()) {
            bail!(
                "adamw: gradient or moments do not have the shape {:?}",
                p.dims()
            )
        }
    }
    match slots.first().map(|s| s.param.device().clone()) {
        None => Ok(()),
        #[cfg(feature = "cuda")]
        Some(candle_core::Device::Cuda(dev)) => cuda_step(&dev, slots, h),
        Some(_) => {
            let c = h.consts();
            for s in slots.iter_mut() {
                cpu_step(s, &c)?;
            }
            Ok(())
        }
    }
}

/// The update of one element: `(p, m, v)` from `(p, g, m, v)` (the kernel's arithmetic).
#[inline]
pub fn update(p: f32, g: f32, m: f32, v: f32, c: &[f32; 9]) -> (f32, f32, f32) {
    let [b1, nb1, b2, nb2, c1, c2, eps, decay, lr] = *c;
    let m = (m * b1 + 0.0) + (g * nb1 + 0.0);
    let v = (v * b2 + 0.0) + ((g * g) * nb2 + 0.0);
    let mhat = m * c1 + 0.0;
    let vhat = v * c2 + 0.0;
    let den = vhat.sqrt() * 1.0 + eps;
    let p = (p * decay + 0.0) - ((mhat / den) * lr + 0.0);
    (p, m, v)
}

fn cpu_step(s: &mut Slot, c: &[f32; 9]) -> Result<()> {
    let flat = |t: &Tensor| t.flatten_all()?.to_vec1::<f32>();
    let (mut p, g, mut m, mut v) = (
        flat(s.param.as_tensor())?,
        flat(s.grad)?,
        flat(s.m)?,
        flat(s.v)?,
    );
    for i in 0..p.len() {
        (p[i], m[i], v[i]) = update(p[i], g[i], m[i], v[i], c);
    }
    let (shape, dev) = (s.param.shape().clone(), s.param.device().clone());
    s.param.set(&Tensor::from_vec(p, shape.clone(), &dev)?)?;
    *s.m = Tensor::from_vec(m, shape.clone(), &dev)?;
    *s.v = Tensor::from_vec(v, shape, &dev)?;
    Ok(())
}

#[cfg(feature = "cuda")]
fn cuda_step(dev: &candle_core::CudaDevice, slots: &mut [Slot], h: &Hyper) -> Result<()> {
    // Contiguous gradients, kept alive until the launch is queued.
    let grads: Vec<Tensor> = slots
        .iter()
        .map(|s| s.grad.contiguous())
        .collect::<Result<_>>()?;
    let tensors: Vec<&Tensor> = slots
        .iter()
        .zip(&grads)
        .flat_map(|(s, g)| [s.param.as_tensor(), g, &*s.m, &*s.v])
        .collect();
    let mut ends = Vec::with_capacity(slots.len());
    let mut total = 0u64;
    for s in slots.iter() {
        total += s.param.elem_count() as u64;
        ends.push(total);
    }
    // Parameters and moments are updated in place on the device, as `Var::set` does.
    super::cuda::with_ptrs(dev, &tensors, |ptrs| {
        super::cuda::kernels::adamw_multi(dev, ptrs, &ends, &h.consts())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testutil::normal;
    use candle_core::Device;

    /// The chain of candle ops the optimizer ran before this op (the reference).
    fn chain(p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor, h: &Hyper) -> [Tensor; 3] {
        let (b1, b2, t) = (h.beta1, h.beta2, h.step);
        let m = ((m * b1).unwrap() + (g * (1.0 - b1)).unwrap()).unwrap();
        let v = ((v * b2).unwrap() + (g.sqr().unwrap() * (1.0 - b2)).unwrap()).unwrap();
        let mhat = (&m / (1.0 - b1.powi(t))).unwrap();
        let vhat = (&v / (1.0 - b2.powi(t))).unwrap();
        let decayed = (p * (1.0 - h.lr * h.weight_decay)).unwrap();
        let upd = (mhat / (vhat.sqrt().unwrap() + h.eps).unwrap()).unwrap();
        let p = (decayed - (upd * h.lr).unwrap()).unwrap();
        [p, m, v]
    }

    fn bits(t: &Tensor) -> Vec<u32> {
        let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn three_steps_match_the_candle_op_chain_bit_for_bit() {
        let shapes = [vec![7usize, 3], vec![5], vec![2, 3, 3, 3]];
        let vars: Vec<Var> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| Var::from_tensor(&normal(3, &format!("p{i}"), s, 0.0, 1.0)).unwrap())
            .collect();
        let mut refs: Vec<[Tensor; 3]> = vars
            .iter()
            .map(|v| {
                let z = v.as_tensor().zeros_like().unwrap();
                [v.as_tensor().copy().unwrap(), z.clone(), z]
            })
            .collect();
        let mut ms: Vec<Tensor> = vars.iter().map(|v| zero_moment(v).unwrap()).collect();
        let mut vs: Vec<Tensor> = vars.iter().map(|v| zero_moment(v).unwrap()).collect();
        for t in 1..=3 {
            let h = Hyper {
                lr: 1e-2 / t as f64,
                weight_decay: 0.05,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                step: t,
            };
            let grads: Vec<Tensor> = shapes
                .iter()
                .enumerate()
                .map(|(i, s)| normal(4, &format!("g{i}/{t}"), s, 0.0, 0.1))
                .collect();
            let mut slots: Vec<Slot> = vars
                .iter()
                .zip(&grads)
                .zip(ms.iter_mut().zip(vs.iter_mut()))
                .map(|((param, grad), (m, v))| Slot { param, grad, m, v })
                .collect();
            step(&mut slots, &h).unwrap();
            for (r, g) in refs.iter_mut().zip(&grads) {
                *r = chain(&r[0], g, &r[1], &r[2], &h);
            }
        }
        for (i, v) in vars.iter().enumerate() {
            assert_eq!(bits(v.as_tensor()), bits(&refs[i][0]), "param {i}");
            assert_eq!(bits(&ms[i]), bits(&refs[i][1]), "m {i}");
            assert_eq!(bits(&vs[i]), bits(&refs[i][2]), "v {i}");
        }
    }

    #[test]
    fn mismatched_shapes_and_dtypes_are_errors() {
        let p = Var::new(&[1f32, 2.], &Device::Cpu).unwrap();
        let g = Tensor::new(&[1f32], &Device::Cpu).unwrap();
        let (mut m, mut v) = (zero_moment(&p).unwrap(), zero_moment(&p).unwrap());
        let h = Hyper {
            lr: 0.1,
            weight_decay: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            step: 1,
        };
        let mut s = [Slot {
            param: &p,
            grad: &g,
            m: &mut m,
            v: &mut v,
        }];
        assert!(step(&mut s, &h).unwrap_err().to_string().contains("shape"));
        let p64 = Var::new(&[1f64], &Device::Cpu).unwrap();
        let g64 = Tensor::new(&[1f64], &Device::Cpu).unwrap();
        let (mut m, mut v) = (zero_moment(&p64).unwrap(), zero_moment(&p64).unwrap());
        let mut s = [Slot {
            param: &p64,
            grad: &g64,
            m: &mut m,
            v: &mut v,
        }];
        assert!(step(&mut s, &h).unwrap_err().to_string().contains("f32"));
    }
}
