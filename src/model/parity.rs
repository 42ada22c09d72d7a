//! Parity against PyTorch: `benches/peers/torch_parity.py` wrote reference weights, inputs,
//! outputs, losses and gradients to `benches/peers/fixtures/torch_parity.safetensors`; here the
//! same networks are built on a chosen device, the weights loaded by name through [`Params`],
//! and every value compared with relative error `max|rust - torch| / max|torch|`.
//!
//! [`run`] returns every comparison; the tests require all of them within [`TOL`] on the CPU,
//! and `gzbench bench parity --device cuda` (scripts/gpu-check.sh) does the same on a GPU.

use super::heads::{dirichlet_concentrations, tree_normalise};
use super::loss::{bce_with_logits, dirichlet_multinomial_loss, dirichlet_multinomial_nll};
use super::{Model, Params};
use crate::spec::{Backbone, ModelConfig};
use crate::tree::Tree;
use candle_core::{Device, Result, Tensor, Var, bail};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The largest relative error a value may have.
pub const TOL: f64 = 1e-4;

pub use crate::engine::crosscheck::Check;

/// The committed fixture, relative to the repository root.
pub fn fixture_path() -> PathBuf {
    PathBuf::from("benches/peers/fixtures/torch_parity.safetensors")
}

/// Every comparison of the fixture at `path`, computed on `dev`.
pub fn run(path: &Path, dev: &Device) -> Result<Vec<Check>> {
    let f = candle_core::safetensors::load(path, dev)?;
    let mut out = Vec::new();
    for (key, cfg, size) in nets() {
        net_parity(&f, path, key, &cfg, size, dev, &mut out)?;
    }
    dirichlet_multinomial(&f, &mut out)?;
    dieleman_head(&f, &mut out)?;
    Ok(out)
}

/// The fixture's networks: key, configuration, image side, for every backbone that has one.
fn nets() -> Vec<(&'static str, ModelConfig, usize)> {
    crate::spec::all::<Backbone>()
        .iter()
        .filter_map(|&b| net(b))
        .collect()
}

/// The fixture's network of backbone `b` (key, configuration, image side), or `None` where
/// `benches/peers/torch_parity.py` has none: a new backbone must say which (the match is
/// exhaustive).
fn net(b: Backbone) -> Option<(&'static str, ModelConfig, usize)> {
    let cfg = ModelConfig {
        backbone: b,
        ..Default::default()
    };
    Some(match b {
        Backbone::Linear | Backbone::Efficientnet => return None,
        Backbone::CnnSmall => (
            "cnn",
            ModelConfig {
                widths: vec![4, 8],
                ..cfg
            },
            16,
        ),
        Backbone::Resnet => (
            "resnet",
            ModelConfig {
                width_multiplier: 1.0 / 32.0,
                ..cfg
            },
            16,
        ),
        Backbone::Convnext => (
            "convnext",
            ModelConfig {
                depths: Some(vec![1, 1]),
                dims: Some(vec![4, 8]),
                ..cfg
            },
            16,
        ),
        Backbone::Dieleman => (
            "dieleman",
            ModelConfig {
                width_multiplier: 0.125,
                dense_units: 8,
                ..cfg
            },
            45,
        ),
    })
}

fn get<'a>(f: &'a HashMap<String, Tensor>, k: &str) -> Result<&'a Tensor> {
    match f.get(k) {
        Some(t) => Ok(t),
        None => bail!("parity fixture lacks `{k}`"),
    }
}

fn push(out: &mut Vec<Check>, what: String, a: &Tensor, b: &Tensor) -> Result<()> {
    let rel_err = crate::engine::crosscheck::rel_err(a, b)
        .map_err(|e| candle_core::Error::Msg(format!("{what}: {e}")))?;
    out.push(Check { what, rel_err });
    Ok(())
}

