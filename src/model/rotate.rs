//! Exact right-angle rotations and flips of image batches (`N x C x H x W`, square), shared by
//! the model's view wrappers (`model::invariance`), Dieleman's parts (`model::parts`) and
//! test-time augmentation (`eval::rotation`).
//!
//! The views are exact index permutations (no resampling), built from `transpose` and `flip`
//! (an `index_select`), so they are differentiable and run on any device. View `k` of 8 is
//! [`dihedral`]`(x, k)`: `k = 0..4` rotates by `90k` degrees counter-clockwise, `k = 4..8`
//! rotates the horizontal mirror image (`x.flip(3)`) by `90(k-4)` degrees.

use candle_core::{Result, Tensor};

/// Rotate `N x C x H x W` images by 90 degrees counter-clockwise (as displayed with row 0 at the
/// top): `out[i][j] = x[j][W-1-i]`. Needs square images.
pub fn rot90(x: &Tensor) -> Result<Tensor> {
    square(x)?;
    x.contiguous()?.flip(&[3])?.transpose(2, 3)
}

/// View `k` (0..8) of the dihedral group D4 applied to `N x C x H x W` square images; see the
/// module doc for the order. The result is contiguous.
pub fn dihedral(x: &Tensor, k: usize) -> Result<Tensor> {
    square(x)?;
    if k >= 8 {
        candle_core::bail!("dihedral view {k} does not exist; views are 0..8");
    }
    // `flip` is an `index_select`, which needs a contiguous input.
    let x = x.contiguous()?;
    let base = if k >= 4 { x.flip(&[3])? } else { x };
    let v = match k % 4 {
        0 => base,
        // out[i][j] = x[j][W-1-i]
        1 => base.flip(&[3])?.transpose(2, 3)?,
        // out[i][j] = x[H-1-i][W-1-j]
        2 => base.flip(&[2, 3])?,
        // out[i][j] = x[H-1-j][i]
        _ => base.flip(&[2])?.transpose(2, 3)?,
    };
    v.contiguous()
}

fn square(x: &Tensor) -> Result<()> {
    let (_, _, h, w) = x.dims4()?;
    if h != w {
        candle_core::bail!("rotating images by 90 degrees needs square images, got {h} x {w}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn views_are_the_exact_permutations() {
        let x = Tensor::arange(0f32, 9.0, &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 3, 3))
            .unwrap();
        let v = |k| {
            dihedral(&x, k)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        // 0 1 2 / 3 4 5 / 6 7 8
        assert_eq!(v(0), [0., 1., 2., 3., 4., 5., 6., 7., 8.]);
        assert_eq!(v(1), [2., 5., 8., 1., 4., 7., 0., 3., 6.]);
        assert_eq!(v(2), [8., 7., 6., 5., 4., 3., 2., 1., 0.]);
        assert_eq!(v(3), [6., 3., 0., 7., 4., 1., 8., 5., 2.]);
        assert_eq!(v(4), [2., 1., 0., 5., 4., 3., 8., 7., 6.]);
        let r = rot90(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(r, v(1));
        // the 8 views are distinct, and rotating view k gives view k+1 of the same family
        let all: Vec<Vec<f32>> = (0..8).map(v).collect();
        for i in 0..8 {
            for j in 0..i {
                assert_ne!(all[i], all[j], "views {i} and {j}");
            }
        }
        for k in [0, 1, 2, 4, 5, 6] {
            let r = rot90(&dihedral(&x, k).unwrap()).unwrap();
            assert_eq!(
                r.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                all[k + 1]
            );
        }
        assert!(dihedral(&x, 8).is_err());
        let rect = Tensor::zeros((1, 1, 2, 3), DType::F32, &Device::Cpu).unwrap();
        assert!(dihedral(&rect, 1).is_err());
    }
}
