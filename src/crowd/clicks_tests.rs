//! Tests of the simulated Clump Scout volunteers (`crowd::clicks`).

use super::*;
use crate::geom::Rect;

fn clump(x: f32, y: f32, contrast: f32, odd: bool) -> ClumpTruth {
    let centre = Point::new(x, y);
    ClumpTruth {
        rect: Rect::around(centre, 4.0, 4.0),
        centre,
        odd,
        visible: contrast >= 0.5,
        flux_r: 1.0,
        snr: 100.0,
        contrast,
    }
}

fn images<'a>(
    truth: &'a [ClumpTruth],
    plane: &'a [f32],
    n: usize,
    fwhm: f32,
) -> Vec<ClickImage<'a>> {
    let img = ClickImage {
        truth,
        r_plane: plane,
        size: 64,
        fwhm_px: fwhm,
    };
    vec![img; n]
}

/// An image whose only light is one pixel in the corner (62, 62), where false marks then land.
fn corner() -> Vec<f32> {
    let mut p = vec![0f32; 64 * 64];
    p[62 * 64 + 62] = 1.0;
    p
}

fn near(m: &Mark, c: &ClumpTruth, r: f32) -> bool {
    m.at.distance(&c.centre) < r
}

#[test]
fn the_pool_is_reproducible_with_a_tenth_careless() {
    let pool = click_volunteers(3000, 1);
    assert_eq!(pool, click_volunteers(3000, 1));
    assert_eq!(pool[..10], click_volunteers(10, 1)[..]);
    assert_ne!(pool[..10], click_volunteers(10, 2)[..]);
    let share = |k| pool.iter().filter(|v| v.kind == k).count() as f32 / 3000.0;
    assert!((share(ClickerKind::Lazy) - 0.05).abs() < 0.015);
    assert!((share(ClickerKind::OverClicker) - 0.05).abs() < 0.015);
    let normal: Vec<_> = pool
        .iter()
        .filter(|v| v.kind == ClickerKind::Normal)
        .collect();
    let mean = |f: &dyn Fn(&ClickVolunteer) -> f32| {
        normal.iter().map(|v| f(v)).sum::<f32>() / normal.len() as f32
    };
    assert!((mean(&|v| v.attentiveness) - 0.9).abs() < 0.01);
    assert!((mean(&|v| v.false_rate) - 0.3).abs() < 0.02);
    assert!((mean(&|v| v.threshold)).abs() < 0.01);
    assert!((mean(&|v| v.odd_tpr) - 6.0 / 9.0).abs() < 0.02);
    // the logistic: half the attentiveness at the threshold, rising with strength
    let v = &pool[0];
    assert!((v.mark_chance(v.threshold) - v.attentiveness / 2.0).abs() < 1e-6);
    assert!(v.mark_chance(v.threshold + 0.3) > 0.85 * v.attentiveness);
}

#[test]
fn strength_is_the_weakest_visibility_ratio() {
    // contrast 1 (0.301 dex), snr 100 (1.097 dex), distance 12 px over fwhm_eff sqrt(5)
    let c = clump(44.0, 32.0, 1.0, false);
    assert!((strength(&c, 64, 2.0) - 2f32.log10()).abs() < 1e-5);
    let close = clump(34.0, 32.0, 1.0, false);
    let d = (2.0 / 5f32.sqrt()).log10();
    assert!((strength(&close, 64, 2.0) - d).abs() < 1e-5);
}

#[test]
fn marks_follow_the_logistic_of_clump_strength() {
    let truth = [
        clump(44.0, 32.0, 5.0, false),  // strong: 0.73 dex (its distance)
        clump(20.0, 20.0, 0.5, false),  // at the visibility limit
        clump(20.0, 44.0, 0.05, false), // a dex below it
    ];
    let plane = corner();
    let imgs = images(&truth, &plane, 300, 2.0);
    let pool = click_volunteers(100, 3);
    let clicks = simulate_clicks(&imgs, &pool, 20, 9);
    for t in &truth {
        let s = strength(t, 64, 2.0);
        let expect: f64 = clicks
            .shown_to
            .iter()
            .flatten()
            .map(|&j| pool[j].mark_chance(s) as f64)
            .sum();
        let got = clicks.marks.iter().filter(|m| near(m, t, 3.0)).count() as f64;
        let sd = expect.max(1.0).sqrt();
        assert!(
            (got - expect).abs() < 4.0 * sd + 3.0,
            "{t:?}: {got} vs {expect}"
        );
    }
    let views = (300 * 20) as f64;
    let rate =
        |t: &ClumpTruth| clicks.marks.iter().filter(|m| near(m, t, 3.0)).count() as f64 / views;
    assert!(rate(&truth[0]) > 0.8, "{}", rate(&truth[0]));
    assert!((0.3..0.6).contains(&rate(&truth[1])), "{}", rate(&truth[1]));
    assert!(rate(&truth[2]) < 0.03, "{}", rate(&truth[2]));
}

