//! Training batches assembled on a host thread while the device computes the previous step.
//!
//! [`pipeline`] runs `make(i)` (gather the images of batch `i` from the pre-rendered dataset,
//! augment them) on a helper thread up to [`AHEAD`] batches ahead and hands each batch, in
//! order, to `consume` on the calling thread. On a GPU the helper writes the images straight
//! into page-locked (pinned) host buffers, so `Batch::upload` is one asynchronous copy queued
//! on the device's stream behind the running step; a buffer goes back to the helper only after
//! its copy finished (cudarc's per-buffer event). On the CPU everything runs inline on the
//! calling thread, exactly as before, so results stay bit-identical.
//!
//! Every batch is made by the same deterministic function whichever thread runs it, so the
//! helper never changes a result. The time the calling thread spent waiting for a batch is
//! summed per thread ([`take_wait_seconds`]): `timing.json` reports it, and the step time minus
//! it is the time the device had work.

use candle_core::{Device, Result, Tensor};
use std::cell::Cell;
use std::sync::mpsc;
use std::time::Instant;

/// Batches prepared ahead of the one being computed.
pub const AHEAD: usize = 2;

thread_local! {
    static WAIT: Cell<f64> = const { Cell::new(0.0) };
}

/// Seconds this thread waited for batches since the last call (and reset the sum).
pub fn take_wait_seconds() -> f64 {
    WAIT.with(|w| w.replace(0.0))
}

/// One batch on the host: images `n x c x h x w` (flat) and targets.
pub struct Batch {
    images: Images,
    pub shape: (usize, usize, usize, usize),
    pub targets: Vec<f32>,
}

enum Images {
    Host(Vec<f32>),
    #[cfg(feature = "cuda")]
    Pinned(cudarc::driver::PinnedHostSlice<f32>),
}

impl Batch {
    /// The images as a tensor on `device` (and, on a GPU, the pinned buffer to hand back).
    fn upload(self, device: &Device) -> Result<(Tensor, Vec<f32>, Option<Images>)> {
        match self.images {
            Images::Host(x) => Ok((Tensor::from_vec(x, self.shape, device)?, self.targets, None)),
            #[cfg(feature = "cuda")]
            Images::Pinned(buf) => {
                let Device::Cuda(dev) = device else {
                    candle_core::bail!("prefetch: pinned batch for a device that is not a GPU")
                };
                let stream = dev.cuda_stream();
                // SAFETY: the copy below writes all of it before anything reads it.
                let mut d =
                    unsafe { stream.alloc::<f32>(buf.len()) }.map_err(candle_core::Error::wrap)?;
                stream
                    .memcpy_htod(&buf, &mut d)
                    .map_err(candle_core::Error::wrap)?;
                let st = candle_core::Storage::Cuda(super::cuda::storage(d, dev));
                let x = Tensor::from_storage(
                    st,
                    self.shape,
                    candle_core::op::BackpropOp::none(),
                    false,
                );
                Ok((x, self.targets, Some(Images::Pinned(buf))))
            }
        }
    }
}

/// One batch on the host: flat images, their `n x c x h x w` shape, targets.
pub type HostBatch = (Vec<f32>, (usize, usize, usize, usize), Vec<f32>);

/// Make batch `i`.
pub type Make<'a> = dyn Fn(usize) -> Result<HostBatch> + Sync + 'a;

/// Make batches `0..n` (on a helper thread for a GPU, inline on the CPU) and consume each, in
/// order, as `(i, images on device, targets)`.
pub fn pipeline(
    n: usize,
    device: &Device,
    make: &Make,
    consume: &mut dyn FnMut(usize, Tensor, Vec<f32>) -> Result<()>,
) -> Result<()> {
    run(n, device, device.is_cuda(), make, consume)
}

