//! Kind `train`: build the data splits, train the model, evaluate the requested metrics on the test set.

use crate::model::{Model, Params};
use crate::spec::RunSpec;
use crate::store::Metrics;
use crate::{data, eval, train};
use candle_core::Device;

pub fn run(
    spec: &RunSpec,
    device: &Device,
    on_epoch: &mut dyn FnMut(usize, f64),
) -> anyhow::Result<Metrics> {
    let splits = data::build(spec)?;
    let params = Params::new(spec.seed);
    let model = Model::build(
        &spec.model,
        splits.train.channels,
        splits.train.size,
        &params,
        device,
    )?;
    let history = train::fit(
        &model,
        &params,
        &splits.train,
        &spec.train,
        spec.seed,
        device,
        on_epoch,
    )?;
    let p = train::predict(&model, &splits.test, 256, device)?;
    let mut m = Metrics::new();
    for &metric in &spec.eval.metrics {
        let v = eval::compute(metric, &p, &splits.test.targets);
        if v.is_finite() {
            m.insert(metric.as_str().to_string(), v);
        }
    }
    if let Some(&last) = history.last() {
        m.insert("train_loss".to_string(), last);
    }
    Ok(m)
}
