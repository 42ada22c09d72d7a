//! Tests of the parent module.
use super::*;
use crate::model::Model;
use crate::spec::{Backbone, ModelConfig};
use candle_core::{DType, Device};
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/model/fixtures")
}

fn reference(net: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join("timm_reference.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v[net].clone()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

/// The gzbench config of a fixture (explicit depths and dims).
fn config(backbone: Backbone, r: &Value) -> ModelConfig {
    ModelConfig {
        backbone,
        depths: Some(usizes(&r["depths"])),
        dims: Some(usizes(&r["dims"])),
        ..Default::default()
    }
}

fn sum(t: &Tensor) -> f64 {
    t.to_dtype(DType::F64)
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// `torch.linspace(-1, 1, N*C*H*W).reshape(shape)`.
fn linspace(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|i| (-1.0 + 2.0 * i as f64 / (n - 1) as f64) as f32)
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

/// Imports the fixture of `net`, checks every loaded value against the file (sums from the
/// JSON reference, one tensor elementwise) and the features against PyTorch's.
fn import_matches_torch(net: &str, backbone: Backbone, exact: &str) -> ImportReport {
    let r = reference(net);
    let shape = usizes(&r["input_shape"]);
    let params = Params::new(5);
    let model = Model::build(
        &config(backbone, &r),
        shape[1],
        shape[2],
        &params,
        &Device::Cpu,
    )
    .unwrap();
    let file = fixtures().join(r["file"].as_str().unwrap());
    let report = params.import_encoder(&file, "backbone.", "").unwrap();
    assert_eq!(report.loaded, params.names_with_prefix("backbone."));
    // Every loaded value is the file's.
    let sums = r["sums"].as_object().unwrap();
    for name in &report.loaded {
        let want = sums[&name["backbone.".len()..]].as_f64().unwrap();
        let got = sum(params.var(name).unwrap().as_tensor());
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{name}: {got} vs {want}"
        );
    }
    let stored = candle_core::safetensors::load(&file, &Device::Cpu).unwrap();
    let v = params.var(&format!("backbone.{exact}")).unwrap();
    assert_eq!(flat(v.as_tensor()), flat(&stored[exact]), "{exact}");
    assert_ne!(params.var("head.weight").map(|v| v.dims().to_vec()), None);
    // The forward pass with these weights is PyTorch's.
    let feats = model.features(&linspace(&shape), false).unwrap();
    let want: Vec<f32> = r["features"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter())
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    let got = flat(&feats);
    assert_eq!(got.len(), want.len());
    let diff = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    let scale = want.iter().map(|b| b.abs()).fold(0.0, f32::max);
    assert!(
        diff / scale <= 1e-4,
        "{net}: relative error {}",
        diff / scale
    );
    eprintln!("{report}; feature relative error {:e}", diff / scale);
    report
}

#[test]
fn timm_resnet_fixture_imports_and_matches_torch() {
    let report = import_matches_torch("resnet", Backbone::Resnet, "layer2.0.downsample.0.weight");
    assert!(report.reshaped.is_empty());
    assert!(report.ignored.contains(&"fc.weight".to_string()));
    assert!(report.ignored.contains(&"fc.bias".to_string()));
    assert!(
        report
            .ignored
            .contains(&"bn1.num_batches_tracked".to_string())
    );
    // 2 head tensors + one counter per BatchNorm (20).
    assert_eq!(report.ignored.len(), 2 + 20);
    assert!(
        report
            .to_string()
            .contains("ignored 22 (bn1.num_batches_tracked")
    );
}

#[test]
fn timm_convnext_fixture_imports_and_matches_torch() {
    let report = import_matches_torch(
        "convnext",
        Backbone::Convnext,
        "stages.1.blocks.0.mlp.fc1.weight",
    );
    assert_eq!(report.ignored, vec!["head.fc.bias", "head.fc.weight"]);
    // conv_mlp: fc1 and fc2 of every block (7 blocks) are 1x1 conv kernels in the file.
    assert_eq!(report.reshaped.len(), 2 * 7);
    assert!(
        report
            .loaded
            .contains(&"backbone.head.norm.weight".to_string())
    );
}

#[test]
fn wrong_width_lists_every_mis_shaped_tensor_and_changes_nothing() {
    let r = reference("resnet");
    let cfg = ModelConfig {
        dims: Some(vec![4, 8, 16, 32]),
        ..config(Backbone::Resnet, &r)
    };
    let params = Params::new(5);
    Model::build(&cfg, 3, 16, &params, &Device::Cpu).unwrap();
    let before = params.tensors();
    let file = fixtures().join("timm_resnet.safetensors");
    let err = params.import_encoder(&file, "backbone.", "").unwrap_err();
    let ParamsError::Mismatch(m) = &err else {
        panic!("{err}")
    };
    let (missing, unexpected, misshaped) = (&m.missing, &m.unexpected, &m.misshaped);
    assert!(missing.is_empty() && unexpected.is_empty());
    // 20 convs + 20 BatchNorms x 4 tensors, sorted by name.
    assert_eq!(misshaped.len(), 100);
    assert_eq!(misshaped[0], ("bn1.bias".to_string(), vec![2], vec![4]));
    let msg = err.to_string();
    for part in [
        "timm_resnet.safetensors: does not match the resnet backbone: 100 mis-shaped (",
        "bn1.bias: file [2], model [4]",
        "conv1.weight: file [2, 3, 3, 3], model [4, 3, 3, 3]",
        "... and 92 more)",
        "expected timm resnet names under prefix \"\"",
        "check that the model configuration (depths, dims, width_multiplier) matches",
    ] {
        assert!(msg.contains(part), "`{part}` not in: {msg}");
    }
    assert!(
        !msg.contains("missing") && !msg.contains("unexpected"),
        "{msg}"
    );
    for (name, t) in params.tensors() {
        assert_eq!(flat(&t), flat(&before[&name]), "{name} changed");
    }
}

#[test]
fn renamed_key_lists_missing_and_unexpected() {
    let r = reference("resnet");
    let params = Params::new(5);
    Model::build(&config(Backbone::Resnet, &r), 3, 16, &params, &Device::Cpu).unwrap();
    let mut t =
        candle_core::safetensors::load(fixtures().join("timm_resnet.safetensors"), &Device::Cpu)
            .unwrap();
    let w = t.remove("layer1.0.conv1.weight").unwrap();
    t.insert("layer1.0.conv_1.weight".into(), w);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("renamed.safetensors");
    candle_core::safetensors::save(&t, &file).unwrap();
    let msg = params
        .import_encoder(&file, "backbone.", "")
        .unwrap_err()
        .to_string();
    for part in [
        "renamed.safetensors: does not match the resnet backbone: ",
        "1 missing (layer1.0.conv1.weight [2, 2, 3, 3])",
        "1 unexpected (layer1.0.conv_1.weight [2, 2, 3, 3])",
        "expected timm resnet names under prefix \"\"",
    ] {
        assert!(msg.contains(part), "`{part}` not in: {msg}");
    }
    // Head keys and counters are not unexpected.
    assert!(
        !msg.contains("fc.weight") && !msg.contains("num_batches"),
        "{msg}"
    );
    assert!(!msg.contains("mis-shaped"), "{msg}");
}

#[test]
fn prefixed_names_get_a_hint_and_load_with_the_file_prefix() {
    let params = Params::new(5);
    let r = reference("convnext");
    Model::build(
        &config(Backbone::Convnext, &r),
        3,
        32,
        &params,
        &Device::Cpu,
    )
    .unwrap();
    let t =
        candle_core::safetensors::load(fixtures().join("timm_convnext.safetensors"), &Device::Cpu)
            .unwrap();
    let t: HashMap<String, Tensor> = t
        .into_iter()
        .map(|(k, v)| (format!("encoder.{k}"), v))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lightning.safetensors");
    candle_core::safetensors::save(&t, &file).unwrap();
    let msg = params
        .import_encoder(&file, "backbone.", "")
        .unwrap_err()
        .to_string();
    for part in [
        "does not match the convnext backbone: 81 missing (head.norm.bias [32], ",
        "83 unexpected (encoder.head.fc.bias [3], ",
        "expected timm convnext names under prefix \"\"",
        "carry the prefix \"encoder.\"",
        "--strip-prefix encoder.",
    ] {
        assert!(msg.contains(part), "`{part}` not in: {msg}");
    }
    let report = params
        .import_encoder(&file, "backbone.", "encoder.")
        .unwrap();
    assert_eq!(
        report.ignored,
        vec!["encoder.head.fc.bias", "encoder.head.fc.weight"]
    );
    // The unchecked loader takes the same file and ignores the extra tensors.
    params
        .load_prefixed(&file, "backbone.", "encoder.")
        .unwrap();
}

#[test]
fn missing_file_is_a_clear_read_error() {
    let params = Params::new(5);
    let r = reference("resnet");
    Model::build(&config(Backbone::Resnet, &r), 3, 16, &params, &Device::Cpu).unwrap();
    let file = fixtures().join("no_such_encoder.safetensors");
    let err = params.import_encoder(&file, "backbone.", "").unwrap_err();
    assert!(matches!(err, ParamsError::Read { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("cannot read weights file ") && msg.contains("no_such_encoder.safetensors"),
        "{msg}"
    );
    let msg = params
        .import_encoder(&file, "encoder.", "")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("no parameter starts with `encoder.`"), "{msg}");
}

#[test]
fn classifier_keys_and_counters_are_ignorable() {
    for k in [
        "fc.weight",
        "head.fc.bias",
        "head.weight",
        "classifier.bias",
        "bn1.num_batches_tracked",
    ] {
        assert!(is_ignored_key(k), "{k}");
    }
    for k in [
        "head.norm.weight",
        "stem.0.weight",
        "fc1.weight",
        "layer1.0.conv1.weight",
    ] {
        assert!(!is_ignored_key(k), "{k}");
    }
}
