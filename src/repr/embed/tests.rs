//! Tests of `repr::embed`: the Parquet table round-trips exactly and its reader names the file
//! and the fault; embeddings are the backbone's evaluation-mode features, in order.

use super::*;

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("g{i}")).collect()
}

#[test]
fn parquet_round_trip_is_exact_and_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/e.parquet");
    let rows: Vec<Vec<f32>> = (0..5)
        .map(|i| (0..3).map(|j| (i * 3 + j) as f32 * 0.1 - 0.7).collect())
        .collect();
    let mut rows = rows;
    rows[2][1] = f32::MIN_POSITIVE;
    rows[4][0] = -1e30;
    write_parquet(&path, &ids(5), &rows).unwrap();
    let (i, r) = read_parquet(&path).unwrap();
    assert_eq!(i, ids(5));
    assert_eq!(r, rows, "bit-exact f32 round trip");
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["e.parquet".to_string()], "no temporary left");
    // an empty table round-trips too
    let empty = dir.path().join("empty.parquet");
    write_parquet(&empty, &[], &[]).unwrap();
    assert_eq!(read_parquet(&empty).unwrap(), (vec![], vec![]));
}

#[test]
fn bad_rows_are_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.parquet");
    let ragged = vec![vec![1.0, 2.0], vec![3.0]];
    let e = write_parquet(&path, &ids(2), &ragged)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("e.parquet") && e.contains("ragged") && e.contains("g1"),
        "{e}"
    );
    let nan = vec![vec![1.0], vec![f32::NAN]];
    let e = write_parquet(&path, &ids(2), &nan).unwrap_err().to_string();
    assert!(e.contains("NaN") && e.contains("row 2"), "{e}");
    let e = write_parquet(&path, &ids(3), &nan).unwrap_err().to_string();
    assert!(e.contains("3 ids for 2 embeddings"), "{e}");
    assert!(!path.exists());
}

/// A Parquet file written directly with polars (not through `write_parquet`).
fn raw(path: &Path, cols: Vec<Column>) {
    let h = cols[0].len();
    let mut df = DataFrame::new(h, cols).unwrap();
    ParquetWriter::new(std::fs::File::create(path).unwrap())
        .finish(&mut df)
        .unwrap();
}

fn list_f64(rows: &[&[f64]]) -> Column {
    let mut b = ListPrimitiveChunkedBuilder::<Float64Type>::new(
        EMBEDDING.into(),
        rows.len(),
        8,
        DataType::Float64,
    );
    for r in rows {
        b.append_slice(r);
    }
    b.finish().into_series().into_column()
}

#[test]
fn reader_names_the_file_and_the_fault() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.parquet");
    let msg = |p: &Path| read_parquet(p).unwrap_err().to_string();
    // missing file, not Parquet
    assert!(msg(&p).contains("x.parquet"));
    std::fs::write(&p, "id,embedding\n").unwrap();
    let e = msg(&p);
    assert!(
        e.contains("x.parquet") && e.contains("expected a Parquet file"),
        "{e}"
    );
    // missing column, listing what is there
    raw(&p, vec![Column::new("name".into(), ["a", "b"])]);
    let e = msg(&p);
    assert!(e.contains("no column `id`") && e.contains("`name`"), "{e}");
    // f64 lists and integer ids are accepted (cast)
    raw(
        &p,
        vec![
            Column::new(ID.into(), [7i64, 8]),
            list_f64(&[&[1.5, 2.0], &[3.0, 4.25]]),
        ],
    );
    let (i, r) = read_parquet(&p).unwrap();
    assert_eq!(i, vec!["7", "8"]);
    assert_eq!(r, vec![vec![1.5, 2.0], vec![3.0, 4.25]]);
    // ragged and non-finite rows
    raw(
        &p,
        vec![
            Column::new(ID.into(), ["a", "b"]),
            list_f64(&[&[1.0, 2.0], &[3.0]]),
        ],
    );
    let e = msg(&p);
    assert!(
        e.contains("x.parquet") && e.contains("ragged") && e.contains("`b`"),
        "{e}"
    );
    raw(
        &p,
        vec![
            Column::new(ID.into(), ["a", "b"]),
            list_f64(&[&[1.0], &[f64::INFINITY]]),
        ],
    );
    let e = msg(&p);
    assert!(e.contains("inf") && e.contains("finite"), "{e}");
    // an embedding column that is not a list of numbers
    raw(
        &p,
        vec![
            Column::new(ID.into(), ["a"]),
            Column::new(EMBEDDING.into(), ["oops"]),
        ],
    );
    let e = msg(&p);
    assert!(e.contains("x.parquet") && e.contains("`embedding`"), "{e}");
}

