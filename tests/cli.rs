//! End-to-end tests through the `gzbench` binary: validation errors and exit codes, crash safety
//! under SIGKILL, determinism of stored metrics, and the report files.

use std::path::Path;
use std::time::{Duration, Instant};

mod common;
use common::{SWEEP, all_metrics, complete_runs, gz, run, stderr, write};

#[test]
fn validate_reports_location_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "typo.yaml",
            SWEEP.replace("epochs: 2", "epohcs: 2"),
            "typo.yaml:6:10: train: unknown key `epohcs`",
        ),
        (
            "type.yaml",
            SWEEP.replace("image_size: 16", "image_size: big"),
            "type.yaml:4:37: data.image_size: invalid type: string \"big\"; expected usize",
        ),
        (
            "name.yaml",
            SWEEP.replace("[linear, cnn-small]", "[linear, resnett]"),
            "name.yaml:9:3: sweep `model.backbone` = resnett: unknown name `resnett`; expected one of `linear`, `cnn-small`, `resnet`, `dieleman`, `convnext`, `efficientnet`",
        ),
        (
            "kind.yaml",
            SWEEP.replace("kind: train", "kind: trian"),
            "kind.yaml:2:7: kind: unknown name `trian`; expected one of `train`, `crowd`, `votes`",
        ),
    ];
    for (file, text, want) in &cases {
        let p = write(dir.path(), file, text);
        let o = gz().arg("validate").arg(&p).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{file}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains(&format!("{}/{want}", dir.path().display())),
            "{file}: got\n{err}\nwant {want}"
        );
    }
    let good = write(dir.path(), "good.yaml", SWEEP);
    let o = gz().arg("validate").arg(&good).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // run refuses bad input with the same code, before touching the store
    let o = run(&dir.path().join("typo.yaml"), &dir.path().join("res"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(!dir.path().join("res").exists());
    // an unknown vector level is refused before anything runs
    let o = gz()
        .env("GZBENCH_SIMD", "sse9")
        .arg("validate")
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("GZBENCH_SIMD=sse9: expected one of auto, portable, avx2, avx512"),
        "{err}"
    );
}

#[test]
fn sigkill_midway_then_restart_completes_each_run_once_with_identical_metrics() {
    let dir = tempfile::tempdir().unwrap();
    // slower runs so the kill lands in the middle of the sweep
    let yaml = write(
        dir.path(),
        "e.yaml",
        &SWEEP
            .replace("epochs: 2", "epochs: 12")
            .replace("test_size: 64", "test_size: 256"),
    );
    let reference = dir.path().join("reference");
    let o = run(&yaml, &reference).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let want = all_metrics(&reference);
    assert_eq!(want.len(), 8);

    let killed = dir.path().join("killed");
    let mut child = run(&yaml, &killed)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while complete_runs(&killed).len() < 3 {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "sweep made no progress"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "sweep ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let at_kill = complete_runs(&killed).len();
    assert!(
        (3..8).contains(&at_kill),
        "kill did not land midway: {at_kill} complete"
    );

    let o = run(&yaml, &killed).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!(
            "({at_kill} already complete, {} computed, 0 failed)",
            8 - at_kill
        )),
        "{out}"
    );
    assert_eq!(all_metrics(&killed), want);
    // no temporary files and no incomplete run directories are left behind
    for entry in std::fs::read_dir(killed.join("runs")).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name == ".locks" || p.join("COMPLETE").exists(),
            "leftover {name}"
        );
        if p.is_dir() {
            for f in std::fs::read_dir(&p).unwrap() {
                assert!(!f.unwrap().file_name().to_string_lossy().contains(".tmp-"));
            }
        }
    }
}

