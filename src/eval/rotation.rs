//! Rotation evaluation: test-time augmentation (TTA) over exact rotations / flips and the
//! rotation-equivariance spread of a network's predictions.
//!
//! The network is any closure `&dyn Fn(&Tensor) -> Result<Tensor>` from images `N x C x H x W` to
//! outputs `N` or `N x O` (for a [`crate::model::Model`]:
//! `&|x| model.forward_outputs(x, false)`), so this works for every model and head. Views are
//! the exact ones of [`crate::model::rotate::dihedral`] (index permutations, no resampling):
//! 4 = rotations by 0/90/180/270 degrees, 8 = those and the same of the mirror image.
//! Nothing here trains or changes a model.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! let x = Tensor::ones((2, 1, 4, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
//! let net = |x: &Tensor| x.mean((1, 2, 3));
//! let y = gzbench::eval::rotation::tta(&net, &x, 8).unwrap();
//! assert_eq!(y.dims(), &[2]);
//! assert_eq!(gzbench::eval::rotation::equivariance_spread(&net, &x).unwrap(), vec![0.0, 0.0]);
//! // the same constant output for every galaxy: no scale to compare the spread with
//! assert!(gzbench::eval::rotation::normalised_spread(&net, &x).unwrap().is_nan());
//! ```
//!
//! The `equivariance_spread` metric is *normalised*: the mean over galaxies of the spread over
//! views divided by the standard deviation of the predictions across galaxies (see
//! [`spread_ratio`]), so a network that ignores its input (a constant) is not scored as
//! perfectly invariant: it gets NaN, which the runner reports as a failed metric.

use crate::data::Dataset;
use crate::data::batches::for_each_batch;
use crate::model::rotate::dihedral;
use candle_core::{DType, Device, Result, Tensor};

/// A network as evaluation sees it: images -> outputs (`N` or `N x O`).
pub type NetFn<'a> = &'a dyn Fn(&Tensor) -> Result<Tensor>;

/// An error unless `views` is 4 or 8: the exact views evaluation uses (Dieleman's 16 parts are
/// crops, not whole images, so they are a model input, not a test-time view).
fn check_views(views: usize) -> Result<()> {
    if views == 4 || views == 8 {
        return Ok(());
    }
    candle_core::bail!("test-time views must be 4 (rotations) or 8 (rotations x flip), got {views}")
}

