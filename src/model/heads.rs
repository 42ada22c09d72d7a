//! Heads: what a model outputs on top of backbone features, chosen by name ([`HeadSpec`]).
//!
//! Every head is dropout (train only, seeded) -> one linear layer named `head` (parameters
//! `head.weight`, `head.bias`) -> a fixed output transform:
//!
//! | YAML `kind` | outputs | transform |
//! |---|---|---|
//! | `binary` | 1 logit | none |
//! | `multi-class` | `classes` logits | none |
//! | `regression` | `outputs` values | none |
//! | `dirichlet` | one concentration per answer of `tree` | `1 + 100 * sigmoid(x)` (Zoobot) |
//! | `dieleman` | one probability per answer of `tree` | [`tree_normalise`] (Dieleman et al. 2015) |
//!
//! ```
//! let h: gzbench::model::HeadSpec = serde_yaml::from_str("{ kind: dirichlet, tree: gz2 }").unwrap();
//! assert_eq!(h.outputs(), 37);
//! ```

use super::layers::{Dropout, Linear, Params};
use crate::tree::Tree;
use candle_core::{Device, Result, Tensor};
use serde::{Deserialize, Serialize};

/// A decision tree by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TreeName {
    /// Galaxy Zoo 2 in Kaggle order (11 questions, 37 answers).
    #[default]
    Gz2,
    /// Galaxy Zoo DECaLS.
    Decals,
}

impl TreeName {
    pub fn tree(self) -> Tree {
        match self {
            TreeName::Gz2 => Tree::gz2(),
            TreeName::Decals => Tree::decals(),
        }
    }
}

/// Registry of heads (see the module table). `dropout` is the rate before the linear layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum HeadSpec {
    /// One logit (binary classification, BCE with logits).
    Binary {
        #[serde(default)]
        dropout: f64,
    },
    /// `classes` logits (cross-entropy).
    MultiClass {
        classes: usize,
        #[serde(default)]
        dropout: f64,
    },
    /// `outputs` unconstrained values (e.g. MSE on vote fractions).
    Regression {
        outputs: usize,
        #[serde(default)]
        dropout: f64,
    },
    /// Zoobot's head: Dirichlet concentrations `1 + 100 sigmoid(x)`, one per answer.
    Dirichlet {
        #[serde(default)]
        tree: TreeName,
        #[serde(default)]
        dropout: f64,
    },
    /// Dieleman's head: answer probabilities normalised along the decision tree.
    Dieleman {
        #[serde(default)]
        tree: TreeName,
        #[serde(default)]
        dropout: f64,
    },
}

impl Default for HeadSpec {
    fn default() -> Self {
        HeadSpec::Binary { dropout: 0.0 }
    }
}

impl HeadSpec {
    /// Number of outputs per image.
    pub fn outputs(&self) -> usize {
        match self {
            HeadSpec::Binary { .. } => 1,
            HeadSpec::MultiClass { classes, .. } => *classes,
            HeadSpec::Regression { outputs, .. } => *outputs,
            HeadSpec::Dirichlet { tree, .. } | HeadSpec::Dieleman { tree, .. } => {
                tree.tree().n_answers()
            }
        }
    }

    fn dropout(&self) -> f64 {
        match self {
            HeadSpec::Binary { dropout }
            | HeadSpec::MultiClass { dropout, .. }
            | HeadSpec::Regression { dropout, .. }
            | HeadSpec::Dirichlet { dropout, .. }
            | HeadSpec::Dieleman { dropout, .. } => *dropout,
        }
    }
}

enum Transform {
    Identity,
    Dirichlet,
    TreeNormalise(Tree),
}

/// Standard deviation of the `dieleman` head's initial weights (drawn uniformly).
pub const DIELEMAN_INIT_STD: f64 = 0.01;
/// Initial bias of every `dieleman` head output.
pub const DIELEMAN_INIT_BIAS: f64 = 0.1;

/// A built head.
pub struct Head {
    dropout: Dropout,
    fc: Linear,
    transform: Transform,
    outputs: usize,
}

