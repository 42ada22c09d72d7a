//! Clump Scout click aggregation: volunteers' marks on galaxy images ([`Mark`]) -> clump
//! positions with a consensus score, weighting each volunteer by an estimated reliability (a
//! simplified form of Branson et al. 2017 as used for Clump Scout by Dickinson et al. 2022).
//!
//! 1. **Clusters.** Per galaxy the marks are grouped greedily: each mark's density is the
//!    number of *other* volunteers with a mark within `link_radius_px`; the densest unassigned
//!    mark (ties: volunteer id, then x, then y) seeds a cluster, which takes from every volunteer
//!    their unassigned mark nearest the seed if it lies within the radius. A volunteer thus
//!    contributes at most one mark per cluster; their other unassigned marks within the radius
//!    (double clicks) are absorbed into the cluster without counting. Repeat until every mark is
//!    assigned (a lone mark becomes a cluster of one).
//! 2. **EM.** A cluster is a real clump with probability `p`. Volunteer `j` has a true-positive
//!    rate `tpr_j` (chance to mark a real clump of a galaxy shown to them) and a false-positive
//!    rate `fpr_j` (chance to contribute a mark to a cluster that is not real), with Beta
//!    priors. E-step: the log-odds of cluster `k` in galaxy `g` is `logit(pi)` plus, over every
//!    volunteer who saw `g`, `ln(tpr/fpr)` if they marked `k` and `ln((1 - tpr)/(1 - fpr))` if
//!    not (independent volunteers given the truth, as in Dawid-Skene). M-step: `tpr_j` and
//!    `fpr_j` are Beta-posterior means of the (soft) counts over the clusters of the galaxies
//!    they saw, `pi = (1 + sum p) / (2 + K)`. Start from the plain shares, stop when no `p`
//!    moves more than `tol` or after `max_iter` rounds.
//! 3. **Position and oddness.** A volunteer's reliability weight is the evidence their mark
//!    carries in step 2, the log diagnostic odds ratio
//!    `ln(tpr/fpr) - ln((1 - tpr)/(1 - fpr))` (at least 0.01): near zero for one who marks
//!    real and spurious clusters alike, large for one whose marks are rarely spurious. The
//!    position is the weight-averaged mean of the cluster's marks, the odd score the
//!    weight-averaged share of odd flags.
//!
//! With `weighted: false` the baseline is computed instead: score = share of the galaxy's viewers
//! who marked the cluster, plain mean position, plain share of odd flags, no skills.
//!
//! Output: one [`Consensus`] per cluster, ordered by galaxy, then y, then x; pure and
//! deterministic (input order of the marks does not matter).

use serde::Serialize;

use crate::crowd::clicks::Mark;
use crate::geom::Point;

/// One aggregated clump.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Consensus {
    pub galaxy: usize,
    pub at: Point,
    /// Probability that the cluster is a real clump (weighted) or share of the galaxy's viewers
    /// who marked it (baseline).
    pub score: f32,
    /// Reliability-weighted (or plain) share of the cluster's marks flagged odd.
    pub odd: f32,
    /// Number of distinct volunteers who marked it.
    pub marks: usize,
}

/// The estimated skill of one volunteer (weighted aggregation only).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VolunteerSkill {
    pub volunteer: usize,
    pub tpr: f32,
    pub fpr: f32,
    /// Reliability weight `ln(tpr/fpr) - ln((1 - tpr)/(1 - fpr))`, at least 0.01.
    pub weight: f32,
    /// Galaxies they were shown.
    pub galaxies: usize,
    /// Clusters they marked.
    pub marks: usize,
}

/// How to aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ConsensusConfig {
    /// Marks closer than this (pixels) to a cluster's seed join it; about one PSF FWHM.
    pub link_radius_px: f32,
    /// EM rounds at most.
    pub max_iter: usize,
    /// EM stops when no cluster probability moves more than this.
    pub tol: f64,
    /// Beta prior `(a, b)` of every true-positive rate.
    pub tpr_prior: [f64; 2],
    /// Beta prior `(a, b)` of every false-positive rate.
    pub fpr_prior: [f64; 2],
    /// Reliability-weighted EM (true) or the plain-share baseline (false).
    pub weighted: bool,
}

impl Default for ConsensusConfig {
    fn default() -> Self {
        ConsensusConfig {
            link_radius_px: 3.0,
            max_iter: 200,
            tol: 1e-6,
            tpr_prior: [2.0, 2.0],
            fpr_prior: [1.0, 9.0],
            weighted: true,
        }
    }
}

/// A cluster of one galaxy: its (volunteer, mark index) members, one per volunteer.
#[derive(Debug, Clone)]
struct Cluster {
    galaxy: usize,
    members: Vec<(usize, usize)>,
}

fn cmp_marks(a: &Mark, b: &Mark) -> std::cmp::Ordering {
    (a.volunteer.cmp(&b.volunteer))
        .then(a.at.x.total_cmp(&b.at.x))
        .then(a.at.y.total_cmp(&b.at.y))
        .then(a.odd.cmp(&b.odd))
}

