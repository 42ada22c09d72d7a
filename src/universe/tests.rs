//! Tests of the universe: determinism, that rendered structure matches the truth (rings, arms,
//! inclination, clumps, redshift dimming), and the Galaxy Zoo path rule of the true answers.

use super::*;

fn no_artifacts() -> PopulationConfig {
    PopulationConfig {
        artifact_fraction: 0.0,
        ..PopulationConfig::default()
    }
}

fn first_of(kind: GalaxyType) -> Galaxy {
    sample_population(11, 300, &no_artifacts())
        .into_iter()
        .find(|g| g.kind == kind)
        .expect("population has every type")
}

/// A bright, face-on, featureless disk with a small bulge at redshift `z`.
fn plain_disk(z: f32) -> Galaxy {
    let mut g = first_of(GalaxyType::Disk);
    g.spiral.count = 0;
    g.bar = None;
    g.ring = None;
    g.clumps.clear();
    g.disturbance = 0.0;
    g.inclination_deg = 0.0;
    g.axis_ratio = 1.0;
    g.bulge.axis_ratio = 1.0;
    g.bulge.sersic_n = 2.0;
    g.bulge_fraction = 0.1;
    g.disk.scale_kpc = 3.0;
    g.bulge.r_e_kpc = 0.8;
    g.abs_mag_r = -21.5;
    g.half_light_kpc = 0.1 * 0.8 + 0.9 * 1.678 * 3.0;
    g.light_fractions = [0.1, 0.9, 0.0, 0.0, 0.0, 0.0];
    g.redshift = z;
    g.observe();
    g
}

fn cfg(size: usize) -> RenderConfig {
    RenderConfig::new(size, Survey::DecalsLike)
        .with_fixed_fov(60.0)
        .noise_free()
}

/// (total flux, rms radius, axis ratio) from second moments of the r band about the centre of
/// light.
fn moments(img: &Image3) -> (f64, f64, f64) {
    let p = img.plane(1);
    let w = img.width;
    let (mut s, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (i, &v) in p.iter().enumerate() {
        let v = v.max(0.0) as f64;
        s += v;
        sx += v * (i % w) as f64;
        sy += v * (i / w) as f64;
    }
    let (mx, my) = (sx / s, sy / s);
    let (mut xx, mut yy, mut xy) = (0.0, 0.0, 0.0);
    for (i, &v) in p.iter().enumerate() {
        let v = v.max(0.0) as f64;
        let (dx, dy) = ((i % w) as f64 - mx, (i / w) as f64 - my);
        xx += v * dx * dx;
        yy += v * dy * dy;
        xy += v * dx * dy;
    }
    let (xx, yy, xy) = (xx / s, yy / s, xy / s);
    let tr = xx + yy;
    let det = xx * yy - xy * xy;
    let disc = (tr * tr / 4.0 - det).max(0.0).sqrt();
    let (l1, l2) = (tr / 2.0 + disc, tr / 2.0 - disc);
    (s, tr.sqrt(), (l2 / l1).sqrt())
}

#[test]
fn same_seed_same_pixels_and_different_seed_different() {
    let pop = sample_population(5, 12, &PopulationConfig::default());
    assert_eq!(pop, sample_population(5, 12, &PopulationConfig::default()));
    let rc = RenderConfig::default();
    let a = render_batch(&pop, &rc, 5);
    let b = render_batch(&pop, &rc, 5);
    let bits = |v: &[Image3]| -> Vec<u32> {
        v.iter()
            .flat_map(|i| i.planes.iter().flatten().map(|x| x.to_bits()))
            .collect()
    };
    assert_eq!(bits(&a), bits(&b));
    // Sequential rendering gives the same pixels as the parallel batch.
    let seq: Vec<Image3> = pop.iter().map(|g| render(g, &rc, 5)).collect();
    assert_eq!(bits(&a), bits(&seq));
    // A different seed changes the noise (same galaxies) and the population.
    assert_ne!(bits(&a), bits(&render_batch(&pop, &rc, 6)));
    // ... also through the noise alone (no neighbouring field sources).
    let quiet = RenderConfig {
        field: false,
        ..RenderConfig::default()
    };
    assert_ne!(
        bits(&render_batch(&pop, &quiet, 5)),
        bits(&render_batch(&pop, &quiet, 6))
    );
    assert_ne!(pop, sample_population(6, 12, &PopulationConfig::default()));
    // Galaxy i does not depend on how many are drawn.
    assert_eq!(
        pop[3],
        sample_population(5, 4, &PopulationConfig::default())[3]
    );
}

#[test]
fn ring_raises_the_azimuthal_profile_at_its_radius() {
    let plain = plain_disk(0.03);
    let mut ringed = plain.clone();
    let h = ringed.disk.scale_kpc;
    ringed.ring = Some(Ring {
        radius_kpc: 2.2 * h,
        radius_arcsec: 0.0,
        width_kpc: 0.25 * h,
        flux_r: 0.0,
    });
    ringed.light_fractions[3] = 0.1;
    ringed.observe();
    let rc = cfg(128);
    let (a, b) = (
        render_noise_free(&plain, &rc),
        render_noise_free(&ringed, &rc),
    );
    let ps = rc.pixel_scale(&plain);
    let profile = |img: &Image3, r: f32| -> f32 {
        let (mut s, mut n) = (0.0, 0);
        for y in 0..128 {
            for x in 0..128 {
                let d = ((x as f32 + 0.5 - 64.0).powi(2) + (y as f32 + 0.5 - 64.0).powi(2)).sqrt();
                if (d - r).abs() < 0.75 {
                    s += img.plane(1)[y * 128 + x];
                    n += 1;
                }
            }
        }
        s / n as f32
    };
    let rr = ringed.ring.as_ref().unwrap().radius_arcsec / ps;
    assert!(
        profile(&b, rr) > 1.3 * profile(&a, rr),
        "ring not brighter at its radius"
    );
    let inner = 0.3 * rr;
    assert!(
        profile(&b, inner) < 1.05 * profile(&a, inner),
        "ring leaks to the centre"
    );
}

#[test]
fn edge_on_disk_is_thin_and_face_on_is_round() {
    let face = plain_disk(0.03);
    let mut edge = face.clone();
    edge.inclination_deg = 88.0;
    edge.axis_ratio = 0.12;
    edge.bulge_fraction = 0.0;
    edge.light_fractions = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0];
    edge.observe();
    let rc = cfg(96);
    let (_, _, q_edge) = moments(&render_noise_free(&edge, &rc));
    let (_, _, q_face) = moments(&render_noise_free(&face, &rc));
    assert!(q_edge < 0.35, "edge-on axis ratio {q_edge}");
    assert!(q_face > 0.85, "face-on axis ratio {q_face}");
}

