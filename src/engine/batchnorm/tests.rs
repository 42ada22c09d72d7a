use super::*;
use crate::engine::testutil::{
    assert_finite_difference, assert_same_bits_on_threads, bits, max_rel, normal, probe_grads,
};

fn randn(name: &str, shape: &[usize], mu: f32, sd: f32) -> Tensor {
    normal(5, name, shape, mu, sd)
}

struct Case {
    x: Var,
    g: Var,
    b: Var,
    probe: Tensor,
}

fn case(name: &str, shape: &[usize]) -> Case {
    let c = shape[1];
    Case {
        x: Var::from_tensor(&randn(&format!("test/bn/x{name}"), shape, 0.7, 2.0)).unwrap(),
        g: Var::from_tensor(&randn(&format!("test/bn/g{name}"), &[c], 1.0, 0.3)).unwrap(),
        b: Var::from_tensor(&randn(&format!("test/bn/b{name}"), &[c], 0.0, 0.3)).unwrap(),
        probe: randn(&format!("test/bn/p{name}"), shape, 0.0, 1.0),
    }
}

type Train = fn(&Tensor, &Tensor, &Tensor, f64) -> Result<BatchNormOut>;

fn grads(k: &Case, f: Train) -> (BatchNormOut, [Tensor; 3]) {
    let out = f(&k.x, &k.g, &k.b, 1e-5).unwrap();
    let gs = probe_grads(&out.y, &k.probe);
    let take = |v: &Var| gs.get(v).unwrap().clone();
    let g = [take(&k.x), take(&k.g), take(&k.b)];
    (out, g)
}

#[test]
fn parity_with_composed_candle_ops() {
    for (name, shape) in [
        ("a", vec![4usize, 3, 5, 7]),
        ("b", vec![3, 8, 16, 16]),
        ("c", vec![6, 5]),
    ] {
        let k = case(name, &shape);
        let (o1, g1) = grads(&k, batch_norm_train);
        let (o2, g2) = grads(&k, reference_train);
        for (what, a, b) in [
            ("y", &o1.y, &o2.y),
            ("mean", &o1.mean, &o2.mean),
            ("var", &o1.var, &o2.var),
            ("dx", &g1[0], &g2[0]),
            ("dgamma", &g1[1], &g2[1]),
            ("dbeta", &g1[2], &g2[2]),
        ] {
            let e = max_rel(a, b);
            assert!(e <= 1e-4, "{what} {shape:?}: rel error {e}");
        }
        assert_eq!(o1.count, o2.count);
    }
}

#[test]
fn fused_eval_mode_is_bit_identical_to_the_composed_ops() {
    let x = randn("test/bn/evalact-x", &[3, 5, 6, 7], 0.0, 1.0);
    let mean = randn("test/bn/evalact-m", &[5], 0.0, 1.0);
    let var = randn("test/bn/evalact-v", &[5], 0.0, 1.0).abs().unwrap();
    let g = randn("test/bn/evalact-g", &[5], 1.0, 0.2);
    let b = randn("test/bn/evalact-b", &[5], 0.0, 0.2);
    for act in [
        Act::None,
        Act::Relu,
        Act::Silu,
        Act::ReluMaxPool(2),
        Act::ReluMaxPool(3),
    ] {
        let fused = batch_norm_eval_act(&x, (&mean, &var), &g, &b, 1e-5, act).unwrap();
        let y = batch_norm_eval(&x, &mean, &var, &g, &b, 1e-5).unwrap();
        let composed = act.composed(y).unwrap();
        assert_eq!(fused.dims(), composed.dims(), "{act:?}");
        assert_eq!(bits(&fused), bits(&composed), "{act:?}");
    }
    // No backward: an error, not a silent zero gradient.
    let w = Var::from_tensor(&x).unwrap();
    let y = batch_norm_eval_act(w.as_tensor(), (&mean, &var), &g, &b, 1e-5, Act::Relu).unwrap();
    assert!(y.sum_all().unwrap().backward().is_err());
}

#[test]
fn eval_mode_matches_formula() {
    let x = randn("test/bn/eval-x", &[2, 3, 4, 4], 0.0, 1.0);
    let mean = randn("test/bn/eval-m", &[3], 0.0, 1.0);
    let var = randn("test/bn/eval-v", &[3], 0.0, 1.0).abs().unwrap();
    let g = randn("test/bn/eval-g", &[3], 1.0, 0.2);
    let b = randn("test/bn/eval-b", &[3], 0.0, 0.2);
    let y = batch_norm_eval(&x, &mean, &var, &g, &b, 1e-5).unwrap();
    let s = (1, 3, 1, 1);
    let want = x
        .broadcast_sub(&mean.reshape(s).unwrap())
        .unwrap()
        .broadcast_div(&(var + 1e-5).unwrap().sqrt().unwrap().reshape(s).unwrap())
        .unwrap()
        .broadcast_mul(&g.reshape(s).unwrap())
        .unwrap()
        .broadcast_add(&b.reshape(s).unwrap())
        .unwrap();
    assert!(max_rel(&y, &want) <= 1e-5);
}

