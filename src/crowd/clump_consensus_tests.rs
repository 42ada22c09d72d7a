//! Tests of Clump Scout click aggregation (`crowd::clump_consensus`): hand-made marks, then
//! simulated volunteers on rendered galaxies.

use super::*;

fn mark(galaxy: usize, volunteer: usize, x: f32, y: f32) -> Mark {
    Mark {
        galaxy,
        volunteer,
        at: Point::new(x, y),
        odd: false,
    }
}

fn plain() -> ConsensusConfig {
    ConsensusConfig {
        weighted: false,
        ..ConsensusConfig::default()
    }
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-5
}

/// Two tight groups (volunteers 0-3 near (10, 10), 0-2 and 4 near (30, 30)) and two singletons.
fn two_groups() -> Vec<Mark> {
    let mut m = vec![
        mark(0, 0, 10.0, 10.0),
        mark(0, 1, 11.0, 10.0),
        mark(0, 2, 10.0, 12.0),
        mark(0, 3, 9.0, 11.0),
        mark(0, 0, 30.0, 30.0),
        mark(0, 1, 31.0, 29.0),
        mark(0, 2, 29.5, 30.5),
        mark(0, 4, 30.5, 31.5),
        mark(0, 4, 50.0, 5.0),
        mark(0, 3, 5.0, 50.0),
    ];
    m[3].odd = true;
    m[2].odd = true;
    m
}

#[test]
fn two_groups_become_two_clumps_at_their_means_and_singletons_score_low() {
    let marks = two_groups();
    let shown = vec![vec![0, 1, 2, 3, 4]];
    let (c, skills) = aggregate(&marks, 1, &shown, &plain());
    assert!(skills.is_empty());
    // ordered by y: singleton (50, 5), group A, group B, singleton (5, 50)
    assert_eq!(c.len(), 4);
    assert_eq!(c.iter().map(|c| c.marks).collect::<Vec<_>>(), [1, 4, 4, 1]);
    assert!(close(c[1].at.x, 10.0) && close(c[1].at.y, 10.75)); // (40/4, 43/4)
    assert!(close(c[2].at.x, 30.25) && close(c[2].at.y, 30.25)); // (121/4, 121/4)
    assert_eq!(
        (c[0].at, c[3].at),
        (Point::new(50.0, 5.0), Point::new(5.0, 50.0))
    );
    assert_eq!(
        [c[0].score, c[1].score, c[2].score, c[3].score],
        [0.2, 0.8, 0.8, 0.2]
    );
    assert_eq!((c[1].odd, c[2].odd), (0.5, 0.0));

    let (w, skills) = aggregate(&marks, 1, &shown, &ConsensusConfig::default());
    assert_eq!(skills.len(), 5);
    assert!(w[1].score > 0.95 && w[2].score > 0.95, "{w:?}");
    assert!(w[0].score < 0.15 && w[3].score < 0.15, "{w:?}");
    // weighted means with the returned weights: A = volunteers 0, 1, 2, 3
    let wt: Vec<f32> = skills.iter().map(|s| s.weight).collect();
    let sw = wt[0] + wt[1] + wt[2] + wt[3];
    let x = (10.0 * wt[0] + 11.0 * wt[1] + 10.0 * wt[2] + 9.0 * wt[3]) / sw;
    let y = (10.0 * wt[0] + 10.0 * wt[1] + 12.0 * wt[2] + 11.0 * wt[3]) / sw;
    assert!(
        close(w[1].at.x, x) && close(w[1].at.y, y),
        "{:?} vs {x} {y}",
        w[1].at
    );
    assert!(close(w[1].odd, (wt[2] + wt[3]) / sw));
    // volunteers 3 and 4 made a spurious mark each: less reliable than 0-2
    assert!(wt[3] < wt[0] && wt[4] < wt[0] && skills[3].fpr > skills[0].fpr);
    assert_eq!((skills[3].galaxies, skills[3].marks), (1, 2));
}

