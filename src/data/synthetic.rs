//! `synthetic`: galaxies of the synthetic universe rendered as survey-like cutouts, labelled from
//! their known truth (ring, bar, edge-on, featured, merger, clumpy). `ring`, `bar` and `clumpy`
//! are the features an expert could mark in the cutout at this size and survey (in the truth
//! and visible, [`Visibility`](crate::universe::Visibility)); `ring-physical`, `bar-physical` and `clumpy-physical` the
//! truth alone, seen or not.
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
use crate::universe::sample_galaxy;
use crate::universe::{
    Galaxy, PopulationConfig, RenderConfig, TreeLink, TrueAnswers, VoteProbabilities, render,
    visibility,
};
use rayon::prelude::*;

/// How many galaxies may be scanned per requested galaxy before the search gives up (visible
/// rings and bars are rare in small cutouts: about 1 in 10 000 galaxies at 16 px).
const MAX_SCAN_PER_ITEM: u64 = 10_000;
/// Galaxies sampled per parallel chunk while scanning.
const CHUNK: u64 = 4096;

/// Every target the `synthetic` source provides (what `data::provides` should list for it).
pub const TARGETS: &[Target] = &[
    Target::Ring,
    Target::RingPhysical,
    Target::Bar,
    Target::BarPhysical,
    Target::EdgeOn,
    Target::Featured,
    Target::Merger,
    Target::Clumpy,
    Target::ClumpyPhysical,
    Target::Gz2Answers,
];

/// Whether galaxy `g` is a positive for `target` in a cutout rendered with `cfg`.
///
/// `ring`, `bar` and `clumpy` are what an expert would mark: the feature is in the truth *and*
/// visible at `cfg`'s size and survey ([`Visibility`](crate::universe::Visibility)); `ring-physical`, `bar-physical` and
/// `clumpy-physical` are the truth alone.
pub fn label(g: &Galaxy, target: Target, cfg: &RenderConfig) -> bool {
    match target {
        Target::Ring => visibility::ring_visible(g, cfg),
        Target::RingPhysical => g.ring.is_some(),
        Target::Bar => visibility::bar_visible(g, cfg),
        Target::BarPhysical => g.bar.is_some(),
        Target::Clumpy => visibility::clumps_visible(g, cfg),
        Target::ClumpyPhysical => !g.clumps.is_empty(),
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
    let counts: Vec<f64> = tree
        .vote_counts(&f, GZ2_VOTES, &mut r)
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

/// The network input of every galaxy of `galaxies`: `cfg`'s render at `seed` in the display
/// stretch ([`to_display_planes`]), one `3 x size x size` block per galaxy, in order (rendered in
/// parallel).
pub fn display_images(galaxies: &[Galaxy], cfg: &RenderConfig, seed: u64) -> Vec<f32> {
    let planes: Vec<Vec<f32>> = galaxies
        .par_iter()
        .map(|g| to_display_planes(&render(g, cfg, seed)))
        .collect();
    planes.concat()
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
    Ok(dataset(d, &select(d, start, n)?))
}

/// The galaxies [`generate`] renders: ids `start..start + n`, or, with `positive_fraction`
/// set, the first ones from `start` on that fit their class's quota.
pub(super) fn select(d: &Draw, start: u64, n: usize) -> Result<Vec<Galaxy>, DataError> {
    let pop = PopulationConfig::default();
    let cfg = RenderConfig::new(d.size, survey(d.survey));
    Ok(match d.positive_fraction {
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
                // Labels of the target asked for (visibility needs a render), in parallel.
                let chunk: Vec<(Galaxy, bool)> = (next..next + CHUNK)
                    .into_par_iter()
                    .map(|id| {
                        let g = sample_galaxy(d.seed, id, &pop);
                        let positive = label(&g, d.target, &cfg);
                        (g, positive)
                    })
                    .collect();
                next += CHUNK;
                for (g, positive) in chunk {
                    let class = positive as usize;
                    if want[class] > 0 {
                        want[class] -= 1;
                        kept.push(g);
                    }
                }
            }
            kept
        }
    })
}

/// `galaxies` rendered as [`generate`] does, labelled for `d.target`.
pub(super) fn dataset(d: &Draw, galaxies: &[Galaxy]) -> Dataset {
    let cfg = RenderConfig::new(d.size, survey(d.survey));
    let (targets, target_len) = if d.target == Target::Gz2Answers {
        let tree = crate::tree::Tree::gz2();
        let link = TreeLink::new(&tree).expect("the GZ2 tree is linked");
        let t: Vec<Vec<f32>> = galaxies
            .par_iter()
            .map(|g| gz2_targets(g, d.seed, &tree, &link))
            .collect();
        (t.concat(), tree.n_answers())
    } else {
        let t = galaxies
            .par_iter()
            .map(|g| label(g, d.target, &cfg) as u8 as f32);
        (t.collect(), 1)
    };
    Dataset {
        target_len,
        channels: 3,
        size: d.size,
        images: display_images(galaxies, &cfg, d.seed),
        targets,
    }
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
        let n = generate(&draw(Target::RingPhysical, None), 0, 400).unwrap();
        let pos = n.targets.iter().filter(|&&t| t == 1.0).count();
        assert!(pos < 60, "{pos} rings in 400");
        // balancing uses the target asked for: a balanced `ring` set holds only visible rings,
        // a balanced `ring-physical` set mostly invisible ones
        let cfg = RenderConfig::new(32, crate::universe::Survey::DecalsLike);
        let pop = PopulationConfig::default();
        let kept = |t: Target| {
            let d = generate(&draw(t, Some(0.5)), 0, 40).unwrap();
            assert_eq!(d.targets.iter().filter(|&&t| t == 1.0).count(), 20);
            d
        };
        let (vis, phys) = (kept(Target::Ring), kept(Target::RingPhysical));
        assert_ne!(vis.images, phys.images);
        let scan: Vec<Galaxy> = (0..3000).map(|id| sample_galaxy(4, id, &pop)).collect();
        let visible = scan.iter().filter(|g| label(g, Target::Ring, &cfg)).count();
        let physical = scan
            .iter()
            .filter(|g| label(g, Target::RingPhysical, &cfg))
            .count();
        assert!(
            visible * 3 < physical,
            "{visible} visible of {physical} rings"
        );
    }

    #[test]
    fn visible_features_are_rarer_than_physical_ones_and_a_subset() {
        let pop = PopulationConfig::default();
        let gals: Vec<Galaxy> = (0..3000)
            .into_par_iter()
            .map(|id| sample_galaxy(9, id, &pop))
            .collect();
        let cfg = RenderConfig::new(64, crate::universe::Survey::DecalsLike);
        for (seen, truth) in [
            (Target::Ring, Target::RingPhysical),
            (Target::Bar, Target::BarPhysical),
            (Target::Clumpy, Target::ClumpyPhysical),
        ] {
            let (mut v, mut p) = (0, 0);
            for g in &gals {
                let (a, b) = (label(g, seen, &cfg), label(g, truth, &cfg));
                assert!(
                    !a || b,
                    "galaxy {} visible {seen:?} but not in the truth",
                    g.id
                );
                v += a as usize;
                p += b as usize;
            }
            assert!(v > 0 && v < p, "{seen:?}: {v} visible of {p}");
        }
        // smaller cutouts show fewer rings
        let small = RenderConfig::new(32, crate::universe::Survey::DecalsLike);
        let count = |c: &RenderConfig| gals.iter().filter(|g| label(g, Target::Ring, c)).count();
        assert!(count(&small) < count(&cfg));
    }
}
