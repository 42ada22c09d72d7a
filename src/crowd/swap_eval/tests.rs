//! Online SWAP tests: no gold galaxy scored, the majority-vote curve against `majority-vote`
//! itself, the savings and calibration records against hand-computed cases.

use super::*;
use crate::crowd::run::world;
use crate::crowd::{Aggregator, Swap, metrics};
use crate::crowd::{Classifications, MajorityVote, Strategy, evaluate, on_threads};
use crate::spec::{ExperimentKind, Target};

fn online_cfg(gold_fraction: f64) -> CrowdRunConfig {
    CrowdRunConfig {
        strategy: Strategy::Swap,
        online: true,
        votes_per_galaxy: 20,
        n_galaxies: 400,
        n_volunteers: 60,
        gold_fraction,
        ..CrowdRunConfig::default()
    }
}

#[test]
fn no_gold_galaxy_is_scored_online() {
    let cfg = online_cfg(0.5);
    let w = world(&cfg, 3).unwrap();
    let o = online(&cfg, 3, &w).unwrap();
    let reached: Vec<usize> = (0..w.galaxies.len())
        .filter(|&g| w.truth[g].is_some())
        .collect();
    let gold: Vec<usize> = reached.iter().copied().filter(|&g| w.gold[g]).collect();
    assert!(gold.len() > 150 && gold.len() < 250, "{}", gold.len());
    assert!(
        o.rows.iter().all(|&g| !w.gold[g]),
        "a gold galaxy is scored"
    );
    assert_eq!(o.rows.len() + gold.len(), reached.len());
    assert_eq!(o.records["n_gold"], gold.len() as f64);
    let m = evaluate(&cfg, 3).unwrap();
    assert_eq!(m["n_scored"], o.rows.len() as f64);
    assert_eq!(m["n_galaxies"], m["n_scored"]);
    let bins: f64 = (0..RELIABILITY_BINS)
        .map(|b| m[&format!("reliability_bin{b}_n")])
        .sum();
    assert_eq!(bins, m["n_scored"]);
}

#[test]
fn no_gold_galaxy_is_scored_with_fixed_k() {
    // Offline SWAP and `gold-majority-vote` learn volunteer skills from the gold labels.
    let cfg = CrowdRunConfig {
        online: false,
        ..online_cfg(0.5)
    };
    let w = world(&cfg, 4).unwrap();
    let cls = simulate_fixed(4, &w.galaxies, &w.crowd, w.question, 5).unwrap();
    let (v, t) = w.votes(&cls).unwrap();
    let gold = v.gold.as_ref().expect("gold attached");
    for (i, &g) in v.galaxy_index.iter().enumerate() {
        // the strategy sees the gold label; the scores never do
        assert_eq!(gold[i].is_some(), w.gold[g as usize]);
        assert_eq!(t[i].is_some(), !w.gold[g as usize], "galaxy {g}");
    }
    let n_gold = v
        .galaxy_index
        .iter()
        .filter(|&&g| w.gold[g as usize])
        .count();
    for strategy in [Strategy::Swap, Strategy::GoldMajorityVote] {
        let m = evaluate(
            &CrowdRunConfig {
                strategy,
                ..cfg.clone()
            },
            4,
        )
        .unwrap();
        assert_eq!(m["n_gold"], n_gold as f64, "{m:?}");
        assert_eq!(m["n_scored"] + m["n_gold"], v.n_galaxies as f64);
        assert_eq!(m["n_galaxies"], m["n_scored"]);
    }
    let e = evaluate(
        &CrowdRunConfig {
            gold_fraction: 1.0,
            ..cfg
        },
        4,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("gold_fraction") && e.contains("[0, 1)"), "{e}");
}

/// The first `k` votes of every galaxy, in stream order.
fn first_k(cls: &Classifications, k: usize) -> Classifications {
    let mut order: Vec<usize> = (0..cls.len()).collect();
    order.sort_by(|&a, &b| cls.time[a].total_cmp(&cls.time[b]));
    let mut seen = vec![0usize; cls.galaxy_names.len()];
    let mut out = Classifications {
        volunteer_names: cls.volunteer_names.clone(),
        galaxy_names: cls.galaxy_names.clone(),
        questions: cls.questions.clone(),
        ..Classifications::default()
    };
    for i in order {
        let g = cls.galaxy[i] as usize;
        seen[g] += 1;
        if seen[g] <= k {
            out.volunteer.push(cls.volunteer[i]);
            out.galaxy.push(cls.galaxy[i]);
            out.question.push(cls.question[i]);
            out.answer.push(cls.answer[i]);
            out.time.push(cls.time[i]);
        }
    }
    out
}

