//! The experiment schema: typed YAML sections, the registries of names, profiles and run specs.
//!
//! An experiment file (`experiments/*.yaml`) deserialises into [`Experiment`] with
//! `deny_unknown_fields` everywhere, so a misspelled key is an error with its file:line:column.
//! Every name that selects an implementation (experiment kind, data source, target, backbone,
//! optimizer, metric) is an enum here: serde rejects an unknown name with the list of known ones,
//! and the module that implements a kind matches on the enum exhaustively, so a name can never
//! lack an implementation. This module only describes and validates; it runs nothing.
//!
//! ```
//! let text = "name: demo\nkind: train\nseeds: [0]\ndata: { source: shapes }\n";
//! let exp = gzbench::spec::parse_str(text, "demo.yaml").unwrap();
//! assert_eq!(exp.name, "demo");
//! ```

mod catalog;
mod crowd;
mod detect;
mod detector;
mod eval;
mod invariance;
mod load;
mod pretrain;
mod rare;
mod registry;
mod repr;
mod stream;
mod sweep;
pub mod task;
mod train;

pub use catalog::{CatalogConfig, Stretch, VoteTree};
pub use crowd::{CrowdRunConfig, QualityPreset, Strategy};
pub use detect::{ClickWeighting, ClumpLabels, DetectConfig};
pub use detector::{DetectorConfig, DetectorConfigError};
pub use eval::{EvalConfig, Metric};
pub use invariance::{CyclicPool, Invariance, SUPPORTED_VIEWS};
pub use load::{SpecError, load, locate, locate_in, parse_str, read_text, with_profile};
pub use pretrain::{PretrainConfig, PretrainSource};
pub use rare::{DiffusionConfig, ExtraSource, Prediction, RareConfig};
pub use registry::all;
pub use repr::ReprConfig;
pub use stream::{Arm, StreamConfig};
pub use sweep::{DeviceKind, RUN_FORMAT_VERSION, RunSpec, expand, on_device, run_id};
pub use train::{Optimizer, Schedule, TrainConfig};
use train::{d_batch, d_epochs, d_lr};

use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use std::collections::BTreeMap;

/// One experiment file: a question, the base configuration, the grid to sweep and the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Name used for `results/<name>/`; letters, digits, `-` and `_`.
    pub name: String,
    /// The scientific question the experiment answers (shown in reports).
    #[serde(default)]
    pub question: Option<String>,
    /// What one run does.
    pub kind: ExperimentKind,
    /// One run per seed per grid point.
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    #[serde(default)]
    pub data: DataConfig,
    #[serde(default)]
    pub task: TaskConfig,
    #[serde(default)]
    pub model: ModelConfig,
    #[serde(default)]
    pub train: TrainConfig,
    #[serde(default)]
    pub eval: EvalConfig,
    /// Kind `crowd`: strategy, votes per galaxy, crowd quality.
    #[serde(default)]
    pub crowd: CrowdRunConfig,
    /// Kind `stream`: the arm, the click rate and the machine's cadence (the crowd is `crowd:`).
    #[serde(default)]
    pub stream: StreamConfig,
    /// Kind `representations`: the embedded catalogue and how retrieval and anomalies are scored.
    #[serde(default)]
    pub repr: ReprConfig,
    /// Kind `detection`: training labels, simulated clicks, matching, the detector's settings.
    #[serde(default)]
    pub detect: DetectConfig,
    /// Kind `train`: pretrain the backbone before training on the task (cached per spec).
    #[serde(default)]
    pub pretrain: PretrainConfig,
    /// Kind `train`, a rare binary class: extra positive training images (real-only, classic
    /// augmentation, diffusion samples, oracle renders). Absent = none, and absent from the runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rare: Option<RareConfig>,
    /// Dotted key (e.g. `data.train_size`) -> values; the grid is the product of all lists.
    #[serde(default)]
    pub sweep: BTreeMap<String, Vec<Value>>,
    /// Per-profile overrides: dotted key -> value (keys may be `seeds` or `sweep.<key>`).
    #[serde(default)]
    pub profiles: BTreeMap<Profile, BTreeMap<String, Value>>,
    #[serde(default)]
    pub report: ReportConfig,
}

