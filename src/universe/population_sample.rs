//! Sampling the galaxy population: [`sample_population`] / [`sample_galaxy`] and the per-class
//! structural sampling of one galaxy (the physical priors of the population).
//! Galaxy `i` is drawn only from `item_stream(seed, "universe/population", i)`.
//!
//! Luminosity and redshift are drawn jointly with a volume-weighted redshift (p(z) ~ z^2) and
//! the apparent magnitude limit applied by rejection, so distant galaxies are the luminous ones.
//! Sizes follow size-luminosity relations with 0.12 dex scatter.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::rng::item_stream;

use super::population::{
    Artifact, ArtifactKind, Bar, Bulge, Clump, Companion, Disk, DustLane, Galaxy, GalaxyType,
    PopulationConfig, Ring, Spiral, Tail, Tidal, Winding, chance, colour_ratios, normal, uniform,
};

fn projected_q(intrinsic: f32, incl_deg: f32) -> f32 {
    let c = incl_deg.to_radians().cos();
    (intrinsic * intrinsic + (1.0 - intrinsic * intrinsic) * c * c).sqrt()
}

/// Draw (absolute magnitude, redshift) under the magnitude limit.
fn luminosity_and_redshift(
    rng: &mut ChaCha8Rng,
    mean_mag: f32,
    cfg: &PopulationConfig,
) -> (f32, f32) {
    let [z0, z1] = cfg.redshift_range;
    let (a, b) = (z0.powi(3), z1.powi(3));
    let mut last = (mean_mag, z0);
    for _ in 0..200 {
        let m = normal(rng, mean_mag, 0.9).clamp(mean_mag - 2.5, mean_mag + 2.5);
        let z = (a + (b - a) * rng.random::<f32>()).cbrt();
        let dl = super::population::comoving_distance_mpc(z) * (1.0 + z);
        if m + 5.0 * dl.log10() + 25.0 <= cfg.mag_limit {
            return (m, z);
        }
        last = (m.min(mean_mag - 1.0), z0);
    }
    last
}

/// Foreground-star-like colours are set in `render_extras`; galaxies use these two families.
fn red_colour(rng: &mut ChaCha8Rng) -> [f32; 3] {
    colour_ratios(normal(rng, 0.78, 0.05), normal(rng, 0.42, 0.04))
}

fn blue_colour(rng: &mut ChaCha8Rng) -> [f32; 3] {
    colour_ratios(normal(rng, 0.56, 0.06), normal(rng, 0.34, 0.04))
}

fn empty_spiral() -> Spiral {
    Spiral {
        count: 0,
        pitch_deg: 0.0,
        amplitude: 0.0,
        winding: Winding::S,
        phase_deg: 0.0,
    }
}

fn clumps(rng: &mut ChaCha8Rng, count: usize, h: f32, rmax: f32, big: bool) -> Vec<Clump> {
    (0..count)
        .map(|_| Clump {
            r_kpc: h * uniform(rng, 0.3, rmax),
            theta_deg: uniform(rng, 0.0, 360.0),
            sigma_kpc: if big {
                uniform(rng, 0.25, 0.6)
            } else {
                uniform(rng, 0.15, 0.4)
            },
            offset_arcsec: [0.0; 2],
            // Relative weight; `observe` turns it into an apparent flux.
            flux_r: uniform(rng, 0.5, 1.5),
        })
        .collect()
}

/// Sample `n` galaxies; galaxy `i` depends only on `(seed, i)`.
pub fn sample_population(seed: u64, n: usize, cfg: &PopulationConfig) -> Vec<Galaxy> {
    use rayon::prelude::*;
    (0..n as u64)
        .into_par_iter()
        .map(|i| sample_galaxy(seed, i, cfg))
        .collect()
}

