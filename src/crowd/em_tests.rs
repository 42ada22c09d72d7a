//! Tests of the EM engine: the fused pass against a plain reference Dawid-Skene, and results
//! independent of the thread count and of the vector width.

use rand::Rng;

use super::*;
use crate::crowd::dawid_skene::seen_answers;
use crate::crowd::{DawidSkene, OneCoinDawidSkene, on_threads};

/// Random votes: `n_gal` galaxies x `per` votes from `n_vol` volunteers on `k` answers,
/// each volunteer right with probability 0.5..0.95 (else a uniform wrong answer).
fn random_votes(k: usize, n_gal: usize, per: usize, n_vol: usize) -> QuestionVotes {
    let mut rng = crate::rng::stream(11, "crowd/test-em-votes");
    let skill: Vec<f64> = (0..n_vol).map(|_| rng.random_range(0.5..0.95)).collect();
    let (mut g, mut v, mut a) = (Vec::new(), Vec::new(), Vec::new());
    for gi in 0..n_gal {
        let truth = rng.random_range(0..k as u32);
        for _ in 0..per {
            let vi = rng.random_range(0..n_vol);
            let ans = if rng.random::<f64>() < skill[vi] {
                truth
            } else {
                (truth + rng.random_range(1..k as u32)) % k as u32
            };
            g.push(gi as u32);
            v.push(vi as u32);
            a.push(ans);
        }
    }
    QuestionVotes::new(k, n_gal, n_vol, g, v, a).unwrap()
}

/// Dawid-Skene written the plain way (libm exp and ln, one loop per step), the reference
/// for the fused engine.
fn reference_ds(votes: &QuestionVotes, n_iter: usize, tol: f64) -> (Vec<f64>, usize) {
    let k = votes.n_classes;
    let seen = seen_answers(votes);
    let mut probs = weighted_fractions(votes, None);
    let mean = |p: &[f64]| -> Vec<f64> {
        (0..k)
            .map(|c| p.chunks(k).map(|r| r[c]).sum::<f64>() / votes.n_galaxies as f64)
            .collect()
    };
    let m_step = |p: &[f64]| -> Vec<f64> {
        let mut e = vec![0.0; votes.n_volunteers * k * k];
        for i in 0..votes.len() {
            let (v, a, g) = (
                votes.volunteer[i] as usize,
                votes.answer[i] as usize,
                votes.galaxy[i] as usize,
            );
            for c in 0..k {
                e[(v * k + a) * k + c] += p[g * k + c];
            }
        }
        for v in 0..votes.n_volunteers {
            for c in 0..k {
                let idx = |a: usize| (v * k + a) * k + c;
                let mut s = 0.0;
                for a in (0..k).filter(|&a| seen[v * k + a]) {
                    e[idx(a)] = e[idx(a)].max(EPS);
                    s += e[idx(a)];
                }
                for a in (0..k).filter(|&a| seen[v * k + a]) {
                    e[idx(a)] /= s;
                }
            }
        }
        e
    };
    let sums = |e: &[f64]| -> Vec<f64> {
        let mut s = vec![0.0; votes.n_galaxies * k];
        for i in 0..votes.len() {
            let key = votes.volunteer[i] as usize * k + votes.answer[i] as usize;
            for c in 0..k {
                s[votes.galaxy[i] as usize * k + c] += e[key * k + c].ln();
            }
        }
        s
    };
    let mut priors = mean(&probs);
    let mut errors = m_step(&probs);
    let (mut loss, mut iters) = (f64::NEG_INFINITY, 0);
    for _ in 0..n_iter {
        let s = sums(&errors);
        for (row, srow) in probs.chunks_mut(k).zip(s.chunks(k)) {
            let x: Vec<f64> = (0..k).map(|c| srow[c] + priors[c].max(EPS).ln()).collect();
            let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = x.iter().map(|x| (x - m).exp()).sum();
            for c in 0..k {
                row[c] = (x[c] - m).exp() / z;
            }
        }
        priors = mean(&probs);
        errors = m_step(&probs);
        let s = sums(&errors);
        let mut elbo = 0.0;
        for g in 0..votes.n_galaxies {
            let n = votes.by_galaxy.row(g).len() as f64;
            for c in 0..k {
                let p = probs[g * k + c];
                elbo += p * (s[g * k + c] + n * priors[c].max(EPS).ln());
                elbo -= p.max(EPS) * p.max(EPS).ln();
            }
        }
        let elbo = elbo / votes.len() as f64;
        iters += 1;
        if elbo - loss < tol {
            break;
        }
        loss = elbo;
    }
    (probs.iter().map(|p| p.max(EPS)).collect(), iters)
}

#[test]
fn fused_engine_matches_the_plain_algorithm() {
    // K = 3 (padded rows, vector path), K = 2 and K = 7 (the generic path).
    for (k, n_gal) in [(3, 400), (2, 300), (7, 300)] {
        let votes = random_votes(k, n_gal, 6, 30);
        let fit = DawidSkene::default().fit(&votes);
        let (want, iters) = reference_ds(&votes, 100, 1e-5);
        assert_eq!(fit.loss_history.len(), iters, "K = {k}: iterations");
        assert!(iters > 2, "K = {k}: {iters} iterations");
        let worst = fit
            .probs
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-9, "K = {k}: max |dp| = {worst:e}");
    }
}

#[test]
fn results_do_not_depend_on_threads_or_vector_width() {
    let votes = random_votes(3, 2000, 8, 50);
    let run = |threads: usize| {
        on_threads(threads, || {
            (
                DawidSkene::default().fit(&votes),
                OneCoinDawidSkene::default().fit(&votes),
            )
        })
    };
    let (one, three) = (run(1), run(3));
    assert_eq!(one, three);
    // The AVX2 build of a pass equals the baseline build bit for bit.
    let ly = Layout::new(&votes);
    assert!(ly.blocks > 1, "{} blocks", ly.blocks);
    let cur = weighted_fractions(&votes, None);
    let log_err: Vec<f64> = (0..ly.table()).map(|i| -((i % 13) as f64) * 0.37).collect();
    let log_prior = [-1.2, -0.9, -1.3];
    let (mut n1, mut n2) = (vec![0.0; cur.len()], vec![0.0; cur.len()]);
    let (mut t1, mut t2) = (vec![0.0; ly.table()], vec![0.0; ly.table()]);
    let per = ly.per * 3;
    let s1 = pass_block::<3, 4>(
        &ly,
        1,
        &log_err,
        &log_prior,
        &cur,
        &mut n1[per..2 * per],
        &mut t1,
    );
    let s2 = pass_block_best::<3, 4>(
        &ly,
        1,
        &log_err,
        &log_prior,
        &cur,
        &mut n2[per..2 * per],
        &mut t2,
    );
    assert_eq!(
        (s1.joint, s1.neg_entropy, &s1.col),
        (s2.joint, s2.neg_entropy, &s2.col)
    );
    assert_eq!((&n1, &t1), (&n2, &t2));
    assert!(n1[per..2 * per].iter().all(|&p| p > 0.0));
}
