//! `gzbench generate` end to end on a tiny untrained diffusion model saved with
//! `diffusion::saved::save`: the catalogue and cutouts in `synth`'s layout, the same bytes for the
//! same seed (and any `--batch`), `--set` and `--class`, and exit 2 on bad input.

use gzbench::diffusion::saved::{self, ConditionRow, SavedModel};
use gzbench::diffusion::{Diffusion, DiffusionSpec, unet::UNetSpec};
use std::path::Path;
use std::process::{Command, Output};

fn gz() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gzbench"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A 3-channel, 8-pixel model conditioned on two answers; galaxies 10, 11, 12 are rings.
fn save_model(dir: &Path) {
    let unet = UNetSpec {
        channels: 3,
        base: 8,
        mults: vec![1, 2],
        cond_dim: 2,
        groups: 4,
    };
    let spec = DiffusionSpec {
        unet: unet.clone(),
        steps: 10,
        prediction: Default::default(),
        p_uncond: 0.1,
        lr: 1e-3,
    };
    let model = Diffusion::new(&spec, 1, &candle_core::Device::Cpu).unwrap();
    let meta = SavedModel {
        unet,
        noise_steps: 10,
        prediction: Default::default(),
        image_size: 8,
        condition_names: vec!["Class1.1".into(), "Class1.2".into()],
        label: "ring".into(),
        sample_steps: 3,
        guidance: 2.0,
        train_steps: 0,
    };
    let rows: Vec<ConditionRow> = (10..15)
        .map(|id| ConditionRow {
            id,
            label: id < 13,
            values: vec![0.1 * (id - 9) as f32, 1.0 - 0.1 * (id - 9) as f32],
        })
        .collect();
    saved::save(dir, &model, &meta, &rows).unwrap();
}

fn generate(model: &Path, out: &Path, extra: &[&str]) -> Output {
    gz().arg("generate")
        .arg("--model")
        .arg(model)
        .args(["--n", "5", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

/// Every file under `dir` (relative path, bytes), sorted.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for sub in [dir.to_path_buf(), dir.join("images")] {
        for e in std::fs::read_dir(&sub).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn generate_writes_synths_layout_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    save_model(&model);
    let one = dir.path().join("one");
    let o = generate(&model, &one, &["--batch", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(one.join("catalogue.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "file,id,ring,condition_id,Class1.1,Class1.2");
    assert_eq!(lines.len(), 6, "{csv}");
    for (i, line) in lines[1..].iter().enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(
            cells[..3],
            [&format!("images/{i:06}.png"), &i.to_string(), "1"]
        );
        let from: u64 = cells[3].parse().unwrap();
        assert!((10..13).contains(&from), "a ring's condition: {line}");
        let want = 0.1 * (from - 9) as f32;
        assert_eq!(cells[4].parse::<f32>().unwrap(), want, "{line}");
        let img = image::open(one.join(cells[0])).unwrap();
        assert_eq!((img.width(), img.height()), (8, 8));
        assert!(matches!(img, image::DynamicImage::ImageRgb8(_)));
    }
    let written = files(&one);
    assert_eq!(written.len(), 7, "catalogue.csv, catalogue.parquet, 5 PNGs");

    let two = dir.path().join("two");
    let o = generate(&model, &two, &["--batch", "5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        files(&two) == written,
        "same seed, any batch: the same bytes"
    );

    let other = dir.path().join("other");
    let o = generate(&model, &other, &["--seed", "1", "--class", "negative"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(other.join("catalogue.csv")).unwrap();
    assert!(
        csv.lines()
            .skip(1)
            .all(|l| l.split(',').nth(2) == Some("0")),
        "{csv}"
    );
    assert!(files(&other) != written);

    let set = dir.path().join("set");
    let o = generate(&model, &set, &["--set", "Class1.2=0.75"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(set.join("catalogue.csv")).unwrap();
    assert!(csv.lines().skip(1).all(|l| l.ends_with(",0.75")), "{csv}");
}

#[test]
fn generate_bad_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    save_model(&model);
    let out = dir.path().join("out");
    let cases: [(&[&str], &str); 4] = [
        (
            &["--set", "Class9=1"],
            "--set `Class9=1`: unknown condition name `Class9`; expected one of Class1.1, Class1.2",
        ),
        (
            &["--set", "Class1.1"],
            "--set `Class1.1`: expected NAME=VALUE",
        ),
        (
            &["--set", "Class1.1=x"],
            "--set `Class1.1=x`: `x` is not a finite number",
        ),
        (
            &["--steps", "11"],
            "--steps 11: expected 1 to the model's 10 noise steps",
        ),
    ];
    for (args, want) in cases {
        let o = generate(&model, &out, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
    let o = generate(&dir.path().join("missing"), &out, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("missing/model.json"), "{}", stderr(&o));
    assert!(!out.exists(), "nothing written on bad input");
}
