//! Helpers shared by the engine's kernel tests: seeded random tensors, the relative error the
//! parity tests bound, and gradients of `sum(out * probe)` (a random upstream gradient).

use candle_core::{Tensor, backprop::GradStore};

/// `N(mu, sd)` values from the stream `(seed, name)` as a CPU tensor.
pub fn normal(seed: u64, name: &str, shape: &[usize], mu: f32, sd: f32) -> Tensor {
    super::crosscheck::normal(seed, name, shape, mu, sd).expect("valid normal and shape")
}

/// `max |a - b| / max |b|`.
pub fn max_rel(a: &Tensor, b: &Tensor) -> f32 {
    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    a.iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs() / scale))
}

/// Gradients of `sum(out * probe)`.
pub fn probe_grads(out: &Tensor, probe: &Tensor) -> GradStore {
    (out * probe)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap()
}
