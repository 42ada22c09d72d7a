//! gzbench: a reproducible benchmark harness for deep learning on galaxy images.
//!
//! Data flows one way: each module uses only those before it (checked by `tests/layers.rs`):
//!
//! ```text
//! atomic, csv_line, rng, geom, linalg, shared_data, simd, engine -> tree -> spec -> store
//!   -> universe -> crowd -> data -> model -> eval -> train -> diffusion -> generative -> gzx
//!   -> repr -> clumps -> runner -> report -> cli
//! ```
//!
//! * [`spec`]: experiment YAML -> typed, validated experiments; grid expansion into runs.
//! * [`atomic`]: crash-safe file writes (temporary name, sync, rename).
//! * `csv_line` (crate-private): the line a CSV record starts on, for readers' errors.
//! * [`rng`]: named, seeded random streams (the only source of randomness).
//! * [`geom`]: boxes and points in pixels (clump truth, marks, detections).
//! * [`linalg`]: the symmetric eigensolver (PCA, the Fréchet distance's matrix square roots).
//! * [`shared_data`]: where the real Galaxy Zoo fixtures beside the repository are, and whether
//!   their absence skips or fails a test.
//! * [`engine`]: the compute boundary (CPU / CUDA); nothing above it names a device.
//! * [`tree`]: Galaxy Zoo decision trees as data (GZ2, GZ DECaLS).
//! * [`universe`]: the synthetic galaxy population with known truth, its renderer, and the
//!   terrestrial proxy images.
//! * [`crowd`]: simulated volunteers and the strategies that aggregate their votes.
//! * [`data`]: datasets and splits from a registered source.
//! * [`model`], [`eval`], [`train`]: backbones and heads, metrics, the training loop.
//! * [`diffusion`]: a class-conditional denoising diffusion model (generative augmentation).
//! * [`generative`]: extra positives for a rare class (classic copies, diffusion samples) and
//!   how close generated galaxies are to real ones.
//! * [`simd`]: which vector instructions the run-time-dispatched kernels may use.
//! * [`gzx`]: Galaxy Zoo Express: a simulated stream of clicks with SWAP retirement and a
//!   machine classifier trained on the retired galaxies.
//! * [`repr`]: embeddings of a backbone, similarity search and anomaly ranking.
//! * [`clumps`]: Clump Scout: simulated clicks and their consensus, a two-stage clump detector,
//!   completeness / purity / AP on synthetic and real galaxies.
//! * [`runner`]: executes an experiment's runs (one file per experiment kind).
//! * [`store`]: one crash-safe directory per run under `results/runs/`.
//! * [`report`]: tables and figures from the store alone.
//!
//! The command-line interface is [`cli`].

pub mod atomic;
pub mod cli;
pub mod clumps;
pub mod crowd;
pub(crate) mod csv_line;
pub mod data;
pub mod diffusion;
pub mod engine;
pub mod eval;
pub mod generative;
pub mod geom;
pub mod gzx;
pub mod linalg;
pub mod model;
pub mod report;
pub mod repr;
pub mod rng;
pub mod runner;
pub mod shared_data;
pub mod simd;
pub mod spec;
pub mod store;
pub mod train;
pub mod tree;
pub mod universe;
