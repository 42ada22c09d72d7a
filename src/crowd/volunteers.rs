//! The simulated crowd: volunteers with per-question confusion matrices, spammers, adversaries,
//! activity, and the two click streams (fixed K votes per galaxy; online, served until retired)
//! producing raw [`Classifications`]. Owns all crowd randomness: volunteer `v` from
//! `item_stream(seed, "crowd/volunteers", v)` (their per-class skills, when
//! `class_skill_sd > 0`, from `"crowd/volunteers-classes"`), the K votes of galaxy `id` from
//! `item_stream(seed, "crowd/stream", id)`, the online stream from `stream(seed, "crowd/online")`.
//!
//! Answer model for a genuine volunteer `v` on a galaxy of difficulty `d` whose true answer is
//! `t`: `P(a) = (1 - s d) C_v[t][a] + s d L[t][a]` (difficulty model `blend`), where
//! `C_v[t] = a_vt e_t + (1 - a_vt) B_v[t]` (skill `a_vt` on class `t`: the volunteer's skill,
//! plus a per-class spread when `class_skill_sd > 0`; personal error pattern `B_v` drawn around
//! the typical confusions `L`), and `s = difficulty_scale`. The typical confusions of
//! `smooth-or-featured` send featured galaxies to "smooth" (the known Galaxy Zoo redshift bias);
//! ordinal questions leak to neighbours, others uniformly. Under the `sigmoid` (GLAD) model
//! instead `P(t) = sigmoid(logit(a_vt) ((1 - d) / d)^s)`, the rest spread uniformly. Spammers
//! ignore the truth: uniform answers, or one fixed answer per question; adversaries answer
//! uniformly among the wrong answers.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma, StandardNormal};
use rayon::prelude::*;

use super::quality::DifficultyModel;
use super::{Classifications, CrowdError, CrowdQuality, QuestionInfo};
use crate::rng::item_stream;
use crate::universe::{Galaxy, Question, TrueAnswers};

/// The kind of a volunteer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolunteerKind {
    Genuine,
    /// Answers uniformly at random.
    RandomSpammer,
    /// Always gives the same (per-question) answer.
    ConstantSpammer,
    /// Avoids the true answer: uniform over the wrong answers.
    Adversary,
}

/// One simulated volunteer.
#[derive(Debug, Clone, PartialEq)]
pub struct Volunteer {
    pub kind: VolunteerKind,
    /// Probability of the true answer on an easy galaxy (genuine volunteers).
    pub skill: f64,
    /// Relative click rate.
    pub activity: f64,
    /// Per question (index = `Question as usize`), row-major `K x K` confusion `C[t][a]`
    /// (for genuine volunteers before difficulty; the diagonal is the per-class skill).
    pub confusion: Vec<Vec<f64>>,
}

/// A simulated crowd.
#[derive(Debug, Clone, PartialEq)]
pub struct Crowd {
    pub volunteers: Vec<Volunteer>,
    pub quality: CrowdQuality,
    cumulative_activity: Vec<f64>,
}

/// Typical confusion rows `L[t][a]` (zero diagonal, rows sum to 1) of a question.
pub fn typical_confusion(q: Question) -> Vec<f64> {
    let k = q.answers().len();
    let ordinal = q.ordinal();
    let mut l = vec![0.0; k * k];
    for t in 0..k {
        let row = &mut l[t * k..(t + 1) * k];
        if q == Question::SmoothOrFeatured {
            row.copy_from_slice(match t {
                0 => &[0.0, 0.9, 0.1],
                1 => &[0.9, 0.0, 0.1],
                _ => &[0.5, 0.5, 0.0],
            });
            continue;
        }
        for (a, x) in row.iter_mut().enumerate() {
            if a != t {
                *x = if ordinal {
                    1.0 / (a.abs_diff(t) as f64).powi(2)
                } else {
                    1.0
                };
            }
        }
        let s: f64 = row.iter().sum();
        row.iter_mut().for_each(|x| *x /= s);
    }
    l
}

