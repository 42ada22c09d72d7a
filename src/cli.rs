//! The command line: `validate`, `run`, `report`, `list`, `synth`, `crowd-sim`, `aggregate`,
//! `reproduce`; progress bars; exit codes
//! (0 ok, 1 a run failed, 2 bad input). Errors are turned into messages here and nowhere else.

use crate::engine::{self, DeviceChoice};
use crate::runner::{self, Progress, Summary};
use crate::spec::{self, Profile, run_id};
use crate::store::Store;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "gzbench",
    version,
    about = "Reproducible benchmarks for deep learning on galaxy images",
    long_about = "gzbench runs experiments described in YAML files (see experiments/), stores every run \
                  under results/runs/<run-id>/, and builds tables and figures from the stored runs.\n\n\
                  Typical use:\n  gzbench validate experiments/*.yaml\n  gzbench run experiments/shapes_baseline.yaml --profile smoke\n  \
                  gzbench report experiments/shapes_baseline.yaml --profile smoke\n  gzbench reproduce          # every experiment, every report\n\n\
                  Profiles scale an experiment: smoke (seconds, for tests), cpu (default; minutes on a laptop), gpu (paper scale).\n\
                  Finished runs are never recomputed: a run's id is the hash of its resolved spec."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct Where {
    /// Results folder: the run store (`runs/`) and the tables and figures of each experiment.
    #[arg(long, default_value = "results", global = true)]
    results: PathBuf,
    /// Experiment scale.
    #[arg(long, value_enum, default_value_t = ProfileArg::Cpu, global = true)]
    profile: ProfileArg,
}

