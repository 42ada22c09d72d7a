//! Tests of the Galaxy Zoo Express stream with stand-in machines: determinism, an oracle machine
//! that retires everything at its first training, a machine never confident enough that leaves
//! SWAP's stream unchanged, and fixed-K majority vote's clicks and days.

use super::machine::Machine;
use super::stream::{Fate, simulate};
use crate::crowd::run::{World, world};
use crate::spec::{Arm, CrowdRunConfig, QualityPreset, Strategy, StreamConfig};

fn test_world(seed: u64) -> World {
    world_of(seed, QualityPreset::Default)
}

fn world_of(seed: u64, crowd: QualityPreset) -> World {
    let cfg = CrowdRunConfig {
        crowd,
        strategy: Strategy::Swap,
        online: true,
        votes_per_galaxy: 40,
        n_galaxies: 400,
        n_volunteers: 80,
        gold_fraction: 0.05,
        ..CrowdRunConfig::default()
    };
    world(&cfg, seed).unwrap()
}

fn stream_cfg(arm: Arm) -> StreamConfig {
    StreamConfig {
        arm,
        clicks_per_day: 100.0,
        cadence_days: 5.0,
        min_retired: 40,
        machine_precision: 0.9,
        ..StreamConfig::default()
    }
}

/// Scores every galaxy by a fixed rule; counts its trainings.
struct Stand {
    /// P(positive) per galaxy index.
    p: Vec<f64>,
    fits: usize,
}

impl Machine for Stand {
    fn fit(&mut self, _: usize, _: &[(u32, bool)], _: &[(u32, bool)]) -> anyhow::Result<()> {
        self.fits += 1;
        Ok(())
    }
    fn score(&self, g: &[u32]) -> anyhow::Result<Vec<f64>> {
        Ok(g.iter().map(|&g| self.p[g as usize]).collect())
    }
}

fn oracle(w: &World) -> Stand {
    let p = w
        .truth
        .iter()
        .map(|t| match t.map(|t| w.map(t)) {
            Some(0) => 1.0,
            _ => 0.0,
        })
        .collect();
    Stand { p, fits: 0 }
}

#[test]
fn the_stream_is_deterministic_for_a_seed() {
    let w = test_world(3);
    let cfg = stream_cfg(Arm::SwapMeasurements);
    let a = simulate(&w, 3, &cfg, Some(&mut oracle(&w))).unwrap();
    let b = simulate(&w, 3, &cfg, Some(&mut oracle(&w))).unwrap();
    assert_eq!(a, b);
    let c = simulate(&test_world(4), 4, &cfg, Some(&mut oracle(&test_world(4)))).unwrap();
    assert_ne!(a.clicks, c.clicks);
}

#[test]
fn a_machine_always_right_retires_everything_at_its_first_training() {
    // a crowd whose SWAP labels mostly agree with the truth (the thresholds are chosen against
    // SWAP's labels: with the default crowd, SWAP labels many featured galaxies smooth, and an
    // oracle's positive side then misses the 0.9 agreement), and enough held-out retired
    // galaxies at the first training for the thresholds' support
    let w = world_of(5, QualityPreset::Good);
    let cfg = StreamConfig {
        min_retired: 150,
        ..stream_cfg(Arm::SwapCnn)
    };
    let mut m = oracle(&w);
    let out = simulate(&w, 5, &cfg, Some(&mut m)).unwrap();
    assert_eq!(m.fits, 1, "nothing is left to train for");
    assert_eq!(out.rounds.len(), 1);
    let first = out.rounds[0];
    let queued: Vec<usize> = (0..w.galaxies.len())
        .filter(|&g| out.fate[g] != Fate::Absent)
        .collect();
    // every galaxy left by the first training: SWAP before it, the machine at it, nobody after
    for &g in &queued {
        assert!(
            out.done_at[g] <= first,
            "galaxy {g} left at {}",
            out.done_at[g]
        );
        if out.fate[g] == Fate::Machine {
            assert_eq!(out.label[g], w.truth[g].map(|t| w.map(t)));
        }
    }
    assert_eq!(out.total_clicks, first);
    assert!(queued.iter().any(|&g| out.fate[g] == Fate::Machine));
}

#[test]
fn a_machine_never_confident_changes_nothing_against_swap_alone() {
    let w = test_world(6);
    let alone = simulate(&w, 6, &stream_cfg(Arm::Swap), None).unwrap();
    // scores of 0.5 for everything: the held-out retired galaxies above any threshold agree
    // with SWAP about as often as the prevalence, far below 0.9
    let mut m = Stand {
        p: vec![0.5; w.galaxies.len()],
        fits: 0,
    };
    let with = simulate(&w, 6, &stream_cfg(Arm::SwapCnn), Some(&mut m)).unwrap();
    assert!(
        m.fits > 1,
        "the machine trained at every cadence ({})",
        m.fits
    );
    assert!(with.fate.iter().all(|&f| f != Fate::Machine));
    assert_eq!(with.label, alone.label);
    assert_eq!(with.fate, alone.fate);
    assert_eq!(with.clicks, alone.clicks);
    assert_eq!(with.done_at, alone.done_at);
}

