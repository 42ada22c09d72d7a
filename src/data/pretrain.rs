//! Pretraining datasets: synthetic galaxies with simulated Galaxy Zoo DECaLS vote counts
//! (`astro`, Zoobot-style) and terrestrial proxy images with class labels (`terrestrial`,
//! ImageNet-style).
//!
//! Vote counts are simulated along the tree by [`Tree::vote_counts`] from the galaxy's true
//! vote probabilities ([`TreeLink::fractions`]), drawn from
//! `item_stream(seed, "data/pretrain/votes", id)`.

use super::Dataset;
use super::synthetic::survey;
use crate::rng::item_stream;
use crate::spec::Survey;
use crate::tree::Tree;
use crate::universe::observe::to_display_planes;
use crate::universe::sample_galaxy;
use crate::universe::{
    PopulationConfig, RenderConfig, TreeLink, TrueAnswers, VoteProbabilities, render, terrestrial,
};
use rayon::prelude::*;

/// Galaxy ids of the pretraining set start here, far from every downstream split.
const ASTRO_OFFSET: u64 = 1 << 48;

/// `n` synthetic galaxies with GZ DECaLS vote counts as targets (`target_len` = answers), the
/// cutouts showing the central `1 / zoom` of Galaxy Zoo's field.
pub fn astro(seed: u64, n: usize, size: usize, s: Survey, votes: usize, zoom: f64) -> Dataset {
    let tree = Tree::decals();
    let link = TreeLink::new(&tree).expect("the DECaLS tree is linked");
    let cfg = RenderConfig::new(size, survey(s)).zoomed(zoom as f32);
    let pop = PopulationConfig::default();
    let items: Vec<(Vec<f32>, Vec<f32>)> = (0..n as u64)
        .into_par_iter()
        .map(|i| {
            let g = sample_galaxy(seed, ASTRO_OFFSET + i, &pop);
            let a = TrueAnswers::from_galaxy(&g);
            let f = link.fractions(&a, &VoteProbabilities::from_answers(&a, g.difficulty));
            let mut r = item_stream(seed, "data/pretrain/votes", g.id);
            let counts = tree.vote_counts(&f, votes, &mut r);
            (to_display_planes(&render(&g, &cfg, seed)), counts)
        })
        .collect();
    collect(items, size, tree.n_answers())
}

/// `n` terrestrial proxy images with their class index as target.
pub fn terrestrial(seed: u64, n: usize, size: usize) -> Dataset {
    let items: Vec<(Vec<f32>, Vec<f32>)> = terrestrial::generate_batch(seed, 0, n, size)
        .into_iter()
        .map(|t| (t.pixels, vec![t.label as f32]))
        .collect();
    collect(items, size, 1)
}

fn collect(items: Vec<(Vec<f32>, Vec<f32>)>, size: usize, target_len: usize) -> Dataset {
    let mut images = Vec::with_capacity(items.len() * 3 * size * size);
    let mut targets = Vec::with_capacity(items.len() * target_len);
    for (x, y) in items {
        images.extend(x);
        targets.extend(y);
    }
    Dataset {
        channels: 3,
        size,
        images,
        targets,
        target_len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vote_counts_respect_the_tree() {
        let d = astro(1, 30, 16, Survey::DecalsLike, 40, 1.0);
        let tree = Tree::decals();
        assert_eq!(d.target_len, tree.n_answers());
        for row in d.targets.chunks(d.target_len) {
            let counts: Vec<f64> = row.iter().map(|&c| c as f64).collect();
            tree.check_votes(&counts).unwrap();
            let first: f64 = counts[tree.question_slices()[0].clone()].iter().sum();
            assert_eq!(first, 40.0);
        }
        assert_eq!(d, astro(1, 30, 16, Survey::DecalsLike, 40, 1.0));
    }

    #[test]
    fn terrestrial_targets_are_class_indices() {
        let d = terrestrial(2, 40, 16);
        assert_eq!(d.len(), 40);
        let k = terrestrial::CLASSES.len() as f32;
        assert!(
            d.targets
                .iter()
                .all(|&t| t >= 0.0 && t < k && t.fract() == 0.0)
        );
        assert!(d.images.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}
