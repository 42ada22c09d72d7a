//! `gzbench embed`: arguments and printing only; `repr::embed` does the work (which images,
//! which weights, features, PCA, the Parquet table).

use super::*;
use crate::repr::embed::{Images, Job, Weights, embed_catalogue};
use crate::spec::{ModelConfig, PretrainConfig, PretrainSource};

/// Embed a catalogue with a backbone and write `id, embedding` as Parquet (what `gzbench
/// similar` reads).
///
/// Images: `--synthetic N` (galaxies 0..N of the synthetic universe of `--seed`, rendered as
/// the `synthetic` data source renders them; id = galaxy id) or `--catalog FILE` (CSV or
/// Parquet; `--id-column`, and `--file-column` or `--file-pattern '{id}.png'`, images relative
/// to `--images` or the catalogue's folder). Both are resized to `--size` pixels.
///
/// Weights: `--pretrain none` (the seeded initialisation, `--model-seed`), `astro` or
/// `terrestrial` (pretrained by the harness on `--pretrain-n` images, cached under
/// `--results`/pretrained as runs cache theirs), `--weights encoder.safetensors` (a timm-named
/// encoder, keys under `--weights-prefix`), or `--checkpoint RESULTS/runs/<id>` (a run that kept
/// its checkpoint, `train.checkpoint: true`; its model and image size are the run's).
///
/// Example: gzbench embed --synthetic 1000 --size 64 --backbone resnet --width-multiplier 0.25
/// --pretrain astro --pca 16 --out embeddings.parquet
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub(super) struct EmbedArgs {
    /// Embed galaxies 0..N of the synthetic universe.
    #[arg(long, value_name = "N", conflicts_with = "catalog")]
    synthetic: Option<usize>,
    /// Seed of the synthetic universe.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Survey the synthetic cutouts imitate.
    #[arg(long, value_enum, value_parser = names::<crate::spec::Survey>(), default_value_t = crate::spec::Survey::DecalsLike)]
    survey: crate::spec::Survey,
    /// Embed the cutouts of this catalogue (.csv or .parquet).
    #[arg(long, value_name = "FILE")]
    catalog: Option<PathBuf>,
    /// Catalogue column with a unique galaxy id.
    #[arg(long, default_value = "id")]
    id_column: String,
    /// Catalogue column with each image's file name.
    #[arg(long)]
    file_column: Option<String>,
    /// Image file name built from the id, e.g. `{id}.png`.
    #[arg(long)]
    file_pattern: Option<String>,
    /// Folder the image names are relative to (default: the catalogue's folder).
    #[arg(long)]
    images: Option<PathBuf>,
    /// Keep the central C x C pixels before resizing.
    #[arg(long, value_name = "C")]
    centre_crop: Option<u32>,
    /// Image side in pixels (default 64; a checkpoint's run fixes it).
    #[arg(long)]
    size: Option<usize>,
    /// Backbone.
    #[arg(long, value_enum, value_parser = names::<crate::spec::Backbone>(), default_value_t = crate::spec::Backbone::CnnSmall)]
    backbone: crate::spec::Backbone,
    /// Channels per stage (cnn-small).
    #[arg(long, value_delimiter = ',')]
    widths: Option<Vec<usize>>,
    /// Scales the standard widths of resnet, convnext, efficientnet and dieleman.
    #[arg(long)]
    width_multiplier: Option<f64>,
    /// none (seeded initialisation), astro or terrestrial (pretrained by the harness).
    #[arg(long, default_value = "none", conflicts_with_all = ["weights", "checkpoint"])]
    pretrain: String,
    /// Harness pretraining: images.
    #[arg(long)]
    pretrain_n: Option<usize>,
    /// Harness pretraining: epochs.
    #[arg(long)]
    pretrain_epochs: Option<usize>,
    /// Seed of the initialisation and (plus the pretraining seed 0) of the pretraining.
    #[arg(long, default_value_t = 0)]
    model_seed: u64,
    /// A pretrained encoder (.safetensors, timm names).
    #[arg(long, conflicts_with = "checkpoint")]
    weights: Option<PathBuf>,
    /// Key prefix of the encoder's tensors (e.g. `encoder.`).
    #[arg(long, default_value = "")]
    weights_prefix: String,
    /// A run directory of the store whose run kept a checkpoint.
    #[arg(long, value_name = "RUN_DIR")]
    checkpoint: Option<PathBuf>,
    /// Reduce the embeddings to K principal components.
    #[arg(long, value_name = "K")]
    pca: Option<usize>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// The Parquet file to write.
    #[arg(long)]
    out: PathBuf,
    /// Run store (cache of harness-pretrained backbones).
    #[arg(long, default_value = "results")]
    results: PathBuf,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
}