#[test]
fn spiral_arm_count_is_the_dominant_fourier_mode() {
    for m in 1..=4u8 {
        let mut g = plain_disk(0.03);
        g.spiral = Spiral {
            count: m,
            pitch_deg: 20.0,
            amplitude: 0.8,
            winding: Winding::S,
            phase_deg: 30.0,
        };
        g.observe();
        let rc = cfg(128);
        let img = render_noise_free(&g, &rc);
        let h = g.disk.scale_arcsec / rc.pixel_scale(&g);
        let mut amp = [0f64; 7];
        for (k, a) in amp.iter_mut().enumerate().skip(1) {
            let (mut re, mut im) = (0.0, 0.0);
            for y in 0..128 {
                for x in 0..128 {
                    let (dx, dy) = (x as f32 + 0.5 - 64.0, y as f32 + 0.5 - 64.0);
                    let r = (dx * dx + dy * dy).sqrt();
                    if r > 1.2 * h && r < 3.0 * h {
                        let th = dy.atan2(dx) as f64;
                        let v = img.plane(1)[y * 128 + x] as f64;
                        re += v * (k as f64 * th).cos();
                        im += v * (k as f64 * th).sin();
                    }
                }
            }
            *a = (re * re + im * im).sqrt();
        }
        let best = (1..=4).max_by(|&i, &j| amp[i].total_cmp(&amp[j])).unwrap();
        assert_eq!(best, m as usize, "m={m}: amplitudes {amp:?}");
    }
}

#[test]
fn clump_boxes_hold_the_clump_light() {
    let mut g = plain_disk(0.03);
    let h = g.disk.scale_kpc;
    for (i, th) in [20.0f32, 140.0, 260.0].into_iter().enumerate() {
        g.clumps.push(Clump {
            r_kpc: h * (0.8 + 0.5 * i as f32),
            theta_deg: th,
            sigma_kpc: 0.3,
            offset_arcsec: [0.0; 2],
            flux_r: 1.0,
        });
    }
    g.light_fractions[4] = 0.09;
    g.observe();
    let mut bare = g.clone();
    bare.clumps.clear();
    let rc = cfg(96);
    let (a, b) = (render_noise_free(&g, &rc), render_noise_free(&bare, &rc));
    let boxes = g.clump_boxes(&rc);
    assert_eq!(boxes.len(), 3);
    for (cl, bx) in g.clumps.iter().zip(&boxes) {
        let mut excess = 0.0;
        for y in bx.y0..bx.y1 {
            for x in bx.x0..bx.x1 {
                excess += a.plane(1)[y * 96 + x] - b.plane(1)[y * 96 + x];
            }
        }
        assert!(
            excess > 0.6 * cl.flux_r,
            "box {bx:?} holds {excess} of {}",
            cl.flux_r
        );
    }
}

