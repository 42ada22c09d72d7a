//! Every registered name end to end through the CLI, so a half-registered strategy or backbone
//! fails here: the lists come from the registry enums themselves (`spec::all`), never from a
//! hand-written list. Each strategy: `gzbench validate` of its own small crowd experiment,
//! `gzbench run --profile smoke` of it (simulated votes aggregated through the registry), and
//! `gzbench aggregate` of a classification file. Each backbone: `gzbench validate` of its own
//! tiny train experiment and `gzbench run --profile smoke` of it (a few training steps).

mod common;
use common::*;
use gzbench::crowd::StrategyImpl;
use gzbench::spec::{Backbone, Strategy, all, yaml_name};
use std::path::PathBuf;

/// `gzbench validate` of every file, then `gzbench run --profile smoke` of each; returns the
/// metrics of each file's single run.
fn validate_and_run(dir: &std::path::Path, files: &[(String, PathBuf)]) -> Vec<serde_json::Value> {
    let o = gz()
        .arg("validate")
        .args(files.iter().map(|(_, f)| f))
        .output()
        .unwrap();
    assert!(o.status.success(), "validate: {}", text(&o));
    files
        .iter()
        .map(|(name, yaml)| {
            let res = dir.join(format!("res-{name}"));
            let o = run(yaml, &res)
                .args(["--profile", "smoke", "--no-report"])
                .output()
                .unwrap();
            assert!(o.status.success(), "{name}: {}", text(&o));
            let runs = complete_runs(&res);
            assert_eq!(runs.len(), 1, "{name}");
            serde_json::from_slice(&std::fs::read(runs[0].join("metrics.json")).unwrap()).unwrap()
        })
        .collect()
}

#[test]
fn every_strategy_validates_runs_and_aggregates() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<(String, PathBuf)> = all::<Strategy>()
        .iter()
        .map(|&s| {
            let name = yaml_name(&s);
            let gold = if s.needs_gold() { 0.2 } else { 0.0 };
            let yaml = format!(
                "name: s-{name}\nkind: crowd\ncrowd: {{ strategy: {name}, n_galaxies: 60, \
                 n_volunteers: 15, votes_per_galaxy: 5, gold_fraction: {gold}, n_experts: 0 }}\n"
            );
            let file = write(dir.path(), &format!("{name}.yaml"), &yaml);
            (name, file)
        })
        .collect();
    for ((name, _), m) in files.iter().zip(validate_and_run(dir.path(), &files)) {
        let acc = m["accuracy"].as_f64();
        assert!(acc.is_some_and(|a| a.is_finite()), "{name}: {m}");
    }

    // a yes/no question, so binary-only strategies take it too; one gold galaxy
    let mut votes = String::from("volunteer,galaxy,question,answer\n");
    for g in 0..12 {
        for v in 0..5 {
            let yes = (g + v) % 3 != 0;
            let answer = if (g % 2 == 0) == yes { "yes" } else { "no" };
            votes.push_str(&format!("v{v},g{g},q,{answer}\n"));
        }
    }
    let votes = write(dir.path(), "votes.csv", &votes);
    let gold = write(dir.path(), "gold.csv", "galaxy,answer\ng0,yes\ng1,no\n");
    for &s in all::<Strategy>() {
        let name = yaml_name(&s);
        let out = dir.path().join(format!("{name}.csv"));
        let o = gz()
            .arg("aggregate")
            .arg(&votes)
            .args(["--strategy", &name, "--gold"])
            .arg(&gold)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        if o.status.success() {
            let labels = std::fs::read_to_string(&out).unwrap();
            assert_eq!(labels.lines().count(), 13, "{name}: {labels}");
            assert!(labels.starts_with("galaxy,label,p_no,p_yes\n"), "{name}");
        } else {
            // a classification file carries no redshifts: the strategies that need them say so
            let err = stderr(&o);
            assert!(err.contains("covariates"), "{name}: {err}");
        }
    }
}

#[test]
fn every_backbone_validates_and_trains() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<(String, PathBuf)> = all::<Backbone>()
        .iter()
        .map(|b| {
            let name = yaml_name(b);
            let yaml = format!(
                "name: b-{name}\nkind: train\nseeds: [0]\n\
                 data: {{ source: shapes, image_size: 48, train_size: 32, test_size: 32 }}\n\
                 model: {{ backbone: {name}, widths: [4, 8], width_multiplier: 0.125, \
                 dense_units: 8 }}\n\
                 train: {{ epochs: 1, batch_size: 16 }}\n"
            );
            let file = write(dir.path(), &format!("{name}.yaml"), &yaml);
            (name, file)
        })
        .collect();
    for ((name, _), m) in files.iter().zip(validate_and_run(dir.path(), &files)) {
        assert!(m["steps_trained"].as_f64() >= Some(1.0), "{name}: {m}");
        assert!(m["accuracy"].as_f64().is_some(), "{name}: {m}");
    }
}