fn run(
    n: usize,
    device: &Device,
    threaded: bool,
    make: &Make,
    consume: &mut dyn FnMut(usize, Tensor, Vec<f32>) -> Result<()>,
) -> Result<()> {
    if !threaded {
        for i in 0..n {
            let (x, shape, y) = make(i)?;
            let t = Tensor::from_vec(x, shape, device)?;
            consume(i, t, y)?;
        }
        return Ok(());
    }
    let (tx, rx) = mpsc::sync_channel::<Result<Batch>>(AHEAD);
    let (free_tx, free_rx) = mpsc::channel::<Images>();
    // `move`: the receiving ends drop when the loop ends, so a helper blocked on a full channel
    // wakes up and the scope can join it.
    std::thread::scope(move |s| {
        s.spawn(move || {
            let mut free = Stage::new(device, free_rx);
            for i in 0..n {
                let batch = make(i).and_then(|(x, shape, targets)| {
                    Ok(Batch {
                        images: free.stage(x)?,
                        shape,
                        targets,
                    })
                });
                let failed = batch.is_err();
                if tx.send(batch).is_err() || failed {
                    break;
                }
            }
        });
        for i in 0..n {
            let t = Instant::now();
            let batch = rx.recv();
            WAIT.with(|w| w.set(w.get() + t.elapsed().as_secs_f64()));
            let Ok(batch) = batch else {
                candle_core::bail!("prefetch: the batch thread stopped before batch {i}")
            };
            let (x, y, buf) = batch?.upload(device)?;
            if let Some(buf) = buf {
                let _ = free_tx.send(buf);
            }
            consume(i, x, y)?;
        }
        Ok(())
    })
}

/// The helper's side of the pinned buffers: reuse those handed back, allocate when none is free.
struct Stage<'a> {
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    device: &'a Device,
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    free: mpsc::Receiver<Images>,
}

impl<'a> Stage<'a> {
    fn new(device: &'a Device, free: mpsc::Receiver<Images>) -> Self {
        Stage { device, free }
    }

    /// `x` in a pinned buffer of exactly its length (a pageable one if none can be had).
    #[cfg(feature = "cuda")]
    fn stage(&mut self, x: Vec<f32>) -> Result<Images> {
        let Device::Cuda(dev) = self.device else {
            return Ok(Images::Host(x));
        };
        let reuse = self.free.try_iter().find_map(|b| match b {
            Images::Pinned(p) if p.len() == x.len() => Some(p),
            _ => None,
        });
        let mut buf = match reuse {
            Some(b) => b,
            // SAFETY: written in full just below before any read.
            None => unsafe { dev.cuda_stream().context().alloc_pinned::<f32>(x.len()) }
                .map_err(candle_core::Error::wrap)?,
        };
        // Waits for the buffer's previous copy to the device to finish.
        buf.as_mut_slice()
            .map_err(candle_core::Error::wrap)?
            .copy_from_slice(&x);
        Ok(Images::Pinned(buf))
    }

    #[cfg(not(feature = "cuda"))]
    fn stage(&mut self, x: Vec<f32>) -> Result<Images> {
        Ok(Images::Host(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumes_every_batch_in_order_inline_on_the_cpu() {
        let mut seen = Vec::new();
        let make = |i: usize| Ok((vec![i as f32; 4], (1, 1, 2, 2), vec![i as f32]));
        pipeline(5, &Device::Cpu, &make, &mut |i, x, y| {
            let v = x.flatten_all()?.to_vec1::<f32>()?;
            seen.push((i, v[0], y[0]));
            Ok(())
        })
        .unwrap();
        let want: Vec<_> = (0..5).map(|i| (i, i as f32, i as f32)).collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn the_helper_thread_delivers_the_same_batches_in_order() {
        let make = |i: usize| Ok((vec![i as f32; 4], (1, 1, 2, 2), vec![i as f32]));
        let mut seen = Vec::new();
        run(40, &Device::Cpu, true, &make, &mut |i, x, y| {
            seen.push((i, x.flatten_all()?.to_vec1::<f32>()?, y));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), 40);
        for (i, (j, x, y)) in seen.into_iter().enumerate() {
            assert_eq!((j, x, y), (i, vec![i as f32; 4], vec![i as f32]));
        }
        // A consumer error stops the helper instead of leaving it blocked.
        let e = run(40, &Device::Cpu, true, &make, &mut |i, _, _| {
            if i == 3 {
                candle_core::bail!("stop at {i}")
            }
            Ok(())
        })
        .unwrap_err();
        assert!(e.to_string().contains("stop at 3"));
    }

    #[test]
    fn the_first_error_stops_the_pipeline() {
        let make = |i: usize| {
            if i == 2 {
                candle_core::bail!("bad batch {i}")
            }
            Ok((vec![0f32; 4], (1, 1, 2, 2), vec![0.0]))
        };
        for threaded in [false, true] {
            let mut n = 0;
            let e = run(5, &Device::Cpu, threaded, &make, &mut |_, _, _| {
                n += 1;
                Ok(())
            })
            .unwrap_err();
            assert!(e.to_string().contains("bad batch 2"));
            assert_eq!(n, 2);
        }
    }
}
