//! Raw classifications as dense index arrays ([`Classifications`]) and the per-question view the
//! aggregation strategies consume ([`QuestionVotes`], with CSR indexes by galaxy and by
//! volunteer). Owns string -> dense id interning; owns no file formats and no statistics.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::CrowdError;

/// The answers of one question, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionInfo {
    pub name: String,
    /// Answer names; an answer id indexes this list.
    pub answers: Vec<String>,
}

/// Raw classifications (one row = one volunteer's answer to one question of one galaxy), as
/// parallel dense arrays. Ids index the `*_names` / `questions` tables.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Classifications {
    pub volunteer: Vec<u32>,
    pub galaxy: Vec<u32>,
    pub question: Vec<u32>,
    pub answer: Vec<u32>,
    /// Seconds (real exports: Unix time; simulation: the click's position in the stream).
    pub time: Vec<f64>,
    pub volunteer_names: Vec<String>,
    pub galaxy_names: Vec<String>,
    pub questions: Vec<QuestionInfo>,
}

impl Classifications {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.answer.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.answer.is_empty()
    }

    /// Id of the question with this name.
    pub fn question_id(&self, name: &str) -> Option<u32> {
        self.questions
            .iter()
            .position(|q| q.name == name)
            .map(|i| i as u32)
    }

    /// The votes for question `q`: galaxies without a vote for `q` are dropped and the rest are
    /// renumbered densely (in increasing galaxy id); volunteers keep their ids.
    pub fn for_question(&self, q: u32) -> Result<QuestionVotes, CrowdError> {
        let info = self.questions.get(q as usize).ok_or_else(|| {
            CrowdError::Config(format!(
                "question id {q} out of range; there are {} questions",
                self.questions.len()
            ))
        })?;
        let mut local = vec![u32::MAX; self.galaxy_names.len()];
        let mut all_q = true;
        for i in 0..self.len() {
            if self.question[i] == q {
                local[self.galaxy[i] as usize] = 0;
            } else {
                all_q = false;
            }
        }
        if all_q && local.iter().all(|&l| l == 0) {
            // Every row is on `q` and every galaxy has one: ids stay as they are.
            return QuestionVotes::build(
                info.answers.len(),
                self.galaxy_names.len(),
                self.volunteer_names.len(),
                self.galaxy.clone(),
                self.volunteer.clone(),
                self.answer.clone(),
                Some(self.time.clone()),
            );
        }
        let mut galaxy_index = Vec::new();
        for (g, l) in local.iter_mut().enumerate() {
            if *l == 0 {
                *l = galaxy_index.len() as u32;
                galaxy_index.push(g as u32);
            }
        }
        let (mut galaxy, mut volunteer, mut answer) = (Vec::new(), Vec::new(), Vec::new());
        let mut order = Vec::new();
        for i in 0..self.len() {
            if self.question[i] == q {
                galaxy.push(local[self.galaxy[i] as usize]);
                volunteer.push(self.volunteer[i]);
                answer.push(self.answer[i]);
                order.push(self.time[i]);
            }
        }
        QuestionVotes::build(
            info.answers.len(),
            galaxy_index.len(),
            self.volunteer_names.len(),
            galaxy,
            volunteer,
            answer,
            Some(order),
        )
        .map(|v| v.with_galaxy_index(galaxy_index))
    }
}

/// Per-galaxy covariates used by `redshift-debias`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Covariates {
    pub redshift: f32,
    /// Mean surface brightness within the half-light radius (mag / arcsec^2).
    pub surface_brightness: f32,
}

/// Compressed sparse rows: `items[start[r]..start[r + 1]]` are the vote indices of row `r`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Csr {
    pub start: Vec<u32>,
    pub items: Vec<u32>,
}

impl Csr {
    /// Groups vote indices `0..keys.len()` by key (stable: increasing vote index per row).
    pub fn build(keys: &[u32], n_rows: usize) -> Csr {
        let mut start = vec![0u32; n_rows + 1];
        for &k in keys {
            start[k as usize + 1] += 1;
        }
        for r in 0..n_rows {
            start[r + 1] += start[r];
        }
        let mut fill = start.clone();
        let mut items = vec![0u32; keys.len()];
        for (i, &k) in keys.iter().enumerate() {
            items[fill[k as usize] as usize] = i as u32;
            fill[k as usize] += 1;
        }
        Csr { start, items }
    }