/// Forward, BCE loss and backward in train mode; compares logits, loss, every gradient and
/// every updated running statistic.
fn net_parity(
    f: &HashMap<String, Tensor>,
    path: &Path,
    key: &str,
    cfg: &ModelConfig,
    size: usize,
    dev: &Device,
    out: &mut Vec<Check>,
) -> Result<()> {
    let params = Params::new(0);
    let model = Model::build(cfg, 3, size, &params, dev)?;
    params
        .load_prefixed(path, "", &format!("{key}."))
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let x = get(f, &format!("{key}.input"))?;
    let y = get(f, &format!("{key}.target"))?;
    let logits = model.forward(x, true)?;
    let loss = bce_with_logits(&logits, y)?;
    push(
        out,
        format!("{key} logits"),
        &logits,
        get(f, &format!("{key}.logits"))?,
    )?;
    let want_loss = get(f, &format!("{key}.loss"))?.squeeze(0)?;
    push(out, format!("{key} loss"), &loss, &want_loss)?;
    let grads = loss.backward()?;
    let trainable = params.trainable_named();
    let expected = f
        .keys()
        .filter(|k| k.starts_with(&format!("{key}.grad.")))
        .count();
    if trainable.len() != expected {
        bail!(
            "{key}: {} parameters, PyTorch has {expected}",
            trainable.len()
        )
    }
    for (name, var) in trainable {
        let Some(g) = grads.get(var.as_tensor()) else {
            bail!("{key}: no gradient for {name}")
        };
        let want = get(f, &format!("{key}.grad.{name}"))?;
        push(out, format!("{key} grad {name}"), g, want)?;
    }
    for name in params.names().iter().filter(|n| n.contains("running")) {
        let Some(v) = params.var(name) else {
            bail!("{key}: no buffer {name}")
        };
        let want = get(f, &format!("{key}.after.{name}"))?;
        push(out, format!("{key} {name}"), v.as_tensor(), want)?;
    }
    Ok(())
}

/// Zoobot's loss: concentrations, per-question NLL, loss and the gradient of the logits.
fn dirichlet_multinomial(f: &HashMap<String, Tensor>, out: &mut Vec<Check>) -> Result<()> {
    let tree = Tree::gz2();
    let logits = Var::from_tensor(get(f, "dm.logits")?)?;
    let counts = get(f, "dm.counts")?;
    let conc = dirichlet_concentrations(logits.as_tensor())?;
    push(
        out,
        "dm concentrations".into(),
        &conc,
        get(f, "dm.concentrations")?,
    )?;
    let nll = dirichlet_multinomial_nll(&conc, counts, &tree.question_slices())?;
    push(out, "dm per-question nll".into(), &nll, get(f, "dm.nll")?)?;
    let loss = dirichlet_multinomial_loss(&conc, counts, &tree)?;
    push(
        out,
        "dm loss".into(),
        &loss,
        &get(f, "dm.loss")?.squeeze(0)?,
    )?;
    let g = loss.backward()?;
    let Some(grad) = g.get(logits.as_tensor()) else {
        bail!("dm: no gradient for the logits")
    };
    push(out, "dm grad".into(), grad, get(f, "dm.grad_logits")?)
}

/// Dieleman's tree normalisation and its gradient.
fn dieleman_head(f: &HashMap<String, Tensor>, out: &mut Vec<Check>) -> Result<()> {
    let x = Var::from_tensor(get(f, "dieleman_head.input")?)?;
    let y = tree_normalise(x.as_tensor(), &Tree::gz2())?;
    push(
        out,
        "dieleman head output".into(),
        &y,
        get(f, "dieleman_head.output")?,
    )?;
    let w = get(f, "dieleman_head.weights")?;
    let g = (&y * w)?.sum_all()?.backward()?;
    let Some(gx) = g.get(x.as_tensor()) else {
        bail!("dieleman head: no gradient for the input")
    };
    push(
        out,
        "dieleman head grad".into(),
        gx,
        get(f, "dieleman_head.grad_input")?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(fixture_path())
    }

    #[test]
    fn every_value_matches_torch_on_the_cpu() {
        let checks = run(&fixture(), &Device::Cpu).unwrap();
        for key in [
            "cnn",
            "resnet",
            "convnext",
            "dieleman",
            "dm",
            "dieleman head",
        ] {
            assert!(
                checks.iter().any(|c| c.what.starts_with(key)),
                "nothing checked for {key}"
            );
        }
        for c in &checks {
            assert!(
                c.rel_err <= TOL,
                "{}: relative error {:e} > {TOL:e}",
                c.what,
                c.rel_err
            );
        }
    }

    #[test]
    fn unanswered_questions_contribute_exactly_zero() {
        let f = candle_core::safetensors::load(fixture(), &Device::Cpu).unwrap();
        let conc = dirichlet_concentrations(get(&f, "dm.logits").unwrap()).unwrap();
        let counts = get(&f, "dm.counts").unwrap();
        let nll = dirichlet_multinomial_nll(&conc, counts, &Tree::gz2().question_slices())
            .unwrap()
            .to_vec2::<f64>()
            .unwrap();
        assert_eq!((nll[1][1], nll[2][7]), (0.0, 0.0));
    }

    #[test]
    fn a_missing_fixture_is_an_error() {
        assert!(run(Path::new("/nonexistent/parity.safetensors"), &Device::Cpu).is_err());
    }
}