#[test]
fn same_seed_gives_byte_identical_metrics_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = write(dir.path(), "e.yaml", SWEEP);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for (res, threads) in [(&a, "2"), (&b, "1")] {
        let o = run(&yaml, res)
            .arg("--jobs")
            .arg(threads)
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let (ma, mb) = (all_metrics(&a), all_metrics(&b));
    assert_eq!(ma.len(), 8);
    assert_eq!(ma, mb);
    let table = |r: &Path| std::fs::read_to_string(r.join("e2e/tables/e2e.csv")).unwrap();
    assert_eq!(table(&a), table(&b));
    let md = std::fs::read_to_string(a.join("e2e/tables/e2e.md")).unwrap();
    assert_eq!(md.lines().count(), 2 + 4 + 2, "{md}");
    for f in [
        "tables/e2e.parquet",
        "tables/e2e.tex",
        "figures/e2e_accuracy.png",
        "figures/e2e_accuracy.svg",
    ] {
        assert!(
            std::fs::metadata(a.join("e2e").join(f)).unwrap().len() > 100,
            "{f}"
        );
    }
    // report alone rebuilds the same table from the store
    std::fs::remove_dir_all(a.join("e2e")).unwrap();
    let o = gz()
        .arg("report")
        .arg(&yaml)
        .arg("--results")
        .arg(&a)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(table(&a), table(&b));
}

/// Every experiment in `experiments/` runs end to end at the smoke profile, from scratch, and
/// reproduces the committed smoke tables to their printed precision (`reproduce --check`; the
/// paper's experiments cannot rot, and CPU results do not drift).
#[test]
fn reproduce_check_matches_committed_smoke_tables() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = gz()
        .current_dir(root)
        .args(["reproduce", "--check", "--profile", "smoke"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(out.contains("check passed"), "{out}");
}

/// `validate` reads a catalogue dataset and decodes its images without training: missing files
/// are listed (first few and the count) and fail validation; a good catalogue passes.
#[test]
fn validate_checks_a_catalogue_dataset() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("img")).unwrap();
    let mut rows = String::from("id,ring\n");
    for i in 0..6 {
        rows.push_str(&format!("g{i},{}\n", i % 2));
        if i < 4 {
            image::RgbImage::from_pixel(8, 8, image::Rgb([9, 9, 9]))
                .save(dir.path().join(format!("img/g{i}.png")))
                .unwrap();
        }
    }
    std::fs::write(dir.path().join("cat.csv"), rows).unwrap();
    let yaml = write(
        dir.path(),
        "cat.yaml",
        &format!(
            "name: cat\nkind: train\ndata: {{ source: catalog, path: {}, train_size: 2, test_size: 2, catalog: {{ file: cat.csv, file_pattern: 'img/{{id}}.png', label_column: ring }} }}\ntask: {{ target: label }}\n",
            dir.path().display()
        ),
    );
    let o = gz().arg("validate").arg(&yaml).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("cat.csv: 2 image files are missing, e.g. `"),
        "{err}"
    );
    assert!(err.contains("img/g4.png` (id g4)"), "{err}");
    for i in 4..6 {
        image::RgbImage::from_pixel(8, 8, image::Rgb([9, 9, 9]))
            .save(dir.path().join(format!("img/g{i}.png")))
            .unwrap();
    }
    let o = gz().arg("validate").arg(&yaml).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.contains("4 galaxies in the pool, 2 in the test split; every image readable"),
        "{out}"
    );
}

/// `pretrain: { source: file }` starts from a timm encoder file: the fixture's resnet layout
/// trains from it; a wider model fails the run (exit 1) with the mis-shaped tensors listed, and a
/// missing file is named with the folder a relative path resolves against.
#[test]
fn pretrain_file_imports_a_timm_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/model/fixtures/timm_resnet.safetensors");
    let yaml = |name: &str, dims: &str, weights: &str| {
        write(
            dir.path(),
            &format!("{name}.yaml"),
            &format!(
                "name: {name}\nkind: train\ndata: {{ source: shapes, image_size: 16, train_size: 8, test_size: 32 }}\nmodel: {{ backbone: resnet, depths: [2, 2, 2, 2], dims: [{dims}] }}\ntrain: {{ epochs: 1 }}\npretrain: {{ source: file, weights: '{weights}' }}\n"
            ),
        )
    };
    let run_here = |file: &Path| {
        run(file, &dir.path().join("res"))
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let good = yaml("timm", "2, 4, 8, 16", &fixture.display().to_string());
    let o = gz().arg("validate").arg(&good).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run_here(&good);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.contains("(0 already complete, 1 computed, 0 failed)"),
        "{out}"
    );

    let wide = yaml("wide", "4, 8, 16, 32", &fixture.display().to_string());
    let o = run_here(&wide);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    for part in [
        "pretrain.weights: ",
        "timm_resnet.safetensors: does not match the resnet backbone: 100 mis-shaped (",
        "conv1.weight: file [2, 3, 3, 3], model [4, 3, 3, 3]",
        "1 of 1 runs failed",
    ] {
        assert!(err.contains(part), "`{part}` not in:\n{err}");
    }

    let missing = yaml("missing", "2, 4, 8, 16", "encoder.safetensors");
    let o = run_here(&missing);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("pretrain.weights `encoder.safetensors`: no such file"),
        "{err}"
    );
    let cwd = dir.path().canonicalize().unwrap();
    assert!(err.contains(&cwd.display().to_string()), "{err}");
}

