//! The project's own CUDA kernels (`kernels.cu`): compiled once per process with NVRTC (FMA
//! contraction off, precise division and square root, for the device's compute capability),
//! loaded into each device through candle's module cache, launched on the device's stream.

use super::zeros;
use candle_core::cuda_backend::CudaDevice;
use candle_core::{Error, Result, bail};
use cudarc::driver::{
    CudaFunction, CudaSlice, CudaView, DeviceRepr, LaunchConfig, PushKernelArg, ValidAsZeroBits,
};
use cudarc::nvrtc::{CompileOptions, compile_ptx_with_opts};
use std::sync::OnceLock;

/// The CUDA C source of every kernel here.
pub const SOURCE: &str = include_str!("kernels.cu");

const MODULE: &str = "gzbench-kernels";

/// The PTX of [`SOURCE`], compiled on first use.
fn ptx() -> Result<&'static str> {
    static PTX: OnceLock<std::result::Result<String, String>> = OnceLock::new();
    let compiled = PTX.get_or_init(|| {
        let opts = CompileOptions {
            fmad: Some(false),
            prec_div: Some(true),
            prec_sqrt: Some(true),
            ftz: Some(false),
            name: Some("gzbench_kernels.cu".into()),
            ..Default::default()
        };
        compile_ptx_with_opts(SOURCE, opts)
            .map(|p| p.to_src())
            .map_err(|e| format!("{e:?}"))
    });
    match compiled {
        Ok(p) => Ok(p),
        Err(e) => bail!("compiling gzbench's CUDA kernels with NVRTC failed: {e}"),
    }
}

pub(super) fn func(dev: &CudaDevice, name: &str) -> Result<CudaFunction> {
    Ok(dev
        .get_or_load_custom_func(name, MODULE, ptx()?)?
        .into_cuda_function())
}