/// Finds a [`Question`] by its Galaxy Zoo DECaLS name (e.g. `smooth-or-featured`).
pub fn question_by_name(name: &str) -> Result<Question, CrowdError> {
    Question::ALL
        .iter()
        .copied()
        .find(|q| q.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = Question::ALL.iter().map(|q| q.name()).collect();
            CrowdError::Config(format!(
                "unknown question `{name}`; expected one of {}",
                names.join(", ")
            ))
        })
}

fn sample_volunteer(seed: u64, name: &str, v: usize, cfg: &CrowdQuality) -> Volunteer {
    let mut rng = item_stream(seed, name, v as u64);
    let u: f64 = rng.random();
    let kind = if u < cfg.spammer_fraction * cfg.random_spammer_share {
        VolunteerKind::RandomSpammer
    } else if u < cfg.spammer_fraction {
        VolunteerKind::ConstantSpammer
    } else if u < cfg.spammer_fraction + cfg.adversary_fraction {
        VolunteerKind::Adversary
    } else {
        VolunteerKind::Genuine
    };
    // Per-class skills come from their own stream so that crowds without them draw exactly
    // what they drew before the knob existed.
    let mut class_rng =
        (cfg.class_skill_sd > 0.0).then(|| item_stream(seed, &format!("{name}-classes"), v as u64));
    let z: f64 = rng.sample(StandardNormal);
    let skill = (cfg.skill_mean + cfg.skill_sd * z).clamp(0.4, 0.995);
    let z: f64 = rng.sample(StandardNormal);
    let activity = (cfg.activity_sigma * z).exp();
    let confusion = Question::ALL
        .iter()
        .map(|&q| {
            let k = q.answers().len();
            let l = typical_confusion(q);
            let fixed = rng.random_range(0..k);
            let mut c = vec![0.0; k * k];
            for t in 0..k {
                let row = &mut c[t * k..(t + 1) * k];
                match kind {
                    VolunteerKind::RandomSpammer => {
                        row.iter_mut().for_each(|x| *x = 1.0 / k as f64)
                    }
                    VolunteerKind::ConstantSpammer => row[fixed] = 1.0,
                    VolunteerKind::Adversary => {
                        row.iter_mut()
                            .for_each(|x| *x = 1.0 / (k - 1).max(1) as f64);
                        row[t] = 0.0;
                    }
                    VolunteerKind::Genuine => {
                        let bias =
                            perturb(&mut rng, &l[t * k..(t + 1) * k], cfg.bias_concentration);
                        let skill = match class_rng.as_mut() {
                            Some(r) => {
                                let z: f64 = r.sample(StandardNormal);
                                (skill + cfg.class_skill_sd * z).clamp(0.1, 0.995)
                            }
                            None => skill,
                        };
                        for a in 0..k {
                            row[a] = (1.0 - skill) * bias[a];
                        }
                        row[t] += skill;
                    }
                }
            }
            c
        })
        .collect();
    Volunteer {
        kind,
        skill,
        activity,
        confusion,
    }
}

/// A Dirichlet draw centred on `base` with concentration `conc` (zeros stay zero).
fn perturb(rng: &mut ChaCha8Rng, base: &[f64], conc: f64) -> Vec<f64> {
    if conc <= 0.0 {
        return base.to_vec();
    }
    let mut out: Vec<f64> = base
        .iter()
        .map(|&b| {
            if b > 0.0 {
                Gamma::new(conc * b * base.len() as f64, 1.0).map_or(b, |g| g.sample(rng))
            } else {
                0.0
            }
        })
        .collect();
    let s: f64 = out.iter().sum();
    if s > 0.0 {
        out.iter_mut().for_each(|x| *x /= s);
        out
    } else {
        base.to_vec()
    }
}

impl Crowd {
    /// Samples `n` volunteers; volunteer `v` depends only on `(seed, v)`.
    pub fn sample(seed: u64, n: usize, cfg: &CrowdQuality) -> Result<Crowd, CrowdError> {
        Crowd::sample_from(seed, "crowd/volunteers", n, cfg)
    }

