//! What `gzbench embed` embeds and with which weights.
//!
//! Images ([`Images`]): the first `n` galaxies of the synthetic universe (ids `0..n` at a seed,
//! rendered exactly as the `synthetic` data source renders them: `universe::render` then the
//! display stretch; id = the galaxy id), or the cutouts of a catalogue (CSV or Parquet; the
//! column options of `data.catalog`: `id_column`, `file_column` or `file_pattern`, `images`,
//! `centre_crop`; paths relative to the current directory).
//!
//! Weights ([`Weights`]): the seeded initialisation; a backbone pretrained by the harness
//! (`astro` / `terrestrial`, cached in the run store as `train::pretrain` caches it, shared with
//! runs whose `pretrain:` section, model and image size match); a user's encoder file (`file`);
//! or a finished run's checkpoint (`<run>/checkpoint/checkpoint.safetensors`, written when the
//! run had `train.checkpoint: true`): its model section and image size come from the run's
//! `spec.yaml`, and its best weights (`best.backbone.*`, early stopping) are preferred to the
//! last epoch's.

use super::{EmbedError, embed, file_err, write_parquet};
use crate::data::Dataset;
use crate::data::catalog::{self, ImageOptions, Want};
use crate::model::{Model, Params};
use crate::repr::pca::Pca;
use crate::spec::{
    CatalogConfig, DataConfig, ModelConfig, PretrainConfig, PretrainSource, RunSpec, Survey,
};
use crate::universe::{PopulationConfig, RenderConfig, sample_population};
use candle_core::Device;
use std::path::{Path, PathBuf};

/// The images to embed.
#[derive(Debug, Clone, PartialEq)]
pub enum Images {
    /// Galaxies `0..n` of the synthetic universe of `seed`, `size` pixels, as `survey` sees them.
    Synthetic {
        n: usize,
        seed: u64,
        size: usize,
        survey: Survey,
    },
    /// A catalogue's cutouts, resized to `size` pixels.
    Catalog {
        /// The catalogue (`.csv` or `.parquet`).
        file: PathBuf,
        /// Folder the image names are relative to; `None` = the catalogue's folder.
        images: Option<PathBuf>,
        id_column: String,
        /// Column with each image's file name; or `file_pattern` (e.g. `{id}.png`).
        file_column: Option<String>,
        file_pattern: Option<String>,
        centre_crop: Option<u32>,
        size: usize,
    },
}

impl Images {
    /// Image side in pixels.
    pub fn size(&self) -> usize {
        match self {
            Images::Synthetic { size, .. } | Images::Catalog { size, .. } => *size,
        }
    }
}

/// The ids and images of `src` (3 channels, one dummy target per image).
pub fn load_images(src: &Images) -> Result<(Vec<String>, Dataset), EmbedError> {
    let (ids, images, size) = match src {
        Images::Synthetic {
            n,
            seed,
            size,
            survey,
        } => {
            if *size == 0 {
                return Err(EmbedError::Input(
                    "image size 0; expected at least 1".into(),
                ));
            }
            let pop = PopulationConfig::default();
            let cfg = RenderConfig::new(*size, crate::data::synthetic::survey(*survey));
            let galaxies = sample_population(*seed, *n, &pop);
            let ids: Vec<String> = galaxies.iter().map(|g| g.id.to_string()).collect();
            let images = crate::data::synthetic::display_images(&galaxies, &cfg, *seed);
            (ids, images, *size)
        }
        Images::Catalog {
            file,
            images,
            id_column,
            file_column,
            file_pattern,
            centre_crop,
            size,
        } => {
            let cfg: CatalogConfig = serde_json::from_value(serde_json::json!({
                "file": file.display().to_string(),
                "id_column": id_column,
                "file_column": file_column,
                "file_pattern": file_pattern,
                "centre_crop": centre_crop,
            }))
            .map_err(|e| EmbedError::Input(e.to_string()))?;
            let entries = catalog::read_catalogue(file, images.as_deref(), &cfg, Want::Nothing)?;
            catalog::check_files(file, &entries)?;
            let data = catalog::load(&entries, &ImageOptions::new(*size, &cfg))?;
            (
                entries.into_iter().map(|e| e.id).collect(),
                data.images,
                *size,
            )
        }
    };
    if ids.is_empty() {
        return Err(EmbedError::Input("no images to embed".into()));
    }
    let n = ids.len();
    let data = Dataset {
        channels: 3,
        size,
        images,
        targets: vec![0.0; n],
        target_len: 1,
    };
    Ok((ids, data))
}

/// Where the backbone's weights come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Weights {
    /// A `pretrain:` section: `none` (the seeded initialisation), `astro` / `terrestrial`
    /// (pretrained by the harness into the store's cache, seed `pretrain.seed + seed`), or
    /// `file` (the user's encoder at `weights`, keys under `file_prefix`).
    Pretrain(PretrainConfig),
    /// A run directory of the store whose run kept a checkpoint.
    Checkpoint(PathBuf),
}

/// A backbone ready to embed, and what it is (for messages and records).
pub struct Backbone {
    pub model: Model,
    /// The image side its weights were made for, when they fix one (a run's checkpoint).
    pub size: Option<usize>,
    pub about: String,
}

