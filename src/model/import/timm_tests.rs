//! Tests of the import against timm itself: the fixtures of `src/model/fixtures/timm/` were
//! written by `benches/peers/timm_fixtures.py` from `timm.create_model(...)` (timm's modules,
//! names and forward pass), with the features timm computed for a fixed input, and the
//! state-dict key / shape lists of timm's full-size variants.
use super::*;
use crate::model::Model;
use crate::spec::ModelConfig;
use candle_core::{DType, Device};
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/model/fixtures/timm")
}

fn reference() -> Value {
    let text = std::fs::read_to_string(dir().join("reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The gzbench `model:` section the fixture names (a JSON object in YAML's schema).
fn model_config(v: &Value) -> ModelConfig {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

/// Imports timm's `net` into the gzbench model its fixture names and returns the report, the
/// largest absolute difference from timm's features and the largest absolute feature.
fn import_and_compare(net: &str) -> (ImportReport, f32, f32) {
    let r = &reference()["models"][net];
    let cfg = model_config(&r["model"]);
    let refs =
        candle_core::safetensors::load(dir().join("reference.safetensors"), &Device::Cpu).unwrap();
    let x = &refs[r["input"].as_str().unwrap()];
    let want = &refs[r["features"].as_str().unwrap()];
    let (_, c, h, _) = x.dims4().unwrap();
    let params = Params::new(11);
    let model = Model::build(&cfg, c, h, &params, &Device::Cpu).unwrap();
    let file = dir().join(r["file"].as_str().unwrap());
    let report = params.import_encoder(&file, "backbone.", "").unwrap();
    // Every backbone parameter came from the file, values cast to f32 exactly.
    assert_eq!(
        report.loaded,
        params.names_with_prefix("backbone."),
        "{net}"
    );
    assert!(
        report.reshaped.is_empty() || net.starts_with("convnext"),
        "{net}"
    );
    let stored = candle_core::safetensors::load(&file, &Device::Cpu).unwrap();
    for name in &report.loaded {
        let key = &name["backbone.".len()..];
        let got = flat(params.var(name).unwrap().as_tensor());
        assert_eq!(got, flat(&stored[key]), "{net}: {key}");
    }
    // What is left over is BatchNorm counters (num_classes=0: no classifier).
    assert!(
        report
            .ignored
            .iter()
            .all(|k| k.ends_with("num_batches_tracked")),
        "{net}: {:?}",
        report.ignored
    );
    let got = model.features(x, false).unwrap();
    assert_eq!(got.dims(), want.dims(), "{net}");
    let (got, want) = (flat(&got), flat(want));
    let diff = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    let scale = want.iter().map(|b| b.abs()).fold(0.0, f32::max);
    eprintln!("{report}\n{net}: features max abs error {diff:e} (max |feature| {scale})");
    (report, diff, scale)
}

#[test]
fn timm_resnet18_imports_into_the_imagenet_stem_and_matches_timm() {
    let (report, diff, scale) = import_and_compare("resnet18");
    assert!(diff <= 1e-4 && scale > 0.5, "{diff} {scale}");
    // conv1 + 16 block convs + 3 downsample convs, 20 BatchNorms x 4
    assert_eq!(report.loaded.len(), 20 + 20 * 4);
    assert_eq!(report.ignored.len(), 20);
}

#[test]
fn timm_convnext_nano_imports_and_matches_timm() {
    let (report, diff, scale) = import_and_compare("convnext_nano");
    assert!(diff <= 1e-4 && scale > 0.5, "{diff} {scale}");
    // conv_mlp: fc1 and fc2 of every block (14) are 1x1 conv kernels in the file.
    assert_eq!(report.reshaped.len(), 2 * 14);
    assert!(report.ignored.is_empty());
}

#[test]
fn timm_efficientnet_b0_imports_and_matches_timm() {
    let file = dir().join("efficientnet_b0.safetensors");
    let stored = candle_core::safetensors::load(&file, &Device::Cpu).unwrap();
    assert_eq!(stored["conv_head.weight"].dtype(), DType::F16);
    let (report, diff, scale) = import_and_compare("efficientnet_b0");
    assert!(diff <= 1e-4 && scale > 0.5, "{diff} {scale}");
    // B0: 16 blocks; 49 BatchNorms (stem, head, 2 per separable block, 3 per inverted residual)
    assert_eq!(report.ignored.len(), 2 + 2 + 15 * 3);
    assert_eq!(report.loaded.len(), stored.len() - report.ignored.len());
}

/// Every key and shape of `state` (a timm state dict, with counters) against the parameters
/// of `cfg`: (file keys no parameter takes, parameters the file lacks or has in another
/// shape).
fn compare(
    cfg: &ModelConfig,
    state: &serde_json::Map<String, Value>,
) -> (Vec<String>, Vec<String>) {
    let params = Params::new(0);
    Model::build(cfg, 3, 64, &params, &Device::Cpu).unwrap();
    let mut bad = Vec::new();
    let mut used = BTreeSet::new();
    for name in params.names_with_prefix("backbone.") {
        let key = &name["backbone.".len()..];
        let dims = params.var(&name).unwrap().dims().to_vec();
        let shape: Option<Vec<usize>> = state.get(key).map(|s| {
            s.as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect()
        });
        match shape {
            Some(s) if squeeze_trailing(&s) == squeeze_trailing(&dims) => {
                used.insert(key.to_string());
            }
            Some(s) => bad.push(format!("{key}: file {s:?}, model {dims:?}")),
            None => bad.push(format!("{key}: missing")),
        }
    }
    let unused = state
        .keys()
        .filter(|k| !used.contains(*k) && !is_ignored_key(k))
        .cloned()
        .collect();
    (unused, bad)
}

/// timm's full-size variants behind Zoobot's encoders: each `model:` section the manifest names
/// has exactly timm's keys and shapes (so the real weights load); the variants marked as not
/// loading differ in keys from gzbench's nearest backbone.
#[test]
fn full_size_timm_variants_match_gzbench_layouts() {
    let r = reference();
    let manifests = r["manifests"].as_object().unwrap();
    let mut checked = Vec::new();
    for (net, m) in manifests {
        let state = m["state"].as_object().unwrap();
        if m["model"].is_null() {
            // resnet50: Bottleneck blocks (conv3); efficientnetv2_s: fused-MBConv stages.
            let nearest = if net.starts_with("resnet") {
                r#"{ "backbone": "resnet", "stem": "imagenet", "depths": [3, 4, 6, 3] }"#
            } else {
                r#"{ "backbone": "efficientnet" }"#
            };
            let cfg: ModelConfig = serde_json::from_str(nearest).unwrap();
            let (unused, bad) = compare(&cfg, state);
            assert!(!unused.is_empty() && !bad.is_empty(), "{net} would load");
            checked.push(format!("{net}: no ({} keys unused)", unused.len()));
            continue;
        }
        let cfg = model_config(&m["model"]);
        let (unused, bad) = compare(&cfg, state);
        assert!(
            unused.is_empty() && bad.is_empty(),
            "{net}: unused {unused:?}, bad {bad:?}"
        );
        checked.push(format!("{net}: yes"));
    }
    eprintln!("{}", checked.join("\n"));
    let loads = checked.iter().filter(|c| c.ends_with(": yes")).count();
    assert_eq!((checked.len(), loads), (13, 11), "{checked:?}");
}

/// A timm ResNet into the small stem fails with a hint to use the ImageNet stem.
#[test]
fn a_timm_resnet_in_the_small_stem_gets_the_stem_hint() {
    let r = &reference()["models"]["resnet18"];
    let cfg = ModelConfig {
        stem: crate::spec::Stem::Small,
        ..model_config(&r["model"])
    };
    let params = Params::new(0);
    Model::build(&cfg, 3, 64, &params, &Device::Cpu).unwrap();
    let file = dir().join("resnet18.safetensors");
    let msg = params
        .import_encoder(&file, "backbone.", "")
        .unwrap_err()
        .to_string();
    for part in [
        "does not match the resnet backbone: 1 mis-shaped (conv1.weight: file [64, 3, 7, 7], \
         model [64, 3, 3, 3])",
        "set `model.stem: imagenet`",
    ] {
        assert!(msg.contains(part), "`{part}` not in: {msg}");
    }
}
