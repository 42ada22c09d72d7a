//! The command line: arguments, dispatch and exit codes (0 ok, 1 a run failed, 2 bad input).
//! Errors are turned into messages here and nowhere else. [`experiments`] holds `validate`, `run`,
//! `report`, `list` and `reproduce`; [`tools`] holds `synth`, `grid`, `crowd-sim`, `aggregate` and
//! `bench` ([`crowd`] does the work of the two crowd commands); [`cluster`] holds `slurm` (the
//! script text is [`slurm`]'s); [`generate`] holds `generate` (galaxies from a trained diffusion
//! model, in `synth`'s layout).

use crate::engine::{self, DeviceChoice};
use crate::runner::{self, Progress, Summary};
use crate::spec::{self, DeviceKind, Profile, run_id};
use crate::store::Store;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "gzbench",
    version = crate::store::provenance::VERSION_LINE,
    about = "Reproducible benchmarks for deep learning on galaxy images",
    long_about = "gzbench runs experiments described in YAML files (see experiments/), stores every run \
                  under results/runs/<run-id>/, and builds tables and figures from the stored runs.\n\n\
                  Typical use:\n  gzbench validate experiments/*.yaml\n  gzbench run experiments/shapes_baseline.yaml --profile smoke\n  \
                  gzbench report experiments/shapes_baseline.yaml --profile smoke\n  gzbench reproduce          # every experiment, every report\n\n\
                  Profiles scale an experiment: smoke (seconds, for tests), cpu (default; minutes on a laptop), gpu (paper scale).\n\
                  Finished runs are never recomputed: a run's id is the hash of its resolved spec, its run format \
                  (results schema) and the device kind; `gzbench runs` shows which code computed each run."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Which results folder a command reads or writes, at which profile.
#[derive(clap::Args, Clone)]
struct ResultsAndProfile {
    /// Results folder: the run store (`runs/`) and the tables and figures of each experiment.
    #[arg(long, default_value = "results", global = true)]
    results: PathBuf,
    /// Experiment scale.
    #[arg(long, value_enum, value_parser = names::<Profile>(), default_value_t = Profile::Cpu, global = true)]
    profile: Profile,
}

#[derive(clap::Args, Clone)]
struct Compute {
    /// Where tensors are computed (`auto`: CUDA when usable, else the CPU, said on stderr). The
    /// device kind is part of each run's id: CPU and GPU runs never stand in for each other.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
    /// Runs computed at the same time.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
}

/// Which runs of the grid `run` computes (to spread a sweep over machines sharing one store).
#[derive(clap::Args, Clone)]
struct Pick {
    /// Compute only shard I of N (1-based): the runs at 0-based grid positions p with
    /// p % N == I - 1. The N shards never overlap and together cover every run.
    #[arg(long, value_name = "I/N", conflicts_with = "run_ids")]
    shard: Option<runner::Select>,
    /// Compute only this run (repeatable); `gzbench slurm FILE --dry-run` lists the ids.
    #[arg(long = "run-id", value_name = "ID")]
    run_ids: Vec<String>,
    /// Write no report afterwards (Slurm array tasks leave it to the report job).
    #[arg(long)]
    no_report: bool,
}

impl Pick {
    fn select(self) -> runner::Select {
        match self.shard {
            Some(shard) => shard,
            None if !self.run_ids.is_empty() => runner::Select::Ids(self.run_ids),
            None => runner::Select::All,
        }
    }
}

#[derive(clap::Args, Clone)]
struct Reading {
    /// Read the runs computed on this kind of device (tables never mix CPU and GPU runs).
    #[arg(long, value_enum, default_value_t = DeviceKind::Cpu)]
    device: DeviceKind,
}

/// The value parser of an option that takes a registry name of `spec` (`--profile`,
/// `--survey`, `--backbone`): the enum itself is the list of values (no second enum here), shown
/// by name only (the variants' doc comments document the YAML, not the option).
fn names<E: clap::ValueEnum + Clone + Send + Sync + 'static>() -> Names<E> {
    Names(std::marker::PhantomData)
}

#[derive(Clone)]
struct Names<E>(std::marker::PhantomData<E>);

impl<E: clap::ValueEnum + Clone + Send + Sync + 'static> clap::builder::TypedValueParser
    for Names<E>
{
    type Value = E;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<E, clap::Error> {
        clap::builder::EnumValueParser::<E>::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            spec::all::<E>()
                .iter()
                .filter_map(|v| v.to_possible_value())
                .map(|v| v.help(None::<&'static str>)),
        ))
    }
}