#[test]
fn fixed_k_majority_vote_takes_k_clicks_per_galaxy_and_k_n_over_rate_days() {
    let w = test_world(7);
    let cfg = stream_cfg(Arm::MajorityVote(10));
    let out = simulate(&w, 7, &cfg, None).unwrap();
    let queued = out.fate.iter().filter(|&&f| f != Fate::Absent).count();
    assert_eq!(out.total_clicks, 10 * queued as u64);
    assert!(
        out.fate
            .iter()
            .all(|&f| matches!(f, Fate::Voted | Fate::Absent))
    );
    let m = super::score::score(&w, 7, &out, cfg.clicks_per_day).unwrap();
    assert_eq!(m["clicks_per_galaxy"], 10.0);
    assert_eq!(m["days_to_all"], 10.0 * queued as f64 / 100.0);
    assert_eq!(m["classified_share_t0"], 0.0);
    // day 10 n / rate is curve point 10: everything is classified by then, not at point 9
    assert_eq!(m["classified_share_t10"], 1.0);
    assert!(m["classified_share_t9"] < 1.0);
    assert_eq!(m["machine_share"], 0.0);
    assert!(!m.contains_key("machine_accuracy") && !m.contains_key("swap_accuracy"));
    assert!(m["accuracy"] > 0.7 && m["purity"] > 0.5, "{m:?}");
}

/// A run of each machine arm from YAML records only names `spec::task` knows (what
/// `report.metrics` may ask for) besides the figure's curve, trains its machine, and triages.
#[test]
fn runs_record_the_names_validate_knows() {
    use crate::spec::{ExperimentKind, Target, expand, parse_str, task};
    let text = "name: s\nkind: stream\nseeds: [1]\n\
                crowd: { n_galaxies: 300, n_volunteers: 60, gold_fraction: 0.1, crowd: good }\n\
                stream: { clicks_per_day: 200, cadence_days: 3, min_retired: 60, \
                machine_precision: 0.9, triage_size: 60 }\n\
                data: { source: synthetic, image_size: 16 }\ntask: { target: featured }\n\
                model: { widths: [4, 8] }\npretrain: { source: astro, n: 32, epochs: 1 }\n\
                train: { epochs: 1, batch_size: 16, min_steps: 4, max_steps: 8 }\n\
                sweep: { stream.arm: [swap-measurements, swap-cnn] }\n";
    let exp = parse_str(text, "s.yaml").unwrap();
    let known = task::recorded(ExperimentKind::Stream, Target::Featured);
    let cache = tempfile::tempdir().unwrap();
    for spec in expand(&exp, text, "s.yaml").unwrap() {
        let m = super::run(&spec, Some(cache.path()), &candle_core::Device::Cpu).unwrap();
        for k in m.keys() {
            let curve = k.starts_with("classified_share_t") || k.starts_with("machine_share_t");
            assert!(
                curve || known.contains(&k.as_str()),
                "`{k}` is not in spec::task"
            );
        }
        assert!(m["machine_rounds"] >= 1.0, "{m:?}");
        assert!(m.contains_key("triage_accuracy"), "{m:?}");
        assert!(m["classified_share_t40"] == 1.0, "{m:?}");
        let cnn = spec.stream.as_ref().map(|s| s.arm) == Some(crate::spec::Arm::SwapCnn);
        assert_eq!(m.contains_key("pretrain_val_score"), cnn, "{m:?}");
    }
}

/// Bad `stream:` values are errors naming the file, line and key, before anything runs.
#[test]
fn bad_stream_values_are_located_errors() {
    use crate::spec::{expand, parse_str};
    let text = "name: s\nkind: stream\ndata: { source: synthetic }\nstream:\n  clicks_per_day: 10\n  val_fraction: 1.5\n";
    let error = |text: &str| match parse_str(text, "s.yaml") {
        Err(e) => e.to_string(),
        Ok(exp) => expand(&exp, text, "s.yaml").unwrap_err().to_string(),
    };
    let e = error(text);
    assert!(
        e.contains("s.yaml:6:") && e.contains("stream.val_fraction = 1.5"),
        "{e}"
    );
    let text = "name: s\nkind: stream\ndata: { source: synthetic }\nsweep:\n  stream.arm: [swap, majority-vote-0]\n";
    let e = error(text);
    assert!(
        e.contains("s.yaml:5:") && e.contains("majority-vote-K"),
        "{e}"
    );
}
