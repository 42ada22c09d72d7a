//! Tests of `glad`: crowd-kit parity on the committed fixture, a hand-computed E-step, the
//! gradient against finite differences, the converge mode, thread-count independence, edge cases.
use rand::Rng;

use super::super::crowdkit_parity::{compare_within, fixture_votes, reference};
use super::super::{MajorityVote, argmax, on_threads};
use super::*;

#[test]
fn matches_crowdkit_glad() {
    let r = reference();
    let (votes, names) = fixture_votes();
    let fit = Glad::default().fit(&votes).unwrap();
    let agg = Aggregate::from_probs(&votes, fit.probs.clone());
    compare_within("glad", &votes, &names, &agg, &r, 1e-6);
    let iterations = r["glad"]["iterations"].as_u64().expect("iterations");
    assert_eq!(fit.loss_history.len() as u64, iterations);
}

#[test]
fn e_step_by_hand() {
    // Galaxy 0: both volunteers say 0; galaxy 1: volunteer 0 says 1, volunteer 1 says 2.
    let votes = QuestionVotes::new(
        3,
        2,
        2,
        vec![0, 0, 1, 1],
        vec![0, 1, 0, 1],
        vec![0, 0, 1, 2],
    )
    .unwrap();
    let model = Model::new(&votes);
    let (post, evidence) = model.e_step(&[1.0; 4]);
    // alpha = beta = 1: right with sigma(e), each wrong answer (1 - sigma(e)) / 2.
    let right = 1.0 / (1.0 + (-std::f64::consts::E).exp());
    let wrong = (1.0 - right) / 2.0;
    let g0 = [right * right, wrong * wrong, wrong * wrong];
    let g1 = [wrong * wrong, wrong * right, wrong * right];
    let (z0, z1) = (g0.iter().sum::<f64>(), g1.iter().sum::<f64>());
    let want: Vec<f64> = g0
        .iter()
        .map(|p| p / z0)
        .chain(g1.iter().map(|p| p / z1))
        .collect();
    for (a, b) in post.iter().zip(&want) {
        assert!((a - b).abs() < 1e-14, "{post:?} vs {want:?}");
    }
    let want_evidence = (z0 / 3.0).ln() + (z1 / 3.0).ln();
    assert!((evidence - want_evidence).abs() < 1e-12);
}

#[test]
fn gradient_matches_finite_differences() {
    let (votes, _) = fixture_votes();
    let model = Model::new(&votes);
    let n = model.n_vol + model.n_gal();
    let mut rng = crate::rng::stream(1, "crowd/glad-test/params");
    let x: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..2.0)).collect();
    let post = model.e_step(&x).0;
    let mut grad = vec![0.0; n];
    model.objective(&x, &post, &mut grad);
    let mut scratch = vec![0.0; n];
    for i in [0, 7, model.n_vol - 1, model.n_vol, n / 2, n - 1] {
        let h = 1e-5;
        let (mut up, mut down) = (x.clone(), x.clone());
        up[i] += h;
        down[i] -= h;
        let fd = (model.objective(&up, &post, &mut scratch)
            - model.objective(&down, &post, &mut scratch))
            / (2.0 * h);
        assert!(
            (fd - grad[i]).abs() < 1e-5 * (1.0 + fd.abs()),
            "{i}: {fd} vs {}",
            grad[i]
        );
    }
}

/// GLAD's own generative model: per-volunteer ability (15 % adversarial), per-galaxy
/// inverse difficulty, `votes` votes per galaxy from random volunteers; returns the votes
/// and the true classes.
fn glad_world(seed: u64, n_gal: usize, n_vol: usize, votes: usize) -> (QuestionVotes, Vec<u32>) {
    let mut rng = crate::rng::stream(seed, "crowd/glad-test/world");
    let alpha: Vec<f64> = (0..n_vol)
        .map(|_| {
            let a = rng.random_range(0.3..3.0);
            if rng.random::<f64>() < 0.15 { -a } else { a }
        })
        .collect();
    let (mut gal, mut vol, mut ans, mut truth) = (vec![], vec![], vec![], vec![]);
    for g in 0..n_gal {
        let t = rng.random_range(0..3u32);
        truth.push(t);
        let inv_difficulty = rng.random_range(-1.5f64..1.5).exp();
        for _ in 0..votes {
            let v = rng.random_range(0..n_vol);
            let p = 1.0 / (1.0 + (-alpha[v] * inv_difficulty).exp());
            let a = if rng.random::<f64>() < p {
                t
            } else {
                (t + rng.random_range(1..3u32)) % 3
            };
            gal.push(g as u32);
            vol.push(v as u32);
            ans.push(a);
        }
    }
    (
        QuestionVotes::new(3, n_gal, n_vol, gal, vol, ans).unwrap(),
        truth,
    )
}

fn accuracy(agg: &Aggregate, truth: &[u32]) -> f64 {
    let hits = agg.labels.iter().zip(truth).filter(|(a, b)| a == b).count();
    hits as f64 / truth.len() as f64
}

/// The log posterior per vote at a fit's parameters.
fn log_posterior(votes: &QuestionVotes, fit: &GladFit) -> f64 {
    let model = Model::new(votes);
    let mut x: Vec<f64> = fit.alphas.clone();
    x.extend(&fit.betas);
    (model.e_step(&x).1 + model.log_prior(&x)) / votes.len() as f64
}