impl Head {
    pub fn new(spec: &HeadSpec, p: &Params, features: usize, dev: &Device) -> Result<Self> {
        let outputs = spec.outputs();
        if outputs == 0 {
            candle_core::bail!("head {spec:?}: needs at least one output");
        }
        let transform = match spec {
            HeadSpec::Dirichlet { .. } => Transform::Dirichlet,
            HeadSpec::Dieleman { tree, .. } => Transform::TreeNormalise(tree.tree()),
            _ => Transform::Identity,
        };
        let fc = match spec {
            // Dieleman's output layer starts with weights of std 0.01 and biases 0.1 (his
            // kaggle-galaxies code), so every answer starts positive: behind the ReLU of
            // `tree_normalise` a question whose outputs all start negative would get no gradient.
            HeadSpec::Dieleman { .. } => Linear::with_init(
                p,
                "head",
                (features, outputs),
                DIELEMAN_INIT_STD * 3f64.sqrt(),
                DIELEMAN_INIT_BIAS,
                dev,
            )?,
            _ => Linear::new(p, "head", features, outputs, dev)?,
        };
        Ok(Head {
            dropout: Dropout::new(p, "head.dropout", spec.dropout())?,
            fc,
            transform,
            outputs,
        })
    }

    /// Features `N x F` -> outputs `N x outputs`.
    pub fn forward(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        let x = self.fc.forward(&self.dropout.forward(features, train)?)?;
        match &self.transform {
            Transform::Identity => Ok(x),
            Transform::Dirichlet => dirichlet_concentrations(&x),
            Transform::TreeNormalise(tree) => tree_normalise(&x, tree),
        }
    }

    pub fn outputs(&self) -> usize {
        self.outputs
    }
}

/// Zoobot's concentrations: `1 + 100 * sigmoid(x)`, each in `(1, 101)`.
pub fn dirichlet_concentrations(x: &Tensor) -> Result<Tensor> {
    candle_nn::ops::sigmoid(x)?.affine(100.0, 1.0)
}

/// The expected vote fractions of Dirichlet concentrations `N x answers`: each answer's
/// concentration over its question's total (the mean of the Dirichlet).
pub fn expected_fractions(concentrations: &Tensor, tree: &Tree) -> Result<Tensor> {
    let parts = tree
        .question_slices()
        .into_iter()
        .map(|s| {
            let q = concentrations.narrow(1, s.start, s.len())?;
            q.broadcast_div(&q.sum_keepdim(1)?)
        })
        .collect::<Result<Vec<_>>>()?;
    Tensor::cat(&parts, 1)
}

/// Added to each question's sum before dividing (as in Dieleman's solution).
pub const TREE_NORMALISE_EPS: f64 = 1e-12;

