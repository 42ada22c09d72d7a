//! The fused group norm against the composed candle ops (output and the three gradients), against
//! central differences, on any number of threads, with PyTorch's statistics on a hand-computed
//! case, and its errors.

use super::*;
use crate::engine::testutil::{
    assert_finite_difference, assert_grads_close, assert_same_bits_on_threads, max_rel, normal,
    probe_grads,
};
use candle_core::{Device, Var};

struct Case {
    x: Var,
    w: Var,
    b: Var,
    probe: Tensor,
}

fn case(name: &str, shape: &[usize], act: Act) -> Case {
    let c = shape[1];
    let randn = |what: &str, shape: &[usize], mu, sd| {
        normal(11, &format!("test/gn/{what}{name}"), shape, mu, sd)
    };
    let out = act.out_shape(&Shape::from(shape)).unwrap();
    Case {
        x: Var::from_tensor(&randn("x", shape, 0.7, 2.0)).unwrap(),
        w: Var::from_tensor(&randn("w", &[c], 1.0, 0.3)).unwrap(),
        b: Var::from_tensor(&randn("b", &[c], 0.0, 0.3)).unwrap(),
        probe: randn("p", out.dims(), 0.0, 1.0),
    }
}

const SHAPES: [(&[usize], usize); 4] = [
    (&[4, 8, 6, 5], 4),
    (&[2, 6, 9, 7], 1),
    (&[3, 6, 4, 4], 6),
    (&[2, 32, 8, 8], 8),
];

#[test]
fn matches_the_composed_ops_and_their_gradients() {
    for act in [Act::None, Act::Silu, Act::Relu] {
        for (shape, groups) in SHAPES {
            let k = case(&format!("{act:?}"), shape, act);
            let fused = group_norm(k.x.as_tensor(), &k.w, &k.b, groups, 1e-5, act).unwrap();
            let composed = act
                .composed(group_norm_composed(k.x.as_tensor(), &k.w, &k.b, groups, 1e-5).unwrap())
                .unwrap();
            let what = format!("{act:?} {shape:?} groups {groups}");
            let e = max_rel(&fused, &composed);
            assert!(e <= 1e-5, "{what}: output rel error {e}");
            let vars = [(&k.x, "dx"), (&k.w, "dweight"), (&k.b, "dbias")];
            let (ours, theirs) = (
                probe_grads(&fused, &k.probe),
                probe_grads(&composed, &k.probe),
            );
            assert_grads_close(&what, &ours, &theirs, &vars, 1e-4);
        }
    }
}

#[test]
fn gradients_match_central_differences() {
    for act in [Act::None, Act::Silu] {
        let k = case(&format!("fd{act:?}"), &[2, 4, 3, 3], act);
        assert_finite_difference("group norm", &[&k.x, &k.w, &k.b], &k.probe, 1e-2, |t| {
            group_norm(&t[0], &t[1], &t[2], 2, 1e-5, act).unwrap()
        });
    }
}

#[test]
fn bit_identical_across_thread_counts() {
    let k = case("det", &[5, 12, 9, 11], Act::Silu);
    assert_same_bits_on_threads(&[2, 3, 4], || {
        let y = group_norm(k.x.as_tensor(), &k.w, &k.b, 4, 1e-5, Act::Silu).unwrap();
        let g = probe_grads(&y, &k.probe);
        let grad = |v: &Var| g.get(v).unwrap().clone();
        vec![y.clone(), grad(&k.x), grad(&k.w), grad(&k.b)]
    });
}

/// One image, two groups of two channels with one value each: group means 2 and 6, biased
/// variances 1 and 4 (PyTorch's `nn.GroupNorm(2, 4, eps=0)` gives -1, 1, -1, 1 before the
/// affine), then weight 2 and bias 0.5 on every channel.
#[test]
fn hand_computed_case() {
    let dev = &Device::Cpu;
    let x = Tensor::new(&[1f32, 3., 4., 8.], dev)
        .unwrap()
        .reshape((1, 4, 1, 1))
        .unwrap();
    let w = Tensor::full(2f32, 4, dev).unwrap();
    let b = Tensor::full(0.5f32, 4, dev).unwrap();
    let y = group_norm(&x, &w, &b, 2, 0.0, Act::None).unwrap();
    let y = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(y, vec![-1.5, 2.5, -1.5, 2.5]);
}

#[test]
fn bad_shapes_are_errors() {
    let dev = &Device::Cpu;
    let x = Tensor::zeros((2, 6, 3, 3), DType::F32, dev).unwrap();
    let w = Tensor::ones(6, DType::F32, dev).unwrap();
    let e = group_norm(&x, &w, &w, 4, 1e-5, Act::None).unwrap_err();
    assert!(
        e.to_string()
            .contains("6 channels do not split into 4 groups"),
        "{e}"
    );
    assert!(group_norm(&x, &w, &w, 0, 1e-5, Act::None).is_err());
    let w5 = Tensor::ones(5, DType::F32, dev).unwrap();
    let e = group_norm(&x, &w5, &w5, 3, 1e-5, Act::None).unwrap_err();
    assert!(e.to_string().contains("weight [5]"), "{e}");
    let flat = Tensor::zeros(6, DType::F32, dev).unwrap();
    assert!(group_norm(&flat, &w, &w, 3, 1e-5, Act::None).is_err());
}
