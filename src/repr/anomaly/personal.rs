//! Anomaly ranking personalised by one researcher's ratings: Walmsley et al.'s active anomaly
//! detection, simplified. An anomaly score finds the unusual; only the researcher knows which
//! unusual galaxies are interesting, and a few ratings teach a linear model which ones.
//!
//! ```text
//! order = unrated items by the base anomaly score (highest first; ties by lower index)
//! each round r:
//!     the researcher rates the per_round first items of order (interesting or not)
//!     if both classes have been rated:
//!         split the rated items (stratified, stream rng::stream(seed, "repr/personalised/round-r"))
//!             about 1/3 of each class held out to choose the penalty, >= 1 of each kept to fit
//!         train::probe::select (binary logistic, k = 1) on the kept / held out, then refit on
//!             every rated item at the chosen penalty
//!         order = unrated items by the model's logit of P(interesting)
//!                 (ties by the base order: a saturated model still falls back on the base)
//!     else: order stays the base order
//! ranking = rated items in rating order, then order
//! ```
//! The embeddings are standardised with the mean and standard deviation of **all** rows
//! (unlabelled rows are available; a handful of rated rows would give a noisy scale), as
//! `train::probe::Standardiser` does. The model replaces the base score rather than blending
//! with it: the researcher's ratings are the better evidence once both classes exist, and the
//! items worth rating at all were already chosen by the base score in the first round.
//! Ranking by the logit rather than the probability keeps the order among items whose
//! probability rounds to 1.

use crate::train::probe::{Logistic, Standardiser, select};
use anyhow::{Result, ensure};
use rand::seq::SliceRandom;
use rayon::prelude::*;

/// Items counted at the top of a ranking.
pub const TOP: usize = 100;

/// The outcome of a personalised ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct Personalised {
    /// Every item once: the rated ones in rating order, then the unrated ones by the last
    /// model (or by the base score when no model could be fitted).
    pub ranking: Vec<usize>,
    /// Ratings asked of the researcher (`min(rounds * per_round, n)`).
    pub ratings: usize,
    /// Of those, rated interesting.
    pub rated_interesting: usize,
    /// Rounds after which a model re-ranked (both classes rated by then).
    pub model_rounds: usize,
    /// Interesting items among the first [`TOP`] of `ranking`.
    pub top100_interesting: usize,
    /// Interesting items among the first [`TOP`] of the base ranking.
    pub base_top100_interesting: usize,
}

/// Personalises the anomaly ranking `base` of the rows of `x` with `rounds` rounds of
/// `per_round` ratings by the oracle `interesting` (see the module doc). The oracle is asked
/// about the rated items and, for the two top-100 counts only, about the first 100 items of
/// each ranking. Deterministic for a seed.
pub fn personalised(
    x: &[Vec<f32>],
    base: &[f64],
    interesting: &dyn Fn(usize) -> bool,
    rounds: usize,
    per_round: usize,
    seed: u64,
) -> Result<Personalised> {
    let d = super::check_rows(x, "personalised")?;
    let n = x.len();
    ensure!(
        base.len() == n,
        "personalised: {} base scores for {n} rows",
        base.len()
    );
    let scaler = Standardiser::fit(x);
    let base_order = super::ranking(base);
    let mut base_pos = vec![0; n];
    for (p, &i) in base_order.iter().enumerate() {
        base_pos[i] = p;
    }
    let mut order = base_order.clone();
    let (mut rated, mut labels): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
    let mut model_rounds = 0;
    for round in 0..rounds {
        let take = per_round.min(order.len());
        if take == 0 {
            break;
        }
        let rest = order.split_off(take);
        for i in std::mem::replace(&mut order, rest) {
            rated.push(i);
            labels.push(interesting(i) as usize);
        }
        let positives = labels.iter().sum::<usize>();
        if positives == 0 || positives == labels.len() || order.is_empty() {
            continue;
        }
        let z = scaler.apply(&rows_f64(x, &rated));
        let model = fit(&z, &labels, seed, round);
        let w = &model.theta;
        let logit: Vec<f64> = order
            .par_iter()
            .map(|&i| {
                let terms = x[i].iter().zip(&scaler.mean).zip(&scaler.scale);
                let zw = terms
                    .zip(&w[..d])
                    .map(|(((v, m), s), a)| a * (f64::from(*v) - m) / s);
                w[d] + zw.sum::<f64>()
            })
            .collect();
        let mut pairs: Vec<(f64, usize)> = logit.into_iter().zip(order).collect();
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(base_pos[a.1].cmp(&base_pos[b.1])));
        order = pairs.into_iter().map(|(_, i)| i).collect();
        model_rounds += 1;
    }
    let count = |r: &[usize]| r.iter().take(TOP).filter(|&&i| interesting(i)).count();
    let ratings = rated.len();
    let rated_interesting = labels.iter().sum();
    rated.extend(order);
    Ok(Personalised {
        top100_interesting: count(&rated),
        base_top100_interesting: count(&base_order),
        ranking: rated,
        ratings,
        rated_interesting,
        model_rounds,
    })
}

/// Binary probe on the rated items: penalty chosen on a seeded stratified hold-out (about a
/// third of each class, at least one of each kept for fitting), then refitted on all of them.
fn fit(z: &[Vec<f64>], y: &[usize], seed: u64, round: usize) -> Logistic {
    let mut rng = crate::rng::stream(seed, &format!("repr/personalised/round-{round}"));
    let (mut tr, mut va) = (Vec::new(), Vec::new());
    for class in [0, 1] {
        let mut idx: Vec<usize> = (0..y.len()).filter(|&i| y[i] == class).collect();
        idx.shuffle(&mut rng);
        let held = (idx.len() / 3).min(idx.len().saturating_sub(1));
        va.extend_from_slice(&idx[..held]);
        tr.extend_from_slice(&idx[held..]);
    }
    let part = |ix: &[usize]| -> (Vec<Vec<f64>>, Vec<usize>) {
        (
            ix.iter().map(|&i| z[i].clone()).collect(),
            ix.iter().map(|&i| y[i]).collect(),
        )
    };
    let ((xt, yt), (xv, yv)) = (part(&tr), part(&va));
    let (mut model, chosen) = select((&xt, &yt), (&xv, &yv), 1);
    model.fit(z, y, chosen.lambda);
    model
}

fn rows_f64(x: &[Vec<f32>], idx: &[usize]) -> Vec<Vec<f64>> {
    idx.iter()
        .map(|&i| x[i].iter().map(|&v| f64::from(v)).collect())
        .collect()
}
