use super::*;
use candle_core::{DType, Device, Var};

/// The formula of `lgamma` as a chain of candle ops (how `model::loss` computed it before the
/// custom op): the op's forward must equal it bit for bit, so committed results keep their
/// loss values.
fn composed_lgamma(x: &Tensor) -> Tensor {
    let mut shift_log = x.log().unwrap();
    for k in 1..SHIFT {
        shift_log = (shift_log + (x + k as f64).unwrap().log().unwrap()).unwrap();
    }
    let z = (x + SHIFT as f64).unwrap();
    let zi = z.recip().unwrap();
    let zi2 = zi.sqr().unwrap();
    let s = ((((&zi2 * (-1.0 / 1680.0)).unwrap() + 1.0 / 1260.0).unwrap() * &zi2).unwrap()
        - 1.0 / 360.0)
        .unwrap();
    let s = (((s * &zi2).unwrap() + 1.0 / 12.0).unwrap() * &zi).unwrap();
    let st =
        ((((&z - 0.5).unwrap() * z.log().unwrap()).unwrap() - &z).unwrap() + HALF_LN_2PI).unwrap();
    ((st + s).unwrap() - shift_log).unwrap()
}

fn grid() -> Vec<f64> {
    (0..400).map(|i| 0.01 + 0.37 * i as f64).collect()
}

#[test]
fn lgamma_matches_known_values() {
    let x = Tensor::new(&[0.5f64, 1.0, 2.0, 3.5, 10.0, 150.0], &Device::Cpu).unwrap();
    let y = lgamma(&x).unwrap().to_vec1::<f64>().unwrap();
    let pi: f64 = std::f64::consts::PI;
    let want = [
        0.5 * pi.ln(),
        0.0,
        0.0,
        (1.875 * pi.sqrt()).ln(),
        362_880f64.ln(),
        (1..150).map(|k| (k as f64).ln()).sum::<f64>(),
    ];
    for (a, b) in y.iter().zip(want) {
        assert!((a - b).abs() < 1e-9 * b.abs().max(1.0), "{a} vs {b}");
    }
}

#[test]
fn lgamma_forward_is_the_composed_formula_bit_for_bit() {
    let x = Tensor::new(grid(), &Device::Cpu).unwrap();
    let op = lgamma(&x).unwrap().to_vec1::<f64>().unwrap();
    let chain = composed_lgamma(&x).to_vec1::<f64>().unwrap();
    for ((a, b), x) in op.iter().zip(&chain).zip(grid()) {
        assert_eq!(a.to_bits(), b.to_bits(), "x = {x}: {a} vs {b}");
    }
}

#[test]
fn digamma_matches_known_values() {
    let euler = 0.577_215_664_901_532_9;
    let x = Tensor::new(&[0.5f64, 1.0, 2.0, 10.0], &Device::Cpu).unwrap();
    let y = digamma(&x).unwrap().to_vec1::<f64>().unwrap();
    let h9: f64 = (1..10).map(|k| 1.0 / k as f64).sum();
    let want = [-euler - 2.0 * 2f64.ln(), -euler, 1.0 - euler, h9 - euler];
    for (a, b) in y.iter().zip(want) {
        assert!((a - b).abs() < 1e-10, "{a} vs {b}");
    }
}

#[test]
fn lgamma_gradient_is_digamma_and_matches_finite_differences() {
    let xs = grid();
    let v = Var::new(xs.as_slice(), &Device::Cpu).unwrap();
    let grads = lgamma(v.as_tensor())
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let g = grads.get(v.as_tensor()).unwrap().to_vec1::<f64>().unwrap();
    for (x, d) in xs.iter().zip(&g) {
        let h = 1e-5 * x.max(1.0);
        let fd = (lgamma_f64(x + h) - lgamma_f64(x - h)) / (2.0 * h);
        assert!(
            (d - fd).abs() < 1e-6 * fd.abs().max(1.0),
            "x = {x}: {d} vs {fd}"
        );
        assert_eq!(*d, digamma_f64(*x));
    }
}

#[test]
fn f32_tensors_compute_in_f64() {
    let xs = [0.3f32, 1.7, 42.0];
    let y = lgamma(&Tensor::new(&xs, &Device::Cpu).unwrap()).unwrap();
    assert_eq!(y.dtype(), DType::F32);
    for (a, x) in y.to_vec1::<f32>().unwrap().iter().zip(xs) {
        assert_eq!(*a, lgamma_f64(x as f64) as f32);
    }
}

#[test]
fn other_dtypes_and_digamma_gradients_are_errors() {
    let x = Tensor::new(&[1u32, 2], &Device::Cpu).unwrap();
    assert!(
        lgamma(&x)
            .unwrap_err()
            .to_string()
            .contains("only f32 and f64")
    );
    let v = Var::new(&[1.5f64], &Device::Cpu).unwrap();
    // digamma is applied without a graph: its output does not depend on v for backprop.
    let d = digamma(v.as_tensor()).unwrap();
    assert!(!d.track_op());
}