    /// [`Crowd::sample`] from the item streams named `name` (another population, e.g. the
    /// expert panel, draws independently of the volunteers).
    pub fn sample_from(
        seed: u64,
        name: &str,
        n: usize,
        cfg: &CrowdQuality,
    ) -> Result<Crowd, CrowdError> {
        cfg.validate()?;
        if n == 0 {
            return Err(CrowdError::Config("n_volunteers = 0; expected >= 1".into()));
        }
        let volunteers: Vec<Volunteer> = (0..n)
            .into_par_iter()
            .map(|v| sample_volunteer(seed, name, v, cfg))
            .collect();
        let mut acc = 0.0;
        let cumulative_activity = volunteers
            .iter()
            .map(|v| {
                acc += v.activity;
                acc
            })
            .collect();
        Ok(Crowd {
            volunteers,
            quality: cfg.clone(),
            cumulative_activity,
        })
    }

    /// Number of volunteers.
    pub fn len(&self) -> usize {
        self.volunteers.len()
    }

    /// True when the crowd is empty.
    pub fn is_empty(&self) -> bool {
        self.volunteers.is_empty()
    }

    /// Answer distribution of volunteer `v` for question `q` on a galaxy with true answer `t`
    /// and difficulty `d` (see the module doc).
    pub fn answer_probs(&self, v: usize, q: Question, t: usize, d: f64) -> Vec<f64> {
        let k = q.answers().len();
        let vol = &self.volunteers[v];
        let c = &vol.confusion[q as usize][t * k..(t + 1) * k];
        if vol.kind != VolunteerKind::Genuine {
            return c.to_vec();
        }
        if self.quality.difficulty_model == DifficultyModel::Sigmoid {
            let a = c[t].clamp(1e-9, 1.0 - 1e-9);
            let d = d.clamp(1e-6, 1.0 - 1e-6);
            let beta = ((1.0 - d) / d).powf(self.quality.difficulty_scale);
            let p = 1.0 / (1.0 + (-(a / (1.0 - a)).ln() * beta).exp());
            let wrong = if k > 1 {
                (1.0 - p) / (k - 1) as f64
            } else {
                0.0
            };
            let mut row = vec![wrong; k];
            row[t] = if k > 1 { p } else { 1.0 };
            return row;
        }
        let s = (self.quality.difficulty_scale * d).clamp(0.0, 1.0);
        let l = typical_confusion(q);
        (0..k)
            .map(|a| (1.0 - s) * c[a] + s * l[t * k + a])
            .collect()
    }

    pub(crate) fn draw_answer(
        &self,
        rng: &mut ChaCha8Rng,
        v: usize,
        q: Question,
        t: usize,
        d: f64,
    ) -> u32 {
        let p = self.answer_probs(v, q, t, d);
        let mut u: f64 = rng.random();
        for (a, &x) in p.iter().enumerate() {
            if u < x {
                return a as u32;
            }
            u -= x;
        }
        (p.len() - 1) as u32
    }

    pub(super) fn draw_volunteer(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = *self.cumulative_activity.last().unwrap_or(&1.0);
        let u = rng.random::<f64>() * total;
        self.cumulative_activity
            .partition_point(|&c| c <= u)
            .min(self.len() - 1)
    }

    /// `k` distinct volunteers drawn by activity (falls back to uniform among the unused after
    /// many collisions).
    fn draw_distinct(&self, rng: &mut ChaCha8Rng, k: usize) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::with_capacity(k);
        let mut tries = 0;
        while out.len() < k {
            let v = if tries < 50 * k {
                self.draw_volunteer(rng)
            } else {
                rng.random_range(0..self.len())
            };
            tries += 1;
            if !out.contains(&v) {
                out.push(v);
            }
        }
        out
    }
}

/// The true answer of every galaxy to `q` (`None` where the question is not reached).
pub fn truth(galaxies: &[Galaxy], q: Question) -> Vec<Option<u32>> {
    galaxies
        .iter()
        .map(|g| TrueAnswers::from_galaxy(g).get(q).map(|a| a as u32))
        .collect()
}

fn empty_classifications(galaxies: &[Galaxy], crowd: &Crowd, q: Question) -> Classifications {
    Classifications {
        volunteer_names: (0..crowd.len()).map(|v| format!("v{v}")).collect(),
        galaxy_names: galaxies.iter().map(|g| g.id.to_string()).collect(),
        questions: vec![QuestionInfo {
            name: q.name().to_string(),
            answers: q.answers().iter().map(|s| s.to_string()).collect(),
        }],
        ..Default::default()
    }
}

