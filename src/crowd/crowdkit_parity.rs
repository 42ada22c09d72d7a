//! Cross-check against crowd-kit (the peer implementation). `sim_fixture_is_reproducible`
//! writes (with `GZBENCH_WRITE_FIXTURES=1`) or checks the committed simulated dataset
//! `fixtures/sim_classifications.csv`; `benches/peers/crowdkit_check.py` ran crowd-kit on it and
//! committed `fixtures/crowdkit_reference.json`; `matches_crowdkit` asserts our labels and
//! probabilities equal crowd-kit's within 1e-5.
//!
//! Ties: crowd-kit breaks label ties with `idxmax` over the sorted label columns, i.e. the lowest
//! class index, as we do; this is deterministic for exact ties (majority vote). Where two classes
//! differ by less than 1e-9 in crowd-kit's probabilities (floating-point summation order could
//! flip them), the label is not compared; probabilities always are. The number of such galaxies
//! is printed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::csv_io::read_csv;
use super::volunteers::{Crowd, simulate_fixed};
use super::{
    Aggregator, CrowdQuality, DawidSkene, MajorityVote, OneCoinDawidSkene, QuestionVotes, Wawa,
};
use crate::universe::{PopulationConfig, Question, sample_population};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/crowd/fixtures")
        .join(name)
}

/// 300 galaxies x 7 votes, 3 classes (smooth-or-featured with 20 % artifacts), 40 volunteers of
/// whom 15 % spammers. CSV columns `volunteer,galaxy,question,answer` with integer answers.
fn sim_fixture_text() -> String {
    let seed = 2024;
    let pop = PopulationConfig {
        artifact_fraction: 0.2,
        ..PopulationConfig::default()
    };
    let galaxies = sample_population(seed, 300, &pop);
    let quality = CrowdQuality {
        spammer_fraction: 0.15,
        ..CrowdQuality::default()
    };
    let crowd = Crowd::sample(seed, 40, &quality).expect("valid crowd");
    let cls = simulate_fixed(seed, &galaxies, &crowd, Question::SmoothOrFeatured, 7)
        .expect("valid stream");
    let mut s = String::from("volunteer,galaxy,question,answer\n");
    for i in 0..cls.len() {
        s.push_str(&format!(
            "v{},g{},smooth-or-featured,{}\n",
            cls.volunteer[i], cls.galaxy[i], cls.answer[i]
        ));
    }
    s
}

#[test]
fn sim_fixture_is_reproducible() {
    let path = fixture("sim_classifications.csv");
    let text = sim_fixture_text();
    if std::env::var_os("GZBENCH_WRITE_FIXTURES").is_some() {
        std::fs::write(&path, &text).expect("write fixture");
    }
    let committed = std::fs::read_to_string(&path)
        .expect("fixture missing: run with GZBENCH_WRITE_FIXTURES=1 to create it");
    assert_eq!(
        committed, text,
        "simulator output changed; regenerate both fixtures"
    );
    assert_eq!(text.lines().count(), 1 + 300 * 7);
}

pub(super) type Reference = BTreeMap<String, BTreeMap<String, serde_json::Value>>;

/// The committed crowd-kit reference (`fixtures/crowdkit_reference.json`).
pub(super) fn reference() -> Reference {
    serde_json::from_str(
        &std::fs::read_to_string(fixture("crowdkit_reference.json")).expect("reference fixture"),
    )
    .expect("reference JSON")
}

/// The fixture's votes (one 3-answer question) and the galaxy names in vote-index order.
pub(super) fn fixture_votes() -> (QuestionVotes, Vec<String>) {
    let cls = read_csv(fixture("sim_classifications.csv")).expect("fixture CSV");
    let votes = cls.for_question(0).expect("one question");
    let names = votes
        .galaxy_index
        .iter()
        .map(|&g| cls.galaxy_names[g as usize].clone())
        .collect();
    (votes, names)
}

/// Asserts that `agg` matches crowd-kit's entry `name` of the reference: probabilities within
/// 1e-5, labels equal except at near ties (see the module doc).
pub(super) fn compare(
    name: &str,
    votes: &QuestionVotes,
    names: &[String],
    agg: &super::Aggregate,
    r: &Reference,
) {
    compare_within(name, votes, names, agg, r, 1e-5);
}

