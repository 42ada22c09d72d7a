//! Sweep expansion: grids, ids, and the errors of bad sweep values and sections.

use crate::spec::{expand, parse_str, run_id};

const T: &str = "name: g\nkind: train\nseeds: [0, 1, 2]\nsweep:\n  data.train_size: [10, 20]\n  model.backbone: [linear, cnn-small]\n";

#[test]
fn the_device_kind_enters_the_id_and_the_cpu_keeps_the_old_one() {
    use crate::spec::{DeviceKind, on_device};
    let e = parse_str(T, "g.yaml").unwrap();
    let runs = expand(&e, T, "g.yaml").unwrap();
    let cpu = on_device(runs.clone(), DeviceKind::Cpu);
    let cuda = on_device(runs.clone(), DeviceKind::Cuda);
    for ((r, c), g) in runs.iter().zip(&cpu).zip(&cuda) {
        assert_eq!(run_id(r), run_id(c));
        assert_ne!(run_id(c), run_id(g));
        // the CPU is not written into the spec: ids recorded before the field stay valid
        let yaml = serde_yaml::to_string(c).unwrap();
        assert!(!yaml.contains("device"), "{yaml}");
        let g_yaml = serde_yaml::to_string(g).unwrap();
        assert!(g_yaml.contains("device: cuda"), "{g_yaml}");
        let back: super::RunSpec = serde_yaml::from_str(&g_yaml).unwrap();
        assert_eq!(run_id(&back), run_id(g));
    }
}

#[test]
fn grid_is_product_times_seeds_with_unique_stable_ids() {
    let e = parse_str(T, "g.yaml").unwrap();
    let runs = expand(&e, T, "g.yaml").unwrap();
    assert_eq!(runs.len(), 12);
    let ids: std::collections::BTreeSet<_> = runs.iter().map(run_id).collect();
    assert_eq!(ids.len(), 12);
    let again = expand(&e, T, "g.yaml").unwrap();
    assert_eq!(run_id(&runs[5]), run_id(&again[5]));
    assert_eq!(runs[0].data.train_size, 10);
    assert_eq!(runs[3].model.backbone, crate::spec::Backbone::CnnSmall);
}

#[test]
fn bad_sweep_value_names_key() {
    let t = T.replace("[linear, cnn-small]", "[linear, resnet-9000]");
    let e = parse_str(&t, "g.yaml").unwrap_err().to_string();
    assert!(
        e.starts_with("g.yaml:6:3: sweep `model.backbone` = resnet-9000"),
        "{e}"
    );
    assert!(e.contains("unknown name `resnet-9000`"), "{e}");
}

#[test]
fn the_rare_section_is_checked_and_absent_sections_keep_ids() {
    let base = "name: r\nkind: train\ndata:\n  source: synthetic\ntask:\n  target: ring\n";
    let plain = parse_str(base, "r.yaml").unwrap();
    let plain = expand(&plain, base, "r.yaml").unwrap();
    assert!(plain[0].rare.is_none());
    let t = format!("{base}rare:\n  extra: 5\nsweep:\n  rare.source: [real-only, generated]\n");
    let e = parse_str(&t, "r.yaml").unwrap();
    let runs = expand(&e, &t, "r.yaml").unwrap();
    let sources: Vec<_> = runs
        .iter()
        .map(|r| r.rare.as_ref().unwrap().source)
        .collect();
    assert_eq!(
        sources,
        [
            crate::spec::ExtraSource::RealOnly,
            crate::spec::ExtraSource::Generated
        ]
    );
    assert_ne!(run_id(&runs[0]), run_id(&plain[0]));
    let bad = t.replace("extra: 5", "extra: 5\n  diffusion:\n    sample_steps: 5000");
    let err = parse_str(&bad, "r.yaml").unwrap_err().to_string();
    assert!(
        err.starts_with("r.yaml:10:5: rare.diffusion.sample_steps = 5000"),
        "{err}"
    );
    let shapes = t
        .replace("source: synthetic", "source: shapes")
        .replace("ring", "elongated");
    let err = parse_str(&shapes, "r.yaml").unwrap_err().to_string();
    assert!(
        err.contains("rare: needs kind `train` on a binary target"),
        "{err}"
    );
}

#[test]
fn zero_size_rejected() {
    let t = T.replace("[10, 20]", "[0, 20]");
    let e = parse_str(&t, "g.yaml").unwrap_err().to_string();
    assert!(e.contains("train_size must be at least 2"), "{e}");
}

#[test]
fn invariance_sweeps_and_unsupported_views() {
    let t = T.replace(
        "model.backbone: [linear, cnn-small]",
        "model.invariance: [none, augment, multiview, cyclic-pool]",
    );
    let e = parse_str(&t, "g.yaml").unwrap();
    let runs = expand(&e, &t, "g.yaml").unwrap();
    assert_eq!(runs.len(), 24);
    let cyclic = runs
        .iter()
        .filter(|r| r.model.invariance == crate::spec::Invariance::CyclicPool)
        .count();
    assert_eq!(cyclic, 6);
    let t = format!("{T}model: {{ invariance: multiview, views: 16 }}\n");
    assert_eq!(parse_str(&t, "g.yaml").unwrap().model.views, 16);
    let t = format!("{T}model: {{ invariance: multiview, views: 12 }}\n");
    let e = parse_str(&t, "g.yaml").unwrap_err().to_string();
    assert!(e.contains("model.views must be 8"), "{e}");
    assert!(e.contains("16 (Dieleman's parts)"), "{e}");
}

#[test]
fn the_imagenet_stem_is_resnet_only_and_the_default_keeps_ids() {
    let base = "name: g\nkind: train\ndata: { source: shapes }\n";
    let id = |t: &str| {
        let e = parse_str(t, "g.yaml").unwrap();
        run_id(&expand(&e, t, "g.yaml").unwrap()[0])
    };
    let plain = format!("{base}model: {{ backbone: resnet }}\n");
    let small = format!("{base}model: {{ backbone: resnet, stem: small }}\n");
    let imagenet = format!("{base}model: {{ backbone: resnet, stem: imagenet }}\n");
    assert_eq!(id(&plain), id(&small));
    assert_ne!(id(&plain), id(&imagenet));
    let t = format!("{base}model: {{ backbone: convnext, stem: imagenet }}\n");
    let e = parse_str(&t, "g.yaml").unwrap_err().to_string();
    assert!(
        e.contains("model.stem `imagenet` applies to backbone `resnet` only"),
        "{e}"
    );
    let t = format!("{base}model: {{ backbone: resnet, stem: deep }}\n");
    let e = parse_str(&t, "g.yaml").unwrap_err().to_string();
    assert!(e.contains("deep") && e.contains("imagenet"), "{e}");
}