fn default_seeds() -> Vec<u64> {
    vec![0]
}

/// Scale of a run: `smoke` (seconds, tests and CI), `cpu` (minutes on 2 cores), `gpu` (paper scale).
/// Also the CLI's `--profile` (the variants, by their serde names, are the accepted values).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    Default,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    Smoke,
    #[default]
    Cpu,
    Gpu,
}

/// The YAML name of a registry value (`Target::EdgeOn` -> `edge-on`), for messages.
pub fn yaml_name(v: &impl Serialize) -> String {
    serde_yaml::to_string(v)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Names for a user-facing message, plainly (never a Debug dump of a list); `(none)` when there
/// are none.
///
/// ```
/// assert_eq!(gzbench::spec::names(["a", "b"]), "`a`, `b`");
/// assert_eq!(gzbench::spec::names(Vec::<String>::new()), "(none)");
/// ```
pub fn names<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let v: Vec<String> = items
        .into_iter()
        .map(|s| format!("`{}`", s.as_ref()))
        .collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Smoke => "smoke",
            Profile::Cpu => "cpu",
            Profile::Gpu => "gpu",
        }
    }
}

/// Registry of experiment kinds (implemented in `runner`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExperimentKind {
    /// Supervised training of a backbone + head on a dataset, evaluated on a held-out test set.
    Train,
    /// A simulated crowd answers one question for synthetic galaxies; a strategy aggregates the
    /// votes; labels are scored against the truth (the `crowd:` section).
    Crowd,
    /// Statistics of one question (`task.question`) of a real vote table (`data.source:
    /// catalog` with `catalog.votes`): galaxies asked, votes, agreement. No images, no model.
    Votes,
    /// Galaxy Zoo Express: the `crowd:` section's volunteers click in a simulated stream; the
    /// `stream:` arm classifies (fixed-K majority vote, SWAP, SWAP + a machine trained on the
    /// retired galaxies); scored against the truth, with clicks and simulated days.
    Stream,
    /// A backbone (`model:`, `pretrain:`) embeds a sample of the universe with rare kinds
    /// planted (`repr:`); similarity search and anomaly ranking are scored against the truth.
    Representations,
    /// Clump Scout: a two-stage detector on the `model:` backbone finds giant clumps, trained on
    /// the truth or on simulated volunteers' aggregated clicks (`detect:`); completeness,
    /// purity and AP on synthetic test galaxies and on a real catalogue (evaluation only).
    Detection,
}

/// Registry of data sources (implemented in `data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DataSource {
    /// Noisy 2-D Gaussian blobs, round or elongated: a seconds-fast sanity dataset.
    #[default]
    Shapes,
    /// Galaxies of the synthetic universe, rendered as survey-like cutouts, with known truth.
    Synthetic,
    /// A catalogue (CSV / Parquet) plus an image folder (PNG, JPEG, FITS), mapped by the
    /// `data.catalog` section (`data::catalog`); target `label`.
    Catalog,
}