/// [`compare`] with probabilities within `tol`.
#[allow(clippy::needless_range_loop)] // parallel indexing of three per-galaxy tables
pub(super) fn compare_within(
    name: &str,
    votes: &QuestionVotes,
    names: &[String],
    agg: &super::Aggregate,
    r: &Reference,
    tol: f64,
) {
    let reference = &r[name];
    let labels = reference["labels"].as_object().expect("labels object");
    let probas = reference["probas"].as_object().expect("probas object");
    assert_eq!(labels.len(), votes.n_galaxies, "{name}: galaxy count");
    let mut near_ties = 0;
    let mut max_diff: f64 = 0.0;
    for g in 0..votes.n_galaxies {
        let gname = &names[g];
        let p: Vec<f64> = probas[gname]
            .as_array()
            .expect("probability list")
            .iter()
            .map(|x| x.as_f64().expect("number"))
            .collect();
        for c in 0..votes.n_classes {
            let d = (p[c] - agg.row(g)[c]).abs();
            max_diff = max_diff.max(d);
            assert!(
                d < tol,
                "{name} {gname} class {c}: crowd-kit {} ours {}",
                p[c],
                agg.row(g)[c]
            );
        }
        let mut sorted = p.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        if sorted[0] - sorted[1] < 1e-9 && sorted[0] != sorted[1] {
            near_ties += 1;
            continue;
        }
        let want = labels[gname].as_u64().expect("integer label") as u32;
        assert_eq!(agg.labels[g], want, "{name} {gname} label");
    }
    eprintln!(
        "{name}: {} galaxies match crowd-kit (max |dp| = {max_diff:.2e}, {near_ties} near ties skipped)",
        votes.n_galaxies
    );
}

#[test]
fn matches_crowdkit() {
    let reference = reference();
    let (votes, names) = fixture_votes();
    assert_eq!(votes.n_classes, 3);
    let meta = &reference["meta"];
    let ds = DawidSkene {
        n_iter: meta["n_iter"].as_u64().expect("n_iter") as usize,
        tol: meta["tol"].as_f64().expect("tol"),
    };
    let oc = OneCoinDawidSkene {
        n_iter: ds.n_iter,
        tol: ds.tol,
    };
    let strategies: [(&str, &dyn Aggregator); 4] = [
        ("majority_vote", &MajorityVote),
        ("wawa", &Wawa),
        ("dawid_skene", &ds),
        ("one_coin_dawid_skene", &oc),
    ];
    for (name, s) in strategies {
        compare(
            name,
            &votes,
            &names,
            &s.aggregate(&votes).expect("aggregate"),
            &reference,
        );
    }
    // Same number of EM iterations as crowd-kit.
    assert_eq!(
        ds.fit(&votes).loss_history.len() as u64,
        reference["dawid_skene"]["iterations"]
            .as_u64()
            .expect("iterations")
    );
    assert_eq!(
        oc.fit(&votes).loss_history.len() as u64,
        reference["one_coin_dawid_skene"]["iterations"]
            .as_u64()
            .expect("iterations")
    );
}

/// MACE, ZeroBasedSkill, M-MSR, KOS and GoldMajorityVote against crowd-kit: probabilities (or
/// M-MSR's scores) within 1e-6, identical labels (near ties aside), equal iteration counts where
/// crowd-kit records them. MACE, M-MSR and KOS start from crowd-kit's own random draws, written
/// into the fixture; how each entry was made is in `benches/peers/crowdkit_check.py`.
mod skill_methods {
    use super::{compare_within, fixture, fixture_votes, read_csv, reference};
    use crate::crowd::{
        Aggregate, Aggregator, GoldMajorityVote, Kos, MMsr, Mace, MaceInit, QuestionVotes,
        ZeroBasedSkill,
    };
    use serde_json::Value;

    const TOL: f64 = 1e-6;

    fn volunteer_names() -> Vec<String> {
        read_csv(fixture("sim_classifications.csv"))
            .expect("fixture CSV")
            .volunteer_names
    }

    fn floats(v: &Value) -> Vec<f64> {
        v.as_array()
            .expect("number list")
            .iter()
            .map(|x| x.as_f64().expect("number"))
            .collect()
    }

    fn count(v: &Value) -> usize {
        v.as_u64().expect("integer") as usize
    }

    #[test]
    fn zero_based_skill_matches_crowdkit() {
        let (r, (votes, names)) = (reference(), fixture_votes());
        let agg = ZeroBasedSkill::default().aggregate(&votes).unwrap();
        compare_within("zero_based_skill", &votes, &names, &agg, &r, TOL);
    }

