//! cuDNN 2-D convolution (NCHW, `f32`, cross-correlation, full-precision FMA math: no TF32):
//! forward, backward-data and backward-filter. The algorithm of each direction is picked by
//! cuDNN's heuristics (`cudnnGetConvolution*Algorithm_v7`, as PyTorch does without
//! `cudnn.benchmark`) the first time a shape is seen and cached for the rest of the process.

use super::{cudnn, workspace};
use candle_core::cuda_backend::CudaDevice;
use candle_core::{Error, Result};
use cudarc::cudnn::{
    ConvBackwardData, ConvBackwardFilter, ConvDescriptor, ConvForward, Cudnn, FilterDescriptor,
    TensorDescriptor, sys,
};
use cudarc::driver::{CudaSlice, CudaView};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The shapes of one convolution (no dilation, square stride and padding; `groups` splits the
/// channels as in PyTorch, the weight being `cout x cin/groups x kh x kw`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dims {
    pub n: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
    pub oh: usize,
    pub ow: usize,
    pub groups: usize,
}

/// The signature of [`forward`], [`backward_data`] and [`backward_filter`]: two inputs, one new
/// output buffer.
pub type Call = fn(&CudaDevice, &Dims, &CudaView<f32>, &CudaView<f32>) -> Result<CudaSlice<f32>>;

/// The algorithm chosen per shape, for each direction.
#[derive(Clone, Copy)]
struct Algos {
    fwd: sys::cudnnConvolutionFwdAlgo_t,
    data: sys::cudnnConvolutionBwdDataAlgo_t,
    filter: sys::cudnnConvolutionBwdFilterAlgo_t,
}

fn algo_cache() -> &'static Mutex<HashMap<Dims, Algos>> {
    static CACHE: OnceLock<Mutex<HashMap<Dims, Algos>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The descriptors of one convolution.
struct Descs {
    conv: ConvDescriptor<f32>,
    x: TensorDescriptor<f32>,
    w: FilterDescriptor<f32>,
    y: TensorDescriptor<f32>,
}

fn i(v: usize) -> i32 {
    v as i32
}

fn descs(h: &Arc<Cudnn>, d: &Dims) -> Result<Descs> {
    let nchw = sys::cudnnTensorFormat_t::CUDNN_TENSOR_NCHW;
    let mut conv = h
        .create_conv2d::<f32>(
            [i(d.pad), i(d.pad)],
            [i(d.stride), i(d.stride)],
            [1, 1],
            sys::cudnnConvolutionMode_t::CUDNN_CROSS_CORRELATION,
        )
        .map_err(Error::wrap)?;
    conv.set_math_type(sys::cudnnMathType_t::CUDNN_FMA_MATH)
        .map_err(Error::wrap)?;
    if d.groups > 1 {
        conv.set_group_count(i(d.groups)).map_err(Error::wrap)?;
    }
    let x = h
        .create_4d_tensor::<f32>(nchw, [i(d.n), i(d.cin), i(d.h), i(d.w)])
        .map_err(Error::wrap)?;
    let w = h
        .create_4d_filter::<f32>(nchw, [i(d.cout), i(d.cin / d.groups), i(d.kh), i(d.kw)])
        .map_err(Error::wrap)?;
    let y = h
        .create_4d_tensor::<f32>(nchw, [i(d.n), i(d.cout), i(d.oh), i(d.ow)])
        .map_err(Error::wrap)?;
    Ok(Descs { conv, x, w, y })
}

/// The cached algorithms for `d`, asking cuDNN's heuristics the first time.
fn algos(ds: &Descs, d: &Dims) -> Result<Algos> {
    if let Some(a) = algo_cache().lock().ok().and_then(|c| c.get(d).copied()) {
        return Ok(a);
    }
    let fwd = ConvForward {
        conv: &ds.conv,
        x: &ds.x,
        w: &ds.w,
        y: &ds.y,
    }
    .pick_algorithm()
    .map_err(Error::wrap)?;
    let data = ConvBackwardData {
        conv: &ds.conv,
        dx: &ds.x,
        w: &ds.w,
        dy: &ds.y,
    }
    .pick_algorithm()
    .map_err(Error::wrap)?;
    let filter = ConvBackwardFilter {
        conv: &ds.conv,
        x: &ds.x,
        dw: &ds.w,
        dy: &ds.y,
    }
    .pick_algorithm()
    .map_err(Error::wrap)?;
    let a = Algos { fwd, data, filter };
    if let Ok(mut c) = algo_cache().lock() {
        c.insert(*d, a);
    }
    Ok(a)
}

