//! Clump detection (Galaxy Zoo: Clump Scout; Popp et al. 2023, Dickinson et al. 2022): the
//! universe's clumpy galaxies, simulated volunteers who click on clumps and the aggregation of
//! their clicks, a two-stage detector trained on either the truth or the volunteers' consensus,
//! and the catalogue scores (completeness, purity, AP) on synthetic test galaxies and on the real
//! Stripe 82 clump catalogue (evaluation only).
//!
//! It composes `universe` (truth), `crowd` (clicks, consensus), `model::detector`, `train`
//! (optimiser, pretrained backbones) and `eval::detection`, so it sits above all of them, beside
//! `gzx` and `repr`.
//!
//! Files: `sample` (the subjects and their truth), `fit` (the training loop with dihedral
//! augmentation and validation-AP early stopping), `score` (metrics), `real` (the Stripe 82
//! check), `run` (one `detection` run).

pub mod fit;
pub mod real;
pub mod run;
pub mod sample;
pub mod score;

pub use run::run;
