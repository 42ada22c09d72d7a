//! Losses, as differentiable candle compositions: Dirichlet-multinomial negative log-likelihood
//! over a decision tree's vote counts (Zoobot), MSE on vote fractions, cross-entropy and
//! binary cross-entropy with logits. `lgamma` is the engine's custom op
//! ([`crate::engine::special`]).
//!
//! The Dirichlet-multinomial NLL of one question with vote counts `n_i` (total `N`) under
//! concentrations `a_i` (total `A`) is Pyro's `DirichletMultinomial.log_prob` negated, as
//! Zoobot's `dirichlet_loss` uses it:
//!
//! ```text
//! -log DM = -[lgamma(N+1) + lgamma(A) - lgamma(N+A) + sum_i (lgamma(n_i+a_i) - lgamma(a_i) - lgamma(n_i+1))]
//! ```
//!
//! A question with no votes contributes exactly 0. Computed in f64, returned in the dtype of the
//! concentrations.

use crate::engine::special::lgamma;
use crate::tree::Tree;
use candle_core::{DType, Result, Tensor};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Registry of losses (the name a YAML file gives).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// [`bce_with_logits`]: outputs `N x 1` or `N` logits, targets in `[0, 1]`.
    #[default]
    BceWithLogits,
    /// [`cross_entropy`]: outputs `N x K` logits, targets `N` class indices (any dtype).
    CrossEntropy,
    /// [`mse`]: outputs and targets of the same shape (e.g. vote fractions).
    Mse,
    /// [`dirichlet_multinomial_loss`]: outputs concentrations, targets vote counts, `N x answers`.
    DirichletMultinomial,
}

impl LossKind {
    /// The mean loss of a batch. `tree` is needed by `dirichlet-multinomial` only.
    pub fn compute(
        self,
        outputs: &Tensor,
        targets: &Tensor,
        tree: Option<&Tree>,
    ) -> Result<Tensor> {
        match self {
            LossKind::BceWithLogits => {
                bce_with_logits(&outputs.flatten_all()?, &targets.flatten_all()?)
            }
            LossKind::CrossEntropy => cross_entropy(outputs, targets),
            LossKind::Mse => mse(outputs, targets),
            LossKind::DirichletMultinomial => match tree {
                Some(t) => dirichlet_multinomial_loss(outputs, targets, t),
                None => candle_core::bail!("loss `dirichlet-multinomial` needs a decision tree"),
            },
        }
    }
}

/// Per-question Dirichlet-multinomial NLL, `N x Q`: `concentrations` and `counts` are
/// `N x answers`, `slices` the answer range of each question (`Tree::question_slices`).
pub fn dirichlet_multinomial_nll(
    concentrations: &Tensor,
    counts: &Tensor,
    slices: &[Range<usize>],
) -> Result<Tensor> {
    if concentrations.dims() != counts.dims() || concentrations.rank() != 2 {
        candle_core::bail!(
            "dirichlet-multinomial: concentrations {:?} and counts {:?} must both be N x answers",
            concentrations.dims(),
            counts.dims()
        );
    }
    let answers = counts.dim(1)?;
    if let Some(s) = slices.iter().find(|s| s.end > answers || s.is_empty()) {
        candle_core::bail!("dirichlet-multinomial: question slice {s:?} outside {answers} answers");
    }
    let dtype = concentrations.dtype();
    let alpha = concentrations.to_dtype(DType::F64)?;
    let n = counts.to_dtype(DType::F64)?;
    let per_answer = ((lgamma(&(&n + &alpha)?)? - lgamma(&alpha)?)? - lgamma(&(&n + 1.0)?)?)?;
    let mut per_question = Vec::with_capacity(slices.len());
    for s in slices {
        let a = alpha.narrow(1, s.start, s.len())?.sum_keepdim(1)?;
        let total = n.narrow(1, s.start, s.len())?.sum_keepdim(1)?;
        let log_prob = (((lgamma(&(&total + 1.0)?)? + lgamma(&a)?)? - lgamma(&(&total + &a)?)?)?
            + per_answer.narrow(1, s.start, s.len())?.sum_keepdim(1)?)?;
        // Exactly 0 for a question nobody answered (the formula's value up to rounding).
        let answered = total.gt(0.0)?.to_dtype(DType::F64)?;
        per_question.push((log_prob.neg()? * answered)?);
    }
    Tensor::cat(&per_question, 1)?.to_dtype(dtype)
}

