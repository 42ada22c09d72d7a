//! The tool commands: `synth`, `grid`, `crowd-sim`, `aggregate` and `bench train-step`.

use super::*;

pub(super) fn grid(
    catalogue: &Path,
    image_column: &str,
    labels: &[String],
    n: usize,
    cols: usize,
    size: u32,
    out: &Path,
) -> Result<(), CliError> {
    if size == 0 || n == 0 {
        return Err(bad_input("--size and --n must be positive"));
    }
    crate::report::mosaic::catalogue_grid(catalogue, image_column, labels, n, cols, size, out)
        .map_err(bad_input)?;
    say!("wrote {}", out.display());
    Ok(())
}

pub(super) fn crowd_sim(
    question: &str,
    galaxies: usize,
    votes: usize,
    volunteers: usize,
    crowd: &str,
    seed: u64,
    out: &Path,
) -> Result<(), CliError> {
    let preset: spec::QualityPreset = serde_yaml::from_str(crowd).map_err(|_| {
        let names: Vec<String> = spec::all::<spec::QualityPreset>()
            .iter()
            .map(spec::yaml_name)
            .collect();
        let (last, rest) = names.split_last().expect("presets");
        bad_input(format!(
            "--crowd {crowd}: unknown crowd; expected {} or {last}",
            rest.join(", ")
        ))
    })?;
    let n = super::crowd::simulate_to_csv(out, question, galaxies, votes, volunteers, preset, seed)
        .map_err(bad_input)?;
    say!("wrote {n} classifications to {}", out.display());
    Ok(())
}

pub(super) fn bench(what: BenchWhat) -> Result<(), CliError> {
    match what {
        BenchWhat::TrainStep(args) => train_step(args),
        BenchWhat::Parity { fixture, device } => parity(&fixture, device),
    }
}

/// `bench train-step`: ms per training step (or per evaluation forward pass).
fn train_step(args: TrainStepArgs) -> Result<(), CliError> {
    let TrainStepArgs {
        backbone,
        batch,
        size,
        widths,
        width_multiplier,
        steps,
        warmup,
        forward_only,
        kernels,
        device,
    } = args;
    if batch == 0 || size == 0 || steps == 0 || widths.contains(&0) {
        return Err(bad_input(
            "--batch, --size, --steps and --widths must be positive",
        ));
    }
    let device = engine::device(device).map_err(bad_input)?;
    engine::use_candle_kernels(matches!(kernels, KernelsArg::Candle));
    let backbone_name = spec::yaml_name(&backbone);
    let b = crate::train::bench::StepBench {
        model: spec::ModelConfig {
            backbone,
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
        forward_only,
    };
    let t = crate::train::bench::time_train_step(&b, &device).map_err(failed)?;
    say!(
        "{} {backbone_name} batch {batch} 3x{size}x{size} kernels {} on {}: mean {:.1} ms/step, median {:.1} ({steps} steps after {warmup} warm-up; loss {:.4})",
        if forward_only {
            "eval-forward"
        } else {
            "train-step"
        },
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

/// `bench parity`: every comparison with its relative error, then a verdict.
fn parity(fixture: &std::path::Path, device: DeviceChoice) -> Result<(), CliError> {
    use crate::model::parity;
    let device = engine::device(device).map_err(bad_input)?;
    if !fixture.is_file() {
        return Err(bad_input(format!(
            "{}: no parity fixture there (run from the repository root, or pass --fixture)",
            fixture.display()
        )));
    }
    let mut checks =
        parity::run(fixture, &device).map_err(|e| failed(format!("{}: {e}", fixture.display())))?;
    if !device.is_cpu() {
        let kernels = engine::crosscheck::run(&device).map_err(failed)?;
        let on = engine::describe(&device);
        checks.extend(kernels.into_iter().map(|mut c| {
            c.what = format!("{on} vs cpu: {}", c.what);
            c
        }));
    }
    let bad: Vec<_> = checks
        .iter()
        .filter(|c| c.rel_err.is_nan() || c.rel_err > parity::TOL)
        .collect();
    for c in &checks {
        say!("{:<48} {:.2e}", c.what, c.rel_err);
    }
    let worst = checks.iter().map(|c| c.rel_err).fold(0.0, f64::max);
    say!(
        "parity on {}: {} values, worst relative error {worst:.2e}, {} above {:e}",
        engine::describe(&device),
        checks.len(),
        bad.len(),
        parity::TOL
    );
    if bad.is_empty() {
        Ok(())
    } else {
        Err(failed(format!("parity failed for {} values", bad.len())))
    }
}

/// `synth`: the synthetic universe written as a catalogue, with a progress bar.
pub(super) fn synth(
    n: usize,
    size: usize,
    survey: spec::Survey,
    seed: u64,
    out: PathBuf,
) -> Result<(), CliError> {
    use crate::data::synthetic_catalog::{self, SyntheticCatalog};
    if size < 8 {
        return Err(bad_input(format!(
            "--size must be at least 8 pixels, got {size}"
        )));
    }
    let survey = crate::data::synthetic::survey(survey);
    let bar = ProgressBar::new(n as u64).with_style(
        ProgressStyle::with_template("[{bar:30}] {pos}/{len} galaxies, {per_sec}, eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let cfg = SyntheticCatalog {
        n,
        size,
        survey,
        seed,
        out,
    };
    let written =
        synthetic_catalog::write(&cfg, &|done| bar.set_position(done as u64)).map_err(failed)?;
    bar.finish_and_clear();
    say!(
        "{n} cutouts in {}; catalogue: {}",
        cfg.out.join("images").display(),
        written
            .paths()
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

pub(super) fn aggregate(
    input: &Path,
    strategy: &str,
    format: &str,
    opts: super::crowd::AggregateOptions,
    timed: bool,
) -> Result<(), CliError> {
    use crate::crowd::exports::InputFormat;
    let s = crate::spec::Strategy::parse(strategy)
        .map_err(|e| bad_input(format!("--strategy {strategy}: {e}")))?;
    let format = InputFormat::from_name(format).ok_or_else(|| {
        bad_input(format!(
            "--format {format}: unknown format; expected auto, csv or zooniverse"
        ))
    })?;
    let opts = super::crowd::AggregateOptions { format, ..opts };
    let a = super::crowd::aggregate_file(input, s, &opts).map_err(bad_input)?;
    if timed {
        say!(
            "{{\"strategy\":\"{strategy}\",\"seconds\":{},\"read_seconds\":{},\"votes\":{},\"galaxies\":{},\"repeats\":{},\"threads\":{}}}",
            a.seconds,
            a.read_seconds,
            a.votes,
            a.galaxies,
            opts.repeats,
            rayon::current_num_threads()
        );
    } else {
        say!(
            "{} galaxies, {} votes of `{}` ({} file) aggregated with {strategy}{}{}",
            a.galaxies,
            a.votes,
            a.question,
            a.format,
            a.positive
                .as_ref()
                .map(|p| format!(" (positive class `{p}`)"))
                .unwrap_or_default(),
            opts.out
                .map(|p| format!("; labels in {}", p.display()))
                .unwrap_or_default()
        );
    }
    Ok(())
}