#[test]
fn the_curve_is_majority_vote_on_the_first_k_of_40_votes() {
    // smooth-or-featured, binarised (featured vs the rest), with gold galaxies left out
    let cfg = online_cfg(0.2);
    let w = world(&cfg, 6).unwrap();
    let truth: Vec<Option<u32>> = w.truth.iter().map(|t| t.map(|t| w.map(t))).collect();
    let scored: Vec<bool> = (0..w.galaxies.len())
        .map(|g| truth[g].is_some() && !w.gold[g])
        .collect();
    let curve = mv_curve(6, &w, &truth, &scored).unwrap();
    assert_eq!(curve.len(), GZ_VOTES);
    let all = simulate_fixed(6, &w.galaxies, &w.crowd, w.question, GZ_VOTES).unwrap();
    // odd and even K (ties go to the positive class, as `majority-vote` breaks them)
    for k in [1, 2, 4, 7, 40] {
        let (v, t) = w.votes(&first_k(&all, k)).unwrap();
        assert!(v.by_galaxy.row(0).len() == k);
        let want = metrics::accuracy(&MajorityVote.aggregate(&v).unwrap().labels, &t);
        assert_eq!(curve[k - 1], want, "K = {k}");
    }
    assert!(curve[39] > curve[0] + 0.05, "{curve:?}");
}

#[test]
fn savings_records_follow_their_definitions() {
    let curve: Vec<f64> = (1..=GZ_VOTES).map(|k| 0.6 + 0.005 * k as f64).collect();
    let mut m = BTreeMap::new();
    // SWAP: accuracy 0.62 with 2.5 clicks per galaxy; MV first reaches 0.62 at K = 4 (0.62)
    savings(&mut m, 0.62, 2.5, &curve);
    assert_eq!(m["k_matched"], 4.0);
    assert_eq!(m["swap_beats_mv_at_40"], 0.0);
    assert!((m["savings_factor"] - 4.0 / 2.5).abs() < 1e-12);
    assert!((m["savings_vs_40"] - 16.0).abs() < 1e-12);
    assert!((m["mv_accuracy_at_40"] - 0.8).abs() < 1e-12);
    assert!((m["accuracy_gap_vs_40"] - (0.62 - 0.8)).abs() < 1e-12);
    // round(2.5) = 3 votes: MV 0.615
    assert!((m["baseline_accuracy_at_equal_clicks"] - 0.615).abs() < 1e-12);
    assert!((m["accuracy_gain_at_equal_clicks"] - 0.005).abs() < 1e-12);
    // more accurate than 40 votes: K* is the cap, flagged, and the factor a lower bound
    savings(&mut m, 0.9, 8.0, &curve);
    assert_eq!((m["k_matched"], m["swap_beats_mv_at_40"]), (40.0, 1.0));
    assert_eq!(m["savings_factor"], 5.0);
    assert!((m["accuracy_gap_vs_40"] - 0.1).abs() < 1e-12);
}

#[test]
fn calibration_records_of_a_hand_made_state() {
    let cfg = Swap {
        retire: true,
        ..Swap::default()
    };
    let mut st = SwapState::new(cfg, 5, 1, None);
    st.p = vec![0.995, 0.002, 0.55, 0.95, 0.3];
    st.retired = vec![true, true, false, false, false];
    let agg = st.to_aggregate();
    // galaxy 4 is gold (not scored); truth: positive = class 0
    let idx = [0, 1, 2, 3];
    let t = [Some(0), Some(1), Some(1), Some(0)];
    let mut m = BTreeMap::new();
    calibration(&mut m, &st, &subset(&agg, &idx), &idx, &t);
    assert_eq!(m["retired_share"], 0.5);
    assert_eq!(m["retired_accuracy"], 1.0);
    assert!((m["retired_confidence"] - (0.995 + 0.998) / 2.0).abs() < 1e-12);
    assert!((m["retired_ece"] - (2.0 - 0.995 - 0.998) / 2.0).abs() < 1e-12);
    assert_eq!(
        [m["reliability_bin9_n"], m["reliability_bin9_pos"]],
        [2.0, 2.0]
    );
    assert!((m["reliability_bin9_p"] - 1.945).abs() < 1e-12);
    assert_eq!(
        [m["reliability_bin5_n"], m["reliability_bin5_pos"]],
        [1.0, 0.0]
    );
    assert_eq!(
        [m["reliability_bin0_n"], m["reliability_bin0_pos"]],
        [1.0, 0.0]
    );
    assert_eq!(m["reliability_bin3_n"], 0.0);
}

#[test]
fn online_runs_are_deterministic_and_need_40_volunteers() {
    let cfg = online_cfg(0.05);
    let a = on_threads(1, || evaluate(&cfg, 2)).unwrap();
    assert_eq!(a, on_threads(3, || evaluate(&cfg, 2)).unwrap());
    assert!((a["savings_vs_40"] - 40.0 / a["clicks_per_galaxy"]).abs() < 1e-12);
    assert!((a["savings_factor"] - a["k_matched"] / a["clicks_per_galaxy"]).abs() < 1e-12);
    assert!(a["retired_confidence"] > 0.99, "{a:?}");
    // every record is a name `report.metrics` may ask for, and every SWAP name is recorded
    let known = crate::spec::task::recorded(ExperimentKind::Crowd, Target::Class);
    let w = world(&cfg, 2).unwrap();
    for k in online(&cfg, 2, &w).unwrap().records.keys() {
        assert!(known.contains(&k.as_str()), "{k} missing in spec::task");
    }
    for k in crate::spec::task::SWAP_RECORDS {
        assert!(a.contains_key(*k), "{k} not recorded");
    }
    let e = evaluate(
        &CrowdRunConfig {
            n_volunteers: 39,
            ..cfg
        },
        2,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("n_volunteers = 39") && e.contains(">= 40"),
        "{e}"
    );
}