/// Sample galaxy `id` alone.
pub fn sample_galaxy(seed: u64, id: u64, cfg: &PopulationConfig) -> Galaxy {
    let mut rng = item_stream(seed, "universe/population", id);
    let total: f32 = cfg.type_mix.iter().sum();
    let mut pick = rng.random::<f32>() * total;
    let mut kind = GalaxyType::Merger;
    for (t, w) in GalaxyType::ALL.iter().zip(cfg.type_mix) {
        if pick < w {
            kind = *t;
            break;
        }
        pick -= w;
    }
    let mut g = build(&mut rng, id, kind, cfg);
    if cfg.odd_clump_fraction > 0.0 {
        crate::universe::clump_truth::add_odd_clumps(&mut g, seed, cfg.odd_clump_fraction);
    }
    g
}

/// Build galaxy `id` of class `kind` from its own stream.
pub(crate) fn build(
    rng: &mut ChaCha8Rng,
    id: u64,
    kind: GalaxyType,
    cfg: &PopulationConfig,
) -> Galaxy {
    let artifact = chance(rng, cfg.artifact_fraction).then(|| {
        let trail = chance(rng, 0.6);
        Artifact {
            kind: if trail {
                ArtifactKind::SatelliteTrail
            } else {
                ArtifactKind::BrightStar
            },
            angle_deg: uniform(rng, 0.0, 180.0),
            offset: [uniform(rng, -0.25, 0.25), uniform(rng, -0.25, 0.25)],
            flux_r: if trail {
                uniform(rng, 2.0, 8.0)
            } else {
                uniform(rng, 5e3, 5e4)
            },
        }
    });
    // A merger's primary is a disk or an elliptical.
    let disky = match kind {
        GalaxyType::Elliptical => false,
        GalaxyType::Merger => chance(rng, 0.5),
        _ => true,
    };
    let mean_mag = match kind {
        GalaxyType::Elliptical => -21.2,
        GalaxyType::Irregular => -19.8,
        GalaxyType::Merger => -21.0,
        _ => -20.8,
    };
    let (abs_mag, z) = luminosity_and_redshift(rng, mean_mag, cfg);
    let lum = -0.4 * (abs_mag + 21.0); // log10 L / L(M=-21)
    let position_angle = uniform(rng, 0.0, 180.0);

    let mut spiral = empty_spiral();
    let (mut bar, mut ring, mut dust_lane, mut tidal) = (None, None, None, None);
    let mut clump_list = Vec::new();
    let mut disturbance = uniform(rng, 0.0, 0.12);
    let (mut f_bar, mut f_ring, mut f_clumps, mut f_tails) = (0f32, 0f32, 0f32, 0f32);

    let h = 10f32.powf(3.2f32.log10() + 0.3 * lum + normal(rng, 0.0, 0.12));
    let thickness = uniform(rng, 0.1, 0.2);
    let (bt, n, re, incl, bulge_q_int, disk_colour, bulge_colour);
    let mut boxiness = 0.0;
    match (kind, disky) {
        (GalaxyType::Elliptical, _) | (GalaxyType::Merger, false) => {
            bt = uniform(rng, 0.85, 1.0);
            n = normal(rng, 4.0, 0.8).clamp(2.5, 6.0);
            re = 10f32.powf(3.5f32.log10() + 0.6 * lum + normal(rng, 0.0, 0.12));
            // Ellipticals: observed axis ratio skewed towards round.
            bulge_q_int = 1.0 - 0.65 * rng.random::<f32>().powf(1.5);
            incl = 0.0;
            bulge_colour = red_colour(rng);
            disk_colour = bulge_colour;
        }
        (GalaxyType::Irregular, _) => {
            bt = uniform(rng, 0.0, 0.03);
            n = 1.0;
            re = h * 0.3;
            bulge_q_int = 0.8;
            incl = uniform(rng, 0.0, 60.0);
            disk_colour = colour_ratios(normal(rng, 0.42, 0.06), normal(rng, 0.25, 0.05));
            bulge_colour = disk_colour;
            disturbance = uniform(rng, 0.4, 0.9);
            let k = rng.random_range(3..=8);
            clump_list = clumps(rng, k, h, 1.8, true);
            f_clumps = uniform(rng, 0.2, 0.4);
        }
        _ => {
            let edge_on = kind == GalaxyType::EdgeOnDisk;
            bt = if edge_on && chance(rng, 0.25) {
                0.0
            } else {
                0.7 * rng.random::<f32>().powf(1.6)
            };
            n = (1.0 + 3.0 * bt / 0.7 + normal(rng, 0.0, 0.4)).clamp(0.8, 5.0);
            re = h * uniform(rng, 0.15, 0.45);
            bulge_q_int = uniform(rng, 0.55, 0.9);
            incl = if edge_on {
                uniform(rng, 82.0, 90.0)
            } else {
                rng.random::<f32>() * 75.0
            };
            bulge_colour = red_colour(rng);
            disk_colour = blue_colour(rng);
            if edge_on {
                if bt > 0.05 && chance(rng, 0.3) {
                    boxiness = uniform(rng, 0.5, 1.0);
                }
                if chance(rng, cfg.dust_lane_fraction) {
                    dust_lane = Some(DustLane {
                        tau_r: uniform(rng, 1.5, 4.0),
                        width_kpc: h * thickness * uniform(rng, 0.7, 1.1),
                    });
                }
            } else {
                if chance(rng, cfg.bar_fraction) {
                    let strong = chance(rng, cfg.strong_bar_share);
                    let s = if strong {
                        uniform(rng, 0.5, 1.0)
                    } else {
                        uniform(rng, 0.15, 0.49)
                    };
                    bar = Some(Bar {
                        strength: s,
                        length_kpc: h * uniform(rng, 0.8, 1.6) * (0.7 + 0.5 * s),
                        length_arcsec: 0.0,
                        axis_ratio: uniform(rng, 0.22, 0.38),
                        angle_deg: uniform(rng, 0.0, 180.0),
                        flux_r: 0.0,
                    });
                    f_bar = 0.05 + 0.2 * s;
                }
                if chance(rng, cfg.spiral_fraction) {
                    let u = rng.random::<f32>();
                    let count = match u {
                        u if u < 0.06 => 1,
                        u if u < 0.62 => 2,
                        u if u < 0.82 => 3,
                        u if u < 0.93 => 4,
                        u if u < 0.97 => 5,
                        _ => 6,
                    };
                    spiral = Spiral {
                        count,
                        pitch_deg: uniform(rng, 8.0, 35.0),
                        amplitude: uniform(rng, 0.35, 0.9),
                        winding: if chance(rng, 0.5) {
                            Winding::S
                        } else {
                            Winding::Z
                        },
                        phase_deg: uniform(rng, 0.0, 360.0),
                    };
                }
                if chance(rng, cfg.ring_fraction) {
                    let radius = match &bar {
                        Some(b) => b.length_kpc * uniform(rng, 1.0, 1.15),
                        None => h * uniform(rng, 1.2, 2.5),
                    };
                    ring = Some(Ring {
                        radius_kpc: radius,
                        radius_arcsec: 0.0,
                        width_kpc: radius * uniform(rng, 0.07, 0.16),
                        flux_r: 0.0,
                    });
                    f_ring = uniform(rng, 0.1, 0.25);
                }
                if chance(rng, cfg.clump_fraction) {
                    let k = rng.random_range(1..=5);
                    clump_list = clumps(rng, k, h, 2.5, false);
                    f_clumps = uniform(rng, 0.03, 0.1);
                    // In spirals the clumps are HII-region complexes sitting on the arm crests
                    // (the crest condition of the renderer: m theta = psi(r) mod 2 pi).
                    if spiral.count > 0 {
                        let m = spiral.count as f32;
                        let r_in = bar.as_ref().map_or(0.0, |b| b.length_kpc).max(0.6 * h);
                        let sense = if spiral.winding == Winding::S {
                            1.0
                        } else {
                            -1.0
                        };
                        let tan_p = spiral.pitch_deg.to_radians().tan().max(0.05);
                        for (j, c) in clump_list.iter_mut().enumerate() {
                            c.r_kpc = c.r_kpc.max(1.2 * r_in);
                            let psi = sense * m * (c.r_kpc / r_in).ln() / tan_p
                                + spiral.phase_deg.to_radians();
                            let th = (psi + std::f32::consts::TAU * j as f32) / m;
                            c.theta_deg = th.to_degrees().rem_euclid(360.0);
                        }
                    }
                }
                if chance(rng, 0.1) {
                    disturbance = uniform(rng, 0.3, 0.6);
                }
            }
        }
    }
    let half_light = bt * re + (1.0 - bt) * 1.678 * h;
    if kind == GalaxyType::Merger {
        disturbance = uniform(rng, 0.6, 1.0);
        let companion = chance(rng, 0.7).then(|| {
            let ratio = uniform(rng, 0.15, 0.9);
            let sep = half_light * uniform(rng, 1.2, 2.8);
            let ang = uniform(rng, 0.0, std::f32::consts::TAU);
            let red = chance(rng, 0.5);
            Companion {
                offset_kpc: [sep * ang.cos(), sep * ang.sin()],
                offset_arcsec: [0.0; 2],
                sersic_n: if red {
                    uniform(rng, 2.5, 4.5)
                } else {
                    uniform(rng, 0.8, 1.5)
                },
                r_e_kpc: half_light * ratio.sqrt() * uniform(rng, 0.6, 1.1),
                r_e_arcsec: 0.0,
                axis_ratio: uniform(rng, 0.4, 1.0),
                position_angle_deg: uniform(rng, 0.0, 180.0),
                flux_ratio: ratio,
                flux_r: 0.0,
                colour: if red {
                    red_colour(rng)
                } else {
                    blue_colour(rng)
                },
            }
        });
        let n_tails = if companion.is_none() || chance(rng, 0.6) {
            rng.random_range(1..=2)
        } else {
            0
        };
        let tails = (0..n_tails)
            .map(|k| Tail {
                start_angle_deg: uniform(rng, 0.0, 360.0) + 180.0 * k as f32,
                length_kpc: half_light * uniform(rng, 2.0, 4.0),
                curvature_deg: uniform(rng, 50.0, 150.0)
                    * if chance(rng, 0.5) { 1.0 } else { -1.0 },
                width_kpc: half_light * uniform(rng, 0.2, 0.4),
                flux_r: 0.0,
            })
            .collect::<Vec<_>>();
        if !tails.is_empty() {
            f_tails = uniform(rng, 0.06, 0.15) * tails.len() as f32;
        }
        tidal = Some(Tidal { tails, companion });
    }
    let rest = 1.0 - f_bar - f_ring - f_clumps - f_tails;
    let bulge_q = if disky {
        projected_q(bulge_q_int, incl)
    } else {
        bulge_q_int
    };
    let axis_ratio = if disky {
        projected_q(thickness, incl)
    } else {
        bulge_q
    };
    let mut g = Galaxy {
        id,
        kind,
        redshift: z,
        arcsec_per_kpc: 0.0,
        abs_mag_r: abs_mag,
        mag_r: 0.0,
        flux: [0.0; 3],
        colour_gr: 0.0,
        colour_rz: 0.0,
        bulge: Bulge {
            sersic_n: n,
            r_e_kpc: re,
            r_e_arcsec: 0.0,
            axis_ratio: bulge_q,
            boxiness,
            flux_r: 0.0,
            colour: bulge_colour,
        },
        disk: Disk {
            scale_kpc: if disky { h } else { re * 1.2 },
            scale_arcsec: 0.0,
            thickness,
            flux_r: 0.0,
            colour: disk_colour,
        },
        bulge_fraction: bt,
        axis_ratio,
        inclination_deg: incl,
        position_angle_deg: position_angle,
        bar,
        spiral,
        ring,
        clumps: clump_list,
        odd_clumps: Vec::new(),
        dust_lane,
        tidal,
        disturbance,
        disturbance_angle_deg: uniform(rng, 0.0, 360.0),
        half_light_kpc: half_light,
        half_light_arcsec: 0.0,
        surface_brightness_r: 0.0,
        difficulty: 0.0,
        artifact,
        light_fractions: [
            rest * bt,
            rest * (1.0 - bt),
            f_bar,
            f_ring,
            f_clumps,
            f_tails,
        ],
    };
    g.observe();
    g
}