fn cnn_small() -> crate::spec::ModelConfig {
    crate::spec::ModelConfig {
        widths: vec![4, 8],
        ..Default::default()
    }
}

/// `n` seeded random 3 x `size` x `size` images.
fn random_images(n: usize, size: usize) -> Dataset {
    let x = crate::model::Params::new(11)
        .uniform("x", &[n * 3 * size * size], 1.0, &Device::Cpu)
        .unwrap();
    Dataset {
        channels: 3,
        size,
        images: x.to_vec1::<f32>().unwrap(),
        targets: vec![0.0; n],
        target_len: 1,
    }
}

#[test]
fn embeddings_are_eval_mode_features_in_order() {
    let dev = Device::Cpu;
    let params = crate::model::Params::new(3);
    let model = Model::build(&cnn_small(), 3, 16, &params, &dev).unwrap();
    let data = random_images(5, 16);
    let mut calls = Vec::new();
    let rows = embed(&model, &data, 2, &dev, &mut |d, t| calls.push((d, t))).unwrap();
    assert_eq!(calls, vec![(2, 5), (4, 5), (5, 5)]);
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0].len(), model.features_len());
    // eval mode: a row does not depend on the batch it was computed in (train-mode BatchNorm
    // would normalise by each batch's statistics)
    let one = embed(&model, &data, 5, &dev, &mut |_, _| {}).unwrap();
    let x = candle_core::Tensor::from_vec(data.images.clone(), (5, 3, 16, 16), &dev).unwrap();
    let all = model.features(&x, false).unwrap().to_vec2::<f32>().unwrap();
    for (i, (a, b)) in rows.iter().zip(&all).enumerate() {
        for (u, v) in a.iter().zip(b) {
            assert!((u - v).abs() < 1e-5, "row {i}: {u} vs {v}");
        }
    }
    assert_eq!(one, all);
    let train = model.features(&x, true).unwrap().to_vec2::<f32>().unwrap();
    assert_ne!(
        train, all,
        "the check above can tell train mode from eval mode"
    );
}

#[test]
fn synthetic_images_are_those_of_the_synthetic_data_source() {
    // run seed 0: the test split of data seed 3 is galaxies 0..test_size
    let t = "name: s\nkind: train\ndata: { source: synthetic, image_size: 16, train_size: 2, \
             test_size: 4, data_seed: 3, val_fraction: 0 }\ntask: { target: bar }\n";
    let e = crate::spec::parse_str(t, "s.yaml").unwrap();
    let spec = crate::spec::expand(&e, t, "s.yaml").unwrap().remove(0);
    let want = crate::data::build(&spec).unwrap().test;
    let src = Images::Synthetic {
        n: 4,
        seed: 3,
        size: 16,
        survey: crate::spec::Survey::DecalsLike,
    };
    let (ids, data) = load_images(&src).unwrap();
    assert_eq!(ids, vec!["0", "1", "2", "3"]);
    assert_eq!(data.images, want.images);
    assert_eq!((data.len(), data.channels, data.size), (4, 3, 16));
}

#[test]
fn catalogue_images_are_read_by_id_and_file_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("objid,path\n");
    for (i, level) in [(7, 10u8), (3, 200), (5, 90)] {
        let name = format!("g{i}.png");
        image::RgbImage::from_fn(12, 12, |x, _| image::Rgb([level, (x * 20) as u8, 0]))
            .save(dir.path().join(&name))
            .unwrap();
        csv += &format!("{i},{name}\n");
    }
    let file = dir.path().join("cat.csv");
    std::fs::write(&file, &csv).unwrap();
    let src = Images::Catalog {
        file: file.clone(),
        images: None,
        id_column: "objid".into(),
        file_column: Some("path".into()),
        file_pattern: None,
        centre_crop: None,
        size: 8,
    };
    let (ids, data) = load_images(&src).unwrap();
    assert_eq!(ids, vec!["7", "3", "5"], "catalogue order");
    assert_eq!(data.len(), 3);
    let cfg: crate::spec::CatalogConfig =
        serde_yaml::from_str("{ file: cat.csv, file_column: path }").unwrap();
    let opt = crate::data::catalog::ImageOptions::new(8, &cfg);
    let second = crate::data::catalog::load_image(&dir.path().join("g3.png"), &opt).unwrap();
    assert_eq!(&data.images[3 * 64..6 * 64], &second[..]);
    assert!((data.images[3 * 64] - 200.0 / 255.0).abs() < 1e-6);
    // a missing image is named
    std::fs::write(&file, csv + "9,gone.png\n").unwrap();
    let e = load_images(&src).unwrap_err().to_string();
    assert!(e.contains("gone.png") && e.contains("cat.csv"), "{e}");
}

