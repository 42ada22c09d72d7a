//! The simulated expert panel that tests Galaxy Zoo 2's claim of more than 90 % agreement with
//! professional classifications (Willett et al. 2013, sect. 5, against Nair & Abraham 2010).
//!
//! A panel of `n_experts` (a [`Crowd`] drawn from `item_stream(seed, "crowd/experts", e)` with
//! [`expert_quality`]: skill 0.97 ± 0.02, no spammers, and, as for real experts, a share
//! `0.3 d` of their answers on a galaxy of difficulty `d` pulled towards the typical confusions)
//! labels a random subset of the galaxies (each galaxy independently with probability
//! `expert_fraction`; membership and answers from `item_stream(seed, "crowd/expert-labels", id)`).
//! The expert label is the panel's majority answer; ties go to the tied answer given by the most
//! skilled expert. The panel and the subset depend only on the seed and the galaxies, never on the
//! crowd regime, the strategy or the votes per galaxy, so every arm of an experiment is compared
//! with the same expert labels. [`agreement`] is the `expert_agreement` metric.

use rand::Rng;

use super::volunteers::{Crowd, truth};
use super::{CrowdError, CrowdQuality};
use crate::rng::item_stream;
use crate::universe::{Galaxy, Question};

/// The experts' answer model (see the module doc).
pub fn expert_quality() -> CrowdQuality {
    CrowdQuality {
        spammer_fraction: 0.0,
        skill_mean: 0.97,
        skill_sd: 0.02,
        difficulty_scale: 0.3,
        ..CrowdQuality::default()
    }
}

/// The panel's majority among `answers` (one per expert, `None` = did not answer); ties go to the
/// tied answer of the expert who comes first in `seniority`.
pub fn panel_majority(answers: &[u32], seniority: &[usize], n_classes: usize) -> Option<u32> {
    let mut counts = vec![0usize; n_classes];
    for &a in answers {
        counts[a as usize] += 1;
    }
    let top = *counts.iter().max()?;
    if top == 0 {
        return None;
    }
    seniority
        .iter()
        .map(|&e| answers[e])
        .find(|&a| counts[a as usize] == top)
}

/// Expert label of every galaxy for question `q` (`None` outside the labelled subset or where
/// `q` is not reached).
pub fn expert_labels(
    seed: u64,
    galaxies: &[Galaxy],
    q: Question,
    n_experts: usize,
    fraction: f64,
) -> Result<Vec<Option<u32>>, CrowdError> {
    if !(0.0..=1.0).contains(&fraction) {
        return Err(CrowdError::Config(format!(
            "expert_fraction = {fraction}; expected a value in [0, 1]"
        )));
    }
    if n_experts == 0 || fraction == 0.0 {
        return Ok(vec![None; galaxies.len()]);
    }
    let panel = Crowd::sample_from(seed, "crowd/experts", n_experts, &expert_quality())?;
    let mut seniority: Vec<usize> = (0..n_experts).collect();
    seniority.sort_by(|&a, &b| {
        let skill = |e: usize| panel.volunteers[e].skill;
        skill(b).total_cmp(&skill(a)).then(a.cmp(&b))
    });
    let k = q.answers().len();
    let truth = truth(galaxies, q);
    Ok(galaxies
        .iter()
        .zip(&truth)
        .map(|(g, t)| {
            let mut rng = item_stream(seed, "crowd/expert-labels", g.id);
            if rng.random::<f64>() >= fraction {
                return None;
            }
            let t = (*t)? as usize;
            let answers: Vec<u32> = (0..n_experts)
                .map(|e| panel.draw_answer(&mut rng, e, q, t, g.difficulty as f64))
                .collect();
            panel_majority(&answers, &seniority, k)
        })
        .collect())
}

/// Share of the galaxies with an expert label whose aggregated label equals it (`labels` and
/// `expert` aligned); `None` when no galaxy has an expert label.
pub fn agreement(labels: &[u32], expert: &[Option<u32>]) -> Option<f64> {
    let (mut hit, mut n) = (0usize, 0usize);
    for (l, e) in labels.iter().zip(expert) {
        if let Some(e) = e {
            n += 1;
            hit += usize::from(l == e);
        }
    }
    (n > 0).then(|| hit as f64 / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::universe::{PopulationConfig, sample_population};

    #[test]
    fn majority_and_ties() {
        assert_eq!(panel_majority(&[1, 1, 0], &[0, 1, 2], 3), Some(1));
        // 2-2-1 tie between answers 0 and 2: the most senior expert (index 3) said 2.
        assert_eq!(
            panel_majority(&[0, 2, 0, 2, 1], &[3, 0, 1, 2, 4], 3),
            Some(2)
        );
        // The most senior expert is in the minority: the next senior tied answer wins.
        assert_eq!(
            panel_majority(&[0, 2, 0, 2, 1], &[4, 1, 0, 2, 3], 3),
            Some(2)
        );
        assert_eq!(panel_majority(&[], &[], 3), None);
        assert_eq!(agreement(&[0, 1, 2], &[Some(0), None, Some(1)]), Some(0.5));
        assert_eq!(agreement(&[0, 1], &[None, None]), None);
    }

    #[test]
    fn a_skilled_panel_labels_a_subset_and_still_feels_difficulty() {
        let galaxies = sample_population(4, 3000, &PopulationConfig::default());
        let q = Question::SmoothOrFeatured;
        let e = expert_labels(4, &galaxies, q, 5, 0.15).unwrap();
        assert_eq!(e, expert_labels(4, &galaxies, q, 5, 0.15).unwrap());
        assert_ne!(e, expert_labels(5, &galaxies, q, 5, 0.15).unwrap());
        let n = e.iter().filter(|x| x.is_some()).count();
        assert!((350..=550).contains(&n), "{n} of 3000 labelled at 15 %");
        let truth = truth(&galaxies, q);
        let hits = e
            .iter()
            .zip(&truth)
            .filter(|(x, t)| x.is_some() && x == t)
            .count();
        assert!(hits as f64 / n as f64 > 0.95, "panel accuracy {hits}/{n}");
        let panel = Crowd::sample_from(4, "crowd/experts", 5, &expert_quality()).unwrap();
        for v in 0..5 {
            assert!(panel.volunteers[v].skill > 0.9);
            assert!(panel.answer_probs(v, q, 1, 0.9)[1] < panel.answer_probs(v, q, 1, 0.1)[1]);
        }
        assert!(
            expert_labels(4, &galaxies, q, 0, 0.15)
                .unwrap()
                .iter()
                .all(Option::is_none)
        );
        assert!(expert_labels(4, &galaxies, q, 5, 1.5).is_err());
    }
}