/// A grid-stride launch over `n` items.
pub(super) fn config(n: u64) -> LaunchConfig {
    const THREADS: u32 = 256;
    let blocks = n.div_ceil(THREADS as u64).clamp(1, 65_535 * 16) as u32;
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Pooling geometry: planes (`N·C`), input `h x w`, output `oh x ow`, window `k`.
#[derive(Debug, Clone, Copy)]
pub struct Pool {
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub k: usize,
}

impl Pool {
    fn outputs(&self) -> u64 {
        (self.planes * self.oh * self.ow) as u64
    }
    fn ints(&self) -> [i32; 5] {
        [self.h, self.w, self.oh, self.ow, self.k].map(|v| v as i32)
    }
}

/// ReLU then max-pool.
pub fn relu_max_pool_fwd(dev: &CudaDevice, p: &Pool, x: &CudaView<f32>) -> Result<CudaSlice<f32>> {
    let mut y = zeros(dev, p.planes * p.oh * p.ow)?;
    let n = p.outputs();
    if n > 0 {
        let f = func(dev, "relu_max_pool_fwd")?;
        let planes = p.planes as u64;
        let [h, w, oh, ow, k] = p.ints();
        let stream = dev.cuda_stream();
        let mut b = stream.launch_builder(&f);
        b.arg(x).arg(&mut y).arg(&planes);
        b.arg(&h).arg(&w).arg(&oh).arg(&ow).arg(&k);
        // SAFETY: the arguments match the kernel's signature; sizes come from `p`.
        unsafe { b.launch(config(n)) }.map_err(Error::wrap)?;
    }
    Ok(y)
}

/// The gradient of [`relu_max_pool_fwd`] with respect to its input.
pub fn relu_max_pool_bwd(
    dev: &CudaDevice,
    p: &Pool,
    x: &CudaView<f32>,
    dy: &CudaView<f32>,
) -> Result<CudaSlice<f32>> {
    let mut dx = zeros(dev, p.planes * p.h * p.w)?;
    let n = p.outputs();
    if n > 0 {
        let f = func(dev, "relu_max_pool_bwd")?;
        let planes = p.planes as u64;
        let [h, w, oh, ow, k] = p.ints();
        let stream = dev.cuda_stream();
        let mut b = stream.launch_builder(&f);
        b.arg(x).arg(dy).arg(&mut dx).arg(&planes);
        b.arg(&h).arg(&w).arg(&oh).arg(&ow).arg(&k);
        // SAFETY: the arguments match the kernel's signature; dx is zeroed, sizes from `p`.
        unsafe { b.launch(config(n)) }.map_err(Error::wrap)?;
    }
    Ok(dx)
}

/// An element-wise kernel `name` (`lgamma_f32`, `digamma_f64`, ...) from `x` to a new buffer.
pub fn unary<T: DeviceRepr + ValidAsZeroBits>(
    dev: &CudaDevice,
    name: &str,
    x: &CudaView<T>,
) -> Result<CudaSlice<T>> {
    let n = x.len();
    let mut y = dev.cuda_stream().alloc_zeros::<T>(n).map_err(Error::wrap)?;
    if n > 0 {
        let f = func(dev, name)?;
        let len = n as u64;
        let stream = dev.cuda_stream();
        let mut b = stream.launch_builder(&f);
        b.arg(x).arg(&mut y).arg(&len);
        // SAFETY: x and y hold n elements of the kernel's element type.
        unsafe { b.launch(config(len)) }.map_err(Error::wrap)?;
    }
    Ok(y)
}

/// One AdamW step over every tensor: `ptrs` (4 device addresses per tensor: parameter,
/// gradient, first and second moment), `ends` (running element counts), `consts` (see
/// `kernels.cu`), packed into one buffer and uploaded once. The caller keeps the four buffers
/// of each tensor alive until the stream has run the launch.
pub fn adamw_multi(dev: &CudaDevice, ptrs: &[u64], ends: &[u64], consts: &[f32; 9]) -> Result<()> {
    let tensors = ends.len();
    if tensors == 0 || ptrs.len() != 4 * tensors {
        bail!("adamw: {} addresses for {tensors} tensors", ptrs.len())
    }
    let total = ends[tensors - 1];
    if total == 0 {
        return Ok(());
    }
    let stream = dev.cuda_stream();
    let args = stream
        .clone_htod(&adamw_args(ptrs, ends, consts))
        .map_err(Error::wrap)?;
    let f = func(dev, "adamw_multi")?;
    let count = tensors as i32;
    let mut b = stream.launch_builder(&f);
    b.arg(&args).arg(&count);
    // SAFETY: every address in `ptrs` is a live f32 buffer of the length `ends` gives it.
    unsafe { b.launch(config(total)) }.map_err(Error::wrap)?;
    Ok(())
}

/// `adamw_multi`'s argument buffer: addresses, running counts, then the `f32` constants two to
/// a `u64` in memory order (little-endian, as on every CUDA host).
fn adamw_args(ptrs: &[u64], ends: &[u64], consts: &[f32; 9]) -> Vec<u64> {
    let packed = consts.chunks(2).map(|p| {
        let lo = p[0].to_bits() as u64;
        let hi = p.get(1).map_or(0, |v| v.to_bits() as u64);
        lo | (hi << 32)
    });
    ptrs.iter().chain(ends).copied().chain(packed).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn adamw_args_read_back_as_the_kernel_reads_them() {
        let consts = [0.9f32, 0.1, 0.999, 0.001, 10.0, 1000.0, 1e-8, 0.99, 1e-3];
        let a = super::adamw_args(&[1, 2, 3, 4, 5, 6, 7, 8], &[10, 30], &consts);
        assert_eq!(&a[..10], &[1, 2, 3, 4, 5, 6, 7, 8, 10, 30]);
        // the kernel's `(const float*)(a + 5 * tensors)`
        let bytes: Vec<u8> = a[10..].iter().flat_map(|v| v.to_ne_bytes()).collect();
        let floats: Vec<f32> = bytes
            .chunks(4)
            .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(&floats[..9], &consts);
    }

    /// NVRTC needs no GPU: this runs wherever the `cuda` build's tests run.
    #[test]
    fn nvrtc_compiles_every_kernel() {
        let ptx = super::ptx().unwrap();
        for k in [
            "relu_max_pool_fwd",
            "relu_max_pool_bwd",
            "lgamma_f32",
            "lgamma_f64",
            "digamma_f32",
            "digamma_f64",
            "adamw_multi",
            "gn_plane_sums",
            "gn_stats",
            "gn_act_fwd",
            "gn_act_grad",
            "gn_bwd_coefs",
            "gn_param_grads",
            "gn_dx",
            "upsample_fwd",
            "upsample_bwd",
            "bias_add",
            "channel_sums",
        ] {
            assert!(
                ptx.contains(&format!(".entry {k}(")),
                "no kernel {k} in the PTX"
            );
        }
    }
}
