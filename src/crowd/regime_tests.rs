//! Tests that each crowd regime ([`QualityPreset`] `class-confusion`, `galaxy-difficulty`,
//! `spammers`) shows, in simulated answers, the property its model assumes.

use super::volunteers::{Crowd, VolunteerKind, simulate_fixed, truth};
use super::{Classifications, CrowdQuality, QualityPreset};
use crate::universe::{Galaxy, PopulationConfig, Question, sample_population};

const Q: Question = Question::SmoothOrFeatured;

struct Sim {
    galaxies: Vec<Galaxy>,
    crowd: Crowd,
    cls: Classifications,
    truth: Vec<Option<u32>>,
}

fn sim(preset: QualityPreset, n_galaxies: usize, n_volunteers: usize, k: usize) -> Sim {
    let galaxies = sample_population(21, n_galaxies, &PopulationConfig::default());
    let crowd = Crowd::sample(21, n_volunteers, &CrowdQuality::preset(preset)).unwrap();
    let cls = simulate_fixed(21, &galaxies, &crowd, Q, k).unwrap();
    let truth = truth(&galaxies, Q);
    Sim {
        galaxies,
        crowd,
        cls,
        truth,
    }
}

/// Difficulty tercile edges of the galaxies.
fn terciles(galaxies: &[Galaxy]) -> (f32, f32) {
    let mut d: Vec<f32> = galaxies.iter().map(|g| g.difficulty).collect();
    d.sort_by(f32::total_cmp);
    (d[d.len() / 3], d[2 * d.len() / 3])
}

/// Votes counted by (volunteer or all, tercile, true class, answer), for the volunteers `keep`.
fn counts(s: &Sim, keep: &dyn Fn(usize) -> bool) -> Vec<[[[f64; 3]; 3]; 3]> {
    let (lo, hi) = terciles(&s.galaxies);
    let mut c = vec![[[[0.0; 3]; 3]; 3]; s.crowd.len()];
    for i in 0..s.cls.len() {
        let (v, g) = (s.cls.volunteer[i] as usize, s.cls.galaxy[i] as usize);
        if !keep(v) {
            continue;
        }
        let d = s.galaxies[g].difficulty;
        let bin = usize::from(d >= lo) + usize::from(d >= hi);
        let t = s.truth[g].unwrap() as usize;
        c[v][bin][t][s.cls.answer[i] as usize] += 1.0;
    }
    c
}

/// `P(answer = a | truth = t)` of counts summed over `bins`.
fn rate(c: &[[[f64; 3]; 3]; 3], bins: &[usize], t: usize, a: usize) -> f64 {
    let n: f64 = bins.iter().map(|&b| c[b][t].iter().sum::<f64>()).sum();
    bins.iter().map(|&b| c[b][t][a]).sum::<f64>() / n
}

fn pooled(c: &[[[[f64; 3]; 3]; 3]]) -> [[[f64; 3]; 3]; 3] {
    let mut p = [[[0.0; 3]; 3]; 3];
    for cv in c {
        for b in 0..3 {
            for t in 0..3 {
                for a in 0..3 {
                    p[b][t][a] += cv[b][t][a];
                }
            }
        }
    }
    p
}

#[test]
fn galaxy_difficulty_accuracy_depends_on_the_galaxy_not_the_class() {
    let s = sim(QualityPreset::GalaxyDifficulty, 4000, 200, 15);
    // The model itself: for every volunteer the chance of the true answer is the same whatever
    // the true class, falls with difficulty, and the errors are spread evenly.
    for v in 0..s.crowd.len() {
        for d in [0.2, 0.5, 0.8] {
            let p: Vec<Vec<f64>> = (0..3).map(|t| s.crowd.answer_probs(v, Q, t, d)).collect();
            for t in 0..3 {
                assert!((p[t][t] - p[0][0]).abs() < 1e-12);
                let wrong: Vec<f64> = (0..3).filter(|&a| a != t).map(|a| p[t][a]).collect();
                assert!((wrong[0] - wrong[1]).abs() < 1e-12);
            }
        }
        let easy = s.crowd.answer_probs(v, Q, 0, 0.2)[0];
        let hard = s.crowd.answer_probs(v, Q, 0, 0.8)[0];
        assert!((easy - 0.5) * (hard - 0.5) >= 0.0 && (hard - 0.5).abs() < (easy - 0.5).abs());
    }
    // The simulated answers: within a difficulty tercile smooth and featured galaxies are
    // answered correctly equally often; across terciles accuracy falls; errors split evenly.
    let c = pooled(&counts(&s, &|_| true));
    for b in 0..3 {
        let (acc_s, acc_f) = (rate(&c, &[b], 0, 0), rate(&c, &[b], 1, 1));
        assert!(
            (acc_s - acc_f).abs() < 0.03,
            "tercile {b}: {acc_s} vs {acc_f}"
        );
    }
    let (easy, hard) = (rate(&c, &[0], 0, 0), rate(&c, &[2], 0, 0));
    assert!(easy - hard > 0.1, "easy {easy}, hard {hard}");
    let (to_f, to_a) = (rate(&c, &[0, 1, 2], 0, 1), rate(&c, &[0, 1, 2], 0, 2));
    assert!(
        (to_f - to_a).abs() < 0.02,
        "smooth sent to featured {to_f}, to artifact {to_a}"
    );
}

