//! cuDNN training-mode batch normalisation (`CUDNN_BATCHNORM_SPATIAL`, `f32`): the forward
//! returns the output and the batch statistics cuDNN saves (mean and `1/sqrt(var + eps)`), the
//! backward gives `dx`, `dgamma` and `dbeta` in one call, packed as the CPU op packs them.
//!
//! cudarc has no safe wrapper for batch norm, so this file holds its own raw cuDNN handle and
//! descriptors (one handle per thread and device, bound to the device's stream).

use super::zeros;
use candle_core::cuda_backend::{CudaDevice, DeviceId};
use candle_core::{Error, Result, bail};
use cudarc::cudnn::{result, sys};
use cudarc::driver::{CudaSlice, CudaView, DevicePtr, DevicePtrMut};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_void;
use std::rc::Rc;

/// The batch statistics cuDNN saves in the forward pass for the backward pass.
pub struct Stats {
    /// Per-channel batch mean.
    pub mean: CudaSlice<f32>,
    /// Per-channel `1/sqrt(biased var + eps)`.
    pub invstd: CudaSlice<f32>,
}

struct Handle(sys::cudnnHandle_t);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: created by create_handle and destroyed once, here.
        let _ = unsafe { result::destroy_handle(self.0) };
    }
}

thread_local! {
    static HANDLES: RefCell<HashMap<DeviceId, Rc<Handle>>> = RefCell::new(HashMap::new());
}

fn handle(dev: &CudaDevice) -> Result<Rc<Handle>> {
    HANDLES.with(|m| {
        if let Some(h) = m.borrow().get(&dev.id()) {
            return Ok(h.clone());
        }
        dev.cuda_stream()
            .context()
            .bind_to_thread()
            .map_err(Error::wrap)?;
        let h = Handle(result::create_handle().map_err(Error::wrap)?);
        // SAFETY: both the handle and the device's stream are alive.
        unsafe { result::set_stream(h.0, dev.cuda_stream().cu_stream() as sys::cudaStream_t) }
            .map_err(Error::wrap)?;
        let h = Rc::new(h);
        m.borrow_mut().insert(dev.id(), h.clone());
        Ok(h)
    })
}

/// A 4-d NCHW `f32` tensor descriptor, destroyed on drop.
struct Desc(sys::cudnnTensorDescriptor_t);

impl Desc {
    fn new(dims: [usize; 4]) -> Result<Self> {
        let d = Desc(result::create_tensor_descriptor().map_err(Error::wrap)?);
        let dims = dims.map(|v| v as i32);
        // SAFETY: the descriptor was just created.
        unsafe {
            result::set_tensor4d_descriptor(
                d.0,
                sys::cudnnTensorFormat_t::CUDNN_TENSOR_NCHW,
                sys::cudnnDataType_t::CUDNN_DATA_FLOAT,
                dims,
            )
        }
        .map_err(Error::wrap)?;
        Ok(d)
    }
}

impl Drop for Desc {
    fn drop(&mut self) {
        // SAFETY: created in Desc::new and destroyed once, here.
        let _ = unsafe { result::destroy_tensor_descriptor(self.0) };
    }
}

/// The smallest epsilon cuDNN accepts (`CUDNN_BN_MIN_EPSILON`).
const MIN_EPS: f64 = 1e-5;

fn check_eps(eps: f64) -> Result<()> {
    if eps < MIN_EPS {
        bail!("batch_norm on CUDA: cuDNN needs eps >= {MIN_EPS}, got {eps}")
    }
    Ok(())
}

const ONE: f32 = 1.0;
const ZERO: f32 = 0.0;

fn scalar(v: &f32) -> *const c_void {
    v as *const f32 as *const c_void
}

/// Running statistics cuDNN updates in the forward pass: the device addresses of the running
/// mean and variance (`c` floats each) and the momentum. cuDNN's rule is PyTorch's:
/// `running = (1 - momentum)·running + momentum·batch`, with the unbiased batch variance.
#[derive(Debug, Clone, Copy)]
pub struct Running {
    pub mean: u64,
    pub var: u64,
    pub momentum: f64,
}