/// Greedy clusters of one galaxy's marks (indices into `marks`), see the module docs.
fn cluster_galaxy(marks: &[Mark], idx: &mut [usize], radius: f32, galaxy: usize) -> Vec<Cluster> {
    idx.sort_by(|&a, &b| cmp_marks(&marks[a], &marks[b]));
    let n = idx.len();
    let within = |a: usize, b: usize| marks[idx[a]].at.distance(&marks[idx[b]].at) <= radius;
    let density: Vec<usize> = (0..n)
        .map(|a| {
            let mut vols: Vec<usize> = (0..n)
                .filter(|&b| marks[idx[b]].volunteer != marks[idx[a]].volunteer && within(a, b))
                .map(|b| marks[idx[b]].volunteer)
                .collect();
            vols.dedup();
            vols.len()
        })
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| density[b].cmp(&density[a]).then(a.cmp(&b)));
    let mut taken = vec![false; n];
    let mut out = Vec::new();
    for &s in &order {
        if taken[s] {
            continue;
        }
        let seed = marks[idx[s]].at;
        // nearest unassigned mark of each volunteer within the radius (sorted by volunteer)
        let mut best: Vec<(usize, usize, f32)> = Vec::new();
        for b in 0..n {
            let d = marks[idx[b]].at.distance(&seed);
            if taken[b] || d > radius {
                continue;
            }
            let v = marks[idx[b]].volunteer;
            match best.last_mut() {
                Some(last) if last.0 == v => {
                    if d < last.2 {
                        *last = (v, b, d);
                    }
                }
                _ => best.push((v, b, d)),
            }
        }
        for b in 0..n {
            let v = marks[idx[b]].volunteer;
            if !taken[b] && within(s, b) && best.iter().any(|m| m.0 == v) {
                taken[b] = true;
            }
        }
        let members = best.iter().map(|&(v, b, _)| (v, idx[b])).collect();
        out.push(Cluster { galaxy, members });
    }
    out
}

/// Reliability weight: the log diagnostic odds ratio of a mark, at least 0.01.
fn reliability(tpr: f64, fpr: f64) -> f64 {
    ((tpr / fpr).ln() - ((1.0 - tpr) / (1.0 - fpr)).ln()).max(0.01)
}

/// Aggregate `marks` on `n_galaxies` galaxies into clumps (see the module docs), linking marks
/// within `cfg.link_radius_px` on every galaxy. `shown_to[g]` lists the volunteers who saw
/// galaxy `g` (a volunteer who marked it counts as having seen it; galaxies past the end of
/// `shown_to` were seen by their markers only). Marks on galaxies `>= n_galaxies` are ignored.
/// Returns the clumps and, when weighted, one skill per volunteer id `0..=max id`.
pub fn aggregate(
    marks: &[Mark],
    n_galaxies: usize,
    shown_to: &[Vec<usize>],
    cfg: &ConsensusConfig,
) -> (Vec<Consensus>, Vec<VolunteerSkill>) {
    aggregate_scaled(marks, n_galaxies, shown_to, &[], cfg)
}