/// Zoobot's training loss: per-galaxy NLL summed over the tree's questions, mean over the batch.
pub fn dirichlet_multinomial_loss(
    concentrations: &Tensor,
    counts: &Tensor,
    tree: &Tree,
) -> Result<Tensor> {
    dirichlet_multinomial_nll(concentrations, counts, &tree.question_slices())?
        .sum(1)?
        .mean_all()
}

/// Mean squared error over all elements (e.g. predicted vs. volunteer vote fractions).
pub fn mse(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    (pred - target.to_dtype(pred.dtype())?)?.sqr()?.mean_all()
}

/// Mean cross-entropy of `N x K` logits against `N` class indices (given in any dtype).
pub fn cross_entropy(logits: &Tensor, classes: &Tensor) -> Result<Tensor> {
    let k = logits.dim(1)?;
    let classes = classes.flatten_all()?.to_dtype(DType::U32)?;
    if let Some(&bad) = classes.to_vec1::<u32>()?.iter().find(|&&c| c as usize >= k) {
        candle_core::bail!("cross-entropy: class index {bad} but only {k} logits");
    }
    candle_nn::loss::cross_entropy(logits, &classes)
}

/// Mean binary cross-entropy of logits `x` against targets `y`, in the stable form
/// `max(x, 0) - x y + ln(1 + exp(-|x|))` (PyTorch's `BCEWithLogitsLoss`).
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let y = targets.to_dtype(logits.dtype())?;
    let soft = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    ((logits.relu()? - (logits * y)?)? + soft)?.mean_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// A single question's answer range.
    fn one(start: usize, end: usize) -> Vec<Range<usize>> {
        std::iter::once(start..end).collect()
    }

    fn t(v: &[f64]) -> Tensor {
        Tensor::from_vec(v.to_vec(), (1, v.len()), &Device::Cpu).unwrap()
    }

    #[test]
    fn dirichlet_multinomial_by_hand_and_zero_votes() {
        // One question, counts (2, 1), concentrations (1, 1): DM = 3!/(2!1!) * B(3,2)/B(1,1)
        // = 3 * (Γ(3)Γ(2)/Γ(5)) / 1 = 3 * 2/24 = 1/4.
        let nll = dirichlet_multinomial_nll(&t(&[1.0, 1.0]), &t(&[2.0, 1.0]), &one(0, 2)).unwrap();
        let v = nll.to_vec2::<f64>().unwrap()[0][0];
        assert!((v - 4f64.ln()).abs() < 1e-9, "{v}");
        // Second question unanswered: contributes exactly 0, the first is unchanged.
        let nll = dirichlet_multinomial_nll(
            &t(&[1.0, 1.0, 3.0, 7.0, 2.0]),
            &t(&[2.0, 1.0, 0.0, 0.0, 0.0]),
            &[0..2, 2..5],
        )
        .unwrap()
        .to_vec2::<f64>()
        .unwrap();
        assert!((nll[0][0] - 4f64.ln()).abs() < 1e-9);
        assert_eq!(nll[0][1], 0.0);
        assert!(dirichlet_multinomial_nll(&t(&[1.0]), &t(&[1.0, 2.0]), &one(0, 1)).is_err());
        assert!(dirichlet_multinomial_nll(&t(&[1.0, 1.0]), &t(&[1.0, 2.0]), &one(0, 3)).is_err());
    }

    #[test]
    fn simple_losses() {
        let dev = Device::Cpu;
        let x = Tensor::new(&[0f32, 100.0, -100.0], &dev).unwrap();
        let y = Tensor::new(&[1f32, 1.0, 0.0], &dev).unwrap();
        let l = bce_with_logits(&x, &y).unwrap().to_scalar::<f32>().unwrap();
        assert!((l - 2f32.ln() / 3.0).abs() < 1e-6, "{l}");
        let logits = Tensor::new(&[[0f32, 0.0], [0.0, 0.0]], &dev).unwrap();
        let ce = cross_entropy(&logits, &Tensor::new(&[0f32, 1.0], &dev).unwrap()).unwrap();
        assert!((ce.to_scalar::<f32>().unwrap() - 2f32.ln()).abs() < 1e-6);
        assert!(cross_entropy(&logits, &Tensor::new(&[2u32, 0], &dev).unwrap()).is_err());
        let m = mse(&y, &Tensor::new(&[0f32, 1.0, 0.0], &dev).unwrap()).unwrap();
        assert!((m.to_scalar::<f32>().unwrap() - 1.0 / 3.0).abs() < 1e-7);
        let kind: LossKind = serde_yaml::from_str("dirichlet-multinomial").unwrap();
        assert!(kind.compute(&x, &y, None).is_err());
    }
}