#[derive(clap::Args, Clone)]
struct Compute {
    /// Where tensors are computed.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
    /// Runs computed at the same time.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ProfileArg {
    Smoke,
    Cpu,
    Gpu,
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Self {
        match p {
            ProfileArg::Smoke => Profile::Smoke,
            ProfileArg::Cpu => Profile::Cpu,
            ProfileArg::Gpu => Profile::Gpu,
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SurveyArg {
    SdssLike,
    DecalsLike,
}

#[derive(Subcommand)]
enum Command {
    /// Check experiment files without running anything (every profile, every grid point).
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run an experiment's incomplete runs, then write its report.
    Run {
        file: PathBuf,
        #[command(flatten)]
        compute: Compute,
        #[command(flatten)]
        at: Where,
    },
    /// Rebuild an experiment's tables and figures from the run store (no training).
    Report {
        file: PathBuf,
        #[command(flatten)]
        at: Where,
    },
    /// List the experiments in a folder and how many of their runs are complete.
    List {
        #[arg(long, default_value = "experiments")]
        experiments: PathBuf,
        #[command(flatten)]
        at: Where,
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
        #[arg(long, value_enum, default_value_t = SurveyArg::DecalsLike)]
        survey: SurveyArg,
        /// Seed of the population and of the pixel noise.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output folder (created; `images/` and the catalogue go inside).
        #[arg(long)]
        out: PathBuf,
    },
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
        /// Crowd quality preset: good, default or noisy.
        #[arg(long, default_value = "default")]
        crowd: String,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Aggregate a classification CSV (`volunteer,galaxy,question,answer[,time]`) into one label
    /// and answer probabilities per galaxy with a registered strategy (majority-vote,
    /// vote-fraction, wawa, gz2-weighting, dawid-skene, one-coin-dawid-skene, swap).
    Aggregate {
        input: PathBuf,
        #[arg(long)]
        strategy: String,
        /// Which question of the file (needed when it holds several).
        #[arg(long)]
        question: Option<String>,
        /// Write `galaxy,label,p_<answer>...` here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Repeat the aggregation N times and print the best time of the aggregation alone.
        #[arg(long)]
        time: Option<usize>,
    },
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
        #[arg(long)]
        check: bool,
        /// Folder of the paper source.
        #[arg(long, default_value = "paper")]
        paper: PathBuf,
        #[command(flatten)]
        compute: Compute,
        #[command(flatten)]
        at: Where,
    },
}

#[derive(Subcommand)]
enum BenchWhat {
    /// Time the real training step (forward, BCE loss, backward, AdamW) on a fixed random batch;
    /// prints ms/step (`benches/peers/train_step_ratio.sh` compares it with PyTorch).
    TrainStep {
        #[arg(long, value_enum, default_value_t = BackboneArg::CnnSmall)]
        backbone: BackboneArg,
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
        /// `gzbench`: the fused kernels of `engine`; `candle`: candle's own conv and composed
        /// batch-norm (the "before").
        #[arg(long, value_enum, default_value_t = KernelsArg::Gzbench)]
        kernels: KernelsArg,
        #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
        device: DeviceChoice,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BackboneArg {
    CnnSmall,
    Linear,
    Resnet,
    Dieleman,
    Convnext,
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

/// An error with its exit code.
struct Fail(u8, String);

fn bad_input(e: impl std::fmt::Display) -> Fail {
    Fail(2, e.to_string())
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(code, msg)) => {
            esay!("error: {msg}");
            ExitCode::from(code)
        }
    }
}

fn dispatch(cli: Cli) -> Result<(), Fail> {
    match cli.command {
        Command::Validate { files } => validate(&files),
        Command::Run { file, compute, at } => {
            let device = engine::device(compute.device).map_err(bad_input)?;
            run(&file, &at, &device, compute.jobs).map(|_| ())
        }
        Command::Report { file, at } => report(&file, &at),
        Command::Synth {
            n,
            size,
            survey,
            seed,
            out,
        } => synth(n, size, survey, seed, out),
        Command::Grid {
            catalogue,
            image_column,
            labels,
            n,
            cols,
            size,
            out,
        } => {
            if size == 0 || n == 0 {
                return Err(bad_input("--size and --n must be positive"));
            }
            crate::report::grid::catalogue_grid(
                &catalogue,
                &image_column,
                &labels,
                n,
                cols,
                size,
                &out,
            )
            .map_err(bad_input)?;
            say!("wrote {}", out.display());
            Ok(())
        }
        Command::CrowdSim {
            question,
            galaxies,
            votes,
            volunteers,
            crowd,
            seed,
            out,
        } => {
            let preset: crate::spec::QualityPreset =
                serde_yaml::from_str(&crowd).map_err(|_| {
                    bad_input(format!(
                        "--crowd {crowd}: unknown crowd; expected good, default or noisy"
                    ))
                })?;
            let n = crate::crowd::tools::simulate_to_csv(
                &out, &question, galaxies, votes, volunteers, preset, seed,
            )
            .map_err(bad_input)?;
            say!("wrote {n} classifications to {}", out.display());
            Ok(())
        }
        Command::Aggregate {
            input,
            strategy,
            question,
            out,
            time,
        } => aggregate(&input, &strategy, question.as_deref(), out.as_deref(), time),
        Command::List { experiments, at } => list(&experiments, &at),
        Command::Bench { what } => bench(what),
        Command::Reproduce {
            experiments,
            check,
            paper,
            compute,
            at,
        } => {
            let device = engine::device(compute.device).map_err(bad_input)?;
            if check {
                reproduce_check(&experiments, &at, &device, compute.jobs)
            } else {
                reproduce(&experiments, &at, &device, compute.jobs)?;
                match Profile::from(at.profile) {
                    // the paper quotes the committed cpu-profile tables
                    Profile::Cpu => {
                        let grid = at.results.join("universe/figures/universe_grid.png");
                        crate::report::grid::universe_grid(&grid, 0, 128, 6)
                            .map_err(|e| Fail(1, e.to_string()))?;
                        say!("wrote {}", grid.display());
                        build_paper(&paper)
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

fn bench(what: BenchWhat) -> Result<(), Fail> {
    let BenchWhat::TrainStep {
        backbone,
        batch,
        size,
        widths,
        width_multiplier,
        steps,
        warmup,
        kernels,
        device,
    } = what;
    if batch == 0 || size == 0 || steps == 0 || widths.contains(&0) {
        return Err(bad_input(
            "--batch, --size, --steps and --widths must be positive",
        ));
    }
    let device = engine::device(device).map_err(bad_input)?;
    engine::use_candle_kernels(matches!(kernels, KernelsArg::Candle));
    let backbone_name = match backbone {
        BackboneArg::CnnSmall => "cnn-small",
        BackboneArg::Linear => "linear",
        BackboneArg::Resnet => "resnet",
        BackboneArg::Dieleman => "dieleman",
        BackboneArg::Convnext => "convnext",
    };
    let b = crate::train::bench::StepBench {
        model: spec::ModelConfig {
            backbone: match backbone {
                BackboneArg::CnnSmall => spec::Backbone::CnnSmall,
                BackboneArg::Linear => spec::Backbone::Linear,
                BackboneArg::Resnet => spec::Backbone::Resnet,
                BackboneArg::Dieleman => spec::Backbone::Dieleman,
                BackboneArg::Convnext => spec::Backbone::Convnext,
            },
            widths,
            width_multiplier,
            ..Default::default()
        },
        batch,
        channels: 3,
        size,
        warmup,
        steps,
        seed: 0,
    };
    let t =
        crate::train::bench::time_train_step(&b, &device).map_err(|e| Fail(1, e.to_string()))?;
    say!(
        "train-step {backbone_name} batch {batch} 3x{size}x{size} kernels {} on {}: mean {:.1} ms/step, median {:.1} ({steps} steps after {warmup} warm-up; loss {:.4})",
        match kernels {
            KernelsArg::Gzbench => "gzbench",
            KernelsArg::Candle => "candle",
        },
        engine::describe(&device),
        t.mean(),
        t.median(),
        t.last_loss
    );
    say!("ms_per_step={:.3}", t.mean());
    say!("final_loss={:e}", t.last_loss);
    Ok(())
}

fn synth(n: usize, size: usize, survey: SurveyArg, seed: u64, out: PathBuf) -> Result<(), Fail> {
    use crate::data::synth::{SynthConfig, SynthError};
    let survey = match survey {
        SurveyArg::SdssLike => crate::universe::Survey::SdssLike,
        SurveyArg::DecalsLike => crate::universe::Survey::DecalsLike,
    };
    let bar = ProgressBar::new(n as u64).with_style(
        ProgressStyle::with_template("[{bar:30}] {pos}/{len} galaxies, {per_sec}, eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let cfg = SynthConfig {
        n,
        size,
        survey,
        seed,
        out,
    };
    let paths = crate::data::synth::synth(&cfg, &|done| bar.set_position(done as u64)).map_err(
        |e| match e {
            SynthError::Size(_) => bad_input(e),
            SynthError::Write { .. } => Fail(1, e.to_string()),
        },
    )?;
    bar.finish_and_clear();
    say!(
        "{n} cutouts in {}; catalogue: {}",
        cfg.out.join("images").display(),
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

fn aggregate(
    input: &Path,
    strategy: &str,
    question: Option<&str>,
    out: Option<&Path>,
    time: Option<usize>,
) -> Result<(), Fail> {
    use crate::crowd::StrategyImpl;
    let s = crate::spec::Strategy::from_name(strategy).ok_or_else(|| {
        let names: Vec<String> = crate::spec::Strategy::ALL
            .iter()
            .map(|s| format!("`{}`", s.name()))
            .collect();
        bad_input(format!(
            "--strategy {strategy}: unknown strategy; expected one of {}",
            names.join(", ")
        ))
    })?;
    let a = crate::crowd::tools::aggregate_csv(input, question, s, time.unwrap_or(1), out)
        .map_err(bad_input)?;
    match time {
        Some(n) => say!(
            "{{\"strategy\":\"{strategy}\",\"seconds\":{},\"votes\":{},\"galaxies\":{},\"repeats\":{n},\"threads\":{}}}",
            a.seconds,
            a.votes,
            a.galaxies,
            rayon::current_num_threads()
        ),
        None => say!(
            "{} galaxies, {} votes aggregated with {strategy}{}",
            a.galaxies,
            a.votes,
            out.map(|p| format!("; labels in {}", p.display()))
                .unwrap_or_default()
        ),
    }
    Ok(())
}

fn validate(files: &[PathBuf]) -> Result<(), Fail> {
    let mut bad = 0;
    for f in files {
        let checked: Result<Vec<(Profile, usize, String)>, spec::SpecError> =
            [Profile::Smoke, Profile::Cpu, Profile::Gpu]
                .into_iter()
                .map(|p| runner::plan(f, p).map(|(exp, runs)| (p, runs.len(), exp.name)))
                .collect();
        match checked {
            Ok(per_profile) => {
                let n: Vec<String> = per_profile
                    .iter()
                    .map(|(p, n, _)| format!("{n} {}", p.as_str()))
                    .collect();
                say!(
                    "ok  {}: `{}`, runs: {}",
                    f.display(),
                    per_profile[0].2,
                    n.join(", ")
                );
            }
            Err(e) => {
                esay!("{e}");
                bad += 1;
            }
        }
    }
    if bad > 0 {
        Err(Fail(
            2,
            format!("{bad} of {} experiment files are invalid", files.len()),
        ))
    } else {
        Ok(())
    }
}

struct Bar {
    bar: ProgressBar,
    started: Instant,
}

impl Progress for Bar {
    fn start(&self, total: usize, done: usize) {
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
    }
    fn epoch(&self, id: &str, epoch: usize, epochs: usize, loss: f64, rate: f64) {
        self.bar.set_message(format!(
            "run {id} epoch {}/{epochs} loss {loss:.4} {rate:.0} img/s",
            epoch + 1
        ));
    }
    fn run_finished(&self, _id: &str) {
        self.bar.inc(1);
        let per = self.started.elapsed().as_secs_f64() / self.bar.position().max(1) as f64;
        self.bar.set_prefix(format!("{per:.1} s/run"));
    }
}

fn run(
    file: &Path,
    at: &Where,
    device: &candle_core::Device,
    jobs: usize,
) -> Result<Summary, Fail> {
    let store = Store::new(&at.results);
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} runs, eta {eta} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let progress = Bar {
        bar,
        started: Instant::now(),
    };
    let wait = |p: &Path| {
        esay!(
            "waiting: another gzbench is writing to this store ({} is locked)",
            p.display()
        )
    };
    let (summary, errors) = runner::run_experiment(
        file,
        at.profile.into(),
        &store,
        device,
        jobs,
        &progress,
        wait,
    )
    .map_err(|e| match e {
        runner::RunError::Spec(e) => bad_input(e),
        e => Fail(1, e.to_string()),
    })?;
    progress.bar.finish_and_clear();
    say!(
        "{}: {} runs ({} already complete, {} computed, {} failed) in {:.1} s on {}",
        summary.experiment,
        summary.total,
        summary.skipped,
        summary.computed,
        summary.failed,
        summary.seconds,
        engine::describe(device)
    );
    if summary.unavailable > 0 {
        esay!(
            "skipped {} runs whose data is not on this machine:",
            summary.unavailable
        );
        for why in &summary.unavailable_reasons {
            esay!("  {why}");
        }
    }
    report(file, at)?;
    if !errors.is_empty() {
        for e in &errors {
            esay!("{e}");
        }
        return Err(Fail(
            1,
            format!("{} of {} runs failed", errors.len(), summary.total),
        ));
    }
    Ok(summary)
}

fn report(file: &Path, at: &Where) -> Result<(), Fail> {
    let store = Store::new(&at.results);
    let w = crate::report::report(file, at.profile.into(), &store).map_err(|e| match e {
        crate::report::ReportError::Spec(e) => bad_input(e),
        e => Fail(1, e.to_string()),
    })?;
    if w.complete < w.runs {
        esay!(
            "note: {} of {} runs are complete; the report covers those",
            w.complete,
            w.runs
        );
    }
    for f in &w.files {
        say!("wrote {}", f.display());
    }
    Ok(())
}

fn experiment_files(dir: &Path) -> Result<Vec<PathBuf>, Fail> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| bad_input(format!("{}: cannot list experiments: {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

fn list(dir: &Path, at: &Where) -> Result<(), Fail> {
    let store = Store::new(&at.results);
    let profile: Profile = at.profile.into();
    say!(
        "{:<32} {:>10}  question",
        format!("experiment ({})", profile.as_str()),
        "complete"
    );
    for f in experiment_files(dir)? {
        match runner::plan(&f, profile) {
            Ok((exp, runs)) => {
                let done = runs
                    .iter()
                    .filter(|r| store.is_complete(&run_id(r)))
                    .count();
                say!(
                    "{:<32} {:>10}  {}",
                    exp.name,
                    format!("{done}/{}", runs.len()),
                    exp.question.unwrap_or_default()
                );
            }
            Err(e) => say!("{:<32} {:>10}  {e}", f.display(), "invalid"),
        }
    }
    Ok(())
}

fn build_paper(dir: &Path) -> Result<(), Fail> {
    if !dir.join("gzbench.md").is_file() {
        esay!(
            "no paper source at {}; paper not built",
            dir.join("gzbench.md").display()
        );
        return Ok(());
    }
    let built = crate::report::paper::build(dir).map_err(|e| Fail(1, e.to_string()))?;
    for f in &built.files {
        say!("wrote {}", f.display());
    }
    if let Some(why) = built.pdf_skipped {
        say!("{why}");
    }
    Ok(())
}

/// `reproduce --check`: every run recomputed in a temporary store, tables compared.
fn reproduce_check(
    dir: &Path,
    at: &Where,
    device: &candle_core::Device,
    jobs: usize,
) -> Result<(), Fail> {
    let scratch = std::env::temp_dir().join(format!("gzbench-check-{}", std::process::id()));
    let fresh = Where {
        results: scratch.clone(),
        profile: at.profile,
    };
    let result = reproduce(dir, &fresh, device, jobs);
    // experiments whose data is not on this machine cannot be checked here
    let mut names = Vec::new();
    for f in experiment_files(dir)? {
        let Ok((exp, runs)) = runner::plan(&f, at.profile.into()) else {
            continue;
        };
        match runs.iter().find_map(crate::data::unavailable) {
            Some(why) => say!("not checked: {} ({why})", exp.name),
            None => names.push(exp.name),
        }
    }
    let diffs = crate::report::compare_tables(
        &names,
        at.profile.into(),
        &Store::new(&at.results),
        &Store::new(&scratch),
    );
    let _ = std::fs::remove_dir_all(&scratch);
    result?;
    if diffs.is_empty() {
        say!(
            "check passed: {} experiments' tables match the committed ones",
            names.len()
        );
        Ok(())
    } else {
        for d in &diffs {
            esay!("{d}");
        }
        Err(Fail(1, format!("{} table lines differ", diffs.len())))
    }
}

fn reproduce(
    dir: &Path,
    at: &Where,
    device: &candle_core::Device,
    jobs: usize,
) -> Result<(), Fail> {
    let started = Instant::now();
    let files = experiment_files(dir)?;
    // validate everything first: a typo in the last file should not cost the first file's hours
    for f in &files {
        runner::plan(f, at.profile.into()).map_err(bad_input)?;
    }
    let mut rows = Vec::new();
    let mut failed = false;
    for f in &files {
        match run(f, at, device, jobs) {
            Ok(s) => rows.push(s),
            Err(Fail(code, msg)) => {
                esay!("error: {}: {msg}", f.display());
                failed = true;
                if code == 2 {
                    return Err(Fail(2, msg));
                }
            }
        }
    }
    say!(
        "\n{:<32} {:>6} {:>8} {:>9} {:>7} {:>9}",
        "experiment",
        "runs",
        "skipped",
        "computed",
        "failed",
        "seconds"
    );
    for s in &rows {
        say!(
            "{:<32} {:>6} {:>8} {:>9} {:>7} {:>9.1}",
            s.experiment,
            s.total,
            s.skipped,
            s.computed,
            s.failed,
            s.seconds
        );
    }
    say!("total {:.1} s", started.elapsed().as_secs_f64());
    if failed {
        Err(Fail(1, "some experiments failed".into()))
    } else {
        Ok(())
    }
}