/// Outputs of `net` on each of the first `views` exact views of `x`, as `views x N x O`
/// (a rank-1 output is treated as `O = 1`). Each view is one call of `net`.
pub fn view_outputs(net: NetFn, x: &Tensor, views: usize) -> Result<Tensor> {
    check_views(views)?;
    let outs = (0..views)
        .map(|k| {
            let y = net(&dihedral(x, k)?)?.to_dtype(DType::F32)?;
            match y.rank() {
                1 => y.unsqueeze(1),
                2 => Ok(y),
                r => candle_core::bail!("network outputs must be N or N x O, got rank {r}"),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Tensor::stack(&outs, 0)
}

/// Test-time augmentation: the mean of `net`'s outputs over the first `views` (4 or 8) exact
/// views of `x`; same shape as `net(x)`. Averages the outputs as the network returns them
/// (probabilities for a `dieleman` head, logits for a binary head).
pub fn tta(net: NetFn, x: &Tensor, views: usize) -> Result<Tensor> {
    let rank = net(x)?.rank();
    let m = view_outputs(net, x, views)?.mean(0)?;
    if rank == 1 { m.squeeze(1) } else { Ok(m) }
}

/// Per image of `x`: the standard deviation over the 8 exact views of its outputs (population
/// standard deviation, divide by 8), averaged over outputs. 0 for an exactly invariant network.
pub fn equivariance_spread(net: NetFn, x: &Tensor) -> Result<Vec<f64>> {
    let v = view_outputs(net, x, 8)?.to_dtype(DType::F64)?;
    let mean = v.mean_keepdim(0)?;
    let std = v.broadcast_sub(&mean)?.sqr()?.mean(0)?.sqrt()?; // N x O
    std.mean(1)?.to_vec1::<f64>()
}

/// Below this, the predictions' standard deviation across galaxies is taken as zero: the
/// network predicts a constant and [`spread_ratio`] is NaN.
pub const CONSTANT_SCALE: f64 = 1e-9;

/// The normalised spread of view outputs `outputs[image][view][output]` (every image with the
/// same number of views and outputs): the mean over images and outputs of the population standard
/// deviation over views, divided by the mean over outputs of the population standard deviation of
/// every prediction (all images, all views) of that output. By the variance decomposition the
/// ratio lies in `[0, 1]`: 0 for an invariant network, 1 when the predictions vary only with the
/// view and not with the galaxy. NaN when there are no images or the denominator is below
/// [`CONSTANT_SCALE`] (a constant predictor, whose zero spread says nothing about invariance).
pub fn spread_ratio(outputs: &[Vec<Vec<f64>>]) -> f64 {
    let Some(first) = outputs.first() else {
        return f64::NAN;
    };
    let Some(outs) = first.first().map(Vec::len) else {
        return f64::NAN;
    };
    if outs == 0 {
        return f64::NAN;
    }
    let std = |v: &mut dyn Iterator<Item = f64>| {
        let v: Vec<f64> = v.collect();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
    };
    let mut spread = 0.0;
    for img in outputs {
        for o in 0..outs {
            spread += std(&mut img.iter().map(|view| view[o]));
        }
    }
    spread /= (outputs.len() * outs) as f64;
    let scale = (0..outs)
        .map(|o| {
            std(&mut outputs
                .iter()
                .flat_map(|img| img.iter().map(move |view| view[o])))
        })
        .sum::<f64>()
        / outs as f64;
    if scale < CONSTANT_SCALE {
        f64::NAN
    } else {
        spread / scale
    }
}

/// The outputs of `net` on the 8 exact views of each image of `x`, as `[image][view][output]`.
fn per_image_views(net: NetFn, x: &Tensor) -> Result<Vec<Vec<Vec<f64>>>> {
    let v = view_outputs(net, x, 8)?
        .to_dtype(DType::F64)?
        .to_vec3::<f64>()?; // views x N x O
    let n = v.first().map_or(0, Vec::len);
    Ok((0..n)
        .map(|i| v.iter().map(|view| view[i].clone()).collect())
        .collect())
}

/// [`spread_ratio`] of `net` over the 8 exact views of the images of `x` (one batch).
pub fn normalised_spread(net: NetFn, x: &Tensor) -> Result<f64> {
    Ok(spread_ratio(&per_image_views(net, x)?))
}

/// [`tta`] over every image of `data`, in order, in batches of `batch_size`: one row of
/// outputs per image (like `train::predict_outputs`).
pub fn predict_tta(
    net: NetFn,
    data: &Dataset,
    views: usize,
    batch_size: usize,
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    check_views(views)?;
    let mut out = Vec::with_capacity(data.len());
    for_each_batch(data, batch_size, device, |_, x, _| {
        out.extend(view_outputs(net, x, views)?.mean(0)?.to_vec2::<f32>()?);
        Ok(())
    })?;
    Ok(out)
}

/// The `equivariance_spread` metric: [`spread_ratio`] over every image of `data` (the test
/// set), the network run in batches of `batch_size`: the mean over galaxies of
/// [`equivariance_spread`] divided by the standard deviation of the predictions across galaxies.
/// NaN for an empty set or a constant predictor (the runner reports a failed metric, never a
/// perfect 0).
pub fn dataset_equivariance_spread(
    net: NetFn,
    data: &Dataset,
    batch_size: usize,
    device: &Device,
) -> Result<f64> {
    let mut all = Vec::with_capacity(data.len());
    for_each_batch(data, batch_size, device, |_, x, _| {
        all.extend(per_image_views(net, x)?);
        Ok(())
    })?;
    Ok(spread_ratio(&all))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{HeadSpec, Model, Params, TreeName};
    use crate::spec::{Backbone, CyclicPool, Invariance, ModelConfig};

    fn images(n: usize, size: usize) -> Tensor {
        Params::new(11)
            .uniform("x", &[n, 3, size, size], 1.0, &Device::Cpu)
            .unwrap()
    }

    fn model(invariance: Invariance, params: &Params) -> Model {
        let cfg = ModelConfig {
            backbone: Backbone::CnnSmall,
            widths: vec![4, 6],
            invariance,
            cyclic_pool: CyclicPool::Mean,
            ..Default::default()
        };
        let head = HeadSpec::Dieleman {
            tree: TreeName::Gz2,
            dropout: 0.0,
        };
        Model::with_head(&cfg, &head, 3, 12, params, &Device::Cpu).unwrap()
    }

    #[test]
    fn spread_is_zero_for_cyclic_pool_and_positive_for_none() {
        let x = images(4, 12);
        let p = Params::new(3);
        let m = model(Invariance::CyclicPool, &p);
        let net = |x: &Tensor| m.forward_outputs(x, false);
        let s = equivariance_spread(&net, &x).unwrap();
        assert_eq!(s.len(), 4);
        assert!(s.iter().all(|&v| v < 1e-6), "{s:?}");
        let p = Params::new(3);
        let plain = model(Invariance::None, &p);
        let net = |x: &Tensor| plain.forward_outputs(x, false);
        let s = equivariance_spread(&net, &x).unwrap();
        assert!(s.iter().all(|&v| v > 1e-6), "{s:?}");
    }

    #[test]
    fn spread_and_tta_hand_computed() {
        // net = the top-left pixel: over the 8 views of a 2x2 image [[a, b], [c, d]] it takes
        // each corner twice.
        let x = Tensor::from_vec(vec![1f32, 2.0, 3.0, 6.0], (1, 1, 2, 2), &Device::Cpu).unwrap();
        let net = |x: &Tensor| x.narrow(2, 0, 1)?.narrow(3, 0, 1)?.flatten_all();
        let s = equivariance_spread(&net, &x).unwrap();
        // values 1 2 3 6: mean 3, variance (4 + 1 + 0 + 9) / 4 = 3.5
        assert!((s[0] - 3.5f64.sqrt()).abs() < 1e-6);
        let t = tta(&net, &x, 8).unwrap();
        assert_eq!(t.dims(), &[1]);
        assert!((t.to_vec1::<f32>().unwrap()[0] - 3.0).abs() < 1e-6);
        // rotations only also visit each corner once
        let t4 = tta(&net, &x, 4).unwrap().to_vec1::<f32>().unwrap();
        assert!((t4[0] - 3.0).abs() < 1e-6);
        assert!(tta(&net, &x, 16).is_err());
    }

    #[test]
    fn tta_makes_any_network_invariant_and_matches_the_dataset_path() {
        let x = images(3, 12);
        let p = Params::new(5);
        let m = model(Invariance::None, &p);
        let net = |x: &Tensor| m.forward_outputs(x, false);
        let t0 = tta(&net, &x, 8).unwrap();
        assert_eq!(t0.dims(), &[3, 37]);
        for k in 1..8 {
            let tk = tta(&net, &dihedral(&x, k).unwrap(), 8).unwrap();
            let d = crate::engine::crosscheck::max_abs_diff(&t0, &tk).unwrap();
            assert!(d < 1e-5, "view {k}: {d}");
        }
        let data = Dataset {
            channels: 3,
            size: 12,
            images: x.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            targets: vec![0.0; 3],
            target_len: 1,
        };
        let rows = predict_tta(&net, &data, 8, 2, &Device::Cpu).unwrap();
        for (r, t) in rows.iter().zip(t0.to_vec2::<f32>().unwrap()) {
            assert!(r.iter().zip(&t).all(|(a, b)| (a - b).abs() < 1e-6));
        }
        assert_eq!(rows.len(), 3);
        // batches of 2 give the same ratio as the whole set at once
        let whole = normalised_spread(&net, &x).unwrap();
        let batched = dataset_equivariance_spread(&net, &data, 2, &Device::Cpu).unwrap();
        assert!((whole - batched).abs() < 1e-9, "{whole} vs {batched}");
        assert!(batched > 0.0 && batched <= 1.0, "{batched}");
    }

    #[test]
    fn a_constant_predictor_is_not_perfectly_invariant() {
        let x = images(4, 12);
        let constant = |x: &Tensor| (x.sum((1, 2, 3))? * 0.0)? + 0.3;
        // its raw spread is 0 for every galaxy, but that says nothing: no value, not 0
        assert!(
            equivariance_spread(&constant, &x)
                .unwrap()
                .iter()
                .all(|&s| s == 0.0)
        );
        assert!(normalised_spread(&constant, &x).unwrap().is_nan());
        let data = Dataset {
            channels: 3,
            size: 12,
            images: x.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            targets: vec![0.0; 4],
            target_len: 1,
        };
        let d = dataset_equivariance_spread(&constant, &data, 3, &Device::Cpu).unwrap();
        assert!(d.is_nan(), "{d}");
        assert!(spread_ratio(&[]).is_nan());
    }

    #[test]
    fn normalised_spread_hand_computed() {
        // one output, 8 views. Galaxy A: four views 0 and four 2 (mean 1, std 1); galaxy B: 4 in
        // every view (std 0). Mean spread 0.5. All 16 predictions: mean 2.5, variance
        // (4 * 6.25 + 4 * 0.25 + 8 * 2.25) / 16 = 2.75.
        let a: Vec<Vec<f64>> = [0.0, 2.0, 0.0, 2.0, 0.0, 2.0, 0.0, 2.0]
            .iter()
            .map(|&v| vec![v])
            .collect();
        let b = vec![vec![4.0]; 8];
        let r = spread_ratio(&[a, b]);
        assert!((r - 0.5 / 2.75f64.sqrt()).abs() < 1e-12, "{r}");
        // through a network: the top-left pixel of [[1, 2], [3, 6]] (values 1 2 3 6, each twice
        // over the views, spread sqrt(3.5)) and of a constant 5 image (spread 0). All 16
        // predictions: mean 4, variance (2 * (9 + 4 + 1 + 4) + 8 * 1) / 16 = 2.75.
        let x = Tensor::from_vec(
            vec![1f32, 2.0, 3.0, 6.0, 5.0, 5.0, 5.0, 5.0],
            (2, 1, 2, 2),
            &Device::Cpu,
        )
        .unwrap();
        let net = |x: &Tensor| x.narrow(2, 0, 1)?.narrow(3, 0, 1)?.flatten_all();
        let r = normalised_spread(&net, &x).unwrap();
        let want = 3.5f64.sqrt() / 2.0 / 2.75f64.sqrt();
        assert!((r - want).abs() < 1e-6, "{r} vs {want}");
    }
}