#[test]
fn finite_difference_gradient() {
    let k = case("fd", &[2, 2, 3, 3]);
    assert_finite_difference("batch norm", &[&k.x, &k.g, &k.b], &k.probe, 1e-2, |t| {
        batch_norm_train(&t[0], &t[1], &t[2], 1e-5).unwrap().y
    });
}

#[test]
fn bit_identical_across_thread_counts() {
    let k = case("det", &[7, 6, 9, 11]);
    assert_same_bits_on_threads(&[2, 3, 4], || {
        let (o, g) = grads(&k, batch_norm_train);
        let [dx, dg, db] = g;
        vec![o.y, o.mean, o.var, dx, dg, db]
    });
}

#[test]
fn running_stats_follow_pytorch() {
    let x = Tensor::new(&[[1f32, 3.], [5., 7.]], &Device::Cpu).unwrap(); // N=2, C=2
    let g = Tensor::ones(2, DType::F32, &Device::Cpu).unwrap();
    let b = Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap();
    let out = batch_norm_train(&x, &g, &b, 1e-5).unwrap();
    let rm = Var::zeros(2, DType::F32, &Device::Cpu).unwrap();
    let rv = Var::ones(2, DType::F32, &Device::Cpu).unwrap();
    update_running_stats(&rm, &rv, &out, 0.1).unwrap();
    // channel 0: values 1, 5 -> mean 3, unbiased var 8; channel 1: 3, 7 -> mean 5, var 8
    let m = rm.as_tensor().to_vec1::<f32>().unwrap();
    let v = rv.as_tensor().to_vec1::<f32>().unwrap();
    assert!((m[0] - 0.3).abs() < 1e-6 && (m[1] - 0.5).abs() < 1e-6);
    assert!((v[0] - 1.7).abs() < 1e-6 && (v[1] - 1.7).abs() < 1e-6);
}

#[test]
fn bad_shapes_are_errors() {
    let x = Tensor::zeros((2, 3, 2, 2), DType::F32, &Device::Cpu).unwrap();
    let g = Tensor::ones(4, DType::F32, &Device::Cpu).unwrap();
    assert!(batch_norm_train(&x, &g, &g, 1e-5).is_err());
    let x = Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap();
    let g = Tensor::ones(3, DType::F32, &Device::Cpu).unwrap();
    assert!(batch_norm_train(&x, &g, &g, 1e-5).is_err());
}

/// The fused activation against batch norm followed by the separate ops, bit for bit: output,
/// gradients of `x`, `gamma`, `beta`, and the running statistics.
#[test]
fn fused_activation_is_bit_identical_to_separate_ops() {
    let bits = crate::engine::testutil::bits;
    for (act, shape) in [
        (Act::Relu, vec![4usize, 3, 5, 7]),
        (Act::Silu, vec![3, 4, 6, 5]),
        (Act::ReluMaxPool(2), vec![3, 4, 8, 9]),
        (Act::ReluMaxPool(3), vec![2, 3, 7, 6]),
        (Act::None, vec![2, 3, 4, 4]),
    ] {
        let k = case(&format!("act{act:?}"), &shape);
        let run = |fused: bool| {
            let running = Running {
                mean: Var::zeros(shape[1], DType::F32, &Device::Cpu).unwrap(),
                var: Var::ones(shape[1], DType::F32, &Device::Cpu).unwrap(),
                momentum: 0.1,
            };
            let y = if fused {
                batch_norm_train_act(&k.x, &k.g, &k.b, 1e-5, &running, act).unwrap()
            } else {
                let z = batch_norm_train_update(&k.x, &k.g, &k.b, 1e-5, &running).unwrap();
                act.composed(z).unwrap()
            };
            let probe = randn("test/bn/act-probe", y.dims(), 0.0, 1.0);
            let gs = probe_grads(&y, &probe);
            let g = |v: &Var| bits(gs.get(v).unwrap());
            [
                bits(&y),
                g(&k.x),
                g(&k.g),
                g(&k.b),
                bits(running.mean.as_tensor()),
                bits(running.var.as_tensor()),
            ]
        };
        let (fused, separate) = (run(true), run(false));
        for (i, what) in ["y", "dx", "dgamma", "dbeta", "running mean", "running var"]
            .iter()
            .enumerate()
        {
            assert!(fused[i] == separate[i], "{act:?} {shape:?}: {what} differs");
        }
    }
}