/// Registry of survey profiles the synthetic universe imitates (implemented in `universe`); also
/// the CLI's `--survey`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Survey {
    /// Shallower, Gaussian ~1.4" PSF.
    SdssLike,
    /// Deeper, sharper Moffat PSF (the default: Galaxy Zoo DECaLS).
    #[default]
    DecalsLike,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    pub source: DataSource,
    /// Side of the square cutout in pixels.
    #[serde(default = "d_image_size")]
    pub image_size: usize,
    #[serde(default = "d_train_size")]
    pub train_size: usize,
    /// A separate validation set of this many galaxies, drawn beside the training pool
    /// (0 = none: the validation set comes out of the pool, see `val_fraction`).
    #[serde(default)]
    pub val_size: usize,
    /// Share of the `train_size` labelled galaxies held out (a seeded draw, stream
    /// `data/validation-split`) as the validation set for early stopping and for the linear
    /// probe's penalty; the model trains on the rest. 0 = no validation set. Ignored when
    /// `val_size` > 0.
    #[serde(default = "d_val_fraction", skip_serializing_if = "is_d_val_fraction")]
    pub val_fraction: f64,
    #[serde(default = "d_test_size")]
    pub test_size: usize,
    /// Seed of the data itself; the test set depends only on this, not on the run seed.
    #[serde(default)]
    pub data_seed: u64,
    /// `synthetic`: which survey the cutouts imitate.
    #[serde(default)]
    pub survey: Survey,
    /// Share of positives in every split (e.g. 0.5 for balanced sets of a rare feature);
    /// absent = the population's natural prevalence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive_fraction: Option<f64>,
    /// `catalog`: the folder relative catalogue and image paths start from; absent = the shared
    /// fixtures ([`crate::shared_data::root`]: `$GZBENCH_SHARED_DATA` or `../shared/data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `catalog`: the data is external and may be absent from a machine (the shared fixtures):
    /// a run whose catalogue file is missing is then skipped with the reason instead of the
    /// experiment being invalid (exit 2, the default). Changes nothing a run computes, so it
    /// is left out of the run id ([`run_id`]) and, when false, of the serialised spec.
    #[serde(default, skip_serializing_if = "is_false")]
    pub optional: bool,
    /// `catalog`: the catalogue file, image folder and column mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<CatalogConfig>,
}

fn d_image_size() -> usize {
    32
}
fn d_train_size() -> usize {
    500
}
fn d_test_size() -> usize {
    500
}
fn d_val_fraction() -> f64 {
    0.2
}
fn is_d_val_fraction(v: &f64) -> bool {
    *v == d_val_fraction()
}
fn is_false(v: &bool) -> bool {
    !*v
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            source: DataSource::default(),
            image_size: d_image_size(),
            train_size: d_train_size(),
            val_size: 0,
            val_fraction: d_val_fraction(),
            test_size: d_test_size(),
            data_seed: 0,
            survey: Survey::default(),
            positive_fraction: None,
            path: None,
            optional: false,
            catalog: None,
        }
    }
}

/// Registry of prediction targets (which data sources provide which is checked in `data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// `shapes`: is the blob elongated (axis ratio < 0.7)?
    #[default]
    Elongated,
    /// `synthetic`: does the galaxy show a ring an expert would mark: one in the truth that is
    /// also resolved, bright and contrasted enough in the cutout at `data.image_size` and
    /// `data.survey` (`universe::visibility`)?
    Ring,
    /// `synthetic`: does the galaxy have a ring in its truth, seen or not?
    RingPhysical,
    /// `synthetic`: does it show a bar (weak or strong) that is visible in the cutout?
    Bar,
    /// `synthetic`: does it have a bar in its truth, seen or not?
    BarPhysical,
    /// `synthetic`: is it an edge-on disk (Galaxy Zoo's "disk-edge-on: yes")?
    EdgeOn,
    /// `synthetic`: is it "featured or disk" rather than smooth (Galaxy Zoo's first question)?
    Featured,
    /// `synthetic`: is it a merger?
    Merger,
    /// `synthetic`: does it show at least one star-forming clump visible in the cutout?
    Clumpy,
    /// `synthetic`: does it have star-forming clumps in its truth, seen or not?
    ClumpyPhysical,
    /// `synthetic`: the 37 Galaxy Zoo 2 answers (Kaggle Galaxy Challenge targets: vote fractions
    /// of a simulated crowd, weighted along the tree); Dieleman's normalised head, MSE, RMSE.
    /// `catalog`: the same from columns `Class1.1` ... `Class11.6` (the Kaggle training file).
    Gz2Answers,
    /// `catalog`: the binary label in column `data.catalog.label_column`.
    Label,
    /// `catalog`: one of several classes, from column `data.catalog.label_column` mapped by
    /// `data.catalog.classes`; softmax head, cross-entropy, (multi-class) accuracy.
    Class,
    /// `catalog`: the vote counts of every answer of tree `data.catalog.votes`; Zoobot's
    /// Dirichlet head and Dirichlet-multinomial loss; scored by the RMSE of the expected vote
    /// fractions on the questions each galaxy was asked.
    Votes,
}

