//! Parity tests against PyTorch: `benches/peers/torch_parity.py` wrote reference weights,
//! inputs, outputs, losses and gradients to `benches/peers/fixtures/torch_parity.safetensors`;
//! here the same networks are built, the weights loaded by name through [`Params`], and every
//! value compared with relative error `max|rust - torch| / max|torch| <= 1e-4`.

use super::heads::{dirichlet_concentrations, tree_normalise};
use super::loss::{bce_with_logits, dirichlet_multinomial_loss, dirichlet_multinomial_nll};
use super::{Model, Params};
use crate::spec::{Backbone, ModelConfig};
use crate::tree::Tree;
use candle_core::{DType, Device, Tensor, Var};
use std::collections::HashMap;
use std::path::PathBuf;

const TOL: f64 = 1e-4;

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("benches/peers/fixtures/torch_parity.safetensors")
}

fn fixture() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixture_path(), &Device::Cpu).expect("parity fixture")
}

fn get<'a>(f: &'a HashMap<String, Tensor>, k: &str) -> &'a Tensor {
    f.get(k).unwrap_or_else(|| panic!("fixture lacks `{k}`"))
}

/// `max|a - b| / max|b|` (normwise, so values near zero do not dominate).
fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    let a = a.to_dtype(DType::F64).unwrap().flatten_all().unwrap();
    let b = b.to_dtype(DType::F64).unwrap().flatten_all().unwrap();
    assert_eq!(a.dims(), b.dims());
    let diff = (&a - &b).unwrap().abs().unwrap().max(0).unwrap();
    let scale = b.abs().unwrap().max(0).unwrap();
    let d = diff.to_scalar::<f64>().unwrap();
    let s = scale.to_scalar::<f64>().unwrap();
    d / s.max(1e-30)
}

fn check(what: &str, a: &Tensor, b: &Tensor) -> f64 {
    let e = rel_err(a, b);
    assert!(e <= TOL, "{what}: relative error {e:e} > {TOL:e}");
    e
}

/// Forward, BCE loss and backward in train mode; compares logits, loss, every gradient and
/// every updated running statistic. Returns the largest relative error.
fn net_parity(key: &str, cfg: &ModelConfig, size: usize) -> f64 {
    let f = fixture();
    let dev = Device::Cpu;
    let params = Params::new(0);
    let model = Model::build(cfg, 3, size, &params, &dev).unwrap();
    params
        .load_prefixed(&fixture_path(), "", &format!("{key}."))
        .unwrap();
    let x = get(&f, &format!("{key}.input"));
    let y = get(&f, &format!("{key}.target"));
    let logits = model.forward(x, true).unwrap();
    let loss = bce_with_logits(&logits, y).unwrap();
    let mut worst = check(
        &format!("{key} logits"),
        &logits,
        get(&f, &format!("{key}.logits")),
    );
    let want_loss = get(&f, &format!("{key}.loss")).squeeze(0).unwrap();
    worst = worst.max(check(&format!("{key} loss"), &loss, &want_loss));
    let grads = loss.backward().unwrap();
    let trainable = params.trainable_named();
    let expected = f
        .keys()
        .filter(|k| k.starts_with(&format!("{key}.grad.")))
        .count();
    assert_eq!(
        trainable.len(),
        expected,
        "{key}: parameter count differs from PyTorch"
    );
    for (name, var) in trainable {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("no grad for {name}"));
        let want = get(&f, &format!("{key}.grad.{name}"));
        worst = worst.max(check(&format!("{key} grad {name}"), g, want));
    }
    for name in params.names().iter().filter(|n| n.contains("running")) {
        let v = params.var(name).unwrap();
        let want = get(&f, &format!("{key}.after.{name}"));
        worst = worst.max(check(&format!("{key} {name}"), v.as_tensor(), want));
    }
    eprintln!("parity {key}: max relative error {worst:e}");
    worst
}

#[test]
fn cnn_small_matches_torch() {
    let cfg = ModelConfig {
        backbone: Backbone::CnnSmall,
        widths: vec![4, 8],
        ..Default::default()
    };
    net_parity("cnn", &cfg, 16);
}

#[test]
fn resnet_matches_torch() {
    let cfg = ModelConfig {
        backbone: Backbone::Resnet,
        width_multiplier: 1.0 / 32.0,
        ..Default::default()
    };
    net_parity("resnet", &cfg, 16);
}

#[test]
fn convnext_matches_torch() {
    let cfg = ModelConfig {
        backbone: Backbone::Convnext,
        depths: Some(vec![1, 1]),
        dims: Some(vec![4, 8]),
        ..Default::default()
    };
    net_parity("convnext", &cfg, 16);
}

#[test]
fn dieleman_matches_torch() {
    let cfg = ModelConfig {
        backbone: Backbone::Dieleman,
        width_multiplier: 0.125,
        dense_units: 8,
        ..Default::default()
    };
    net_parity("dieleman", &cfg, 45);
}

#[test]
fn dirichlet_multinomial_matches_torch() {
    let f = fixture();
    let tree = Tree::gz2();
    let logits = Var::from_tensor(get(&f, "dm.logits")).unwrap();
    let counts = get(&f, "dm.counts");
    let conc = dirichlet_concentrations(logits.as_tensor()).unwrap();
    check("dm concentrations", &conc, get(&f, "dm.concentrations"));
    let nll = dirichlet_multinomial_nll(&conc, counts, &tree.question_slices()).unwrap();
    check("dm per-question nll", &nll, get(&f, "dm.nll"));
    let loss = dirichlet_multinomial_loss(&conc, counts, &tree).unwrap();
    check("dm loss", &loss, &get(&f, "dm.loss").squeeze(0).unwrap());
    let g = loss.backward().unwrap();
    let grad = g.get(logits.as_tensor()).unwrap();
    let e = check("dm grad", grad, get(&f, "dm.grad_logits"));
    eprintln!("parity dirichlet-multinomial: grad relative error {e:e}");
    // The unanswered questions of the fixture contribute exactly 0.
    let nll = nll.to_vec2::<f64>().unwrap();
    assert_eq!((nll[1][1], nll[2][7]), (0.0, 0.0));
}

#[test]
fn dieleman_head_matches_torch() {
    let f = fixture();
    let x = Var::from_tensor(get(&f, "dieleman_head.input")).unwrap();
    let y = tree_normalise(x.as_tensor(), &Tree::gz2()).unwrap();
    check("dieleman head output", &y, get(&f, "dieleman_head.output"));
    let w = get(&f, "dieleman_head.weights");
    let g = (&y * w).unwrap().sum_all().unwrap().backward().unwrap();
    let e = check(
        "dieleman head grad",
        g.get(x.as_tensor()).unwrap(),
        get(&f, "dieleman_head.grad_input"),
    );
    eprintln!("parity dieleman head: grad relative error {e:e}");
}