/// [`aggregate`] with a link radius per galaxy (`link_radius_px[g]`, e.g. one PSF FWHM of a
/// cutout whose pixel scale varies with the galaxy; `cfg.link_radius_px` where missing).
pub fn aggregate_scaled(
    marks: &[Mark],
    n_galaxies: usize,
    shown_to: &[Vec<usize>],
    link_radius_px: &[f32],
    cfg: &ConsensusConfig,
) -> (Vec<Consensus>, Vec<VolunteerSkill>) {
    let mut per_galaxy: Vec<Vec<usize>> = vec![Vec::new(); n_galaxies];
    for (i, m) in marks.iter().enumerate() {
        if m.galaxy < n_galaxies && m.at.x.is_finite() && m.at.y.is_finite() {
            per_galaxy[m.galaxy].push(i);
        }
    }
    let radius = |g: usize| {
        let r = link_radius_px.get(g).copied().unwrap_or(cfg.link_radius_px);
        if r.is_finite() { r.max(0.0) } else { 0.0 }
    };
    let clusters: Vec<Cluster> = (per_galaxy.iter_mut().enumerate())
        .flat_map(|(g, idx)| cluster_galaxy(marks, idx, radius(g), g))
        .collect();
    // viewers of each galaxy: shown_to plus markers, sorted and unique
    let viewers: Vec<Vec<usize>> = (0..n_galaxies)
        .map(|g| {
            let mut v = shown_to.get(g).cloned().unwrap_or_default();
            v.extend(per_galaxy[g].iter().map(|&i| marks[i].volunteer));
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    let share = |c: &Cluster| c.members.len() as f64 / viewers[c.galaxy].len().max(1) as f64;
    if !cfg.weighted {
        let out = clusters
            .iter()
            .map(|c| finish(c, marks, share(c), &|_| 1.0))
            .collect();
        return (sorted(out), Vec::new());
    }
    let n_vol = (viewers.iter().flatten())
        .chain(clusters.iter().flat_map(|c| c.members.iter().map(|m| &m.0)))
        .max()
        .map_or(0, |&m| m + 1);
    let mut p: Vec<f64> = clusters.iter().map(share).collect();
    let (mut tpr, mut fpr) = (vec![0.5f64; n_vol], vec![0.1f64; n_vol]);
    let mut by_galaxy: Vec<Vec<usize>> = vec![Vec::new(); n_galaxies];
    for (k, c) in clusters.iter().enumerate() {
        by_galaxy[c.galaxy].push(k);
    }
    for _ in 0..cfg.max_iter.max(1) {
        // M-step from the current p
        let (mut num_t, mut den_t) = (vec![0f64; n_vol], vec![0f64; n_vol]);
        let (mut num_f, mut den_f) = (vec![0f64; n_vol], vec![0f64; n_vol]);
        for (g, ks) in by_galaxy.iter().enumerate() {
            let real: f64 = ks.iter().map(|&k| p[k]).sum();
            let fake = ks.len() as f64 - real;
            for &j in &viewers[g] {
                den_t[j] += real;
                den_f[j] += fake;
            }
        }
        for (k, c) in clusters.iter().enumerate() {
            for &(j, _) in &c.members {
                num_t[j] += p[k];
                num_f[j] += 1.0 - p[k];
            }
        }
        let ([at, bt], [af, bf]) = (cfg.tpr_prior, cfg.fpr_prior);
        for j in 0..n_vol {
            tpr[j] = (at + num_t[j]) / (at + bt + den_t[j]);
            fpr[j] = (af + num_f[j]) / (af + bf + den_f[j]);
        }
        let pi = (1.0 + p.iter().sum::<f64>()) / (2.0 + p.len() as f64);
        // E-step
        let miss: Vec<f64> = (0..n_vol)
            .map(|j| ((1.0 - tpr[j]) / (1.0 - fpr[j])).ln())
            .collect();
        let hit: Vec<f64> = (0..n_vol).map(|j| (tpr[j] / fpr[j]).ln()).collect();
        let base: Vec<f64> = (viewers.iter())
            .map(|v| (pi / (1.0 - pi)).ln() + v.iter().map(|&j| miss[j]).sum::<f64>())
            .collect();
        let mut moved = 0f64;
        for (k, c) in clusters.iter().enumerate() {
            let l = base[c.galaxy]
                + c.members
                    .iter()
                    .map(|&(j, _)| hit[j] - miss[j])
                    .sum::<f64>();
            let new = 1.0 / (1.0 + (-l).exp());
            moved = moved.max((new - p[k]).abs());
            p[k] = new;
        }
        if moved < cfg.tol {
            break;
        }
    }
    let weight: Vec<f64> = (0..n_vol).map(|j| reliability(tpr[j], fpr[j])).collect();
    let out = (clusters.iter().zip(&p))
        .map(|(c, &pk)| finish(c, marks, pk, &|j| weight[j]))
        .collect();
    let mut seen = vec![0usize; n_vol];
    for &j in viewers.iter().flatten() {
        seen[j] += 1;
    }
    let mut marked = vec![0usize; n_vol];
    for c in &clusters {
        for &(j, _) in &c.members {
            marked[j] += 1;
        }
    }
    let skills = (0..n_vol)
        .map(|j| VolunteerSkill {
            volunteer: j,
            tpr: tpr[j] as f32,
            fpr: fpr[j] as f32,
            weight: weight[j] as f32,
            galaxies: seen[j],
            marks: marked[j],
        })
        .collect();
    (sorted(out), skills)
}

/// The consensus of cluster `c` with score `score` and volunteer weights `w`.
fn finish(c: &Cluster, marks: &[Mark], score: f64, w: &dyn Fn(usize) -> f64) -> Consensus {
    let (mut sw, mut sx, mut sy, mut so) = (0f64, 0f64, 0f64, 0f64);
    for &(j, i) in &c.members {
        let wj = w(j);
        sw += wj;
        sx += wj * marks[i].at.x as f64;
        sy += wj * marks[i].at.y as f64;
        so += wj * marks[i].odd as u8 as f64;
    }
    let sw = sw.max(f64::MIN_POSITIVE);
    Consensus {
        galaxy: c.galaxy,
        at: Point::new((sx / sw) as f32, (sy / sw) as f32),
        score: score as f32,
        odd: (so / sw) as f32,
        marks: c.members.len(),
    }
}

fn sorted(mut v: Vec<Consensus>) -> Vec<Consensus> {
    v.sort_by(|a, b| {
        (a.galaxy.cmp(&b.galaxy))
            .then(a.at.y.total_cmp(&b.at.y))
            .then(a.at.x.total_cmp(&b.at.x))
    });
    v
}

#[cfg(test)]
#[path = "clump_consensus_tests.rs"]
mod tests;