impl Target {
    /// Whether the target is one binary label (else a vector of answers).
    pub fn is_binary(self) -> bool {
        self.kind() == task::TargetKind::Binary
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TaskConfig {
    #[serde(default)]
    pub target: Target,
    /// Kind `votes`: the decision-tree question to describe, e.g. `has-spiral-arms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
}

/// Registry of backbones (implemented in `model`, one file each; the list is the variants, see
/// [`all`]). Adding one = its file in `model/` and `mod` line in `model/mod.rs`, a variant here,
/// and the arms the compiler then asks for: `model::backbone`, its feature width (`model`'s
/// tests), its PyTorch parity net or `None` (`model::parity::net`). `tests/registries.rs`
/// validates and trains every variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Backbone {
    /// No hidden layer: logistic regression on the pixels.
    Linear,
    /// conv3x3-BatchNorm-ReLU-maxpool stacks, one per entry of `widths`, then global average pool.
    #[default]
    CnnSmall,
    /// ResNet with basic blocks (resnet-18 layout `depths: [2, 2, 2, 2]`), stage widths
    /// 64/128/256/512 x `width_multiplier` (or `dims`), 3x3 stride-1 stem without max-pool;
    /// torchvision/timm parameter names.
    Resnet,
    /// Dieleman et al. (2015) Galaxy Zoo network: valid ReLU convs 32@6x6, pool, 64@5x5, pool,
    /// 128@3x3, 128@3x3, pool (widths x `width_multiplier` or `dims`), then `dense_layers`
    /// maxout layers of `dense_units` units with `maxout_pieces` pieces each.
    Dieleman,
    /// ConvNeXt (convnext-nano layout by default: `depths: [2, 2, 8, 2]`, dims 80/160/320/640
    /// x `width_multiplier` or `dims`); timm parameter names.
    Convnext,
    /// EfficientNet (B0 layout by default: MBConv stages of `depths: [1, 2, 2, 3, 3, 4, 1]`
    /// blocks, widths 16/24/40/80/112/192/320, stem 32, head 1280, each x `width_multiplier`
    /// rounded as timm does); squeeze-excitation, SiLU; timm parameter names.
    Efficientnet,
}

/// `model.stem` of `resnet`: the layers before `layer1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Stem {
    /// 3x3 stride-1 conv, BatchNorm, ReLU, no max-pool (CIFAR-style: small images keep their
    /// resolution).
    #[default]
    Small,
    /// timm / torchvision's: 7x7 stride-2 conv, BatchNorm, ReLU, 3x3 stride-2 max-pool (what
    /// ImageNet and Zoobot ResNets are trained with; needed to load their weights).
    Imagenet,
}

impl Stem {
    pub fn is_small(&self) -> bool {
        *self == Stem::Small
    }
}