    #[test]
    fn mace_matches_crowdkit_from_its_initialisation() {
        let (r, (votes, names)) = (reference(), fixture_votes());
        let e = &r["mace"];
        let vn = volunteer_names();
        let per_volunteer = |key: &str| -> Vec<f64> {
            vn.iter().flat_map(|v| floats(&e["init"][key][v])).collect()
        };
        let mace = Mace {
            n_restarts: count(&e["n_restarts"]),
            n_iter: count(&e["n_iter"]),
            init: Some(MaceInit {
                spamming: per_volunteer("spamming"),
                thetas: per_volunteer("thetas"),
            }),
            ..Mace::default()
        };
        compare_within(
            "mace",
            &votes,
            &names,
            &mace.aggregate(&votes).unwrap(),
            &r,
            TOL,
        );
        eprintln!(
            "mace: crowd-kit on the raw worker names changes {} labels (its worker misalignment)",
            e["raw_name_label_changes"]
        );
    }

    #[test]
    fn m_msr_matches_crowdkit_from_its_initialisation() {
        let (mut r, (votes, names)) = (reference(), fixture_votes());
        let e = r["m_msr"].clone();
        let vn = volunteer_names();
        let mmsr = MMsr {
            n_iter: count(&e["n_iter"]),
            tol: e["tol"].as_f64().expect("tol"),
            init: Some(vn.iter().map(|v| e["init"][v].as_f64().unwrap()).collect()),
            ..MMsr::default()
        };
        let fit = mmsr.fit(&votes).unwrap();
        assert_eq!(fit.loss_history.len(), count(&e["iterations"]));
        for (v, name) in vn.iter().enumerate() {
            let want = e["skills"][name].as_f64().expect("skill");
            assert!(
                (fit.skills[v] - want).abs() < TOL,
                "{name}: {} vs {want}",
                fit.skills[v]
            );
        }
        // The scores (crowd-kit's predict_score) take the place of probabilities in `compare`.
        let entry = r.get_mut("m_msr").expect("m_msr entry");
        entry.insert("probas".into(), e["scores"].clone());
        let scores = Aggregate {
            n_classes: votes.n_classes,
            probs: fit.scores.clone(),
            labels: fit.labels.clone(),
            clicks_used: vec![0; votes.n_galaxies],
        };
        compare_within("m_msr", &votes, &names, &scores, &r, TOL);
        let agg = mmsr.aggregate(&votes).unwrap();
        assert_eq!(agg.labels, fit.labels);
        assert!((0..votes.n_galaxies).all(|g| agg.row(g)[fit.labels[g] as usize] == 1.0));
    }

    #[test]
    fn kos_matches_crowdkit_on_answer_1_vs_rest() {
        // The fixture's answers mapped to binary: label 0 = answer 1, label 1 = any other.
        let (r, (votes, names)) = (reference(), fixture_votes());
        let e = &r["kos"];
        let answer = votes.answer.iter().map(|&a| u32::from(a != 1)).collect();
        let binary = QuestionVotes::new(
            2,
            votes.n_galaxies,
            votes.n_volunteers,
            votes.galaxy.clone(),
            votes.volunteer.clone(),
            answer,
        )
        .unwrap();
        let kos = Kos {
            n_iter: count(&e["n_iter"]),
            init: Some(floats(&e["init"])),
            ..Kos::default()
        };
        let fit = kos.fit(&binary).unwrap();
        for (g, name) in names.iter().enumerate() {
            assert_eq!(
                fit.labels[g],
                count(&e["labels"][name]) as u32,
                "kos {name}"
            );
        }
        let zeros = fit.labels.iter().filter(|&&l| l == 0).count();
        eprintln!(
            "kos: {} galaxies match crowd-kit ({zeros} labelled answer 1) after {} rounds",
            names.len(),
            fit.iterations
        );
        assert!(zeros > 0 && zeros < names.len());
    }

    #[test]
    fn gold_majority_vote_matches_crowdkit() {
        let (r, (mut votes, names)) = (reference(), fixture_votes());
        let e = &r["gold_majority_vote"];
        let gold: Vec<Option<u32>> = names
            .iter()
            .map(|n| e["gold"].get(n).map(|l| count(l) as u32))
            .collect();
        assert_eq!(gold.iter().flatten().count(), 100);
        votes.gold = Some(gold);
        let skills = GoldMajorityVote.skills(&votes).unwrap();
        for (v, name) in volunteer_names().iter().enumerate() {
            let want = e["skills"][name].as_f64().expect("skill");
            assert!(
                (skills[v] - want).abs() < TOL,
                "{name}: {} vs {want}",
                skills[v]
            );
        }
        let agg = GoldMajorityVote.aggregate(&votes).unwrap();
        compare_within("gold_majority_vote", &votes, &names, &agg, &r, TOL);
    }
}
