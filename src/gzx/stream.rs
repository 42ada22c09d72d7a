//! The simulated Galaxy Zoo Express stream. Every galaxy of the world that reaches the question
//! waits in the [`Queue`]; volunteers click at `clicks_per_day` (simulated time is clicks /
//! rate), each click answering one queued galaxy. How a galaxy leaves the queue depends on the
//! arm:
//!
//! * `majority-vote-K`: after its K-th vote, labelled by majority vote (ties to the positive
//!   answer, as `majority-vote` breaks them).
//! * `swap`: when SWAP's posterior passes its retirement thresholds (0.99 / 0.004), or at the
//!   vote cap, labelled positive iff the posterior > 0.5.
//! * `swap-measurements`, `swap-cnn`: as `swap`, and every `cadence_days` (from the first day on
//!   which SWAP has retired `min_retired` galaxies) the machine is trained on SWAP's retired
//!   galaxies with their SWAP labels (a seeded `val_fraction` of them held out, stream
//!   `gzx/machine-val`), its thresholds chosen on the held-out ones ([`thresholds`]), and every
//!   queued galaxy whose score passes one is retired with the machine's label.
//!
//! Gold galaxies (`crowd.gold_fraction`) train SWAP's volunteer skills with their truth; they
//! are served and retired like the others (their clicks count) and left out of the scores.
//! The machine never draws from the queue's random stream, so a machine that never retires
//! anything leaves the stream exactly as SWAP alone has it.

use super::machine::{Machine, thresholds};
use crate::crowd::queue::Queue;
use crate::crowd::run::World;
use crate::rng::item_stream;
use crate::spec::{Arm, StreamConfig};
use rand::Rng;

/// How a galaxy left the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Never in the queue (does not reach the question).
    Absent,
    /// Still queued (only when the stream stopped at its safety bound).
    Queued,
    /// Majority vote after its K votes.
    Voted,
    /// Retired by SWAP's posterior.
    Swap,
    /// Reached the vote cap unretired; SWAP's posterior labels it.
    Capped,
    /// Retired by the machine.
    Machine,
}

/// What the stream did to each galaxy (indices of the world's galaxies).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Label (binary, 0 = positive) when classified.
    pub label: Vec<Option<u32>>,
    pub fate: Vec<Fate>,
    /// Clicks made in the whole stream when the galaxy left the queue.
    pub done_at: Vec<u64>,
    /// Clicks each galaxy received.
    pub clicks: Vec<u32>,
    pub total_clicks: u64,
    /// Machine trainings, and the click count of each.
    pub rounds: Vec<u64>,
    /// The machine's thresholds of its last round (positive, negative side).
    pub last_thresholds: Option<super::machine::Thresholds>,
}

/// Runs the stream of the module doc. `machine` must be given for the machine arms (and is
/// ignored by the others).
pub(crate) fn simulate(
    w: &World,
    seed: u64,
    cfg: &StreamConfig,
    mut machine: Option<&mut dyn Machine>,
) -> anyhow::Result<Outcome> {
    let n = w.galaxies.len();
    let cap = match cfg.arm {
        Arm::MajorityVote(k) => k,
        _ => cfg.cap,
    };
    if cfg.arm.has_machine() && machine.is_none() {
        anyhow::bail!("arm `{}` needs a machine", cfg.arm.name());
    }
    let mut queue = Queue::new(seed, &w.galaxies, &w.crowd, w.question, cap)?;
    let mut st = w.retiring_swap();
    let mut out = Outcome {
        label: vec![None; n],
        fate: (0..n)
            .map(|g| match queue.is_queued(g as u32) {
                true => Fate::Queued,
                false => Fate::Absent,
            })
            .collect(),
        done_at: vec![0; n],
        clicks: vec![0; n],
        total_clicks: 0,
        rounds: Vec::new(),
        last_thresholds: None,
    };
    let mut counts = vec![[0u32; 2]; n];
    let per_round = cfg.cadence_days * cfg.clicks_per_day;
    let mut next_round: Option<f64> = None;
    let mut n_swap_retired = 0usize;
    loop {
        if let Some(m) = machine.as_deref_mut().filter(|_| cfg.arm.has_machine()) {
            if next_round.is_none() && n_swap_retired >= cfg.min_retired {
                next_round = Some(out.total_clicks as f64);
            }
            if next_round.is_some_and(|c| out.total_clicks as f64 >= c) {
                machine_round(w, seed, cfg, m, &mut queue, &mut out)?;
                next_round = next_round.map(|c| c + per_round);
            }
        }
        let Some(c) = queue.next_click() else { break };
        let (g, a) = (c.galaxy as usize, w.map(c.answer));
        out.total_clicks += 1;
        out.clicks[g] += 1;
        let leave = match cfg.arm {
            Arm::MajorityVote(_) => {
                counts[g][a as usize] += 1;
                (queue.votes(c.galaxy) >= cap)
                    .then(|| (Fate::Voted, u32::from(counts[g][1] > counts[g][0])))
            }
            _ => {
                let retired = st.update(c.volunteer, c.galaxy, a);
                let label = u32::from(st.p[g] <= 0.5);
                if retired {
                    n_swap_retired += 1;
                    Some((Fate::Swap, label))
                } else {
                    (queue.votes(c.galaxy) >= cap).then_some((Fate::Capped, label))
                }
            }
        };
        if let Some((fate, label)) = leave {
            out.fate[g] = fate;
            out.label[g] = Some(label);
            out.done_at[g] = out.total_clicks;
            queue.remove(c.galaxy);
        }
    }
    Ok(out)
}

/// One training of the machine on SWAP's retired galaxies, and its retirements from the queue.
/// Skipped (no round) while either class has no galaxy in the training or held-out part.
fn machine_round(
    w: &World,
    seed: u64,
    cfg: &StreamConfig,
    m: &mut dyn Machine,
    queue: &mut Queue,
    out: &mut Outcome,
) -> anyhow::Result<()> {
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for g in 0..w.galaxies.len() {
        if out.fate[g] != Fate::Swap {
            continue;
        }
        let row = (g as u32, out.label[g] == Some(0));
        let id = w.galaxies[g].id;
        match item_stream(seed, "gzx/machine-val", id).random::<f64>() < cfg.val_fraction {
            true => val.push(row),
            false => train.push(row),
        }
    }
    let both = |rows: &[(u32, bool)]| rows.iter().any(|r| r.1) && rows.iter().any(|r| !r.1);
    if !both(&train) || !both(&val) {
        return Ok(());
    }
    m.fit(out.rounds.len(), &train, &val)?;
    out.rounds.push(out.total_clicks);
    let val_ids: Vec<u32> = val.iter().map(|r| r.0).collect();
    let val_labels: Vec<bool> = val.iter().map(|r| r.1).collect();
    let t = thresholds(&m.score(&val_ids)?, &val_labels, cfg.machine_precision);
    out.last_thresholds = Some(t);
    let mut queued = queue.queued().to_vec();
    queued.sort_unstable();
    for (g, s) in queued.iter().zip(m.score(&queued)?) {
        if let Some(positive) = t.decide(s) {
            let gi = *g as usize;
            out.fate[gi] = Fate::Machine;
            out.label[gi] = Some(u32::from(!positive));
            out.done_at[gi] = out.total_clicks;
            queue.remove(*g);
        }
    }
    Ok(())
}
