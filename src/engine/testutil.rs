//! Helpers shared by the engine's kernel tests: seeded random tensors, the relative error the
//! parity tests bound, gradients of `sum(out * probe)` (a random upstream gradient), and the
//! checks every kernel runs: gradients against central differences, gradients against a
//! reference, and the same bits on any number of threads.

use candle_core::{Device, Tensor, Var, backprop::GradStore};

/// `N(mu, sd)` values from the stream `(seed, name)` as a CPU tensor.
pub fn normal(seed: u64, name: &str, shape: &[usize], mu: f32, sd: f32) -> Tensor {
    super::crosscheck::normal(seed, name, shape, mu, sd).expect("valid normal and shape")
}

/// The bits of every value of an f32 tensor, in order (for bit-identity checks).
pub fn bits(t: &Tensor) -> Vec<u32> {
    let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    v.iter().map(|x| x.to_bits()).collect()
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

/// The values of `t`, flattened.
pub fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// Checks the analytic gradients of `sum(f(inputs) * probe)` with respect to each of `vars`
/// against central differences of step `eps`, element by element: the error may be at most
/// `1e-2 * (1 + |numeric|)`. `f` gets the inputs in the order of `vars` (the variables
/// themselves for the analytic pass, one of them perturbed for the numeric one).
pub fn assert_finite_difference(
    what: &str,
    vars: &[&Var],
    probe: &Tensor,
    eps: f32,
    f: impl Fn(&[Tensor]) -> Tensor,
) {
    let inputs: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let grads = probe_grads(&f(&inputs), probe);
    let loss = |inputs: &[Tensor]| -> f64 {
        (f(inputs) * probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap() as f64
    };
    for (which, var) in vars.iter().enumerate() {
        let base = flat(var.as_tensor());
        let analytic = flat(grads.get(var).unwrap());
        for i in 0..base.len() {
            let at = |d: f32| {
                let mut v = base.clone();
                v[i] += d;
                let mut moved = inputs.clone();
                moved[which] = Tensor::from_vec(v, var.shape(), &Device::Cpu).unwrap();
                loss(&moved)
            };
            let numeric = (at(eps) - at(-eps)) / (2.0 * eps as f64);
            let err = (numeric - analytic[i] as f64).abs();
            assert!(
                err <= 1e-2 * (1.0 + numeric.abs()),
                "{what}: input {which} element {i}: numeric {numeric} analytic {}",
                analytic[i]
            );
        }
    }
}

/// Asserts that `f` (a forward pass and its gradients) gives the same bits on a rayon pool of
/// one thread as on pools of each of `threads` threads.
pub fn assert_same_bits_on_threads(threads: &[usize], f: impl Fn() -> Vec<Tensor> + Sync) {
    let run = |n: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap();
        pool.install(|| f().iter().map(flat).collect::<Vec<_>>())
    };
    let one = run(1);
    for &n in threads {
        assert!(one == run(n), "{n} threads differ from 1");
    }
}

/// Asserts that the gradients of `vars` in `ours` and `theirs` agree to a relative error of at
/// most `tol` ([`max_rel`]); `names` label them in the message.
pub fn assert_grads_close(
    what: &str,
    ours: &GradStore,
    theirs: &GradStore,
    vars: &[(&Var, &str)],
    tol: f32,
) {
    for (v, name) in vars {
        let e = max_rel(ours.get(v).unwrap(), theirs.get(v).unwrap());
        assert!(e <= tol, "{name} {what}: rel error {e}");
    }
}
