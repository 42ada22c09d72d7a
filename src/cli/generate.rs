//! `gzbench generate`: galaxies sampled from a trained diffusion model ([`crate::diffusion::saved`])
//! and written as `gzbench synth` writes the synthetic universe: PNG cutouts under `OUT/images/`
//! (`000000.png`, ...) and a catalogue, `OUT/catalogue.csv` and `OUT/catalogue.parquet`, written
//! last (an interrupted run never leaves a catalogue listing missing images).
//!
//! Catalogue columns: `file`, `id` (0..n), the model's label (e.g. `ring`, 0/1, as in the real
//! catalogue the model was trained on: the label of the training galaxy whose condition was
//! drawn), `condition_id` (that galaxy's id in `conditions.csv`), then the condition the image
//! was sampled with, one column per answer (`Class1.1` ... `Class11.6`, the Kaggle-weighted GZ2
//! vote fractions, after `--set`). `synth`'s other columns have no meaning for a generated image
//! and are left out: the truth columns and `has_*` flags (a generated galaxy has no physical
//! parameters), the true answers (`gz2:<question>`, `decals:<question>`), the DECaLS vote
//! fractions (the condition is the GZ2 one), `clump_boxes` and `clumps.csv` (no clump truth).
//!
//! Conditions are drawn with replacement, uniformly from the `conditions.csv` rows of the asked
//! class, from the stream `generate/conditions` of `--seed`; image `i`'s noise is the model's
//! stream `diffusion/sample#i` of `--seed`, so the same arguments give the same bytes.
//! Pixels: `(x + 1) / 2` clamped to `[0, 1]`, times 255, rounded, as RGB (a one-channel model's
//! image is grey).

use super::*;
use crate::diffusion::saved::{self, ConditionRow, SavedModel};
use candle_core::{DType, Device, Tensor};
use polars::prelude::*;
use rand::Rng;

/// Sample galaxies from a trained diffusion model (a `generative_augmentation` run's
/// `diffusion/` folder: model.json, weights.safetensors, conditions.csv) into PNG cutouts plus a
/// catalogue in `gzbench synth`'s layout (`images/`, `catalogue.csv`, `catalogue.parquet`;
/// columns file, id, the label, condition_id and the condition's GZ2 answer fractions).
///
/// Each image is conditioned on the answers of a training galaxy of --class, drawn at random
/// (--seed); --set NAME=VALUE overrides one answer in every drawn condition.
///
/// Example: gzbench generate --model results/runs/<id>/diffusion --n 64 --out /tmp/rings
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub(super) struct GenerateArgs {
    /// The model folder (model.json, weights.safetensors, conditions.csv).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Number of galaxies.
    #[arg(long, default_value_t = 100)]
    n: usize,
    /// Output folder (created; `images/` and the catalogue go inside).
    #[arg(long)]
    out: PathBuf,
    /// Seed of the sampling noise and of the condition draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Draw conditions from the training galaxies with this label.
    #[arg(long, value_enum, default_value_t = Class::Positive)]
    class: Class,
    /// Override one condition entry, e.g. --set Class1.1=0.2 (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    sets: Vec<String>,
    /// DDIM sampling steps (default: model.json's `sample_steps`).
    #[arg(long)]
    steps: Option<usize>,
    /// Classifier-free guidance weight (default: model.json's `guidance`; 1 = plain conditional).
    #[arg(long)]
    guidance: Option<f64>,
    /// Images sampled at once.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
}

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum Class {
    Positive,
    Negative,
    Any,
}

