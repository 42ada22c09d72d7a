//! `synthetic`: galaxies of the synthetic universe rendered as survey-like cutouts, labelled from
//! their known truth (ring, bar, edge-on, featured, merger, clumpy).
//!
//! Galaxy `id` is `universe::sample_galaxy(data_seed, id)` and its pixels come from
//! `universe::render(.., data_seed)`, so a split is a pure function of `(data_seed, first id, n,
//! size, survey, target, positive_fraction)`. With `positive_fraction` set, galaxies are drawn in
//! id order and kept while their class still has room, which makes a balanced set of a rare
//! feature without changing the population: the kept galaxies are exactly those a reader would
//! find by scanning the catalogue. Network input is the display stretch in 0..1
//! ([`to_display_planes`]), as for real RGB cutouts.

use super::{DataError, Dataset};
use crate::spec::{Survey, Target};
use crate::universe::observe::to_display_planes;
use crate::universe::population::sample_galaxy;
use crate::universe::{
    Galaxy, PopulationConfig, RenderConfig, TreeLink, TrueAnswers, VoteProbabilities, render,
};
use rayon::prelude::*;

/// How many galaxies may be scanned per requested galaxy before the search gives up.
const MAX_SCAN_PER_ITEM: u64 = 2_000;
/// Galaxies sampled per parallel chunk while scanning.
const CHUNK: u64 = 4096;

/// Whether galaxy `g` is a positive for `target`.
pub fn label(g: &Galaxy, target: Target) -> bool {
    match target {
        Target::Ring => g.ring.is_some(),
        Target::Bar => g.bar.is_some(),
        Target::Clumpy => !g.clumps.is_empty(),
        Target::Merger => g.kind == crate::universe::GalaxyType::Merger,
        Target::EdgeOn => TrueAnswers::from_galaxy(g).disk_edge_on == Some(true),
        Target::Featured => {
            TrueAnswers::from_galaxy(g).smooth_or_featured
                == crate::universe::SmoothOrFeatured::Featured
        }
        Target::Elongated | Target::Gz2Answers | Target::Label | Target::Votes | Target::Class => {
            false
        }
    }
}

/// Votes per galaxy on the first question when simulating GZ2 vote fractions (later questions
/// get the votes that reach them), about what Galaxy Zoo 2 collected.
const GZ2_VOTES: usize = 40;

/// Kaggle-style GZ2 targets of galaxy `g`: vote counts of a simulated crowd drawn from its true
/// vote probabilities along the tree, turned into fractions and weighted by the probability of
/// reaching each question.
pub fn gz2_targets(g: &Galaxy, seed: u64, tree: &crate::tree::Tree, link: &TreeLink) -> Vec<f32> {
    let a = TrueAnswers::from_galaxy(g);
    let f = link.fractions(&a, &VoteProbabilities::from_answers(&a, g.difficulty));
    let mut r = crate::rng::item_stream(seed, "data/gz2/votes", g.id);
    let counts: Vec<f64> = super::pretrain::vote_counts(tree, &f, GZ2_VOTES, &mut r)
        .into_iter()
        .map(f64::from)
        .collect();
    tree.weighted_targets(&tree.fractions(&counts))
        .into_iter()
        .map(|v| v as f32)
        .collect()
}

pub fn survey(s: Survey) -> crate::universe::Survey {
    match s {
        Survey::SdssLike => crate::universe::Survey::SdssLike,
        Survey::DecalsLike => crate::universe::Survey::DecalsLike,
    }
}

/// What a split is drawn from.
pub(super) struct Draw {
    pub seed: u64,
    pub size: usize,
    pub survey: Survey,
    pub target: Target,
    pub positive_fraction: Option<f64>,
}

/// `n` galaxies starting at id `start` (kept by class quota if `positive_fraction` is set).
pub(super) fn generate(d: &Draw, start: u64, n: usize) -> Result<Dataset, DataError> {
    let pop = PopulationConfig::default();
    let galaxies = match d.positive_fraction {
        None => (start..start + n as u64)
            .into_par_iter()
            .map(|id| sample_galaxy(d.seed, id, &pop))
            .collect(),
        Some(f) => {
            let want_pos = (n as f64 * f).round() as usize;
            let mut want = [n - want_pos, want_pos];
            let mut kept = Vec::with_capacity(n);
            let mut next = start;
            let limit = start + MAX_SCAN_PER_ITEM * n.max(1) as u64;
            while want.iter().sum::<usize>() > 0 {
                if next >= limit {
                    return Err(DataError::Scarce {
                        target: crate::spec::yaml_name(&d.target),
                        scanned: next - start,
                        missing: want[1],
                    });
                }
                let chunk: Vec<Galaxy> = (next..next + CHUNK)
                    .into_par_iter()
                    .map(|id| sample_galaxy(d.seed, id, &pop))
                    .collect();
                next += CHUNK;
                for g in chunk {
                    let class = label(&g, d.target) as usize;
                    if want[class] > 0 {
                        want[class] -= 1;
                        kept.push(g);
                    }
                }
            }
            kept
        }
    };
    let cfg = RenderConfig::new(d.size, survey(d.survey));
    let images: Vec<Vec<f32>> = galaxies
        .par_iter()
        .map(|g| to_display_planes(&render(g, &cfg, d.seed)))
        .collect();
    let (targets, target_len) = if d.target == Target::Gz2Answers {
        let tree = crate::tree::Tree::gz2();
        let link = TreeLink::new(&tree).expect("the GZ2 tree is linked");
        let t: Vec<Vec<f32>> = galaxies
            .par_iter()
            .map(|g| gz2_targets(g, d.seed, &tree, &link))
            .collect();
        (t.concat(), tree.n_answers())
    } else {
        let t = galaxies.iter().map(|g| label(g, d.target) as u8 as f32);
        (t.collect(), 1)
    };
    Ok(Dataset {
        target_len,
        channels: 3,
        size: d.size,
        images: images.concat(),
        targets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(target: Target, positive_fraction: Option<f64>) -> Draw {
        Draw {
            seed: 4,
            size: 32,
            survey: Survey::DecalsLike,
            target,
            positive_fraction,
        }
    }

    #[test]
    fn gz2_targets_are_kaggle_weighted_fractions() {
        let d = generate(&draw(Target::Gz2Answers, None), 0, 20).unwrap();
        assert_eq!(d.target_len, 37);
        for row in d.targets.chunks(37) {
            let q1: f32 = row[..3].iter().sum();
            assert!((q1 - 1.0).abs() < 1e-5, "{q1}");
            // Q2 (edge-on) is reached via A1.2: its answers sum to the weighted A1.2 fraction
            assert!((row[3] + row[4] - row[1]).abs() < 1e-5);
        }
    }

    #[test]
    fn balanced_draw_hits_quota_and_is_deterministic() {
        let d = draw(Target::Ring, Some(0.5));
        let a = generate(&d, 0, 40).unwrap();
        assert_eq!(a.len(), 40);
        assert_eq!(a.targets.iter().filter(|&&t| t == 1.0).count(), 20);
        assert_eq!(a, generate(&d, 0, 40).unwrap());
        assert!(a.images.iter().all(|v| (0.0..=1.0).contains(v)));
        // natural prevalence of rings is low
        let n = generate(&draw(Target::Ring, None), 0, 400).unwrap();
        let pos = n.targets.iter().filter(|&&t| t == 1.0).count();
        assert!(pos < 60, "{pos} rings in 400");
    }
}