    /// Vote indices of row `r`.
    pub fn row(&self, r: usize) -> &[u32] {
        &self.items[self.start[r] as usize..self.start[r + 1] as usize]
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.start.len() - 1
    }
}

/// All votes for one question: the input of every [`Aggregator`](super::Aggregator).
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionVotes {
    pub n_classes: usize,
    pub n_galaxies: usize,
    pub n_volunteers: usize,
    pub galaxy: Vec<u32>,
    pub volunteer: Vec<u32>,
    pub answer: Vec<u32>,
    /// Click time of each vote (SWAP processes votes in this order); default: row order.
    pub time: Vec<f64>,
    /// Local galaxy -> galaxy id of the source [`Classifications`] (identity by default).
    pub galaxy_index: Vec<u32>,
    /// Optional per-galaxy covariates (needed by `redshift-debias`).
    pub covariates: Option<Vec<Covariates>>,
    /// Optional known labels (gold subjects) per galaxy, used by `swap` when present.
    pub gold: Option<Vec<Option<u32>>>,
    pub by_galaxy: Csr,
    pub by_volunteer: Csr,
}

impl QuestionVotes {
    /// Validates ids (galaxy < n_galaxies, volunteer < n_volunteers, answer < n_classes) and
    /// builds the CSR indexes.
    pub fn new(
        n_classes: usize,
        n_galaxies: usize,
        n_volunteers: usize,
        galaxy: Vec<u32>,
        volunteer: Vec<u32>,
        answer: Vec<u32>,
    ) -> Result<QuestionVotes, CrowdError> {
        Self::build(
            n_classes,
            n_galaxies,
            n_volunteers,
            galaxy,
            volunteer,
            answer,
            None,
        )
    }

    /// [`new`](Self::new) with the click times (default: row order).
    fn build(
        n_classes: usize,
        n_galaxies: usize,
        n_volunteers: usize,
        galaxy: Vec<u32>,
        volunteer: Vec<u32>,
        answer: Vec<u32>,
        time: Option<Vec<f64>>,
    ) -> Result<QuestionVotes, CrowdError> {
        if galaxy.len() != volunteer.len()
            || galaxy.len() != answer.len()
            || time.as_ref().is_some_and(|t| t.len() != galaxy.len())
        {
            return Err(CrowdError::Config(
                "galaxy, volunteer, answer (and time) arrays differ in length".into(),
            ));
        }
        if n_classes < 2 {
            return Err(CrowdError::Config(format!(
                "a question needs at least 2 answers, got {n_classes}"
            )));
        }
        let bad = (0..galaxy.len()).into_par_iter().position_first(|i| {
            galaxy[i] as usize >= n_galaxies
                || volunteer[i] as usize >= n_volunteers
                || answer[i] as usize >= n_classes
        });
        if let Some(i) = bad {
            return Err(CrowdError::Config(format!(
                "vote {i}: ids (galaxy {}, volunteer {}, answer {}) out of range \
                 ({n_galaxies} galaxies, {n_volunteers} volunteers, {n_classes} classes)",
                galaxy[i], volunteer[i], answer[i]
            )));
        }
        let (by_galaxy, by_volunteer) = rayon::join(
            || Csr::build(&galaxy, n_galaxies),
            || Csr::build(&volunteer, n_volunteers),
        );
        let time = time.unwrap_or_else(|| (0..galaxy.len()).map(|i| i as f64).collect());
        Ok(QuestionVotes {
            n_classes,
            n_galaxies,
            n_volunteers,
            galaxy,
            volunteer,
            answer,
            time,
            galaxy_index: (0..n_galaxies as u32).collect(),
            covariates: None,
            gold: None,
            by_galaxy,
            by_volunteer,
        })
    }

    /// Sets the click times (same length as the votes).
    pub fn with_time(mut self, time: Vec<f64>) -> Self {
        if time.len() == self.answer.len() {
            self.time = time;
        }
        self
    }

    /// Sets the local -> source galaxy id map.
    pub fn with_galaxy_index(mut self, index: Vec<u32>) -> Self {
        if index.len() == self.n_galaxies {
            self.galaxy_index = index;
        }
        self
    }

    /// Number of votes.
    pub fn len(&self) -> usize {
        self.answer.len()
    }

    /// True when there are no votes.
    pub fn is_empty(&self) -> bool {
        self.answer.is_empty()
    }