#[test]
fn a_volunteer_who_marks_everywhere_gets_little_weight_and_weighting_flips_decisions() {
    // 0 and 1 are careful; 2, 3 and 4 mark the real clump and three random spots each
    let mut marks = Vec::new();
    for g in 0..30 {
        for v in 0..5 {
            marks.push(mark(g, v, 20.0 + 0.1 * v as f32, 20.0));
        }
        for v in 2..5 {
            for s in 0..3 {
                let (a, b) = (
                    (g * 7 + v * 13 + s * 29) % 50,
                    (g * 11 + v * 3 + s * 17) % 50,
                );
                marks.push(mark(
                    g,
                    v,
                    5.0 + a as f32,
                    35.0 + b as f32 * 0.5 + v as f32 * 0.1,
                ));
            }
        }
    }
    // the galaxy to decide: a faint clump only 0 and 1 saw, a spot only 2, 3 and 4 marked
    marks.extend([mark(30, 0, 40.0, 10.0), mark(30, 1, 40.5, 10.0)]);
    marks.extend([
        mark(30, 2, 10.0, 5.0),
        mark(30, 3, 10.3, 5.2),
        mark(30, 4, 9.8, 5.1),
    ]);
    let shown = vec![vec![0, 1, 2, 3, 4]; 31];
    let (p, _) = aggregate(&marks, 31, &shown, &plain());
    let (w, skills) = aggregate(&marks, 31, &shown, &ConsensusConfig::default());
    let last = |c: &[Consensus]| {
        c.iter()
            .filter(|c| c.galaxy == 30)
            .copied()
            .collect::<Vec<_>>()
    };
    let (p, w) = (last(&p), last(&w));
    assert_eq!(p.len(), 2);
    // p[0] is the spot (y = 5), p[1] the clump (y = 10)
    assert!(close(p[0].score, 0.6) && close(p[1].score, 0.4));
    assert!(w[0].score < 0.1 && w[1].score > 0.75, "{w:?}");
    for s in &skills[2..] {
        // a spammer contributes to a third of the spurious clusters (its own)
        assert!(s.fpr > 0.25 && s.fpr > 20.0 * skills[0].fpr, "{s:?}");
        assert!(
            s.weight < 0.5 * skills[0].weight.min(skills[1].weight),
            "{s:?}"
        );
    }
    for s in &skills[..2] {
        assert!(s.fpr < 0.02 && s.tpr > 0.85, "{s:?}");
    }
}

#[test]
fn two_marks_of_one_volunteer_on_one_clump_count_once() {
    let marks = vec![
        mark(0, 0, 10.0, 10.0),
        mark(0, 0, 10.8, 10.4),
        mark(0, 1, 10.4, 9.6),
        mark(0, 2, 9.6, 10.2),
    ];
    let (c, _) = aggregate(&marks, 1, &[vec![0, 1, 2]], &plain());
    assert_eq!(c.len(), 1);
    assert_eq!((c[0].marks, c[0].score), (3, 1.0));
    // volunteer 0's mark nearest the seed (their own first mark) counts
    assert!(
        close(c[0].at.x, 10.0) && close(c[0].at.y, 29.8 / 3.0),
        "{:?}",
        c[0].at
    );
    let (w, _) = aggregate(&marks, 1, &[vec![0, 1, 2]], &ConsensusConfig::default());
    assert_eq!((w.len(), w[0].marks), (1, 3));
}

#[test]
fn output_is_ordered_and_independent_of_input_order() {
    let mut marks = two_groups();
    marks.extend(two_groups().into_iter().map(|m| Mark { galaxy: 2, ..m }));
    marks.push(mark(7, 9, 1.0, 1.0)); // past n_galaxies: ignored
    let shown = vec![vec![0, 1, 2, 3, 4], vec![0, 1], vec![0, 1, 2, 3, 4]];
    for cfg in [plain(), ConsensusConfig::default()] {
        let a = aggregate(&marks, 3, &shown, &cfg);
        let mut rev = marks.clone();
        rev.reverse();
        assert_eq!(a, aggregate(&rev, 3, &shown, &cfg));
        assert!(
            a.0.windows(2)
                .all(|w| (w[0].galaxy, w[0].at.y) <= (w[1].galaxy, w[1].at.y))
        );
        assert_eq!(a.0.len(), 8);
        assert!(
            a.0.iter()
                .all(|c| c.galaxy != 1 && (0.0..=1.0).contains(&c.score))
        );
    }
    assert_eq!(
        aggregate(&[], 0, &[], &ConsensusConfig::default()).0,
        vec![]
    );
}

mod simulated {
    use super::*;
    use crate::crowd::clicks::{ClickImage, ClickerKind, click_volunteers, simulate_clicks};
    use crate::universe::clump_truth::psf_fwhm_px;
    use crate::universe::{
        ClumpTruth, PopulationConfig, RenderConfig, Survey, render_batch, sample_population,
    };