/// Dieleman's output layer: ReLU, then per question divide by the question's sum (+ eps), then
/// (in tree order) multiply each question's answers by the probability of reaching it — the
/// sum of the already-weighted outputs of its required answers. `x`: `N x n_answers`. The
/// result follows [`Tree::weighted_targets`]: each question's answers sum to its reach.
pub fn tree_normalise(x: &Tensor, tree: &Tree) -> Result<Tensor> {
    let n_answers = tree.n_answers();
    if x.dim(1)? != n_answers {
        candle_core::bail!(
            "tree normalisation: {} outputs but tree `{}` has {n_answers} answers",
            x.dim(1)?,
            tree.name()
        );
    }
    let x = x.relu()?;
    let slices = tree.question_slices();
    let mut done: Vec<Tensor> = Vec::with_capacity(slices.len());
    for (qi, s) in slices.iter().enumerate() {
        let part = x.narrow(1, s.start, s.len())?;
        let sum = (part.sum_keepdim(1)? + TREE_NORMALISE_EPS)?;
        let mut q = part.broadcast_div(&sum)?;
        let requires = &tree.questions()[qi].requires;
        if !requires.is_empty() {
            let mut reach: Option<Tensor> = None;
            for r in requires {
                let a = done[r.question].narrow(1, r.answer, 1)?;
                reach = Some(match reach {
                    Some(t) => (t + a)?,
                    None => a,
                });
            }
            if let Some(reach) = reach {
                q = q.broadcast_mul(&reach)?;
            }
        }
        done.push(q);
    }
    Tensor::cat(&done, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;

    #[test]
    fn yaml_names_and_outputs() {
        let h: HeadSpec = serde_yaml::from_str("kind: multi-class\nclasses: 5").unwrap();
        assert_eq!(
            h,
            HeadSpec::MultiClass {
                classes: 5,
                dropout: 0.0
            }
        );
        let h: HeadSpec = serde_yaml::from_str("{ kind: dieleman, dropout: 0.5 }").unwrap();
        assert_eq!(h.outputs(), 37);
        assert_eq!(HeadSpec::default().outputs(), 1);
        assert!(serde_yaml::from_str::<HeadSpec>("{ kind: binary, drop: 0.5 }").is_err());
        assert!(serde_yaml::from_str::<HeadSpec>("{ kind: softmax }").is_err());
        let d: HeadSpec = serde_yaml::from_str("{ kind: dirichlet, tree: decals }").unwrap();
        assert_eq!(d.outputs(), Tree::decals().n_answers());
    }

    #[test]
    fn dieleman_output_obeys_the_tree() {
        let tree = Tree::gz2();
        let dev = Device::Cpu;
        let x = Params::new(0).uniform("x", &[5, 37], 1.0, &dev).unwrap();
        let y = tree_normalise(&x, &tree).unwrap().to_vec2::<f32>().unwrap();
        for row in &y {
            let v: Vec<f64> = row.iter().map(|&f| f as f64).collect();
            let slices = tree.question_slices();
            for (qi, s) in slices.iter().enumerate() {
                let sum: f64 = v[s.clone()].iter().sum();
                let q = &tree.questions()[qi];
                let reach: f64 = if q.requires.is_empty() {
                    1.0
                } else {
                    q.requires.iter().map(|&r| v[tree.flat_index(r)]).sum()
                };
                // A question whose raw outputs are all <= 0 sums to 0 after ReLU.
                assert!(
                    (sum - reach).abs() < 1e-5 || sum == 0.0,
                    "question {qi}: {sum} vs {reach}"
                );
                assert!(v[s.clone()].iter().all(|&a| a >= 0.0));
            }
        }
        // Same as the tree's own weighting of per-question fractions.
        let ones = Tensor::ones((1, 37), DType::F32, &dev).unwrap();
        let y = tree_normalise(&ones, &tree)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let fractions = tree.fractions(&[1.0; 37]);
        for (a, b) in y[0].iter().zip(tree.weighted_targets(&fractions)) {
            assert!((*a as f64 - b).abs() < 1e-6);
        }
        assert!(tree_normalise(&Tensor::ones((1, 3), DType::F32, &dev).unwrap(), &tree).is_err());
    }

    #[test]
    fn dieleman_head_starts_with_every_question_alive() {
        // A question is dead for an image when all its raw outputs are <= 0 (the ReLU of
        // `tree_normalise` then passes no gradient). Dieleman's init: none; PyTorch's: many.
        let dev = Device::Cpu;
        let tree = Tree::gz2();
        let dead = |raw: &Linear, f: &Tensor| -> usize {
            let y = raw.forward(f).unwrap().to_vec2::<f32>().unwrap();
            y.iter()
                .map(|row| {
                    tree.question_slices()
                        .iter()
                        .filter(|s| row[(*s).clone()].iter().all(|&v| v <= 0.0))
                        .count()
                })
                .sum()
        };
        let p = Params::new(3);
        let f = p.uniform("f", &[64, 64], 1.0, &dev).unwrap();
        let spec = HeadSpec::Dieleman {
            tree: TreeName::Gz2,
            dropout: 0.0,
        };
        let h = Head::new(&spec, &p, 64, &dev).unwrap();
        let b = p
            .var("head.bias")
            .unwrap()
            .as_tensor()
            .to_vec1::<f32>()
            .unwrap();
        assert!(b.iter().all(|&v| v == DIELEMAN_INIT_BIAS as f32));
        assert_eq!(dead(&h.fc, &f), 0);
        let plain = Params::new(3);
        let raw = Linear::new(&plain, "head", 64, 37, &dev).unwrap();
        assert!(dead(&raw, &f) > 50, "{}", dead(&raw, &f));
    }

    #[test]
    fn expected_fractions_hand_computed() {
        let tree = Tree::decals();
        let n = tree.n_answers();
        let mut c = vec![1f32; n];
        // first question (3 answers): concentrations 1, 2, 5 -> 1/8, 2/8, 5/8
        c[1] = 2.0;
        c[2] = 5.0;
        let t = Tensor::from_vec(c, (1, n), &Device::Cpu).unwrap();
        let f = expected_fractions(&t, &tree)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(&f[0][..3], &[0.125, 0.25, 0.625]);
        let s = tree.question_slices()[1].clone();
        let k = s.len() as f32;
        assert!(f[0][s].iter().all(|&v| (v - 1.0 / k).abs() < 1e-7));
    }

    #[test]
    fn dirichlet_concentrations_in_range() {
        let dev = Device::Cpu;
        let x = Tensor::new(&[[-50f32, 0.0, 50.0]], &dev).unwrap();
        let c = dirichlet_concentrations(&x)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(c[0], vec![1.0, 51.0, 101.0]);
    }
}
