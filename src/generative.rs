//! Extra positive training images for a rare class (the `rare:` section; GalaxySD, Ma et al.
//! 2025): copies of the real positives under classic augmentation ([`classic`]), samples of a
//! class-conditional diffusion model trained on the real training set ([`generated`]); the
//! `oracle` arm's new renders come from `data::rare::fresh_positives`. [`quality`] measures how
//! close generated galaxies are to real ones (Fréchet distance in a galaxy-pretrained backbone's
//! features; condition accuracy).
//!
//! Every extra set is a [`Dataset`] of positives (target 1) in the display stretch, appended to
//! the run's training split by the runner.

mod generated;
pub mod quality;

pub use generated::{Conditioned, Generated, SAMPLES, generated, keep};

use crate::data::Dataset;
use crate::data::augment::{Transform, apply};

/// Rows of `data` whose (binary) target is positive.
pub fn positive_rows(data: &Dataset) -> Vec<usize> {
    (0..data.len())
        .filter(|&i| data.targets[i * data.target_len] >= 0.5)
        .collect()
}

/// `n` copies of the positives of `train`, cycling through them in order, each under its own
/// random rotation, flip, shift and zoom (stream `rare/classic`, item = copy index). Empty when
/// `train` has no positive.
pub fn classic(train: &Dataset, n: usize, seed: u64) -> Dataset {
    let pos = positive_rows(train);
    let (c, size, l) = (train.channels, train.size, train.image_len());
    let mut images = Vec::with_capacity(n * l);
    for i in 0..if pos.is_empty() { 0 } else { n } {
        let row = pos[i % pos.len()];
        let t = Transform::draw_from(seed, "rare/classic", i as u64, size);
        let img = &train.images[row * l..(row + 1) * l];
        images.extend(apply(img, c, size, &t).expect("one whole image"));
    }
    Dataset {
        channels: c,
        size,
        targets: vec![1.0; images.len() / l.max(1)],
        images,
        target_len: 1,
    }
}

/// `a` followed by `b` (same channels, size and target length).
pub fn concat(a: &Dataset, b: &Dataset) -> Dataset {
    assert_eq!(
        (a.channels, a.size, a.target_len),
        (b.channels, b.size, b.target_len),
        "datasets of one layout"
    );
    Dataset {
        channels: a.channels,
        size: a.size,
        images: [a.images.as_slice(), &b.images].concat(),
        targets: [a.targets.as_slice(), &b.targets].concat(),
        target_len: a.target_len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_copies_cycle_through_the_positives_transformed() {
        let train = Dataset {
            channels: 1,
            size: 4,
            images: (0..48).map(|v| v as f32 / 48.0).collect(),
            targets: vec![0.0, 1.0, 1.0],
            target_len: 1,
        };
        let extra = classic(&train, 5, 7);
        assert_eq!((extra.len(), extra.targets.clone()), (5, vec![1.0; 5]));
        assert_eq!(extra, classic(&train, 5, 7), "seeded");
        // copy 0 is positive row 1 transformed, copy 2 the same galaxy under another transform
        let t0 = Transform::draw_from(7, "rare/classic", 0, 4);
        assert_eq!(
            extra.images[..16],
            apply(&train.images[16..32], 1, 4, &t0).unwrap()[..]
        );
        assert_ne!(extra.images[..16], extra.images[32..48]);
        let none = Dataset {
            targets: vec![0.0; 3],
            ..train.clone()
        };
        assert!(classic(&none, 5, 7).is_empty());
        assert_eq!(concat(&train, &extra).len(), 8);
    }
}
