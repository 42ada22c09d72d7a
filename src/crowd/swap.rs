//! `swap`: Space Warps Analysis Pipeline (Marshall et al. 2016; Galaxy Zoo Express, Beck et al.
//! 2018) for binary questions. Each subject starts at prior P(positive) = 0.3; each volunteer
//! has PL = P(says positive | positive) and PD = P(says negative | negative), estimated from
//! pseudo-counts (prior skill 0.75 with weight 2) and updated after every click: from gold
//! subjects only when any are given, otherwise from subjects whose posterior (before the click)
//! is already confident (> 0.9 or < 0.1), taken at that label. Subjects retire when p > 0.99 or
//! p < 0.004. As an [`Aggregator`] it replays votes in time order; with `retire = true` votes
//! arriving after retirement are ignored (not clicked).
//!
//! **The positive class is explicit**: [`Swap::positive`] is the class index (0 or 1) whose
//! probability the posterior p is; the other index is the negative class. Answers are numbered
//! by the caller: the simulator numbers them in `Question::answers` order and maps the
//! experiment's `positive_answer` to 0 (so the default 0 is right there), whereas a CSV read by
//! `gzbench aggregate` numbers answers alphabetically (for yes/no, 0 = "no"), so a caller must
//! set the positive class from the answer's name with [`Swap::with_positive_answer`] (what an
//! `aggregate --positive ANSWER` option should call). The prior, the retirement thresholds
//! (0.99 = confident positive, 0.004 = confident negative) and the aggregate's label all refer
//! to that class.

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
    /// Index (0 or 1) of the positive class among the question's two answers: the posterior is
    /// P(true answer = `positive`) and `prior`, `retire_above` and `retire_below` refer to it.
    /// Default 0. See the module doc for how answers are numbered.
    pub positive: u32,
    /// Retire subjects (ignore their later clicks) once the posterior passes a threshold.
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

impl Swap {
    /// Default parameters with the positive class set to the answer named `positive` among
    /// `answers` (the question's two answer names, indexed as the votes' answer ids are).
    /// Errors when the question is not binary or `positive` is not one of its answers.
    pub fn with_positive_answer(answers: &[String], positive: &str) -> Result<Swap, CrowdError> {
        let pos = answers.iter().position(|a| a == positive);
        match (answers.len(), pos) {
            (2, Some(p)) => Ok(Swap {
                positive: p as u32,
                ..Swap::default()
            }),
            _ => Err(CrowdError::Strategy {
                strategy: "swap",
                reason: format!(
                    "positive answer `{positive}` must be one of the 2 answers of a binary \
                     question; the answers are [{}]",
                    answers.join(", ")
                ),
            }),
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

    /// The aggregate: `probs[positive] = p`, labels positive iff `p > 0.5`.
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

    fn binary_only(&self) -> bool {
        true
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

    #[test]
    fn the_positive_class_is_set_by_answer_name() {
        // `gzbench aggregate` numbers answers alphabetically: "no" = 0, "yes" = 1.
        let answers = vec!["no".to_string(), "yes".to_string()];
        let yes = Swap::with_positive_answer(&answers, "yes").unwrap();
        assert_eq!(yes.positive, 1);
        assert_eq!(
            Swap::with_positive_answer(&answers, "no").unwrap().positive,
            0
        );
        // One "yes" click: with "yes" positive, p = P(yes) = 0.3*0.75 / (0.3*0.75 + 0.7*0.25);
        // with "no" positive, P(no) = 0.3*0.25 / (0.3*0.25 + 0.7*0.75).
        let votes = QuestionVotes::new(2, 1, 1, vec![0], vec![0], vec![1]).unwrap();
        let a = yes.aggregate(&votes).unwrap();
        let p_yes = 0.3 * 0.75 / (0.3 * 0.75 + 0.7 * 0.25);
        assert!((a.row(0)[1] - p_yes).abs() < 1e-15);
        assert_eq!(a.labels, vec![1]);
        let b = Swap::default().aggregate(&votes).unwrap();
        let p_no = 0.3 * 0.25 / (0.3 * 0.25 + 0.7 * 0.75);
        assert!((b.row(0)[0] - p_no).abs() < 1e-15);
        assert_eq!(b.labels, vec![1]);
        for (ans, name) in [(answers.clone(), "maybe"), (vec!["a".into(); 3], "a")] {
            let e = Swap::with_positive_answer(&ans, name)
                .unwrap_err()
                .to_string();
            assert!(e.contains("binary") && e.contains(name), "{e}");
        }
    }
}