#[test]
fn class_confusion_volunteers_have_asymmetric_class_dependent_confusion() {
    let s = sim(QualityPreset::ClassConfusion, 3000, 40, 20);
    let c = counts(&s, &|_| true);
    let all = [0, 1, 2];
    // Per volunteer: accuracy on smooth vs featured galaxies, and smooth->featured vs
    // featured->smooth confusion, over the galaxies they answered.
    let (mut gap, mut asym) = (Vec::new(), Vec::new());
    for cv in &c {
        let n_f: f64 = (0..3).map(|b| cv[b][1].iter().sum::<f64>()).sum();
        if n_f < 100.0 {
            continue;
        }
        gap.push((rate(cv, &all, 0, 0) - rate(cv, &all, 1, 1)).abs());
        asym.push((rate(cv, &all, 0, 1) - rate(cv, &all, 1, 0)).abs());
    }
    assert!(gap.len() >= 20, "{} active volunteers", gap.len());
    let median = |x: &mut Vec<f64>| {
        x.sort_by(f64::total_cmp);
        x[x.len() / 2]
    };
    let (g, a) = (median(&mut gap), median(&mut asym));
    assert!(g > 0.15, "median class-accuracy gap {g}");
    assert!(a > 0.1, "median |P(f|s) - P(s|f)| {a}");
    // No per-galaxy difficulty: accuracy is the same on easy and hard galaxies.
    let p = pooled(&c);
    let (easy, hard) = (rate(&p, &[0], 0, 0), rate(&p, &[2], 0, 0));
    assert!((easy - hard).abs() < 0.03, "easy {easy}, hard {hard}");
    // The Galaxy Zoo-like crowd for contrast: one skill per volunteer, so gaps are small on
    // easy galaxies, where difficulty does not blur them.
    let d = sim(QualityPreset::Default, 3000, 40, 20);
    let mut gap_d: Vec<f64> = counts(&d, &|v| {
        d.crowd.volunteers[v].kind == VolunteerKind::Genuine
    })
    .iter()
    .filter(|cv| cv[0][1].iter().sum::<f64>() >= 30.0)
    .map(|cv| (rate(cv, &[0], 0, 0) - rate(cv, &[0], 1, 1)).abs())
    .collect();
    assert!(median(&mut gap_d) < g / 2.0, "default crowd gap {gap_d:?}");
}

#[test]
fn spammers_ignore_the_truth_and_adversaries_avoid_it() {
    let s = sim(QualityPreset::Spammers, 3000, 300, 10);
    let kinds: Vec<VolunteerKind> = s.crowd.volunteers.iter().map(|v| v.kind).collect();
    let share = |k: VolunteerKind| kinds.iter().filter(|&&x| x == k).count() as f64 / 300.0;
    let spam = share(VolunteerKind::RandomSpammer) + share(VolunteerKind::ConstantSpammer);
    assert!((0.33..0.47).contains(&spam), "spammer share {spam}");
    assert!((0.02..0.09).contains(&share(VolunteerKind::Adversary)));
    let all = [0, 1, 2];
    let is_spammer = |v: usize| {
        matches!(
            kinds[v],
            VolunteerKind::RandomSpammer | VolunteerKind::ConstantSpammer
        )
    };
    // Each spammer answers a smooth galaxy as they answer a featured one.
    for cv in counts(&s, &is_spammer) {
        let n = |t: usize| (0..3).map(|b| cv[b][t].iter().sum::<f64>()).sum::<f64>();
        if n(0) < 30.0 || n(1) < 30.0 {
            continue;
        }
        let tv: f64 = (0..3)
            .map(|a| (rate(&cv, &all, 0, a) - rate(&cv, &all, 1, a)).abs())
            .sum::<f64>()
            / 2.0;
        assert!(tv < 0.3, "spammer answers depend on the truth: {cv:?}");
    }
    let pooled_spam = pooled(&counts(&s, &is_spammer));
    let tv: f64 = (0..3)
        .map(|a| (rate(&pooled_spam, &all, 0, a) - rate(&pooled_spam, &all, 1, a)).abs())
        .sum::<f64>()
        / 2.0;
    assert!(
        tv < 0.03,
        "pooled spammer answers depend on the truth: {tv}"
    );
    let adv = pooled(&counts(&s, &|v| kinds[v] == VolunteerKind::Adversary));
    let total: f64 = adv.iter().flatten().flatten().sum();
    let truthful: f64 = adv
        .iter()
        .flat_map(|bin| bin.iter().enumerate().map(|(t, row)| row[t]))
        .sum();
    assert!(total > 100.0 && truthful == 0.0, "adversaries: {adv:?}");
    let rel = pooled(&counts(&s, &|v| kinds[v] == VolunteerKind::Genuine));
    for t in 0..2 {
        assert!(
            rate(&rel, &all, t, t) > 0.85,
            "reliable volunteers on class {t}"
        );
    }
}
