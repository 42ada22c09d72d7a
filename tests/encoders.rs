//! End to end: an experiment arm that starts from a converted Zoobot / timm encoder
//! (`pretrain: { source: file }`). Its cpu / gpu profiles name the real converted encoder; its
//! smoke profile the committed fixture built by timm itself (`src/model/fixtures/timm/`, see
//! `benches/peers/timm_fixtures.py`), so the arm runs in the smoke profile anywhere.
use std::path::Path;

mod common;
use common::{complete_runs, gz, run, stderr, write};

/// The experiment of one encoder family: `model` the gzbench `model:` section of the real
/// encoder, `smoke_model` the overrides that fit the fixture's reduced width.
fn experiment(name: &str, model: &str, encoder: &str, fixture: &str, smoke_model: &str) -> String {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/model/fixtures/timm")
        .join(fixture);
    format!(
        "name: {name}
question: Does a converted Zoobot encoder fine-tune to find featured galaxies?
kind: train
seeds: [0]
data: {{ source: shapes, image_size: 32, train_size: 64, test_size: 64 }}
model: {model}
pretrain: {{ source: file, weights: {encoder} }}
train: {{ epochs: 1, batch_size: 8 }}
profiles:
  smoke:
    data.train_size: 8
    data.test_size: 16
    pretrain.weights: '{}'
{smoke_model}",
        fixture.display()
    )
}

#[test]
fn a_file_arm_runs_in_the_smoke_profile_from_the_timm_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "zoobot_resnet18",
            "{ backbone: resnet, stem: imagenet }",
            "zoobot-encoder-resnet18.safetensors",
            "resnet18.safetensors",
            "    model.dims: [64, 16, 32, 64]\n",
        ),
        (
            "zoobot_efficientnet_b0",
            "{ backbone: efficientnet }",
            "zoobot-encoder-efficientnet_b0.safetensors",
            "efficientnet_b0.safetensors",
            "",
        ),
    ];
    for (name, model, encoder, fixture, smoke_model) in cases {
        let text = experiment(name, model, encoder, fixture, smoke_model);
        let yaml = write(dir.path(), &format!("{name}.yaml"), &text);
        let o = gz().arg("validate").arg(&yaml).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        let results = dir.path().join(format!("res-{name}"));
        let o = run(&yaml, &results)
            .args(["--profile", "smoke"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(
            out.contains("(0 already complete, 1 computed, 0 failed)"),
            "{name}: {out}"
        );
        let runs = complete_runs(&results);
        assert_eq!(runs.len(), 1, "{name}");
        let spec = std::fs::read_to_string(runs[0].join("spec.yaml")).unwrap();
        assert!(spec.contains(fixture), "{name}: {spec}");
        // The cpu profile needs the real converted encoder, absent here: the run fails naming it.
        let o = run(&yaml, &results)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains(&format!("pretrain.weights `{encoder}`: no such file")),
            "{name}: {err}"
        );
    }
}