/// The `model:` section. Every field has a default, so `{ backbone: resnet }` is a full spec;
/// fields left at their default are not serialised (run ids of older specs stay the same).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    #[serde(default)]
    pub backbone: Backbone,
    /// Channels per stage (`cnn-small`).
    #[serde(default = "d_widths")]
    pub widths: Vec<usize>,
    /// `resnet`: `small` (default) or `imagenet` stem.
    #[serde(default, skip_serializing_if = "Stem::is_small")]
    pub stem: Stem,
    /// Blocks per stage (`resnet`, `convnext`); unset = the backbone's standard layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depths: Option<Vec<usize>>,
    /// Explicit channels per stage / conv layer (`resnet`, `convnext`, `dieleman`); overrides
    /// `width_multiplier`. Unset = the backbone's standard widths x `width_multiplier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dims: Option<Vec<usize>>,
    /// Scales the standard widths of `resnet`, `convnext` and `dieleman` (rounded, at least 1).
    #[serde(default = "d_one", skip_serializing_if = "is_one")]
    pub width_multiplier: f64,
    /// `dieleman`: output units of each dense maxout layer.
    #[serde(default = "d_dense_units", skip_serializing_if = "is_d_dense_units")]
    pub dense_units: usize,
    /// `dieleman`: number of dense maxout layers.
    #[serde(default = "d_dense_layers", skip_serializing_if = "is_d_dense_layers")]
    pub dense_layers: usize,
    /// `dieleman`: linear pieces per maxout unit.
    #[serde(default = "d_pieces", skip_serializing_if = "is_d_pieces")]
    pub maxout_pieces: usize,
    /// How the model handles the rotation / flip symmetry of galaxy images.
    #[serde(default, skip_serializing_if = "Invariance::is_none")]
    pub invariance: Invariance,
    /// `multiview` / `cyclic-pool`: views per image: 8 (exact rotations by 0/90/180/270 degrees of
    /// the image and of its mirror image), 4 (rotations only) or 16 (Dieleman's parts: four
    /// overlapping corner crops of the image, its mirror image, its 45-degree rotation and that
    /// rotation's mirror image; `model::parts`).
    #[serde(default = "d_views", skip_serializing_if = "is_d_views")]
    pub views: usize,
    /// `cyclic-pool`: how the per-view features are pooled.
    #[serde(default, skip_serializing_if = "CyclicPool::is_mean")]
    pub cyclic_pool: CyclicPool,
}

fn d_views() -> usize {
    8
}
fn is_d_views(v: &usize) -> bool {
    *v == d_views()
}

fn d_widths() -> Vec<usize> {
    vec![8, 16, 32]
}
fn d_one() -> f64 {
    1.0
}
fn is_one(v: &f64) -> bool {
    *v == 1.0
}
fn d_dense_units() -> usize {
    2048
}
fn is_d_dense_units(v: &usize) -> bool {
    *v == d_dense_units()
}
fn d_dense_layers() -> usize {
    2
}
fn is_d_dense_layers(v: &usize) -> bool {
    *v == d_dense_layers()
}
fn d_pieces() -> usize {
    2
}
fn is_d_pieces(v: &usize) -> bool {
    *v == d_pieces()
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            backbone: Backbone::default(),
            widths: d_widths(),
            stem: Stem::Small,
            depths: None,
            dims: None,
            width_multiplier: d_one(),
            dense_units: d_dense_units(),
            dense_layers: d_dense_layers(),
            maxout_pieces: d_pieces(),
            invariance: Invariance::None,
            views: d_views(),
            cyclic_pool: CyclicPool::Mean,
        }
    }
}

/// How `gzbench report` turns the runs into tables and figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// Sweep key on the x axis (and the table's rows), e.g. `data.train_size`.
    #[serde(default)]
    pub x: Option<String>,
    /// Sweep key with one line / column group per value, e.g. `model.backbone`.
    #[serde(default)]
    pub series: Option<String>,
    #[serde(default)]
    pub log_x: bool,
    /// Metrics to tabulate and plot, in this order; absent = every metric the runs recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Vec<String>>,
    /// Fit `error = a * n^-b + c` of this metric against `x`, per series (a learning curve).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_law: Option<String>,
    /// The reference arm, sweep key -> one of its swept values (e.g. `{ pretrain.source: none }`):
    /// every other row gets its paired difference against the row with these keys replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<BTreeMap<String, Value>>,
}
