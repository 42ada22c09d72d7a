//! Kind `crowd`: simulate the crowd of the run's `crowd:` section for synthetic galaxies,
//! aggregate with its strategy, and score the labels against the truth.

use crate::spec::RunSpec;
use crate::store::Metrics;

pub fn run(spec: &RunSpec) -> anyhow::Result<Metrics> {
    let cfg = spec
        .crowd
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("crowd run without a `crowd:` section"))?;
    Ok(crate::crowd::evaluate(cfg, spec.seed)?
        .into_iter()
        .collect())
}
