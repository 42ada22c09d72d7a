//! `swap`: Space Warps Analysis Pipeline (Marshall et al. 2016; Galaxy Zoo Express, Beck et al.
//! 2018) for binary questions. Each subject starts at prior P(positive) = 0.3; each volunteer
//! has PL = P(says positive | positive) and PD = P(says negative | negative), estimated from
//! pseudo-counts (prior skill 0.75 with weight 2) and updated after every click: from gold
//! subjects only when any are given, otherwise from subjects whose posterior (before the click)
//! is already confident (> 0.9 or < 0.1), taken at that label. Subjects retire when p > 0.99 or p < 0.004. Class `positive` (default 0,
//! Galaxy Zoo's "yes") is the positive class. As an [`Aggregator`] it replays votes in time
//! order; with `retire = true` votes arriving after retirement are ignored (not clicked).

use super::{Aggregate, Aggregator, CrowdError, QuestionVotes};

/// SWAP parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Swap {
    pub prior: f64,
    pub retire_above: f64,
    pub retire_below: f64,
    /// Initial PL = PD of every volunteer.
    pub initial_skill: f64,
    /// Weight (pseudo-votes) of the initial skill.
    pub skill_prior_weight: f64,
    pub positive: u32,
    pub retire: bool,
    /// Without gold subjects, volunteers learn from subjects whose posterior is beyond this
    /// confidence (taken as their label).
    pub train_confidence: f64,
}

impl Default for Swap {
    fn default() -> Self {
        Swap {
            prior: 0.3,
            retire_above: 0.99,
            retire_below: 0.004,
            initial_skill: 0.75,
            skill_prior_weight: 2.0,
            positive: 0,
            retire: false,
            train_confidence: 0.9,
        }
    }
}

/// Online SWAP state: subject posteriors and volunteer confusion counts.
#[derive(Debug, Clone, PartialEq)]
pub struct SwapState {
    pub cfg: Swap,
    /// Posterior P(positive) per subject.
    pub p: Vec<f64>,
    pub retired: Vec<bool>,
    pub clicks: Vec<u32>,
    /// Per volunteer: [positives seen, said positive on those, negatives seen, said negative].
    counts: Vec<[f64; 4]>,
    gold: Option<Vec<Option<u32>>>,
}

impl SwapState {
    pub fn new(
        cfg: Swap,
        n_subjects: usize,
        n_volunteers: usize,
        gold: Option<Vec<Option<u32>>>,
    ) -> Self {
        SwapState {
            cfg,
            p: vec![cfg.prior; n_subjects],
            retired: vec![false; n_subjects],
            clicks: vec![0; n_subjects],
            counts: vec![[0.0; 4]; n_volunteers],
            gold,
        }
    }

    /// (PL, PD) of volunteer `v`.
    pub fn skill(&self, v: usize) -> (f64, f64) {
        let [np, sp, nn, sn] = self.counts[v];
        let (w, s0) = (self.cfg.skill_prior_weight, self.cfg.initial_skill);
        let pl = (sp + w * s0) / (np + w);
        let pd = (sn + w * s0) / (nn + w);
        (pl.clamp(1e-3, 1.0 - 1e-3), pd.clamp(1e-3, 1.0 - 1e-3))
    }

    /// Applies one click; returns true when the subject retires with it. Clicks on retired
    /// subjects are ignored (return false).
    pub fn update(&mut self, volunteer: u32, subject: u32, answer: u32) -> bool {
        let (v, s) = (volunteer as usize, subject as usize);
        if self.retired[s] {
            return false;
        }
        let said_pos = answer == self.cfg.positive;
        let (pl, pd) = self.skill(v);
        let p = self.p[s];
        // Train the volunteer on the subject's truth (gold) or current belief.
        let truth_pos = match &self.gold {
            Some(g) => g[s].map(|t| if t == self.cfg.positive { 1.0 } else { 0.0 }),
            // Unsupervised: learn only from subjects the crowd already agrees on.
            None if p >= self.cfg.train_confidence => Some(1.0),
            None if p <= 1.0 - self.cfg.train_confidence => Some(0.0),
            None => None,
        };
        if let Some(w) = truth_pos {
            let c = &mut self.counts[v];
            c[0] += w;
            c[2] += 1.0 - w;
            if said_pos {
                c[1] += w;
            } else {
                c[3] += 1.0 - w;
            }
        }
        let (like_pos, like_neg) = if said_pos {
            (pl, 1.0 - pd)
        } else {
            (1.0 - pl, pd)
        };
        let num = p * like_pos;
        let q = num / (num + (1.0 - p) * like_neg);
        self.p[s] = q;
        self.clicks[s] += 1;
        if self.cfg.retire && (q > self.cfg.retire_above || q < self.cfg.retire_below) {
            self.retired[s] = true;
            return true;
        }
        false
    }

    /// The aggregate: probs[positive] = p, labels positive iff p > 0.5.
    pub fn to_aggregate(&self) -> Aggregate {
        let pos = self.cfg.positive as usize;
        let mut probs = Vec::with_capacity(self.p.len() * 2);
        let mut labels = Vec::with_capacity(self.p.len());
        for &p in &self.p {
            let mut row = [1.0 - p; 2];
            row[pos] = p;
            probs.extend_from_slice(&row);
            labels.push(if p > 0.5 { pos as u32 } else { 1 - pos as u32 });
        }
        Aggregate {
            n_classes: 2,
            probs,
            labels,
            clicks_used: self.clicks.clone(),
        }
    }
}

impl Aggregator for Swap {
    fn name(&self) -> &'static str {
        "swap"
    }

    fn aggregate(&self, votes: &QuestionVotes) -> Result<Aggregate, CrowdError> {
        if votes.n_classes != 2 || self.positive > 1 {
            return Err(CrowdError::Strategy {
                strategy: "swap",
                reason: format!(
                    "needs a binary question (2 answers, positive class 0 or 1); got {} answers",
                    votes.n_classes
                ),
            });
        }
        let mut order: Vec<u32> = (0..votes.len() as u32).collect();
        order.sort_by(|&a, &b| votes.time[a as usize].total_cmp(&votes.time[b as usize]));
        let mut st = SwapState::new(
            *self,
            votes.n_galaxies,
            votes.n_volunteers,
            votes.gold.clone(),
        );
        for i in order {
            let i = i as usize;
            st.update(votes.volunteer[i], votes.galaxy[i], votes.answer[i]);
        }
        Ok(st.to_aggregate())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_update() {
        let mut st = SwapState::new(
            Swap {
                retire: true,
                ..Swap::default()
            },
            1,
            1,
            None,
        );
        // PL = PD = 0.75 initially; "yes" (class 0): p = 0.3*0.75 / (0.3*0.75 + 0.7*0.25).
        st.update(0, 0, 0);
        let want = 0.3 * 0.75 / (0.3 * 0.75 + 0.7 * 0.25);
        assert!((st.p[0] - want).abs() < 1e-15);
        assert_eq!(st.clicks[0], 1);
    }
}