#[test]
fn higher_redshift_is_fainter_and_smaller() {
    let (near, far) = (plain_disk(0.03), plain_disk(0.09));
    let rc = cfg(96);
    let (f_near, s_near, _) = moments(&render_noise_free(&near, &rc));
    let (f_far, s_far, _) = moments(&render_noise_free(&far, &rc));
    assert!(f_far < 0.2 * f_near, "flux {f_far} vs {f_near}");
    assert!(s_far < 0.6 * s_near, "size {s_far} vs {s_near}");
    // Surface brightness dims as (1+z)^-4.
    let dmu = far.surface_brightness_r - near.surface_brightness_r;
    let expect = 10.0 * (1.09f32 / 1.03).log10();
    assert!((dmu - expect).abs() < 0.05, "{dmu} vs {expect}");
    // Difficulty grows with redshift (and so with falling surface brightness).
    assert!(
        far.difficulty > near.difficulty,
        "{} vs {}",
        far.difficulty,
        near.difficulty
    );
    let pop = sample_population(8, 4000, &no_artifacts());
    let mean = |lo: f32, hi: f32| {
        let v: Vec<f32> = pop
            .iter()
            .filter(|g| (lo..hi).contains(&g.surface_brightness_r))
            .map(|g| g.difficulty)
            .collect();
        v.iter().sum::<f32>() / v.len().max(1) as f32
    };
    assert!(mean(22.0, 30.0) > mean(0.0, 21.0) + 0.2, "faint vs bright");
}

#[test]
fn rendered_flux_matches_truth_flux() {
    // A compact elliptical in a large field: all its light lands in the image.
    let mut g = first_of(GalaxyType::Elliptical);
    g.bulge.r_e_kpc = 1.5;
    g.observe();
    let rc = RenderConfig::new(128, Survey::SdssLike)
        .with_fixed_fov(120.0)
        .noise_free();
    let img = render_noise_free(&g, &rc);
    for k in 0..3 {
        let rel = img.total_flux(k) as f32 / g.flux[k];
        assert!((rel - 1.0).abs() < 0.03, "band {k}: rendered/true = {rel}");
    }
}

/// Whether `q` is reached, from the answers to its parent questions only.
fn reached(q: Question, a: &TrueAnswers) -> bool {
    let featured = a.smooth_or_featured == SmoothOrFeatured::Featured;
    let face = featured && a.disk_edge_on == Some(false);
    match q {
        Question::SmoothOrFeatured => true,
        Question::HowRounded => a.smooth_or_featured == SmoothOrFeatured::Smooth,
        Question::DiskEdgeOn => featured,
        Question::EdgeOnBulge => featured && a.disk_edge_on == Some(true),
        Question::HasSpiralArms | Question::Bar | Question::BulgeSize => face,
        Question::SpiralWinding | Question::SpiralArmCount => {
            face && a.has_spiral_arms == Some(true)
        }
        Question::Merging | Question::AnythingOdd => {
            a.smooth_or_featured != SmoothOrFeatured::Artifact
        }
        Question::OddFeature => a.anything_odd == Some(true),
    }
}

#[test]
fn true_answers_obey_the_path_rule() {
    let pc = PopulationConfig {
        artifact_fraction: 0.05,
        ..PopulationConfig::default()
    };
    let pop = sample_population(2, 1500, &pc);
    let mut seen = [0usize; Question::COUNT];
    for g in &pop {
        let a = TrueAnswers::from_galaxy(g);
        let v = VoteProbabilities::from_galaxy(g);
        for q in Question::ALL {
            let r = reached(q, &a);
            assert_eq!(
                a.get(q).is_some(),
                r,
                "{:?} on galaxy {} ({:?})",
                q,
                g.id,
                a
            );
            assert_eq!(v.get(q).is_some(), r);
            if let (Some(t), Some(p)) = (a.get(q), v.get(q)) {
                seen[q as usize] += 1;
                assert_eq!(p.len(), q.answers().len());
                assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
                let best = (0..p.len()).max_by(|&i, &j| p[i].total_cmp(&p[j])).unwrap();
                assert_eq!(best, t, "{q:?}: votes favour the truth");
            }
        }
    }
    assert!(
        seen.iter().all(|&n| n > 0),
        "every question reached somewhere: {seen:?}"
    );
}

