use super::*;
use crate::engine::testutil::{
    assert_finite_difference, assert_grads_close, assert_same_bits_on_threads, max_rel, normal,
    probe_grads,
};
use candle_core::Device;
use candle_core::Var;

fn randn(seed: u64, name: &str, shape: &[usize]) -> Tensor {
    normal(seed, name, shape, 0.0, 1.0)
}

/// Forward, grad of x and grad of w: fused op vs candle's conv2d.
fn parity(xs: &[usize], ws: &[usize], stride: usize, pad: usize) {
    let name = format!("{xs:?}{ws:?}{stride}{pad}");
    let x = Var::from_tensor(&randn(1, &format!("test/conv/x{name}"), xs)).unwrap();
    let w = Var::from_tensor(&randn(1, &format!("test/conv/w{name}"), ws)).unwrap();
    let probe = randn(1, &format!("test/conv/p{name}"), &{
        let g = Geom::new(xs, ws, stride, pad, 1).unwrap();
        [g.n, g.cout, g.oh, g.ow]
    });
    let ours = conv2d(&x, &w, stride, pad, 1).unwrap();
    let theirs = x.conv2d(&w, pad, stride, 1, 1).unwrap();
    assert!(max_rel(&ours, &theirs) <= 1e-4, "forward {name}");
    let g1 = probe_grads(&ours, &probe);
    let g2 = probe_grads(&theirs, &probe);
    assert_grads_close(&name, &g1, &g2, &[(&x, "dx"), (&w, "dw")], 1e-4);
}

#[test]
fn parity_with_candle_conv2d() {
    parity(&[5, 3, 16, 16], &[8, 3, 3, 3], 1, 1); // cnn-small first stage, odd batch
    parity(&[2, 8, 9, 7], &[4, 8, 3, 3], 1, 1);
    // candle's own backward needs (h + 2p - k) divisible by the stride; the finite-difference
    // test covers the other case.
    parity(&[3, 4, 11, 9], &[6, 4, 3, 3], 2, 1);
    parity(&[2, 4, 8, 8], &[5, 4, 5, 5], 1, 2);
    parity(&[2, 6, 7, 7], &[3, 6, 1, 1], 1, 0); // pointwise path
    parity(&[1, 2, 6, 6], &[3, 2, 3, 3], 1, 0); // valid padding
}

/// Central differences on a tiny case; checks the analytic grads directly.
fn finite_difference(xs: [usize; 4], ws: [usize; 4], stride: usize, pad: usize) {
    let name = format!("{xs:?}{ws:?}{stride}{pad}");
    let x = Var::from_tensor(&randn(2, &format!("test/conv/fd-x{name}"), &xs)).unwrap();
    let w = Var::from_tensor(&randn(2, &format!("test/conv/fd-w{name}"), &ws)).unwrap();
    let g = Geom::new(&xs, &ws, stride, pad, 1).unwrap();
    let probe = randn(
        2,
        &format!("test/conv/fd-p{name}"),
        &[g.n, g.cout, g.oh, g.ow],
    );
    assert_finite_difference(&name, &[&x, &w], &probe, 1e-2, |t| {
        conv2d(&t[0], &t[1], stride, pad, 1).unwrap()
    });
}

#[test]
fn finite_difference_gradient() {
    finite_difference([1, 2, 4, 4], [2, 2, 3, 3], 1, 1);
    finite_difference([2, 2, 6, 5], [2, 2, 3, 3], 2, 1); // stride that does not divide
}

#[test]
fn bit_identical_across_thread_counts() {
    let x = Var::from_tensor(&randn(3, "test/conv/det-x", &[9, 8, 12, 12])).unwrap();
    let w = Var::from_tensor(&randn(3, "test/conv/det-w", &[16, 8, 3, 3])).unwrap();
    let probe = randn(3, "test/conv/det-p", &[9, 16, 12, 12]);
    assert_same_bits_on_threads(&[2, 3, 5], || {
        let y = conv2d(&x, &w, 1, 1, 1).unwrap();
        let g = probe_grads(&y, &probe);
        vec![y, g.get(&x).unwrap().clone(), g.get(&w).unwrap().clone()]
    });
}