/// The model section and image size of the run in `run_dir` (its `spec.yaml`), and its
/// checkpoint file.
pub fn checkpoint_spec(run_dir: &Path) -> Result<(RunSpec, PathBuf), EmbedError> {
    let spec_path = run_dir.join("spec.yaml");
    let text = std::fs::read_to_string(&spec_path).map_err(|e| {
        file_err(
            &spec_path,
            format!("{e}; expected a run directory of the store"),
        )
    })?;
    let spec: RunSpec = serde_yaml::from_str(&text).map_err(|e| file_err(&spec_path, e))?;
    let ck = run_dir
        .join(crate::store::CHECKPOINT)
        .join("checkpoint.safetensors");
    if !ck.is_file() {
        return Err(file_err(
            &ck,
            "no checkpoint: the store keeps a run's weights only when it ran with \
             `train.checkpoint: true`",
        ));
    }
    Ok((spec, ck))
}

/// Build the backbone of `m` (for `size`-pixel images of `survey`) with the weights `w`; `seed`
/// draws the initialisation (and, offset by `pretrain.seed`, the pretraining); `cache` is the run
/// store for harness pretraining. With a checkpoint, `m` and `size` are the run's and the
/// arguments are ignored.
pub fn load_model(
    m: &ModelConfig,
    w: &Weights,
    seed: u64,
    size: usize,
    survey: Survey,
    cache: Option<&Path>,
    device: &Device,
) -> Result<Backbone, EmbedError> {
    let other = |e: anyhow::Error| EmbedError::Other(format!("{e:#}"));
    match w {
        Weights::Pretrain(p) => {
            let params = Params::new(seed);
            let model = Model::build(m, 3, size, &params, device)?;
            let data = DataConfig {
                image_size: size,
                survey,
                ..Default::default()
            };
            let p = crate::train::pretrain::seeded(p, seed);
            crate::train::pretrain::load_backbone(&p, m, &data, cache, &params, device)
                .map_err(other)?;
            let about = match p.source {
                PretrainSource::None => format!("seeded initialisation (seed {seed})"),
                PretrainSource::File => format!(
                    "encoder {}",
                    p.weights.as_deref().unwrap_or(Path::new("")).display()
                ),
                s => format!(
                    "pretrained {} (seed {}, {} images)",
                    crate::spec::yaml_name(&s),
                    p.seed,
                    p.n
                ),
            };
            Ok(Backbone {
                model,
                size: None,
                about,
            })
        }
        Weights::Checkpoint(dir) => {
            let (spec, ck) = checkpoint_spec(dir)?;
            let size = spec.data.image_size;
            let params = Params::new(spec.seed);
            let model = Model::build(&spec.model, 3, size, &params, device)?;
            let bytes = std::fs::read(&ck).map_err(|e| file_err(&ck, e))?;
            let (_, meta) =
                safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| file_err(&ck, e))?;
            let best = meta
                .tensors()
                .keys()
                .any(|k| k.starts_with("best.backbone."));
            let prefix = if best { "best.backbone." } else { "backbone." };
            params
                .load_prefixed(&ck, "backbone.", prefix)
                .map_err(|e| EmbedError::Other(e.to_string()))?;
            let which = if best { "best" } else { "last-epoch" };
            Ok(Backbone {
                model,
                size: Some(size),
                about: format!("run {} checkpoint ({which} weights)", dir.display()),
            })
        }
    }
}

/// A whole `gzbench embed`: images, backbone, features, optional PCA, the Parquet table.
pub struct Job<'a> {
    pub images: Images,
    pub model: ModelConfig,
    pub weights: Weights,
    /// Initialisation / pretraining seed.
    pub seed: u64,
    pub batch: usize,
    /// Reduce to this many principal components.
    pub pca: Option<usize>,
    pub out: PathBuf,
    /// The run store (harness pretraining cache).
    pub cache: Option<&'a Path>,
}

/// What [`embed_catalogue`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub n: usize,
    /// Feature length of the backbone.
    pub features: usize,
    /// Length of the written embeddings (the PCA's `k`, or `features`).
    pub dim: usize,
    pub backbone: String,
    /// Share of the variance of each kept principal component.
    pub explained_variance_ratio: Option<Vec<f64>>,
}

/// Run `job`: `on_stage(message)` before each stage, `progress(done, total)` while embedding.
pub fn embed_catalogue(
    job: &Job,
    device: &Device,
    on_stage: &mut dyn FnMut(&str),
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Summary, EmbedError> {
    if job.batch == 0 {
        return Err(EmbedError::Input(
            "batch size 0; expected at least 1".into(),
        ));
    }
    let survey = match job.images {
        Images::Synthetic { survey, .. } => survey,
        Images::Catalog { .. } => Survey::default(),
    };
    on_stage("loading the backbone");
    let b = load_model(
        &job.model,
        &job.weights,
        job.seed,
        job.images.size(),
        survey,
        job.cache,
        device,
    )?;
    if let Some(s) = b.size.filter(|&s| s != job.images.size()) {
        return Err(EmbedError::Input(format!(
            "{} was trained on {s} px images, these are {} px; expected --size {s}",
            b.about,
            job.images.size()
        )));
    }
    on_stage("reading the images");
    let (ids, data) = load_images(&job.images)?;
    on_stage("embedding");
    let rows = embed(&b.model, &data, job.batch, device, progress)?;
    let features = rows.first().map_or(0, Vec::len);
    let (rows, ratio) = match job.pca {
        Some(k) => {
            on_stage("fitting the PCA");
            let p = Pca::fit(&rows, k)?;
            (p.transform(&rows)?, Some(p.explained_variance_ratio()))
        }
        None => (rows, None),
    };
    on_stage("writing");
    write_parquet(&job.out, &ids, &rows)?;
    Ok(Summary {
        n: ids.len(),
        features,
        dim: rows.first().map_or(0, Vec::len),
        backbone: b.about,
        explained_variance_ratio: ratio,
    })
}
