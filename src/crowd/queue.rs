//! The online click queue: galaxies wait in a pool; each click draws a volunteer by activity and
//! serves them a pooled galaxy they have not seen, whose answer the crowd model draws. The
//! caller decides after each click whether the galaxy leaves the pool (retired, or at its vote
//! cap), and may take galaxies out at any time (a machine retiring them). Both streams that
//! serve galaxies until retired use it: [`super::volunteers::simulate_online`] (SWAP in a
//! `crowd` run) and the Galaxy Zoo Express stream (`gzx`). All draws come from
//! `stream(seed, "crowd/online")`, in click order, so taking galaxies out never changes the
//! draws made before, and a caller that takes none out sees exactly `simulate_online`'s clicks.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::CrowdError;
use super::volunteers::{Crowd, truth};
use crate::rng::stream;
use crate::universe::{Galaxy, Question};

/// One click: who answered what on which galaxy, and when (`step`: draws made so far, 1-based;
/// a draw whose volunteer had seen every galaxy tried makes no click but counts a step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Click {
    pub volunteer: u32,
    pub galaxy: u32,
    pub answer: u32,
    pub step: u64,
}

/// The pool of galaxies still being served, and who has seen each.
pub struct Queue<'a> {
    galaxies: &'a [Galaxy],
    crowd: &'a Crowd,
    q: Question,
    truth: Vec<Option<u32>>,
    active: Vec<u32>,
    /// Position of each galaxy in `active` (`u32::MAX` when out of the pool).
    slot: Vec<u32>,
    seen: Vec<Vec<u32>>,
    rng: ChaCha8Rng,
    step: u64,
    max_steps: u64,
}

impl<'a> Queue<'a> {
    /// Every galaxy that reaches `q` enters the pool; `cap` (votes a galaxy may get, at most one
    /// per volunteer) only bounds the draws: the caller takes galaxies out at their cap.
    pub fn new(
        seed: u64,
        galaxies: &'a [Galaxy],
        crowd: &'a Crowd,
        q: Question,
        cap: usize,
    ) -> Result<Queue<'a>, CrowdError> {
        if cap == 0 || cap > crowd.len() {
            return Err(CrowdError::Config(format!(
                "votes_per_galaxy (cap) = {cap}; expected 1..={}",
                crowd.len()
            )));
        }
        let truth = truth(galaxies, q);
        let active: Vec<u32> = (0..galaxies.len() as u32)
            .filter(|&g| truth[g as usize].is_some())
            .collect();
        let mut slot = vec![u32::MAX; galaxies.len()];
        for (i, &g) in active.iter().enumerate() {
            slot[g as usize] = i as u32;
        }
        Ok(Queue {
            galaxies,
            crowd,
            q,
            truth,
            active,
            slot,
            seen: vec![Vec::new(); galaxies.len()],
            rng: stream(seed, "crowd/online"),
            step: 0,
            // Safety bound: a galaxy leaves the pool after `cap` votes, so this is never reached
            // unless activity is so skewed that unseen volunteers are (almost) never drawn.
            max_steps: 1000 * (cap as u64) * (galaxies.len() as u64 + 1),
        })
    }

    /// The next click, or `None` once the pool is empty (or the safety bound is reached).
    pub fn next_click(&mut self) -> Option<Click> {
        while !self.active.is_empty() && self.step < self.max_steps {
            self.step += 1;
            let v = self.crowd.draw_volunteer(&mut self.rng) as u32;
            let mut pick = None;
            for _ in 0..10 {
                let slot = self.rng.random_range(0..self.active.len());
                if !self.seen[self.active[slot] as usize].contains(&v) {
                    pick = Some(slot);
                    break;
                }
            }
            let Some(slot) = pick else { continue };
            let g = self.active[slot];
            let gal = &self.galaxies[g as usize];
            let t = self.truth[g as usize].unwrap_or(0) as usize;
            let d = gal.difficulty as f64;
            let a = self
                .crowd
                .draw_answer(&mut self.rng, v as usize, self.q, t, d);
            self.seen[g as usize].push(v);
            return Some(Click {
                volunteer: v,
                galaxy: g,
                answer: a,
                step: self.step,
            });
        }
        None
    }

    /// Votes galaxy `g` has had.
    pub fn votes(&self, g: u32) -> usize {
        self.seen[g as usize].len()
    }

    /// Whether galaxy `g` is still in the pool.
    pub fn is_queued(&self, g: u32) -> bool {
        self.slot[g as usize] != u32::MAX
    }

    /// The galaxies still in the pool (in pool order).
    pub fn queued(&self) -> &[u32] {
        &self.active
    }

    /// Takes galaxy `g` out of the pool (no-op when it is out already): the last pooled galaxy
    /// takes its place, as `Vec::swap_remove` does.
    pub fn remove(&mut self, g: u32) {
        let s = self.slot[g as usize];
        if s == u32::MAX {
            return;
        }
        self.active.swap_remove(s as usize);
        if let Some(&moved) = self.active.get(s as usize) {
            self.slot[moved as usize] = s;
        }
        self.slot[g as usize] = u32::MAX;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crowd::CrowdQuality;
    use crate::universe::{PopulationConfig, sample_population};

    #[test]
    fn removing_keeps_the_slots_consistent_and_no_volunteer_sees_a_galaxy_twice() {
        let gals = sample_population(2, 50, &PopulationConfig::default());
        let crowd = Crowd::sample(2, 30, &CrowdQuality::default()).unwrap();
        let mut q = Queue::new(2, &gals, &crowd, Question::SmoothOrFeatured, 5).unwrap();
        q.remove(7);
        q.remove(7);
        assert!(!q.is_queued(7));
        let mut clicks = 0;
        while let Some(c) = q.next_click() {
            clicks += 1;
            assert_ne!(c.galaxy, 7, "a removed galaxy is never served");
            if q.votes(c.galaxy) >= 5 {
                q.remove(c.galaxy);
            }
            for (i, &g) in q.queued().iter().enumerate() {
                assert_eq!(q.slot[g as usize] as usize, i);
            }
        }
        assert_eq!(clicks, 49 * 5);
        for s in &q.seen {
            let mut v = s.clone();
            v.sort_unstable();
            v.dedup();
            assert_eq!(v.len(), s.len());
        }
        assert!(Queue::new(2, &gals, &crowd, Question::SmoothOrFeatured, 31).is_err());
    }
}
