//! A `stream` run: build the world of the `crowd:` section (galaxies, volunteers, gold), render
//! the galaxies for the machine arms, run the stream of the `stream:` arm and score it
//! (`gzx::score`); machine arms also measure the final machine on a triage set (`gzx::triage`):
//! `triage_size` further galaxies of the same universe (ids after the stream's), each with
//! Galaxy Zoo's 40 volunteer votes. A CNN machine whose backbone the harness pretrained also
//! records how that went (`pretrain_*`, as a `train` run does).

use super::machine::{Cnn, Machine, Measurements};
use super::stream::{Outcome, simulate};
use super::triage::{TriageItem, triage};
use crate::crowd::run::{World, population, world};
use crate::crowd::swap_eval::GZ_VOTES;
use crate::crowd::volunteers::{simulate_fixed, truth};
use crate::data::Dataset;
use crate::model::HeadSpec;
use crate::spec::{Arm, RunSpec, Strategy};
use crate::store::Metrics;
use crate::universe::sample_galaxy;
use crate::universe::{Galaxy, RenderConfig};
use anyhow::Context;
use candle_core::Device;
use rayon::prelude::*;
use std::path::Path;

/// Computes one `stream` run (`cache`: the store root, for a pretrained backbone).
pub fn run(spec: &RunSpec, cache: Option<&Path>, device: &Device) -> anyhow::Result<Metrics> {
    let cfg = spec
        .stream
        .as_ref()
        .context("a stream run needs a stream section")?;
    let mut crowd = spec
        .crowd
        .clone()
        .context("a stream run needs a crowd section")?;
    crate::crowd::swap_eval::check_volunteers(crowd.n_volunteers)?;
    // the world of an online SWAP run: the question binarised to positive vs the rest
    crowd.strategy = Strategy::Swap;
    crowd.online = true;
    crowd.votes_per_galaxy = match cfg.arm {
        Arm::MajorityVote(k) => k,
        _ => cfg.cap,
    };
    let w = world(&crowd, spec.seed)?;
    let seed = spec.seed;
    if !cfg.arm.has_machine() {
        let out = simulate(&w, seed, cfg, None)?;
        return super::score::score(&w, seed, &out, cfg.clicks_per_day);
    }
    let n = w.galaxies.len() as u64;
    let pop = population(&crowd);
    let extra: Vec<Galaxy> = (n..n + cfg.triage_size as u64)
        .into_par_iter()
        .map(|id| sample_galaxy(seed, id, &pop))
        .collect();
    let images = render_all(spec, &w.galaxies, &extra);
    let (out, scores, pretrained) = match cfg.arm {
        Arm::SwapCnn => {
            let (c, s) = (images.channels, images.size);
            let head = HeadSpec::default();
            let (model, params, loaded) =
                crate::train::pretrain::run_model(spec, &head, c, s, cache, device)?;
            let mut m = Cnn::new(
                model,
                params,
                &spec.model,
                &spec.train,
                &images,
                seed,
                device,
            );
            let (out, scores) = stream_and_triage(&w, seed, spec, &mut m, extra.len())?;
            let record = match loaded {
                crate::train::pretrain::Loaded::Pretrained(r) => r.metrics(),
                _ => Metrics::new(),
            };
            (out, scores, record)
        }
        _ => {
            let mut m = Measurements::new(&images)?;
            let (out, scores) = stream_and_triage(&w, seed, spec, &mut m, extra.len())?;
            (out, scores, Metrics::new())
        }
    };
    let mut m = super::score::score(&w, seed, &out, cfg.clicks_per_day)?;
    m.extend(pretrained);
    if !out.rounds.is_empty() {
        m.extend(triage_records(&w, seed, &extra, &scores, &out)?);
    }
    if let Some((k, v)) = m.iter().find(|(_, v)| !v.is_finite()) {
        anyhow::bail!("the run's `{k}` is {v}; expected a finite value (a diverged fit)");
    }
    Ok(m)
}

/// The stream with `machine`, then the final machine's scores of the `n_extra` triage galaxies
/// (indexed after the stream's; empty when the machine never trained).
fn stream_and_triage(
    w: &World,
    seed: u64,
    spec: &RunSpec,
    machine: &mut dyn Machine,
    n_extra: usize,
) -> anyhow::Result<(Outcome, Vec<f64>)> {
    let cfg = spec.stream.as_ref().context("a stream section")?;
    let out = simulate(w, seed, cfg, Some(&mut *machine))?;
    let n = w.galaxies.len() as u32;
    let ids: Vec<u32> = (n..n + n_extra as u32).collect();
    let scores = match out.rounds.is_empty() {
        true => Vec::new(),
        false => machine.score(&ids)?,
    };
    Ok((out, scores))
}

/// The triage records: the triage galaxies' 40 votes, consensus and agreement, with the
/// machine's scores.
fn triage_records(
    w: &World,
    seed: u64,
    extra: &[Galaxy],
    scores: &[f64],
    out: &Outcome,
) -> anyhow::Result<Metrics> {
    let t = truth(extra, w.question);
    let cls = simulate_fixed(seed, extra, &w.crowd, w.question, GZ_VOTES)?;
    let mut counts = vec![[0u32; 2]; extra.len()];
    for (&g, &a) in cls.galaxy.iter().zip(&cls.answer) {
        counts[g as usize][w.map(a) as usize] += 1;
    }
    let items: Vec<TriageItem> = (0..extra.len())
        .filter_map(|i| {
            let truth = w.map(t[i]?);
            let [p, q] = counts[i];
            let total = (p + q).max(1) as f64;
            Some(TriageItem {
                score: *scores.get(i)?,
                truth_positive: truth == 0,
                consensus_positive: p >= q,
                agreement: f64::from(p.max(q)) / total,
            })
        })
        .collect();
    Ok(triage(&items, out.last_thresholds.as_ref()))
}

/// Every galaxy rendered as the machine sees it: the `data:` section's size and survey, display
/// stretch (as the `synthetic` source renders).
fn render_all(spec: &RunSpec, stream: &[Galaxy], extra: &[Galaxy]) -> Dataset {
    let size = spec.data.image_size;
    let cfg = RenderConfig::new(size, crate::data::synthetic::survey(spec.data.survey));
    let shown = |g: &[Galaxy]| crate::data::synthetic::display_images(g, &cfg, spec.seed);
    Dataset {
        channels: 3,
        size,
        images: [shown(stream), shown(extra)].concat(),
        targets: vec![0.0; stream.len() + extra.len()],
        target_len: 1,
    }
}