    /// Per-galaxy vote counts per class, row-major `n_galaxies x n_classes`.
    pub fn counts(&self) -> Vec<f64> {
        let k = self.n_classes;
        let mut c = vec![0.0; self.n_galaxies * k];
        for i in 0..self.len() {
            c[self.galaxy[i] as usize * k + self.answer[i] as usize] += 1.0;
        }
        c
    }
}

/// Sorts one question's distinct answer names into answer-id order: numerically when every
/// answer is an unsigned integer, else lexicographically (by bytes) — the label order pandas /
/// crowd-kit use. Equal numbers (`01`, `1`) keep their lexicographic order.
pub(crate) fn sort_answers(names: &mut [&str]) {
    names.sort_unstable();
    if names.iter().all(|s| s.parse::<u64>().is_ok()) {
        names.sort_by_key(|s| s.parse::<u64>().unwrap_or(u64::MAX));
    }
}

/// Builds [`Classifications`] from string rows: volunteers and galaxies get ids in order of
/// first appearance, questions too; answers are numbered per question by `sort_answers`.
#[derive(Debug, Default)]
pub struct Interner {
    volunteers: FxHashMap<String, u32>,
    galaxies: FxHashMap<String, u32>,
    questions: FxHashMap<String, u32>,
    /// Per question: answer -> (question, answer) pair id, ids in order of first appearance.
    pairs: Vec<FxHashMap<String, u32>>,
    pair_names: Vec<(u32, String)>,
    /// Pair id of each row.
    row_pair: Vec<u32>,
    out: Classifications,
}

impl Interner {
    pub fn new() -> Self {
        Self::default()
    }

    fn id(map: &mut FxHashMap<String, u32>, names: &mut Vec<String>, key: &str) -> u32 {
        if let Some(&i) = map.get(key) {
            return i;
        }
        let i = names.len() as u32;
        map.insert(key.to_string(), i);
        names.push(key.to_string());
        i
    }

    /// Adds one row.
    pub fn push(&mut self, volunteer: &str, galaxy: &str, question: &str, answer: &str, t: f64) {
        let v = Self::id(
            &mut self.volunteers,
            &mut self.out.volunteer_names,
            volunteer,
        );
        let g = Self::id(&mut self.galaxies, &mut self.out.galaxy_names, galaxy);
        let q = match self.questions.get(question) {
            Some(&q) => q,
            None => {
                let q = self.out.questions.len() as u32;
                self.questions.insert(question.to_string(), q);
                self.out.questions.push(QuestionInfo {
                    name: question.to_string(),
                    answers: Vec::new(),
                });
                self.pairs.push(FxHashMap::default());
                q
            }
        };
        let pair = match self.pairs[q as usize].get(answer) {
            Some(&p) => p,
            None => {
                let p = self.pair_names.len() as u32;
                self.pair_names.push((q, answer.to_string()));
                self.pairs[q as usize].insert(answer.to_string(), p);
                p
            }
        };
        self.out.volunteer.push(v);
        self.out.galaxy.push(g);
        self.out.question.push(q);
        self.out.time.push(t);
        self.row_pair.push(pair);
    }

    /// Numbers the answers and returns the classifications.
    pub fn finish(mut self) -> Classifications {
        let pair_answer = number_answers(&mut self.out.questions, &self.pair_names);
        self.out.answer = self
            .row_pair
            .iter()
            .map(|&p| pair_answer[p as usize])
            .collect();
        self.out
    }
}

/// Fills each question's `answers` from the distinct (question, answer) pairs (sorted by
/// [`sort_answers`]) and returns the answer id of each pair.
pub(crate) fn number_answers<S: AsRef<str>>(
    questions: &mut [QuestionInfo],
    pairs: &[(u32, S)],
) -> Vec<u32> {
    let mut per_q: Vec<Vec<&str>> = vec![Vec::new(); questions.len()];
    for (q, a) in pairs {
        per_q[*q as usize].push(a.as_ref());
    }
    let mut index: Vec<FxHashMap<&str, u32>> = Vec::with_capacity(questions.len());
    for (info, names) in questions.iter_mut().zip(per_q.iter_mut()) {
        sort_answers(names);
        info.answers = names.iter().map(|s| s.to_string()).collect();
        index.push(
            names
                .iter()
                .enumerate()
                .map(|(i, s)| (*s, i as u32))
                .collect(),
        );
    }
    pairs
        .iter()
        .map(|(q, a)| index[*q as usize][a.as_ref()])
        .collect()
}