#[test]
fn a_runs_checkpoint_gives_its_best_backbone() {
    let dev = Device::Cpu;
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("runs/abc");
    let t = "name: s\nkind: train\ndata: { source: shapes, image_size: 16 }\n\
             model: { widths: [4, 8] }\nseeds: [2]\n";
    let e = crate::spec::parse_str(t, "s.yaml").unwrap();
    let spec = crate::spec::expand(&e, t, "s.yaml").unwrap().remove(0);
    let none = Weights::Checkpoint(run.clone());
    let err = |w: &Weights| match load_model(&cnn_small(), w, 0, 16, Default::default(), None, &dev)
    {
        Err(e) => e.to_string(),
        Ok(_) => panic!("expected an error"),
    };
    assert!(err(&none).contains("spec.yaml"));
    std::fs::create_dir_all(run.join("checkpoint")).unwrap();
    std::fs::write(run.join("spec.yaml"), serde_yaml::to_string(&spec).unwrap()).unwrap();
    assert!(err(&none).contains("train.checkpoint: true"));
    // a checkpoint holding last-epoch weights (seed 5) and best weights (seed 6)
    let model_of = |seed| {
        let p = crate::model::Params::new(seed);
        let m = Model::build(&spec.model, 3, 16, &p, &dev).unwrap();
        (p, m)
    };
    let ((last, _), (best, best_model)) = (model_of(5), model_of(6));
    let mut tensors: std::collections::HashMap<_, _> = last.tensors().into_iter().collect();
    for (n, t) in best.tensors() {
        tensors.insert(format!("best.{n}"), t);
    }
    let ck = run.join("checkpoint/checkpoint.safetensors");
    candle_core::safetensors::save(&tensors, &ck).unwrap();
    let b = load_model(
        &Default::default(),
        &none,
        0,
        99,
        Default::default(),
        None,
        &dev,
    )
    .unwrap();
    assert_eq!(b.size, Some(16));
    assert!(b.about.contains("best"), "{}", b.about);
    let data = random_images(3, 16);
    let got = embed(&b.model, &data, 8, &dev, &mut |_, _| {}).unwrap();
    assert_eq!(
        got,
        embed(&best_model, &data, 8, &dev, &mut |_, _| {}).unwrap()
    );
    // without best weights, the last epoch's
    let last_only: std::collections::HashMap<_, _> = last.tensors().into_iter().collect();
    candle_core::safetensors::save(&last_only, &ck).unwrap();
    let b = load_model(
        &Default::default(),
        &none,
        0,
        99,
        Default::default(),
        None,
        &dev,
    )
    .unwrap();
    let (_, last_model) = model_of(5);
    let got = embed(&b.model, &data, 8, &dev, &mut |_, _| {}).unwrap();
    assert_eq!(
        got,
        embed(&last_model, &data, 8, &dev, &mut |_, _| {}).unwrap()
    );
}

#[test]
fn a_whole_job_writes_reduced_embeddings() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.parquet");
    let job = Job {
        images: Images::Synthetic {
            n: 12,
            seed: 1,
            size: 16,
            survey: Default::default(),
        },
        model: cnn_small(),
        weights: Weights::Pretrain(Default::default()),
        seed: 4,
        batch: 5,
        pca: Some(3),
        out: out.clone(),
        cache: None,
    };
    let mut stages = Vec::new();
    let mut done = Vec::new();
    let s = embed_catalogue(
        &job,
        &Device::Cpu,
        &mut |m| stages.push(m.to_string()),
        &mut |d, _| done.push(d),
    )
    .unwrap();
    assert_eq!((s.n, s.features, s.dim), (12, 8, 3));
    assert_eq!(done, vec![5, 10, 12]);
    assert!(stages.iter().any(|m| m.contains("PCA")));
    let ratio = s.explained_variance_ratio.unwrap();
    assert!(ratio.windows(2).all(|w| w[0] >= w[1]) && ratio.iter().sum::<f64>() <= 1.0 + 1e-9);
    let (ids, rows) = read_parquet(&out).unwrap();
    assert_eq!(ids.len(), 12);
    // the written rows are the PCA of the backbone's features
    let (_, data) = load_images(&job.images).unwrap();
    let params = crate::model::Params::new(4);
    let model = Model::build(&job.model, 3, 16, &params, &Device::Cpu).unwrap();
    let f = embed(&model, &data, 12, &Device::Cpu, &mut |_, _| {}).unwrap();
    let p = crate::repr::pca::Pca::fit(&f, 3).unwrap();
    let want = p.transform(&f).unwrap();
    for (a, b) in rows.iter().flatten().zip(want.iter().flatten()) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    let too_many = Job {
        pca: Some(20),
        ..job
    };
    let e = embed_catalogue(&too_many, &Device::Cpu, &mut |_| {}, &mut |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("PCA"), "{e}");
}