#[test]
fn position_errors_scale_with_the_psf() {
    // strength set by the contrast (0.6 dex) at both resolutions, so the draws are the same
    let truth = [clump(52.0, 32.0, 2.0, false)];
    let plane = corner();
    let pool = click_volunteers(50, 4);
    let rms = |fwhm: f32| {
        let c = simulate_clicks(&images(&truth, &plane, 200, fwhm), &pool, 15, 5);
        let d: Vec<f32> = (c.marks.iter())
            .filter(|m| near(m, &truth[0], 6.0 * fwhm))
            .map(|m| m.at.distance(&truth[0].centre).powi(2))
            .collect();
        ((d.iter().sum::<f32>() / d.len() as f32).sqrt(), d.len())
    };
    let ((a, na), (b, nb)) = (rms(2.0), rms(4.0));
    assert!(na > 2000 && na == nb, "{na} {nb}");
    assert!((b / a - 2.0).abs() < 0.02, "{a} {b}");
    // about a third of the FWHM per axis: radial rms ~ 0.45 FWHM
    assert!((0.3..0.7).contains(&(a / 2.0)), "{a}");
}

#[test]
fn false_marks_land_on_the_light() {
    let mut plane = vec![0f32; 64 * 64];
    for y in 10..14 {
        for x in 10..14 {
            plane[y * 64 + x] = 3.0;
            plane[(y + 40) * 64 + x + 40] = 1.0;
        }
    }
    let pool = click_volunteers(100, 6);
    let c = simulate_clicks(&images(&[], &plane, 400, 2.0), &pool, 20, 7);
    let inside =
        |m: &Mark, o: f32| (o..o + 4.0).contains(&m.at.x) && (o..o + 4.0).contains(&m.at.y);
    let a = c.marks.iter().filter(|m| inside(m, 10.0)).count() as f32;
    let b = c.marks.iter().filter(|m| inside(m, 50.0)).count() as f32;
    assert_eq!((a + b) as usize, c.marks.len());
    let expect: f32 = c
        .shown_to
        .iter()
        .flatten()
        .map(|&j| pool[j].false_rate)
        .sum();
    assert!(
        (c.marks.len() as f32 - expect).abs() < 4.0 * expect.sqrt(),
        "{} {expect}",
        c.marks.len()
    );
    assert!((a / b - 3.0).abs() < 0.5, "{a} {b}");
    // on a noisy image the sky cut keeps most false marks on the source
    let mut rng = crate::rng::stream(1, "test/noise");
    let noisy: Vec<f32> = (0..64 * 64)
        .map(|i| plane[i] * 10.0 + rng.sample::<f32, _>(StandardNormal))
        .collect();
    let c = simulate_clicks(&images(&[], &noisy, 400, 2.0), &pool, 20, 7);
    let on = c
        .marks
        .iter()
        .filter(|m| inside(m, 10.0) || inside(m, 50.0))
        .count();
    assert!(
        on as f32 > 0.9 * c.marks.len() as f32,
        "{on} of {}",
        c.marks.len()
    );
    // and with no light at all the marks are spread over the image
    let dark = vec![0f32; 64 * 64];
    let c = simulate_clicks(&images(&[], &dark, 400, 2.0), &pool, 20, 7);
    let left = c.marks.iter().filter(|m| m.at.x < 32.0).count() as f32;
    assert!((left / c.marks.len() as f32 - 0.5).abs() < 0.05);
}

#[test]
fn odd_clumps_are_flagged_odd_and_normal_ones_rarely() {
    let truth = [clump(44.0, 32.0, 5.0, true), clump(20.0, 32.0, 5.0, false)];
    let plane = vec![0f32; 64 * 64];
    let pool = click_volunteers(100, 8);
    let c = simulate_clicks(&images(&truth, &plane, 300, 2.0), &pool, 20, 1);
    let share = |t: &ClumpTruth| {
        let m: Vec<_> = c.marks.iter().filter(|m| near(m, t, 3.0)).collect();
        m.iter().filter(|m| m.odd).count() as f32 / m.len() as f32
    };
    assert!(
        (0.55..0.8).contains(&share(&truth[0])),
        "{}",
        share(&truth[0])
    );
    assert!(share(&truth[1]) < 0.07, "{}", share(&truth[1]));
}

#[test]
fn galaxies_go_to_distinct_viewers_deterministically() {
    let truth = [clump(44.0, 32.0, 1.0, false), clump(20.0, 20.0, 0.7, false)];
    let plane = vec![1f32; 64 * 64];
    let pool = click_volunteers(30, 2);
    let imgs = images(&truth, &plane, 50, 2.0);
    let a = simulate_clicks(&imgs, &pool, 20, 3);
    assert_eq!(a, simulate_clicks(&imgs, &pool, 20, 3));
    assert_ne!(a.marks, simulate_clicks(&imgs, &pool, 20, 4).marks);
    assert_eq!(a.shown_to.len(), 50);
    for v in &a.shown_to {
        assert_eq!(v.len(), 20);
        assert!(v.windows(2).all(|w| w[0] < w[1]) && v[19] < 30);
    }
    assert_ne!(a.shown_to[0], a.shown_to[1]);
    for m in &a.marks {
        assert!(a.shown_to[m.galaxy].contains(&m.volunteer));
        assert!((0.0..=64.0).contains(&m.at.x) && (0.0..=64.0).contains(&m.at.y));
    }
    assert!(a.marks.windows(2).all(|w| w[0].galaxy <= w[1].galaxy));
    // more viewers asked than the pool has: everyone sees it; empty inputs are fine
    let all = simulate_clicks(&imgs[..2], &pool, 100, 3);
    assert_eq!(all.shown_to[0], (0..30).collect::<Vec<_>>());
    assert!(simulate_clicks(&imgs, &[], 20, 3).marks.is_empty());
    let bad = ClickImage {
        r_plane: &plane[..10],
        ..imgs[0]
    };
    assert_eq!(simulate_clicks(&[bad], &pool, 5, 3).shown_to[0].len(), 5);
}