pub(super) fn generate(a: GenerateArgs) -> Result<(), CliError> {
    if a.n == 0 || a.batch == 0 {
        return Err(bad_input("--n and --batch must be at least 1"));
    }
    let dev = engine::device(a.device).map_err(bad_input)?;
    let (model, meta, rows) = saved::load(&a.model, a.seed, &dev).map_err(bad_input)?;
    let channels = meta.unet.channels;
    if channels != 1 && channels != 3 {
        return Err(bad_input(format!(
            "{}: the model has {channels} image channels; generate writes 1- or 3-channel images",
            a.model.join(saved::MODEL).display()
        )));
    }
    let overrides = parse_sets(&a.sets, &meta)?;
    let steps = a.steps.unwrap_or(meta.sample_steps);
    if steps == 0 || steps > meta.noise_steps {
        return Err(bad_input(format!(
            "--steps {steps}: expected 1 to the model's {} noise steps",
            meta.noise_steps
        )));
    }
    let w = a.guidance.unwrap_or(meta.guidance);
    if !w.is_finite() {
        return Err(bad_input(format!(
            "--guidance {w}: expected a finite number"
        )));
    }
    let pool: Vec<&ConditionRow> = rows
        .iter()
        .filter(|r| match a.class {
            Class::Positive => r.label,
            Class::Negative => !r.label,
            Class::Any => true,
        })
        .collect();
    if pool.is_empty() {
        return Err(bad_input(format!(
            "{}: no training galaxy of --class {} to draw conditions from",
            a.model.join(saved::CONDITIONS).display(),
            match a.class {
                Class::Positive => "positive",
                Class::Negative => "negative",
                Class::Any => "any",
            }
        )));
    }
    let mut rng = crate::rng::stream(a.seed, "generate/conditions");
    let drawn: Vec<ConditionRow> = (0..a.n)
        .map(|_| {
            let mut r = pool[rng.random_range(0..pool.len())].clone();
            for &(k, v) in &overrides {
                r.values[k] = v;
            }
            r
        })
        .collect();

    let images = a.out.join("images");
    std::fs::create_dir_all(&images).map_err(|e| failed(format!("{}: {e}", images.display())))?;
    let digits = (a.n - 1).to_string().len().max(6);
    let file = |id: usize| format!("images/{id:0digits$}.png");
    let bar = ProgressBar::new(a.n as u64).with_style(
        ProgressStyle::with_template("[{bar:30}] {pos}/{len} galaxies, {per_sec}, eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let size = meta.image_size;
    for (b, chunk) in drawn.chunks(a.batch).enumerate() {
        let first = b * a.batch;
        let flat: Vec<f32> = chunk
            .iter()
            .flat_map(|r| r.values.iter().copied())
            .collect();
        let sampled = Tensor::from_vec(flat, (chunk.len(), meta.unet.cond_dim), &dev)
            .and_then(|cond| model.sample(&cond, first as u64, steps, w, [channels, size, size]))
            .and_then(|x| {
                x.to_dtype(DType::F32)?
                    .to_device(&Device::Cpu)?
                    .flatten_all()?
                    .to_vec1()
            })
            .map_err(|e| failed(format!("sampling images {first}..: {e}")))?;
        for (i, pixels) in sampled.chunks(channels * size * size).enumerate() {
            let path = a.out.join(file(first + i));
            let png = encode(pixels, channels, size)
                .map_err(|e| failed(format!("{}: {e}", path.display())))?;
            crate::atomic::write(&path, &png)
                .map_err(|(p, e)| failed(format!("{}: {e}", p.display())))?;
        }
        bar.set_position((first + chunk.len()) as u64);
    }
    bar.finish_and_clear();
    let mut df =
        catalogue(&drawn, &meta, &file).map_err(|e| failed(format!("{}: {e}", a.out.display())))?;
    let mut paths = Vec::new();
    for (name, parquet) in [("catalogue.csv", false), ("catalogue.parquet", true)] {
        let path = a.out.join(name);
        let mut bytes = Vec::new();
        let done = if parquet {
            ParquetWriter::new(&mut bytes).finish(&mut df).map(|_| ())
        } else {
            CsvWriter::new(&mut bytes).finish(&mut df)
        };
        done.map_err(|e| failed(format!("{}: {e}", path.display())))?;
        crate::atomic::write(&path, &bytes)
            .map_err(|(p, e)| failed(format!("{}: {e}", p.display())))?;
        paths.push(path.display().to_string());
    }
    say!(
        "{} cutouts in {} ({} steps, guidance {w}); catalogue: {}",
        a.n,
        images.display(),
        steps,
        paths.join(", ")
    );
    Ok(())
}

/// `--set NAME=VALUE` options as (condition index, value).
fn parse_sets(sets: &[String], meta: &SavedModel) -> Result<Vec<(usize, f32)>, CliError> {
    sets.iter()
        .map(|s| {
            let Some((name, value)) = s.split_once('=') else {
                return Err(bad_input(format!("--set `{s}`: expected NAME=VALUE")));
            };
            let Some(k) = meta.condition_names.iter().position(|c| c == name.trim()) else {
                return Err(bad_input(format!(
                    "--set `{s}`: unknown condition name `{}`; expected one of {}",
                    name.trim(),
                    meta.condition_names.join(", ")
                )));
            };
            match value.trim().parse::<f32>() {
                Ok(v) if v.is_finite() => Ok((k, v)),
                _ => Err(bad_input(format!(
                    "--set `{s}`: `{}` is not a finite number",
                    value.trim()
                ))),
            }
        })
        .collect()
}

/// One image (`channels x size x size`, values in `[-1, 1]`) as RGB PNG bytes.
fn encode(pixels: &[f32], channels: usize, size: usize) -> Result<Vec<u8>, image::ImageError> {
    let shown: Vec<f32> = pixels.iter().map(|v| (v + 1.0) / 2.0).collect();
    let img = crate::universe::observe::display_planes_to_rgb8(&shown, channels, size);
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

/// The catalogue's columns (see the module doc).
fn catalogue(
    drawn: &[ConditionRow],
    meta: &SavedModel,
    file: &dyn Fn(usize) -> String,
) -> PolarsResult<DataFrame> {
    let mut cols = vec![
        Column::new(
            "file".into(),
            (0..drawn.len()).map(file).collect::<Vec<_>>(),
        ),
        Column::new("id".into(), (0..drawn.len() as u64).collect::<Vec<_>>()),
        Column::new(
            meta.label.as_str().into(),
            drawn
                .iter()
                .map(|r| r.label as u8 as i64)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "condition_id".into(),
            drawn.iter().map(|r| r.id).collect::<Vec<_>>(),
        ),
    ];
    for (k, name) in meta.condition_names.iter().enumerate() {
        let v: Vec<f32> = drawn.iter().map(|r| r.values[k]).collect();
        cols.push(Column::new(name.as_str().into(), v));
    }
    DataFrame::new(drawn.len(), cols)
}
