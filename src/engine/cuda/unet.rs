//! The diffusion U-Net's per-channel ops on a GPU (`kernels.cu`): nearest upsampling and its
//! block sums, the per-channel bias add and its channel sums. Upsampling and the bias add give
//! the CPU twins' bits (copies; block sums in the same order; one add per value); the channel
//! sums are a tree reduction, equal to the CPU's to rounding (`crosscheck`).

use super::kernels::{config, func};
use super::zeros;
use candle_core::cuda_backend::CudaDevice;
use candle_core::{Error, Result};
use cudarc::driver::{CudaSlice, CudaView, LaunchConfig, PushKernelArg};

/// `planes` planes of `h x w` upsampled by `s` (`forward`), or the gradient of that: `n` values
/// of `out` from `src` by kernel `name` (`upsample_fwd` / `upsample_bwd`).
fn upsample(
    dev: &CudaDevice,
    name: &str,
    src: &CudaView<f32>,
    n: usize,
    (h, w, s): (usize, usize, usize),
) -> Result<CudaSlice<f32>> {
    let mut out = zeros::<f32>(dev, n)?;
    if n > 0 {
        let f = func(dev, name)?;
        let (len, [h, w, s]) = (n as u64, [h, w, s].map(|v| v as i32));
        let stream = dev.cuda_stream();
        let mut b = stream.launch_builder(&f);
        b.arg(src).arg(&mut out).arg(&len).arg(&h).arg(&w).arg(&s);
        // SAFETY: the arguments match the kernel's signature; `out` holds n values and `src`
        // the planes they read (the caller's shapes).
        unsafe { b.launch(config(len)) }.map_err(Error::wrap)?;
    }
    Ok(out)
}

/// `planes` planes of `h x w` upsampled by `s`.
pub fn upsample_fwd(
    dev: &CudaDevice,
    x: &CudaView<f32>,
    planes: usize,
    (h, w, s): (usize, usize, usize),
) -> Result<CudaSlice<f32>> {
    upsample(dev, "upsample_fwd", x, planes * h * w * s * s, (h, w, s))
}

/// Each `s x s` block of `planes` planes of `sh x sw` summed: `planes x h x w`.
pub fn upsample_bwd(
    dev: &CudaDevice,
    dy: &CudaView<f32>,
    planes: usize,
    (h, w, s): (usize, usize, usize),
) -> Result<CudaSlice<f32>> {
    upsample(dev, "upsample_bwd", dy, planes * h * w, (h, w, s))
}

/// `y + b[channel]` over `N x C x inner` values (`planes = N·C`).
pub fn bias_add(
    dev: &CudaDevice,
    y: &CudaView<f32>,
    b: &CudaView<f32>,
    (planes, c, inner): (usize, usize, usize),
) -> Result<CudaSlice<f32>> {
    let n = planes * inner;
    let mut out = zeros::<f32>(dev, n)?;
    if n > 0 {
        let f = func(dev, "bias_add")?;
        let (len, inner, c) = (n as u64, inner as u64, c as i32);
        let stream = dev.cuda_stream();
        let mut l = stream.launch_builder(&f);
        l.arg(y).arg(b).arg(&mut out).arg(&len).arg(&inner).arg(&c);
        // SAFETY: y and out hold n values, b one per channel.
        unsafe { l.launch(config(len)) }.map_err(Error::wrap)?;
    }
    Ok(out)
}

/// The sum of each channel of `N x C x inner` values (`planes = N·C`).
pub fn channel_sums(
    dev: &CudaDevice,
    g: &CudaView<f32>,
    (planes, c, inner): (usize, usize, usize),
) -> Result<CudaSlice<f32>> {
    let mut out = zeros::<f32>(dev, c)?;
    if let Some(images) = planes.checked_div(c) {
        let f = func(dev, "channel_sums")?;
        let (images, ci, inner) = (images as u64, c as i32, inner as u64);
        let stream = dev.cuda_stream();
        let mut l = stream.launch_builder(&f);
        l.arg(g).arg(&mut out).arg(&images).arg(&ci).arg(&inner);
        let cfg = LaunchConfig {
            grid_dim: (c as u32, 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: g holds images·c·inner values, out c; one block of 256 (GN_THREADS) per
        // channel.
        unsafe { l.launch(cfg) }.map_err(Error::wrap)?;
    }
    Ok(out)
}