/// `aggregate --strategy`'s help: the registered strategies, from the registry itself.
fn strategy_help() -> String {
    let names: Vec<String> = spec::all::<spec::Strategy>()
        .iter()
        .map(spec::yaml_name)
        .collect();
    format!("One of {}", names.join(", "))
}

#[derive(Subcommand)]
enum Command {
    /// Check experiment files without running anything (every profile, every grid point).
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run an experiment's incomplete runs (all, a --shard or --run-ids), then write its report.
    Run {
        file: PathBuf,
        #[command(flatten)]
        compute: Compute,
        #[command(flatten)]
        pick: Pick,
        #[command(flatten)]
        at: ResultsAndProfile,
    },
    /// Rebuild an experiment's tables and figures from the run store (no training).
    Report {
        file: PathBuf,
        #[command(flatten)]
        reading: Reading,
        #[command(flatten)]
        at: ResultsAndProfile,
    },
    /// List the experiments in a folder, how many of their runs are complete, and how many are
    /// only in the store from an older run format (stale: `reproduce` recomputes them).
    List {
        #[arg(long, default_value = "experiments")]
        experiments: PathBuf,
        #[command(flatten)]
        reading: Reading,
        #[command(flatten)]
        at: ResultsAndProfile,
    },
    /// Every run in the store with its provenance: run format (stale when older than this
    /// gzbench's), device, the code revision that computed it (+dirty when the sources differed
    /// from it), gzbench version and seconds.
    Runs {
        /// Only the runs of this experiment.
        #[arg(long)]
        experiment: Option<String>,
        /// Only runs of an older run format.
        #[arg(long)]
        stale: bool,
        #[command(flatten)]
        at: ResultsAndProfile,
    },
    /// Render galaxies of the synthetic universe to PNG cutouts plus a truth catalogue
    /// (`catalogue.csv`, `catalogue.parquet`: every truth column, clump boxes, true answers and
    /// vote fractions in the GZ2 and GZ DECaLS trees).
    Synth {
        /// Number of galaxies.
        #[arg(long, default_value_t = 1000)]
        n: usize,
        /// Cutout side in pixels (Galaxy Zoo uses 424).
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// Survey the cutouts imitate.
        #[arg(long, value_enum, value_parser = names::<spec::Survey>(), default_value_t = spec::Survey::DecalsLike)]
        survey: spec::Survey,
        /// Seed of the population and of the pixel noise.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output folder (created; `images/` and the catalogue go inside).
        #[arg(long)]
        out: PathBuf,
    },
    Generate(Box<generate::GenerateArgs>),
    /// Lay out the first cutouts of a catalogue CSV (real or synthetic) as a captioned grid PNG,
    /// e.g. `gzbench grid ../shared/data/gz-decals-rings/catalog.csv --label ring --out rings.png`.
    Grid {
        catalogue: PathBuf,
        /// Column holding the image path (relative to the catalogue's folder).
        #[arg(long, default_value = "file")]
        image_column: String,
        /// Columns shown under each cutout (repeatable; at most two lines are drawn).
        #[arg(long = "label")]
        labels: Vec<String>,
        #[arg(long, default_value_t = 12)]
        n: usize,
        #[arg(long, default_value_t = 6)]
        cols: usize,
        /// Tile side in pixels.
        #[arg(long, default_value_t = 128)]
        size: u32,
        #[arg(long)]
        out: PathBuf,
    },
    /// Simulate volunteers answering one Galaxy Zoo DECaLS question for synthetic galaxies and
    /// write the raw classifications (`volunteer,galaxy,question,answer,time`) as CSV.
    CrowdSim {
        /// Question name, e.g. `smooth-or-featured`, `bar`, `has-spiral-arms`.
        #[arg(long, default_value = "smooth-or-featured")]
        question: String,
        #[arg(long, default_value_t = 1000)]
        galaxies: usize,
        /// Votes per galaxy.
        #[arg(long, default_value_t = 10)]
        votes: usize,
        #[arg(long, default_value_t = 300)]
        volunteers: usize,
        /// Crowd quality preset: good, default, noisy, class-confusion, galaxy-difficulty or
        /// spammers.
        #[arg(long, default_value = "default")]
        crowd: String,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Aggregate a classification file into one label and answer probabilities per galaxy with
    /// a registered strategy (--strategy).
    ///
    /// Reads the plain CSV `volunteer,galaxy,question,answer[,time]` or a Zooniverse export: the
    /// Panoptes classification CSV export (`classification_id,user_id,created_at,annotations,
    /// subject_ids`; questions are task ids such as T0) or Panoptes flat JSON lines (`user_id,
    /// subject_id,question,response,created_at`). Answers are numbered alphabetically
    /// (numerically when all are integers), the order of the `p_<answer>` columns.
    ///
    /// Binary-only strategies (swap, kos) need a question with exactly 2 answers. SWAP's prior,
    /// retirement thresholds and posterior refer to a positive class: the answer given with
    /// --positive, else the one answer named yes, true or 1 (any case), else it is an error that
    /// lists the answers. KOS is symmetric in the two answers and needs no --positive.
    #[command(verbatim_doc_comment)]
    Aggregate {
        input: PathBuf,
        #[arg(long, help = strategy_help())]
        strategy: String,
        /// Which question of the file (needed when it holds several); for a Panoptes
        /// classification export, the task id (T0, T1, ...).
        #[arg(long, alias = "task")]
        question: Option<String>,
        /// The positive answer of a binary strategy (swap), by name, e.g. --positive yes.
        #[arg(long)]
        positive: Option<String>,
        /// Input format: auto (told from the first line), csv or zooniverse.
        #[arg(long, default_value = "auto")]
        format: String,
        /// Known labels (`galaxy,answer` CSV, names as in the input) for strategies that use
        /// gold galaxies (gold-majority-vote; swap trains its volunteers on them).
        #[arg(long)]
        gold: Option<PathBuf>,
        /// Write `galaxy,label,p_<answer>...` here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Repeat the aggregation N times and print JSON with the best time of the aggregation
        /// alone (`seconds`) and the time to read the file (`read_seconds`).
        #[arg(long)]
        time: Option<usize>,
    },
    Embed(Box<embed::EmbedArgs>),
    Similar(repr::SimilarArgs),
    Slurm(Box<cluster::SlurmArgs>),
    /// Performance benchmarks (timings only; nothing is stored).
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
    /// Run every experiment in `experiments/` (skipping finished runs), rebuild every report and
    /// the paper (`paper/gzbench.html`).
    Reproduce {
        #[arg(long, default_value = "experiments")]
        experiments: PathBuf,
        /// Recompute every run from scratch in a temporary store and compare the tables with the
        /// committed ones to their printed precision (exit 1 on any difference).
        #[arg(long, conflicts_with_all = ["frozen", "fresh"])]
        check: bool,
        /// Compute nothing: refuse (exit 1, naming them) when a run is missing or only stale,
        /// computed by an older run format.
        #[arg(long, conflicts_with = "fresh")]
        frozen: bool,
        /// Recompute every run into the store itself (replacing the committed runs), and the
        /// pretrained backbones the runs use (`results/pretrained/`, not committed).
        #[arg(long)]
        fresh: bool,
        /// Folder of the paper source.
        #[arg(long, default_value = "paper")]
        paper: PathBuf,
        #[command(flatten)]
        compute: Compute,
        #[command(flatten)]
        at: ResultsAndProfile,
    },
}

#[derive(Subcommand)]
enum BenchWhat {
    /// Time the real training step (forward, BCE loss, backward, AdamW) on a fixed random batch;
    /// prints ms/step (`benches/peers/train_step_ratio.sh` compares it with PyTorch).
    TrainStep(TrainStepArgs),
    /// Compare every model's forward and backward, the Dirichlet-multinomial loss and the GZ2
    /// head with the PyTorch fixture on a device; exits 1 when a value is off by more than 1e-4.
    Parity {
        /// The fixture `benches/peers/torch_parity.py` wrote.
        #[arg(long, default_value_os_t = crate::model::parity::fixture_path())]
        fixture: PathBuf,
        #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
        device: DeviceChoice,
    },
}

/// What `bench train-step` times.
#[derive(clap::Args)]
struct TrainStepArgs {
    #[arg(long, value_enum, value_parser = names::<spec::Backbone>(), default_value_t = spec::Backbone::CnnSmall)]
    backbone: spec::Backbone,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Image side in pixels (3 channels).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Channels per stage (cnn-small).
    #[arg(long, value_delimiter = ',', default_values_t = [32, 64, 128])]
    widths: Vec<usize>,
    /// Width multiplier (resnet, dieleman, convnext).
    #[arg(long, default_value_t = 1.0)]
    width_multiplier: f64,
    /// Timed steps.
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Time the evaluation forward pass only (eval-mode batch norm, no loss, no backward).
    #[arg(long)]
    forward_only: bool,
    /// `gzbench`: the fused kernels of `engine`; `candle`: candle's own conv and composed
    /// batch-norm (the "before").
    #[arg(long, value_enum, default_value_t = KernelsArg::Gzbench)]
    kernels: KernelsArg,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum KernelsArg {
    Gzbench,
    Candle,
}

/// `println!` that ignores a closed stdout (`gzbench list | head` must not panic).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// `eprintln!` that ignores a closed stderr.
macro_rules! esay {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

mod cluster;
pub mod crowd;
mod embed;
mod experiments;
mod generate;
mod repr;
mod runs;
mod slurm;
mod tools;

impl Compute {
    /// The device asked for; `auto` says when it falls back to the CPU.
    fn device(&self) -> Result<candle_core::Device, CliError> {
        match self.device {
            DeviceChoice::Auto => Ok(engine::device(DeviceChoice::Cuda).unwrap_or_else(|e| {
                esay!("note: --device auto: no usable GPU ({e}); computing on the CPU, recorded as cpu runs");
                candle_core::Device::Cpu
            })),
            choice => engine::device(choice).map_err(bad_input),
        }
    }
}

/// The one error type of the commands: the message `main` prints after `error: `, and the exit
/// code (1: a run, a check or a write failed; 2: bad input).
struct CliError {
    code: u8,
    message: String,
}

/// Bad input (exit code 2): an invalid argument or experiment file.
fn bad_input(e: impl std::fmt::Display) -> CliError {
    CliError {
        code: 2,
        message: e.to_string(),
    }
}

/// A failure of the work itself (exit code 1): a run, a check or a write.
fn failed(e: impl std::fmt::Display) -> CliError {
    CliError {
        code: 1,
        message: e.to_string(),
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError { code, message }) => {
            esay!("error: {message}");
            ExitCode::from(code)
        }
    }
}

fn dispatch(cli: Cli) -> Result<(), CliError> {
    crate::simd::from_env().map_err(bad_input)?;
    match cli.command {
        Command::Validate { files } => experiments::validate(&files),
        Command::Run {
            file,
            compute,
            pick,
            at,
        } => {
            let device = compute.device()?;
            let report = !pick.no_report;
            let opts = runner::RunOptions {
                jobs: compute.jobs,
                fresh: false,
                select: pick.select(),
            };
            experiments::run(&file, &at, &device, opts, report).map(|_| ())
        }
        Command::Report { file, reading, at } => experiments::report(&file, &at, reading.device),
        Command::Synth {
            n,
            size,
            survey,
            seed,
            out,
        } => tools::synth(n, size, survey, seed, out),
        Command::Generate(args) => generate::generate(*args),
        Command::Grid {
            catalogue,
            image_column,
            labels,
            n,
            cols,
            size,
            out,
        } => tools::grid(&catalogue, &image_column, &labels, n, cols, size, &out),
        Command::CrowdSim {
            question,
            galaxies,
            votes,
            volunteers,
            crowd,
            seed,
            out,
        } => tools::crowd_sim(&question, galaxies, votes, volunteers, &crowd, seed, &out),
        Command::Aggregate {
            input,
            strategy,
            question,
            positive,
            format,
            gold,
            out,
            time,
        } => tools::aggregate(
            &input,
            &strategy,
            &format,
            crowd::AggregateOptions {
                question: question.as_deref(),
                positive: positive.as_deref(),
                gold: gold.as_deref(),
                out: out.as_deref(),
                repeats: time.unwrap_or(1),
                ..Default::default()
            },
            time.is_some(),
        ),
        Command::List {
            experiments,
            reading,
            at,
        } => experiments::list(&experiments, &at, reading.device),
        Command::Runs {
            experiment,
            stale,
            at,
        } => runs::runs(&at, experiment.as_deref(), stale),
        Command::Bench { what } => tools::bench(what),
        Command::Embed(args) => embed::embed(*args),
        Command::Similar(args) => repr::similar(args),
        Command::Slurm(args) => cluster::slurm(*args),
        Command::Reproduce {
            experiments,
            check,
            frozen,
            fresh,
            paper,
            compute,
            at,
        } => {
            let device = compute.device()?;
            let opts = runner::RunOptions {
                jobs: compute.jobs,
                fresh,
                select: runner::Select::All,
            };
            if check {
                experiments::reproduce_check(&experiments, &at, &device, opts)
            } else {
                if frozen {
                    experiments::frozen(&experiments, &at, spec::DeviceKind::of(&device))?;
                }
                experiments::reproduce(&experiments, &at, &device, opts)?;
                match at.profile {
                    // the paper quotes the committed cpu-profile tables
                    Profile::Cpu => {
                        let grid = at.results.join("universe/figures/universe_grid.png");
                        crate::report::mosaic::universe_grid(&grid, 0, 128, 6).map_err(failed)?;
                        say!("wrote {}", grid.display());
                        experiments::build_paper(&paper)
                    }
                    p => {
                        say!(
                            "paper not rebuilt: it shows the cpu profile, this was {}",
                            p.as_str()
                        );
                        Ok(())
                    }
                }
            }
        }
    }
}