/// The retirement-free stream: every galaxy that reaches `q` gets `k` votes from `k` distinct
/// volunteers. Times interleave galaxies (all first votes, then all second votes, ...).
pub fn simulate_fixed(
    seed: u64,
    galaxies: &[Galaxy],
    crowd: &Crowd,
    q: Question,
    k: usize,
) -> Result<Classifications, CrowdError> {
    if k == 0 || k > crowd.len() {
        return Err(CrowdError::Config(format!(
            "votes_per_galaxy = {k}; expected 1..={} (the number of volunteers)",
            crowd.len()
        )));
    }
    let truth = truth(galaxies, q);
    let per_galaxy: Vec<Vec<(u32, u32)>> = galaxies
        .par_iter()
        .zip(truth.par_iter())
        .map(|(g, t)| {
            let Some(t) = *t else { return Vec::new() };
            let mut rng = item_stream(seed, "crowd/stream", g.id);
            let vols = crowd.draw_distinct(&mut rng, k);
            vols.into_iter()
                .map(|v| {
                    let a = crowd.draw_answer(&mut rng, v, q, t as usize, g.difficulty as f64);
                    (v as u32, a)
                })
                .collect()
        })
        .collect();
    let mut out = empty_classifications(galaxies, crowd, q);
    let n = galaxies.len();
    for (gi, votes) in per_galaxy.iter().enumerate() {
        for (j, &(v, a)) in votes.iter().enumerate() {
            out.volunteer.push(v);
            out.galaxy.push(gi as u32);
            out.question.push(0);
            out.answer.push(a);
            out.time.push((j * n + gi) as f64);
        }
    }
    Ok(out)
}