/// The job the arguments describe.
fn job(a: &EmbedArgs) -> Result<Job<'_>, CliError> {
    let ckpt = match &a.checkpoint {
        Some(dir) => Some(
            crate::repr::embed::checkpoint_spec(dir)
                .map_err(bad_input)?
                .0,
        ),
        None => None,
    };
    let size = match (&ckpt, a.size) {
        (Some(s), None) => s.data.image_size,
        (_, Some(s)) => s,
        (None, None) => 64,
    };
    let survey = a.survey;
    let images = match (a.synthetic, &a.catalog) {
        (Some(n), None) => Images::Synthetic {
            n,
            seed: a.seed,
            size,
            survey,
        },
        (None, Some(file)) => {
            if a.file_column.is_none() == a.file_pattern.is_none() {
                return Err(bad_input(
                    "--catalog needs exactly one of --file-column and --file-pattern",
                ));
            }
            Images::Catalog {
                file: file.clone(),
                images: a.images.clone(),
                id_column: a.id_column.clone(),
                file_column: a.file_column.clone(),
                file_pattern: a.file_pattern.clone(),
                centre_crop: a.centre_crop,
                size,
            }
        }
        _ => return Err(bad_input("expected --synthetic N or --catalog FILE")),
    };
    let mut model = ModelConfig {
        backbone: a.backbone,
        ..Default::default()
    };
    if let Some(w) = &a.widths {
        model.widths = w.clone();
    }
    if let Some(m) = a.width_multiplier {
        model.width_multiplier = m;
    }
    let weights = match (&a.checkpoint, &a.weights) {
        (Some(dir), _) => Weights::Checkpoint(dir.clone()),
        (None, Some(file)) => Weights::Pretrain(PretrainConfig {
            source: PretrainSource::File,
            weights: Some(file.clone()),
            file_prefix: a.weights_prefix.clone(),
            ..Default::default()
        }),
        (None, None) => {
            let source = match a.pretrain.as_str() {
                "none" => PretrainSource::None,
                "astro" => PretrainSource::Astro,
                "terrestrial" => PretrainSource::Terrestrial,
                other => {
                    return Err(bad_input(format!(
                        "--pretrain {other}: expected none, astro or terrestrial (or \
                         --weights FILE)"
                    )));
                }
            };
            let d = PretrainConfig::default();
            Weights::Pretrain(PretrainConfig {
                source,
                n: a.pretrain_n.unwrap_or(d.n),
                epochs: a.pretrain_epochs.unwrap_or(d.epochs),
                ..d
            })
        }
    };
    Ok(Job {
        images,
        model,
        weights,
        seed: a.model_seed,
        batch: a.batch,
        pca: a.pca,
        out: a.out.clone(),
        cache: Some(&a.results),
    })
}

pub(super) fn embed(a: EmbedArgs) -> Result<(), CliError> {
    let device = engine::device(a.device).map_err(bad_input)?;
    let job = job(&a)?;
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} images, {per_sec}, eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let summary = embed_catalogue(
        &job,
        &device,
        &mut |stage| bar.set_message(stage.to_string()),
        &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    )
    .map_err(|e| {
        // a computation that failed is exit 1, everything else the input's fault
        let code = if matches!(e, crate::repr::embed::EmbedError::Candle(_)) {
            1
        } else {
            2
        };
        CliError {
            code,
            message: e.to_string(),
        }
    })?;
    bar.finish_and_clear();
    say!(
        "embedded {} images with {} in {:.1} s: {} features",
        summary.n,
        summary.backbone,
        started.elapsed().as_secs_f64(),
        summary.features
    );
    if let Some(r) = &summary.explained_variance_ratio {
        let shown: Vec<String> = r.iter().map(|v| format!("{v:.3}")).collect();
        say!(
            "PCA to {} components: {:.1} % of the variance ({})",
            summary.dim,
            100.0 * r.iter().sum::<f64>(),
            shown.join(", ")
        );
    }
    say!(
        "wrote {} ({} x {})",
        job.out.display(),
        summary.n,
        summary.dim
    );
    Ok(())
}
