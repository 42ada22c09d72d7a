//! Galaxy Zoo Express (Beck et al. 2018; Dickinson et al. 2019): humans and machine together in a
//! simulated classification stream. Volunteers answer one binary question in time order at a
//! fixed click rate per simulated day; SWAP retires galaxies; at a set cadence a machine
//! classifier is trained on the galaxies retired so far (with their SWAP labels) and retires the
//! queued galaxies it is confident about.
//!
//! * [`stream`]: the click stream and its arms (fixed-K majority vote, SWAP, SWAP + machine).
//! * [`machine`]: the machines (a CNN; a logistic regression on morphology measurements) and
//!   their retirement thresholds.
//! * [`measure`]: the measurement machine's features (its classifier is `train::probe`'s).
//! * [`score`]: accuracy, completeness, purity, clicks, simulated days, savings, the curve.
//! * [`triage`]: the final machine's accuracy against coverage and volunteer agreement.
//! * [`run`](mod@run): one `stream` run from its spec.

pub mod machine;
pub mod measure;
pub mod run;
pub mod score;
pub mod stream;
pub mod triage;

pub use run::run;

#[cfg(test)]
mod tests;