/// The online stream: a volunteer (drawn by activity) is served a random galaxy still in the
/// active pool that they have not classified; after each click `retire(volunteer, galaxy,
/// answer)` says whether to retire the galaxy. A galaxy also leaves the pool after `cap` votes.
/// Galaxy ids in `retire` index `galaxies`; galaxies not reaching `q` are never served.
pub fn simulate_online(
    seed: u64,
    galaxies: &[Galaxy],
    crowd: &Crowd,
    q: Question,
    cap: usize,
    retire: &mut dyn FnMut(u32, u32, u32) -> bool,
) -> Result<Classifications, CrowdError> {
    let mut queue = super::queue::Queue::new(seed, galaxies, crowd, q, cap)?;
    let mut out = empty_classifications(galaxies, crowd, q);
    while let Some(c) = queue.next_click() {
        out.volunteer.push(c.volunteer);
        out.galaxy.push(c.galaxy);
        out.question.push(0);
        out.answer.push(c.answer);
        out.time.push(c.step as f64);
        if retire(c.volunteer, c.galaxy, c.answer) || queue.votes(c.galaxy) >= cap {
            queue.remove(c.galaxy);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crowd::{CrowdRunConfig, DawidSkene, Strategy, evaluate};
    use crate::universe::{PopulationConfig, sample_population};

    #[test]
    fn confusion_rows_are_distributions_and_spammers_exist() {
        let crowd = Crowd::sample(3, 200, &CrowdQuality::default()).unwrap();
        let spam = crowd
            .volunteers
            .iter()
            .filter(|v| v.kind != VolunteerKind::Genuine)
            .count();
        assert!((8..=35).contains(&spam), "{spam} spammers of 200");
        for v in 0..crowd.len() {
            for q in Question::ALL {
                let k = q.answers().len();
                for t in 0..k {
                    let p = crowd.answer_probs(v, q, t, 0.7);
                    assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
                }
            }
        }
        // Harder galaxies: genuine volunteers give the true answer less often.
        let v = (0..crowd.len())
            .find(|&v| crowd.volunteers[v].kind == VolunteerKind::Genuine)
            .unwrap();
        let q = Question::SmoothOrFeatured;
        assert!(crowd.answer_probs(v, q, 1, 0.9)[1] < crowd.answer_probs(v, q, 1, 0.1)[1]);
    }

    #[test]
    fn dawid_skene_recovers_confusion_matrices() {
        let pop = PopulationConfig {
            artifact_fraction: 0.25,
            ..PopulationConfig::default()
        };
        let galaxies = sample_population(11, 1000, &pop);
        let crowd = Crowd::sample(11, 40, &CrowdQuality::default()).unwrap();
        let q = Question::SmoothOrFeatured;
        let cls = simulate_fixed(11, &galaxies, &crowd, q, 20).unwrap();
        let votes = cls.for_question(0).unwrap();
        let fit = DawidSkene::default().fit(&votes);
        let truth = truth(&galaxies, q);
        let k = 3;
        // Expected confusion of each volunteer over the galaxies they actually saw.
        let mut expect = vec![0.0; crowd.len() * k * k];
        let mut n = vec![0.0; crowd.len() * k];
        for i in 0..votes.len() {
            let v = votes.volunteer[i] as usize;
            let g = votes.galaxy_index[votes.galaxy[i] as usize] as usize;
            let t = truth[g].unwrap() as usize;
            let p = crowd.answer_probs(v, q, t, galaxies[g].difficulty as f64);
            for a in 0..k {
                expect[(v * k + a) * k + t] += p[a];
            }
            n[v * k + t] += 1.0;
        }
        let (mut err, mut m) = (0.0, 0.0);
        for v in 0..crowd.len() {
            for t in 0..k {
                if n[v * k + t] == 0.0 {
                    continue;
                }
                for a in 0..k {
                    let e = expect[(v * k + a) * k + t] / n[v * k + t];
                    err += (fit.errors[(v * k + a) * k + t] - e).abs();
                    m += 1.0;
                }
            }
        }
        let mae = err / m;
        assert!(mae < 0.05, "mean abs error {mae}");
    }

    #[test]
    fn swap_retires_with_fewer_clicks_at_equal_accuracy() {
        let base = CrowdRunConfig {
            question: "anything-odd".into(),
            n_galaxies: 1500,
            n_volunteers: 300,
            ..CrowdRunConfig::default()
        };
        let swap = evaluate(
            &CrowdRunConfig {
                strategy: Strategy::Swap,
                online: true,
                votes_per_galaxy: 40,
                ..base.clone()
            },
            5,
        )
        .unwrap();
        let (acc, clicks) = (swap["accuracy"], swap["clicks_per_galaxy"]);
        // The smallest fixed K at which majority vote is as accurate as SWAP.
        let mut k_equal = None;
        for k in 1..=40 {
            let mv = evaluate(
                &CrowdRunConfig {
                    votes_per_galaxy: k,
                    ..base.clone()
                },
                5,
            )
            .unwrap();
            if mv["accuracy"] >= acc {
                k_equal = Some(k);
                break;
            }
        }
        let k_equal = k_equal.unwrap_or(41) as f64;
        eprintln!(
            "swap: accuracy {acc:.4} with {clicks:.2} clicks/galaxy; majority vote needs K = {k_equal}"
        );
        assert!(
            clicks < k_equal,
            "swap {clicks} clicks vs fixed K {k_equal}"
        );
    }

    #[test]
    fn streams_are_deterministic() {
        let galaxies = sample_population(2, 50, &PopulationConfig::default());
        let crowd = Crowd::sample(2, 30, &CrowdQuality::default()).unwrap();
        let q = Question::SmoothOrFeatured;
        let a = simulate_fixed(2, &galaxies, &crowd, q, 5).unwrap();
        assert_eq!(a, simulate_fixed(2, &galaxies, &crowd, q, 5).unwrap());
        assert_ne!(a, simulate_fixed(3, &galaxies, &crowd, q, 5).unwrap());
        let mut n = 0;
        let b = simulate_online(2, &galaxies, &crowd, q, 7, &mut |_, _, _| {
            n += 1;
            n % 3 == 0
        })
        .unwrap();
        assert!(b.len() < 50 * 7);
        let mut n = 0;
        let c = simulate_online(2, &galaxies, &crowd, q, 7, &mut |_, _, _| {
            n += 1;
            n % 3 == 0
        })
        .unwrap();
        assert_eq!(b, c);
    }
}