#[test]
fn converging_raises_the_log_posterior() {
    // On the fixture crowd-kit's rule stops after 2 iterations (Q falls at the second).
    let (votes, _) = fixture_votes();
    let default = Glad::default().fit(&votes).unwrap();
    assert_eq!(default.loss_history.len(), 2);
    let converge = Glad {
        converge: true,
        ..Glad::default()
    };
    let conv = converge.fit(&votes).unwrap();
    // Generalised EM: the log posterior never falls, and it ends above crowd-kit's stop.
    let h = &conv.loss_history;
    assert!(h.windows(2).all(|w| w[1] >= w[0] - 1e-12), "{h:?}");
    assert!(h.len() > 2, "{h:?}");
    let (lp_default, lp_conv) = (
        log_posterior(&votes, &default),
        log_posterior(&votes, &conv),
    );
    assert!((lp_conv - h[h.len() - 1]).abs() < 1e-12);
    eprintln!(
        "log posterior per vote: crowd-kit stop {lp_default:.5} ({} iterations), converged \
         {lp_conv:.5} ({} iterations)",
        default.loss_history.len(),
        h.len()
    );
    assert!(lp_conv > lp_default + 1e-3, "{lp_conv} vs {lp_default}");
}

#[test]
fn beats_majority_vote_on_its_own_model() {
    let (votes, truth) = glad_world(3, 3000, 150, 5);
    let fit = |converge| {
        let glad = Glad {
            converge,
            ..Glad::default()
        };
        Aggregate::from_probs(&votes, glad.fit(&votes).unwrap().probs)
    };
    let a_mv = accuracy(&MajorityVote.aggregate(&votes).unwrap(), &truth);
    let (a_def, a_conv) = (accuracy(&fit(false), &truth), accuracy(&fit(true), &truth));
    eprintln!("accuracy: majority vote {a_mv:.4}, glad {a_def:.4}, converged {a_conv:.4}");
    assert!(
        a_def > a_mv + 0.01 && a_conv > a_mv + 0.01,
        "{a_def} {a_conv} vs {a_mv}"
    );
}

#[test]
fn independent_of_thread_count() {
    let (votes, _) = glad_world(4, 5000, 200, 4);
    assert!(Model::new(&votes).n_gal() / Model::new(&votes).per_block >= 4);
    let run = |threads: usize| on_threads(threads, || Glad::default().fit(&votes).unwrap());
    let one = run(1);
    assert_eq!(one, run(3));
    assert_eq!(one, run(4));
}

#[test]
fn edge_cases() {
    assert!(
        Glad::default()
            .fit(&QuestionVotes::new(3, 1, 1, vec![], vec![], vec![]).unwrap())
            .is_err()
    );
    // One answer only: certain.
    let one = QuestionVotes::new(3, 2, 2, vec![0, 1], vec![0, 1], vec![2, 2]).unwrap();
    let fit = Glad::default().fit(&one).unwrap();
    assert_eq!(fit.probs, vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
    // Answers nobody gave, galaxies and volunteers without votes change nothing else.
    let (votes, _) = glad_world(5, 60, 10, 4);
    let base = Glad::default().fit(&votes).unwrap();
    let pad = |x: &[u32], by: u32| x.iter().map(|&i| i + by).collect::<Vec<_>>();
    let answers: Vec<u32> = votes
        .answer
        .iter()
        .map(|&a| [0, 2, 3][a as usize])
        .collect();
    let padded = QuestionVotes::new(
        4,
        61,
        12,
        pad(&votes.galaxy, 1),
        pad(&votes.volunteer, 2),
        answers,
    )
    .unwrap();
    let fit = Glad::default().fit(&padded).unwrap();
    assert_eq!(fit.loss_history, base.loss_history);
    assert_eq!(&fit.probs[..4], &[1.0 / 3.0, 0.0, 1.0 / 3.0, 1.0 / 3.0]);
    for g in 0..60 {
        let p = &fit.probs[(g + 1) * 4..(g + 2) * 4];
        let b = &base.probs[g * 3..(g + 1) * 3];
        assert_eq!((p[0], p[1], p[2], p[3]), (b[0], 0.0, b[1], b[2]));
        assert_eq!(argmax(p), [0, 2, 3][argmax(b) as usize]);
    }
    assert_eq!(&fit.alphas[..2], &[1.0, 1.0]);
    assert_eq!(fit.alphas[2..], base.alphas[..]);
}

#[test]
fn vote_terms_match_libm() {
    // ln sigma, ln(1 - sigma) through crowd-kit's cut-off softplus, and sigma, in plain libm.
    let softplus = |x: f64| {
        if x > 30.0 {
            x
        } else if x < -30.0 {
            0.0
        } else {
            x.exp().ln_1p()
        }
    };
    let mut t = Terms::default();
    let mut rng = crate::rng::stream(2, "crowd/glad-test/terms");
    t.ab = (0..999).map(|_| rng.random_range(-40.0..40.0)).collect();
    t.ab.extend([
        0.0,
        -0.0,
        30.0,
        -30.0,
        1e-300,
        -1e-300,
        700.0,
        -700.0,
        f64::NAN,
    ]);
    t.compute();
    let mut portable = Terms {
        ab: t.ab.clone(),
        ..Terms::default()
    };
    portable.compute_portable();
    for (i, &x) in t.ab.iter().enumerate() {
        let want = [-softplus(-x), -softplus(x), 1.0 / (1.0 + (-x).exp())];
        let got = [t.ls[i], t.l1m[i], t.sigma[i]];
        for (g, w) in got.iter().zip(want) {
            let close = (g - w).abs() <= 4.0 * f64::EPSILON * w.abs().max(1e-300);
            assert!(
                close || (g.is_nan() && w.is_nan()),
                "x = {x}: {got:?} vs {want:?}"
            );
        }
        // The SIMD path and the portable one agree bit for bit.
        let p = [portable.ls[i], portable.l1m[i], portable.sigma[i]];
        assert_eq!(p.map(f64::to_bits), got.map(f64::to_bits), "x = {x}");
    }
}