/// Training-mode forward of `x: n x c x inner` (any trailing dims flattened into `inner`),
/// updating `running` in place when given.
pub fn forward_train(
    dev: &CudaDevice,
    (n, c, inner): (usize, usize, usize),
    x: &CudaView<f32>,
    (gamma, beta): (&CudaView<f32>, &CudaView<f32>),
    eps: f64,
    running: Option<Running>,
) -> Result<(CudaSlice<f32>, Stats)> {
    check_eps(eps)?;
    let h = handle(dev)?;
    let stream = dev.cuda_stream();
    let xd = Desc::new([n, c, inner, 1])?;
    let pd = Desc::new([1, c, 1, 1])?;
    let mut y = zeros(dev, n * c * inner)?;
    let mut mean = zeros(dev, c)?;
    let mut invstd = zeros(dev, c)?;
    {
        let (xp, _g1) = x.device_ptr(&stream);
        let (gp, _g2) = gamma.device_ptr(&stream);
        let (bp, _g3) = beta.device_ptr(&stream);
        let (yp, _g4) = y.device_ptr_mut(&stream);
        let (mp, _g5) = mean.device_ptr_mut(&stream);
        let (ip, _g6) = invstd.device_ptr_mut(&stream);
        let (rm, rv, factor) = match running {
            Some(r) => (r.mean as *mut c_void, r.var as *mut c_void, r.momentum),
            None => (std::ptr::null_mut(), std::ptr::null_mut(), 0.0),
        };
        // SAFETY: the descriptors match the contiguous buffers; the running statistics are
        // `c` floats each on this device, or null (then cuDNN leaves them alone).
        unsafe {
            sys::cudnnBatchNormalizationForwardTraining(
                h.0,
                sys::cudnnBatchNormMode_t::CUDNN_BATCHNORM_SPATIAL,
                scalar(&ONE),
                scalar(&ZERO),
                xd.0,
                xp as *const c_void,
                xd.0,
                yp as *mut c_void,
                pd.0,
                gp as *const c_void,
                bp as *const c_void,
                factor,
                rm,
                rv,
                eps,
                mp as *mut c_void,
                ip as *mut c_void,
            )
        }
        .result()
        .map_err(Error::wrap)?;
    }
    Ok((y, Stats { mean, invstd }))
}

/// Training-mode backward: `[dx (n·c·inner), dgamma (c), dbeta (c)]` in one buffer.
pub fn backward(
    dev: &CudaDevice,
    (n, c, inner): (usize, usize, usize),
    x: &CudaView<f32>,
    dy: &CudaView<f32>,
    gamma: &CudaView<f32>,
    stats: &Stats,
    eps: f64,
) -> Result<CudaSlice<f32>> {
    check_eps(eps)?;
    let h = handle(dev)?;
    let stream = dev.cuda_stream();
    let xd = Desc::new([n, c, inner, 1])?;
    let pd = Desc::new([1, c, 1, 1])?;
    let numel = n * c * inner;
    let mut out = zeros(dev, numel + 2 * c)?;
    {
        let (xp, _g1) = x.device_ptr(&stream);
        let (dyp, _g2) = dy.device_ptr(&stream);
        let (gp, _g3) = gamma.device_ptr(&stream);
        let (mp, _g4) = stats.mean.device_ptr(&stream);
        let (ip, _g5) = stats.invstd.device_ptr(&stream);
        let (op, _g6) = out.device_ptr_mut(&stream);
        let f = std::mem::size_of::<f32>() as u64;
        let (dx, dgamma, dbeta) = (op, op + numel as u64 * f, op + (numel + c) as u64 * f);
        // SAFETY: the descriptors match the contiguous buffers; dx, dgamma and dbeta are
        // disjoint parts of `out`.
        unsafe {
            sys::cudnnBatchNormalizationBackward(
                h.0,
                sys::cudnnBatchNormMode_t::CUDNN_BATCHNORM_SPATIAL,
                scalar(&ONE),
                scalar(&ZERO),
                scalar(&ONE),
                scalar(&ZERO),
                xd.0,
                xp as *const c_void,
                xd.0,
                dyp as *const c_void,
                xd.0,
                dx as *mut c_void,
                pd.0,
                gp as *const c_void,
                dgamma as *mut c_void,
                dbeta as *mut c_void,
                eps,
                mp as *const c_void,
                ip as *const c_void,
            )
        }
        .result()
        .map_err(Error::wrap)?;
    }
    Ok(out)
}