/// Real-style vote counts train Zoobot's Dirichlet head end to end: a catalogue of DECaLS vote
/// counts (every answer column) plus PNG cutouts, scored by the RMSE of the expected fractions.
#[test]
fn catalogue_vote_counts_train_a_dirichlet_head() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("img")).unwrap();
    let cols = gzbench::tree::Tree::decals().answer_columns();
    let mut text = format!("id,{}\n", cols.join(","));
    for i in 0..12u8 {
        let smooth = i % 4;
        image::RgbImage::from_pixel(16, 16, image::Rgb([20 * i, 40, 200 - 10 * i]))
            .save(dir.path().join(format!("img/g{i}.png")))
            .unwrap();
        let cells: Vec<String> = cols
            .iter()
            .map(|c| match c.as_str() {
                "smooth-or-featured_smooth" => smooth.to_string(),
                "smooth-or-featured_featured-or-disk" => (5 - smooth).to_string(),
                _ => "0".into(),
            })
            .collect();
        text.push_str(&format!("g{i},{}\n", cells.join(",")));
    }
    std::fs::write(dir.path().join("votes.csv"), text).unwrap();
    let yaml = write(
        dir.path(),
        "votes.yaml",
        &format!(
            "name: votes\nkind: train\ndata: {{ source: catalog, path: {}, image_size: 16, train_size: 8, test_size: 4, catalog: {{ file: votes.csv, file_pattern: 'img/{{id}}.png', votes: decals }} }}\ntask: {{ target: votes }}\nmodel: {{ backbone: cnn-small, widths: [4] }}\ntrain: {{ epochs: 2, batch_size: 4 }}\neval: {{ metrics: [rmse] }}\n",
            dir.path().display()
        ),
    );
    let res = dir.path().join("res");
    let o = run(&yaml, &res).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let runs = complete_runs(&res);
    assert_eq!(runs.len(), 1);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(runs[0].join("metrics.json")).unwrap()).unwrap();
    let rmse = m["rmse"].as_f64().unwrap();
    assert!(rmse > 0.0 && rmse < 1.0, "{m}");
    assert!(m["train_loss"].as_f64().unwrap().is_finite(), "{m}");
}