#[test]
fn bad_shapes_are_errors() {
    let x = Tensor::zeros((1, 3, 4, 4), DType::F32, &Device::Cpu).unwrap();
    let w = Tensor::zeros((2, 4, 3, 3), DType::F32, &Device::Cpu).unwrap();
    assert!(conv2d(&x, &w, 1, 1, 1).is_err());
    let w = Tensor::zeros((2, 3, 7, 7), DType::F32, &Device::Cpu).unwrap();
    assert!(conv2d(&x, &w, 1, 0, 1).is_err());
    // groups must divide both channel counts and match the weight
    let e = Geom::new(&[1, 4, 8, 8], &[6, 2, 3, 3], 1, 1, 4).unwrap_err();
    assert!(e.to_string().contains("do not divide"), "{e}");
    let e = Geom::new(&[1, 4, 8, 8], &[4, 2, 3, 3], 1, 1, 4).unwrap_err();
    assert!(e.to_string().contains("expects 8"), "{e}");
    let g = Geom::new(&[1, 4, 8, 8], &[4, 1, 3, 3], 1, 1, 4).unwrap();
    assert_eq!(g.w_shape().dims(), &[4, 1, 3, 3]);
    // the CPU kernels refuse grouped geometry instead of computing something else
    let (x, w) = (
        Tensor::zeros((1, 4, 8, 8), DType::F32, &Device::Cpu).unwrap(),
        Tensor::zeros((4, 1, 3, 3), DType::F32, &Device::Cpu).unwrap(),
    );
    assert!(x.apply_op2(&w, ConvFwd(g)).is_err());
    // while conv2d sends grouped convolutions on the CPU to candle's
    assert_eq!(conv2d(&x, &w, 1, 1, 4).unwrap().dims(), &[1, 4, 8, 8]);
}

#[test]
fn im2col_is_the_padded_window_of_every_output() {
    // "Same" stride-1 geometries take the block-copy path, the others the row loop; both must
    // be the textbook definition, element for element.
    for (xs, ws, stride, pad) in [
        ([1, 3, 8, 8], [1, 3, 3, 3], 1, 1),
        ([1, 2, 7, 5], [1, 2, 5, 5], 1, 2),
        ([1, 2, 6, 5], [1, 2, 1, 3], 1, 1),
        ([1, 2, 4, 9], [1, 2, 5, 3], 1, 1),
        ([1, 2, 9, 7], [1, 2, 3, 3], 2, 1),
        ([1, 2, 6, 6], [1, 2, 3, 3], 1, 0),
    ] {
        let g = Geom::new(&xs, &ws, stride, pad, 1).unwrap();
        let x: Vec<f32> = (0..g.in_img()).map(|i| i as f32 + 1.0).collect();
        let mut cols = vec![f32::NAN; g.k() * g.ohw()];
        im2col(&g, &x, &mut cols);
        for c in 0..g.cin {
            for ki in 0..g.kh {
                for kj in 0..g.kw {
                    for oy in 0..g.oh {
                        for ox in 0..g.ow {
                            let iy = (oy * stride + ki) as isize - pad as isize;
                            let ix = (ox * stride + kj) as isize - pad as isize;
                            let inside =
                                (0..g.h as isize).contains(&iy) && (0..g.w as isize).contains(&ix);
                            let want = if inside {
                                x[(c * g.h + iy as usize) * g.w + ix as usize]
                            } else {
                                0.0
                            };
                            let row = (c * g.kh + ki) * g.kw + kj;
                            let got = cols[row * g.ohw() + oy * g.ow + ox];
                            assert_eq!(got, want, "{xs:?} {ws:?} c{c} k{ki},{kj} o{oy},{ox}");
                        }
                    }
                }
            }
        }
    }
}
