//! Group norm with its activation on a GPU: the `gn_*` kernels of `kernels.cu`, launched in the
//! CPU op's order (per-plane sums, per-group statistics, the activation's output; backward: the
//! activation's gradient, per-plane sums, the coefficients of `dx`, `dweight` and `dbias`, `dx`).
//! The arithmetic after the sums is the CPU's, operation by operation; the sums are a tree
//! reduction, so results agree with the CPU twin to rounding (`crosscheck`).

use super::kernels::{config, func};
use super::zeros;
use candle_core::cuda_backend::CudaDevice;
use candle_core::{Error, Result};
use cudarc::driver::{CudaSlice, CudaView, LaunchConfig, PushKernelArg};

/// The shape of one group norm: `n` images of `c` channels (`groups` groups) of `inner` values;
/// `act` is the kernels' code (0 none, 1 ReLU, 2 SiLU).
#[derive(Debug, Clone, Copy)]
pub struct Gn {
    pub n: usize,
    pub c: usize,
    pub inner: usize,
    pub groups: usize,
    pub eps: f64,
    pub act: i32,
}

impl Gn {
    fn planes(&self) -> usize {
        self.n * self.c
    }
    fn numel(&self) -> usize {
        self.planes() * self.inner
    }
    /// `(image, group)` pairs, channels per group, values per group.
    fn groups(&self) -> (u64, i32, f64) {
        let per = self.c / self.groups;
        (
            (self.n * self.groups) as u64,
            per as i32,
            (per * self.inner) as f64,
        )
    }
}

/// What the forward keeps for the backward: per `(image, group)` the mean and `1/sqrt(var +
/// eps)`, per plane the scale and shift.
pub struct Stats {
    mean: CudaSlice<f64>,
    invstd: CudaSlice<f64>,
    a: CudaSlice<f32>,
    b: CudaSlice<f32>,
}

/// Per plane `(sum a, sum a·a)`, or `(sum a, sum a·(b - mean))` with the groups' `mean`.
fn plane_sums(
    dev: &CudaDevice,
    g: &Gn,
    a: &CudaView<f32>,
    b: &CudaView<f32>,
    mean: Option<&CudaSlice<f64>>,
) -> Result<CudaSlice<f64>> {
    let mut out = zeros::<f64>(dev, 2 * g.planes())?;
    let stream = dev.cuda_stream();
    let f = func(dev, "gn_plane_sums")?;
    let inner = g.inner as u64;
    let (_, per, _) = g.groups();
    let null = 0u64;
    let mut l = stream.launch_builder(&f);
    l.arg(a).arg(b);
    match mean {
        Some(m) => l.arg(m),
        None => l.arg(&null),
    };
    l.arg(&per).arg(&mut out).arg(&inner);
    let cfg = LaunchConfig {
        grid_dim: (g.planes() as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: a and b hold planes·inner values, out 2·planes; one block per plane.
    unsafe { l.launch(cfg) }.map_err(Error::wrap)?;
    Ok(out)
}

/// `act(GroupNorm(x))` and the statistics for the backward.
pub fn forward(
    dev: &CudaDevice,
    g: &Gn,
    x: &CudaView<f32>,
    weight: &CudaView<f32>,
    bias: &CudaView<f32>,
) -> Result<(CudaSlice<f32>, Stats)> {
    let stream = dev.cuda_stream();
    let sums = plane_sums(dev, g, x, x, None)?;
    let (k, per, m) = g.groups();
    let mut st = Stats {
        mean: zeros(dev, k as usize)?,
        invstd: zeros(dev, k as usize)?,
        a: zeros(dev, g.planes())?,
        b: zeros(dev, g.planes())?,
    };
    let c = g.c as i32;
    let f = func(dev, "gn_stats")?;
    let mut l = stream.launch_builder(&f);
    l.arg(&sums).arg(weight).arg(bias);
    l.arg(&mut st.mean)
        .arg(&mut st.invstd)
        .arg(&mut st.a)
        .arg(&mut st.b);
    l.arg(&k).arg(&c).arg(&per).arg(&m).arg(&g.eps);
    // SAFETY: the buffers hold k groups and planes = k·per planes; weight and bias c values.
    unsafe { l.launch(config(k)) }.map_err(Error::wrap)?;
    let mut y = zeros::<f32>(dev, g.numel())?;
    let (n, inner) = (g.numel() as u64, g.inner as u64);
    let f = func(dev, "gn_act_fwd")?;
    let mut l = stream.launch_builder(&f);
    l.arg(x)
        .arg(&st.a)
        .arg(&st.b)
        .arg(&mut y)
        .arg(&n)
        .arg(&inner)
        .arg(&g.act);
    // SAFETY: x and y hold n values, a and b one per plane of `inner`.
    unsafe { l.launch(config(n)) }.map_err(Error::wrap)?;
    Ok((y, st))
}

/// `[dx, dweight, dbias]` packed in one buffer, as the CPU op packs them.
pub fn backward(
    dev: &CudaDevice,
    g: &Gn,
    x: &CudaView<f32>,
    dy: &CudaView<f32>,
    weight: &CudaView<f32>,
    st: &Stats,
) -> Result<CudaSlice<f32>> {
    let stream = dev.cuda_stream();
    let (n, inner) = (g.numel() as u64, g.inner as u64);
    let mut dz = zeros::<f32>(dev, g.numel())?;
    let f = func(dev, "gn_act_grad")?;
    let mut l = stream.launch_builder(&f);
    l.arg(x).arg(&st.a).arg(&st.b).arg(dy).arg(&mut dz);
    l.arg(&n).arg(&inner).arg(&g.act);
    // SAFETY: x, dy and dz hold n values, a and b one per plane.
    unsafe { l.launch(config(n)) }.map_err(Error::wrap)?;
    let sums = plane_sums(dev, g, &dz.as_view(), x, Some(&st.mean))?;
    let (k, per, m) = g.groups();
    let mut coef = zeros::<f32>(dev, 3 * g.planes())?;
    let c = g.c as i32;
    let f = func(dev, "gn_bwd_coefs")?;
    let mut l = stream.launch_builder(&f);
    l.arg(&sums)
        .arg(weight)
        .arg(&st.mean)
        .arg(&st.invstd)
        .arg(&mut coef);
    l.arg(&k).arg(&c).arg(&per).arg(&m);
    // SAFETY: sums and coef hold 2 and 3 values per plane; k groups of `per` planes.
    unsafe { l.launch(config(k)) }.map_err(Error::wrap)?;
    let mut out = zeros::<f32>(dev, g.numel() + 2 * g.c)?;
    {
        let (mut dx, mut tail) = out.split_at_mut(g.numel());
        let (mut dw, mut db) = tail.split_at_mut(g.c);
        let images = g.n as i32;
        let f = func(dev, "gn_param_grads")?;
        let mut l = stream.launch_builder(&f);
        l.arg(&sums).arg(&st.invstd).arg(&mut dw).arg(&mut db);
        l.arg(&images).arg(&c).arg(&per);
        // SAFETY: dw and db hold c values; sums 2 per plane, invstd one per group.
        unsafe { l.launch(config(g.c as u64)) }.map_err(Error::wrap)?;
        let f = func(dev, "gn_dx")?;
        let mut l = stream.launch_builder(&f);
        l.arg(&dz)
            .arg(x)
            .arg(&coef)
            .arg(&mut dx)
            .arg(&n)
            .arg(&inner);
        // SAFETY: dz, x and dx hold n values, coef 3 per plane.
        unsafe { l.launch(config(n)) }.map_err(Error::wrap)?;
    }
    Ok(out)
}