#[test]
fn aggregate_reads_a_zooniverse_export_with_a_positive_class() {
    let dir = tempfile::tempdir().unwrap();
    // A Panoptes classification export: task T0 (Yes / No), subjects 11 (clearly Yes), 12
    // (clearly No) and 13 (one of each).
    let mut s = String::from(
        "classification_id,user_id,workflow_version,created_at,annotations,subject_ids\n",
    );
    for (id, user, subject, answer) in [
        (1, "u1", 11, "Yes"),
        (2, "u2", 11, "Yes"),
        (3, "u1", 12, "No"),
        (4, "u2", 12, "No"),
        (5, "u3", 13, "Yes"),
        (6, "u1", 13, "No"),
    ] {
        s.push_str(&format!(
            "{id},{user},1.0,2018-02-20 10:44:0{id} UTC,\"[{{\"\"task\"\":\"\"T0\"\",\"\"value\"\":\"\"{answer}\"\"}}]\",{subject}\n"
        ));
    }
    let export = write(dir.path(), "export.csv", &s);
    let labels = dir.path().join("labels.csv");
    let agg = |extra: &[&str]| {
        let mut c = gz();
        c.arg("aggregate")
            .arg(&export)
            .args(["--strategy", "swap", "--out"])
            .arg(&labels);
        c.args(extra).output().unwrap()
    };
    let o = agg(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("panoptes-csv") && stdout.contains("positive class `Yes`"),
        "{stdout}"
    );
    let text = std::fs::read_to_string(&labels).unwrap();
    assert!(
        text.starts_with("galaxy,label,p_No,p_Yes\n11,Yes,"),
        "{text}"
    );
    assert!(text.contains("\n12,No,"), "{text}");
    // The undecided galaxy follows the prior of the positive class (0.3).
    assert!(text.contains("\n13,No,"), "{text}");
    let o = agg(&["--positive", "No", "--task", "T0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::read_to_string(&labels)
            .unwrap()
            .contains("\n13,Yes,")
    );
    let o = agg(&["--positive", "maybe"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("`maybe`") && stderr(&o).contains("`No`, `Yes`"),
        "{}",
        stderr(&o)
    );
    let o = agg(&["--format", "xml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("auto, csv or zooniverse"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn embed_writes_reduced_embeddings_of_synthetic_galaxies() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.parquet");
    let embed = |extra: &[&str]| {
        gz().args(["embed", "--synthetic", "40", "--size", "16"])
            .args(["--backbone", "cnn-small"])
            .args(extra)
            .arg("--out")
            .arg(&out)
            .arg("--results")
            .arg(dir.path().join("results"))
            .output()
            .unwrap()
    };
    let o = embed(&["--pca", "4"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("embedded 40 images") && said.contains("PCA to 4"),
        "{said}"
    );
    let (ids, rows) = gzbench::repr::embed::read_parquet(&out).unwrap();
    assert_eq!(ids, (0..40).map(|i| i.to_string()).collect::<Vec<_>>());
    assert!(rows.iter().all(|r| r.len() == 4));
    // principal components: centred, decreasing variance
    let var = |j: usize| rows.iter().map(|r| (r[j] as f64).powi(2)).sum::<f64>();
    assert!((0..3).all(|j| var(j) >= var(j + 1)) && var(3) > 0.0);
    let mean0 = rows.iter().map(|r| r[0] as f64).sum::<f64>() / 40.0;
    assert!(mean0.abs() < 1e-4, "{mean0}");
    // deterministic: the same command writes the same table
    let first = std::fs::read(&out).unwrap();
    assert!(embed(&["--pca", "4"]).status.success());
    assert_eq!(std::fs::read(&out).unwrap(), first);
    // bad input exits 2 with a message
    let o = embed(&["--pca", "40"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("PCA"), "{}", stderr(&o));
    let o = embed(&["--checkpoint", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("spec.yaml"), "{}", stderr(&o));
}

#[test]
fn similar_prints_nearest_ids_and_names_an_unknown_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("e.parquet");
    let ids: Vec<String> = ["g0", "g1", "g2", "g3", "g4", "x,y"]
        .map(String::from)
        .to_vec();
    let rows = vec![
        vec![1.0, 0.0, 0.0],
        vec![0.9, 0.1, 0.0],
        vec![0.0, 1.0, 0.0],
        vec![1.0, 0.0, 0.2],
        vec![-1.0, 0.0, 0.0],
        vec![0.5, 0.0, 0.0],
    ];
    gzbench::repr::embed::write_parquet(&file, &ids, &rows).unwrap();
    let similar = |extra: &[&str]| {
        gz().arg("similar")
            .arg("--embeddings")
            .arg(&file)
            .args(extra)
            .output()
            .unwrap()
    };
    // cosines: x,y 1; g1 0.9/sqrt(0.82) = 0.993884; g3 1/sqrt(1.04) = 0.980581
    let want = "rank,id,cosine\n1,\"x,y\",1.000000\n2,g1,0.993884\n3,g3,0.980581\n";
    for approx in [&[][..], &["--approx"][..]] {
        let o = similar(&[&["--id", "g0", "--k", "3", "--format", "csv"][..], approx].concat());
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(String::from_utf8_lossy(&o.stdout), want);
    }
    let o = similar(&["--id", "g4", "--k", "1"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out, "rank  id  cosine\n   1  g2  0.0000\n");
    let o = similar(&["--id", "g9"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains(&file.display().to_string()) && err.contains("`g9`") && err.contains("g0, g1"),
        "{err}"
    );
}