#[test]
fn population_prevalences_follow_the_config() {
    let pop = sample_population(9, 3000, &PopulationConfig::default());
    let frac = |f: &dyn Fn(&Galaxy) -> bool| pop.iter().filter(|g| f(g)).count() as f32 / 3000.0;
    let disk = frac(&|g| g.kind == GalaxyType::Disk);
    assert!((disk - 0.45).abs() < 0.04, "disk fraction {disk}");
    let rings = frac(&|g| g.ring.is_some());
    assert!(rings > 0.01 && rings < 0.08, "ring fraction {rings}");
    let bars = frac(&|g| g.bar.is_some());
    assert!(bars > 0.08 && bars < 0.2, "bar fraction {bars}");
    assert!(
        pop.iter()
            .all(|g| (0.0..=1.0).contains(&g.difficulty) && g.mag_r <= 17.8)
    );
}

#[test]
fn renders_at_424_and_saves_png() {
    let pop = sample_population(4, 3, &PopulationConfig::default());
    let rc = RenderConfig::new(424, Survey::DecalsLike);
    for g in &pop {
        let img = render(g, &rc, 4);
        assert_eq!((img.width, img.height), (424, 424));
        assert!(img.planes.iter().flatten().all(|v| v.is_finite()));
        // Noise-free, the cutout holds the galaxy's light (plus its companion's).
        let clean = render_noise_free(g, &rc);
        let companion = g
            .tidal
            .as_ref()
            .and_then(|t| t.companion.as_ref())
            .map_or(0.0, |c| c.flux_r);
        let rel = clean.total_flux(1) as f32 / (g.flux[1] + companion);
        assert!(
            g.artifact.is_some() || (0.85..1.03).contains(&rel),
            "424 flux ratio {rel}"
        );
    }
    let img = render(&pop[0], &RenderConfig::new(424, Survey::SdssLike), 4);
    let path = std::env::temp_dir().join(format!("gz_universe_test_{}.png", std::process::id()));
    save_png(&path, &img).unwrap();
    let back = image::open(&path).unwrap().to_rgb8();
    assert_eq!(back.dimensions(), (424, 424));
    assert_eq!(back, img.to_rgb8());
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_bar_elongates_the_centre() {
    let mut g = plain_disk(0.03);
    g.bulge_fraction = 0.02;
    g.light_fractions = [0.02, 0.78, 0.0, 0.0, 0.0, 0.0];
    g.observe();
    let mut barred = g.clone();
    barred.bar = Some(Bar {
        strength: 0.8,
        length_kpc: 1.2 * g.disk.scale_kpc,
        length_arcsec: 0.0,
        axis_ratio: 0.3,
        angle_deg: 30.0,
        flux_r: 0.0,
    });
    barred.light_fractions[2] = 0.2;
    barred.observe();
    let rc = cfg(96);
    // Brightness at 0.6 bar lengths along the bar against across it (both sides).
    let img = render_noise_free(&barred, &rc);
    let l = barred.bar.as_ref().unwrap().length_arcsec / rc.pixel_scale(&barred);
    let th = (barred.position_angle_deg + 30.0).to_radians();
    let at = |ang: f32| -> f32 {
        [0.0, std::f32::consts::PI]
            .iter()
            .map(|o| {
                let (x, y) = (
                    48.0 + 0.6 * l * (ang + o).cos(),
                    48.0 + 0.6 * l * (ang + o).sin(),
                );
                img.plane(1)[y as usize * 96 + x as usize]
            })
            .sum()
    };
    let (along, across) = (at(th), at(th + std::f32::consts::FRAC_PI_2));
    assert!(along > 1.5 * across, "along {along}, across {across}");
    let plain = render_noise_free(&g, &rc);
    let (_, _, q_plain) = moments(&plain);
    let (_, _, q_bar) = moments(&img);
    assert!(
        q_plain > 0.95 && q_bar < q_plain,
        "plain {q_plain}, barred {q_bar}"
    );
}

#[test]
fn zooming_divides_the_field_and_keeps_the_unzoomed_bits() {
    let g = crate::universe::sample_galaxy(3, 7, &PopulationConfig::default());
    let cfg = RenderConfig::new(32, Survey::DecalsLike);
    let z = cfg.clone().zoomed(2.0);
    assert!((z.pixel_scale(&g) * 2.0 - cfg.pixel_scale(&g)).abs() < 1e-6);
    // zoom 1 changes nothing, to the bit
    assert_eq!(cfg.clone().zoomed(1.0), cfg);
    let fixed = cfg.with_fixed_fov(60.0).zoomed(4.0);
    assert_eq!(fixed.fov, crate::universe::Fov::Fixed(15.0));
}