    /// Completeness (visible truth found) and purity (consensus on a real clump) at score 0.5,
    /// matching greedily within 1.5 FWHM.
    fn score(c: &[Consensus], truth: &[Vec<ClumpTruth>], fwhm: &[f32]) -> (f32, f32) {
        let (mut found, mut visible, mut good, mut kept) = (0, 0, 0, 0);
        for (g, t) in truth.iter().enumerate() {
            let mine: Vec<&Consensus> = c
                .iter()
                .filter(|c| c.galaxy == g && c.score >= 0.5)
                .collect();
            let mut used = vec![false; t.len()];
            for c in &mine {
                let best = (0..t.len())
                    .filter(|&i| !used[i] && t[i].centre.distance(&c.at) <= 1.5 * fwhm[g])
                    .min_by(|&a, &b| {
                        let d = |i: usize| t[i].centre.distance(&c.at);
                        d(a).total_cmp(&d(b))
                    });
                if let Some(i) = best {
                    used[i] = true;
                    good += 1;
                }
            }
            kept += mine.len();
            visible += t.iter().filter(|t| t.visible).count();
            found += t
                .iter()
                .zip(&used)
                .filter(|(t, u)| t.visible && **u)
                .count();
        }
        (found as f32 / visible as f32, good as f32 / kept as f32)
    }

    #[test]
    fn simulated_crowds_find_the_visible_clumps_and_weighting_helps() {
        let pop = PopulationConfig {
            clump_fraction: 0.9,
            odd_clump_fraction: 0.2,
            ..PopulationConfig::default()
        };
        let seed = 17;
        let galaxies = sample_population(seed, 300, &pop);
        let rc = RenderConfig::new(64, Survey::DecalsLike);
        let images = render_batch(&galaxies, &rc, seed);
        let truth: Vec<Vec<ClumpTruth>> = galaxies.iter().map(|g| g.clump_truth(&rc)).collect();
        let fwhm: Vec<f32> = galaxies.iter().map(|g| psf_fwhm_px(g, &rc)).collect();
        let shown: Vec<ClickImage> = (0..galaxies.len())
            .map(|i| ClickImage {
                truth: &truth[i],
                r_plane: &images[i].planes[1],
                size: 64,
                fwhm_px: fwhm[i],
            })
            .collect();
        let pool = click_volunteers(150, seed);
        let clicks = simulate_clicks(&shown, &pool, 20, seed);
        let n = galaxies.len();
        let cfg = ConsensusConfig::default();
        // link marks within one FWHM (the pixel scale varies with the galaxy's size)
        let link: Vec<f32> = fwhm.iter().map(|f| f.max(0.5)).collect();
        let (w, skills) = aggregate_scaled(&clicks.marks, n, &clicks.shown_to, &link, &cfg);
        let (p, _) = aggregate_scaled(&clicks.marks, n, &clicks.shown_to, &link, &plain());
        let (wc, wp) = score(&w, &truth, &fwhm);
        let (pc, pp) = score(&p, &truth, &fwhm);
        eprintln!("weighted {wc:.3} {wp:.3}, plain {pc:.3} {pp:.3}");
        assert!(
            wc >= 0.8 && wp >= 0.9,
            "weighted completeness {wc}, purity {wp}"
        );
        assert!(
            pc >= 0.7 && pp >= 0.7,
            "plain completeness {pc}, purity {pp}"
        );
        let f1 = |c: f32, p: f32| 2.0 * c * p / (c + p);
        assert!(
            f1(wc, wp) >= f1(pc, pp),
            "weighted F1 {} < plain {}",
            f1(wc, wp),
            f1(pc, pp)
        );
        // the over-clickers are found out
        let mean_w = |k| {
            let s: Vec<f32> = (skills.iter().filter(|s| pool[s.volunteer].kind == k))
                .map(|s| s.weight)
                .collect();
            s.iter().sum::<f32>() / s.len() as f32
        };
        assert!(mean_w(ClickerKind::OverClicker) < 0.5 * mean_w(ClickerKind::Normal));
        // odd clumps found as real get a higher odd score than normal ones
        let odd_of = |want: bool| {
            let near = |c: &Consensus| {
                let t = truth[c.galaxy].iter();
                t.copied()
                    .find(|t| t.centre.distance(&c.at) <= fwhm[c.galaxy])
            };
            let s: Vec<f32> = (w.iter().filter(|c| c.score >= 0.5))
                .filter(|c| near(c).is_some_and(|t| t.odd == want))
                .map(|c| c.odd)
                .collect();
            s.iter().sum::<f32>() / s.len().max(1) as f32
        };
        assert!(
            odd_of(true) > 0.4 && odd_of(false) < 0.1,
            "{} {}",
            odd_of(true),
            odd_of(false)
        );
    }
}