/// `y = conv(x, w)`, a new `n x cout x oh x ow` buffer.
pub fn forward(
    dev: &CudaDevice,
    d: &Dims,
    x: &CudaView<f32>,
    w: &CudaView<f32>,
) -> Result<CudaSlice<f32>> {
    let h = cudnn(dev)?;
    let ds = descs(&h, d)?;
    let algo = algos(&ds, d)?.fwd;
    let op = ConvForward {
        conv: &ds.conv,
        x: &ds.x,
        w: &ds.w,
        y: &ds.y,
    };
    let mut ws = workspace(dev, op.get_workspace_size(algo).map_err(Error::wrap)?)?;
    // SAFETY: every buffer is never read uninitialised: cuDNN writes all of y (beta = 0).
    let mut y = unsafe { dev.cuda_stream().alloc::<f32>(d.n * d.cout * d.oh * d.ow) }
        .map_err(Error::wrap)?;
    // SAFETY: the descriptors describe exactly these contiguous f32 buffers.
    unsafe { op.launch(algo, Some(&mut ws), (1.0f32, 0.0f32), x, w, &mut y) }
        .map_err(Error::wrap)?;
    Ok(y)
}

/// `dx` from `dy` and `w`, a new `n x cin x h x w` buffer.
pub fn backward_data(
    dev: &CudaDevice,
    d: &Dims,
    dy: &CudaView<f32>,
    w: &CudaView<f32>,
) -> Result<CudaSlice<f32>> {
    let h = cudnn(dev)?;
    let ds = descs(&h, d)?;
    let algo = algos(&ds, d)?.data;
    let op = ConvBackwardData {
        conv: &ds.conv,
        dx: &ds.x,
        w: &ds.w,
        dy: &ds.y,
    };
    let mut ws = workspace(dev, op.get_workspace_size(algo).map_err(Error::wrap)?)?;
    // SAFETY: cuDNN writes all of dx (beta = 0).
    let mut dx =
        unsafe { dev.cuda_stream().alloc::<f32>(d.n * d.cin * d.h * d.w) }.map_err(Error::wrap)?;
    // SAFETY: the descriptors describe exactly these contiguous f32 buffers.
    unsafe { op.launch(algo, Some(&mut ws), (1.0f32, 0.0f32), &mut dx, w, dy) }
        .map_err(Error::wrap)?;
    Ok(dx)
}

/// `dw` from `x` and `dy`, a new `cout x cin/groups x kh x kw` buffer.
pub fn backward_filter(
    dev: &CudaDevice,
    d: &Dims,
    x: &CudaView<f32>,
    dy: &CudaView<f32>,
) -> Result<CudaSlice<f32>> {
    let h = cudnn(dev)?;
    let ds = descs(&h, d)?;
    let algo = algos(&ds, d)?.filter;
    let op = ConvBackwardFilter {
        conv: &ds.conv,
        x: &ds.x,
        dw: &ds.w,
        dy: &ds.y,
    };
    let mut ws = workspace(dev, op.get_workspace_size(algo).map_err(Error::wrap)?)?;
    // SAFETY: cuDNN writes all of dw (beta = 0).
    let mut dw = unsafe {
        dev.cuda_stream()
            .alloc::<f32>(d.cout * d.cin / d.groups * d.kh * d.kw)
    }
    .map_err(Error::wrap)?;
    // SAFETY: the descriptors describe exactly these contiguous f32 buffers.
    unsafe { op.launch(algo, Some(&mut ws), (1.0f32, 0.0f32), x, &mut dw, dy) }
        .map_err(Error::wrap)?;
    Ok(dw)
}
