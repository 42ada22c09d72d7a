use super::*;
use crate::engine::conv::conv2d;
use crate::engine::testutil::{assert_same_bits_on_threads, normal, probe_grads};
use candle_core::{Tensor, Var};

fn randn(name: &str, shape: &[usize]) -> Vec<f32> {
    let t = normal(7, &format!("test/winograd/{name}"), shape, 0.0, 1.0);
    t.flatten_all().unwrap().to_vec1().unwrap()
}

// The per-tile definitions (4x4 matrix products) the vectorised transforms are checked against.

/// `B^T d B` of a 4x4 tile (row-major).
fn input_tile(d: &[f32; 16]) -> [f32; 16] {
    let mut t = [0f32; 16];
    for c in 0..4 {
        let (d0, d1, d2, d3) = (d[c], d[4 + c], d[8 + c], d[12 + c]);
        t[c] = d0 - d2;
        t[4 + c] = d1 + d2;
        t[8 + c] = d2 - d1;
        t[12 + c] = d1 - d3;
    }
    let mut v = [0f32; 16];
    for r in 0..4 {
        let (t0, t1, t2, t3) = (t[4 * r], t[4 * r + 1], t[4 * r + 2], t[4 * r + 3]);
        v[4 * r] = t0 - t2;
        v[4 * r + 1] = t1 + t2;
        v[4 * r + 2] = t2 - t1;
        v[4 * r + 3] = t1 - t3;
    }
    v
}

/// `B v B^T` of a 4x4 tile: the transpose of [`input_tile`].
fn input_tile_t(v: &[f32; 16]) -> [f32; 16] {
    let mut t = [0f32; 16];
    for c in 0..4 {
        let (v0, v1, v2, v3) = (v[c], v[4 + c], v[8 + c], v[12 + c]);
        t[c] = v0;
        t[4 + c] = v1 - v2 + v3;
        t[8 + c] = v1 + v2 - v0;
        t[12 + c] = -v3;
    }
    let mut d = [0f32; 16];
    for r in 0..4 {
        let (t0, t1, t2, t3) = (t[4 * r], t[4 * r + 1], t[4 * r + 2], t[4 * r + 3]);
        d[4 * r] = t0;
        d[4 * r + 1] = t1 - t2 + t3;
        d[4 * r + 2] = t1 + t2 - t0;
        d[4 * r + 3] = -t3;
    }
    d
}

/// `A^T m A` of a 4x4 tile: the 2x2 output (row-major).
fn output_tile(m: &[f32; 16]) -> [f32; 4] {
    let mut t = [0f32; 8];
    for c in 0..4 {
        let (m0, m1, m2, m3) = (m[c], m[4 + c], m[8 + c], m[12 + c]);
        t[c] = m0 + m1 + m2;
        t[4 + c] = m1 - m2 - m3;
    }
    let mut y = [0f32; 4];
    for r in 0..2 {
        let (t0, t1, t2, t3) = (t[4 * r], t[4 * r + 1], t[4 * r + 2], t[4 * r + 3]);
        y[2 * r] = t0 + t1 + t2;
        y[2 * r + 1] = t1 - t2 - t3;
    }
    y
}

/// `A y A^T` of a 2x2 gradient: the transpose of [`output_tile`].
fn output_tile_t(y: &[f32; 4]) -> [f32; 16] {
    let mut t = [0f32; 8];
    for r in 0..2 {
        let (y0, y1) = (y[2 * r], y[2 * r + 1]);
        t[4 * r] = y0;
        t[4 * r + 1] = y0 + y1;
        t[4 * r + 2] = y0 - y1;
        t[4 * r + 3] = -y1;
    }
    let mut m = [0f32; 16];
    for c in 0..4 {
        let (t0, t1) = (t[c], t[4 + c]);
        m[c] = t0;
        m[4 + c] = t0 + t1;
        m[8 + c] = t0 - t1;
        m[12 + c] = -t1;
    }
    m
}

/// The direct convolution in `f64`: `y`, and for the probe `p` (shaped like `y`), the
/// gradients of `Σ p·y` with respect to `x` and `w`.
fn reference(g: &Geom, x: &[f32], w: &[f32], p: &[f32]) -> [Vec<f64>; 3] {
    let mut y = vec![0f64; g.n * g.out_img()];
    let mut dx = vec![0f64; g.n * g.in_img()];
    let mut dw = vec![0f64; g.cout * g.cin * 9];
    for n in 0..g.n {
        for o in 0..g.cout {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let yi = ((n * g.cout + o) * g.oh + oy) * g.ow + ox;
                    for c in 0..g.cin {
                        for ki in 0..3 {
                            for kj in 0..3 {
                                let iy = (oy + ki) as isize - g.pad as isize;
                                let ix = (ox + kj) as isize - g.pad as isize;
                                if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                                    continue;
                                }
                                let xi = ((n * g.cin + c) * g.h + iy as usize) * g.w + ix as usize;
                                let wi = ((o * g.cin + c) * 3 + ki) * 3 + kj;
                                y[yi] += x[xi] as f64 * w[wi] as f64;
                                dx[xi] += p[yi] as f64 * w[wi] as f64;
                                dw[wi] += p[yi] as f64 * x[xi] as f64;
                            }
                        }
                    }
                }
            }
        }
    }
    [y, dx, dw]
}

/// Largest difference relative to the largest reference value.
fn rel(ours: &[f32], theirs: &[f64]) -> f64 {
    assert_eq!(ours.len(), theirs.len());
    let scale = theirs.iter().fold(1e-30f64, |m, v| m.max(v.abs()));
    let diff = ours
        .iter()
        .zip(theirs)
        .fold(0f64, |m, (a, b)| m.max((*a as f64 - b).abs()));
    diff / scale
}

fn check(xs: [usize; 4], cout: usize, pad: usize, group: usize) {
    let g = Geom::new(&xs, &[cout, xs[1], 3, 3], 1, pad, 1).unwrap();
    let name = format!("{xs:?}{cout}{pad}");
    let x = randn(&format!("x{name}"), &xs);
    let w = randn(&format!("w{name}"), &[cout, xs[1], 3, 3]);
    let p = randn(&format!("p{name}"), &[g.n, g.cout, g.oh, g.ow]);
    let [y, dx, dw] = reference(&g, &x, &w, &p);
    let got = [
        forward(&g, &x, &w),
        backward_data(&g, &p, &w),
        backward_filter(&g, &x, &p, group),
    ];
    for ((ours, theirs), what) in got.iter().zip([&y, &dx, &dw]).zip(["y", "dx", "dw"]) {
        let e = rel(ours, theirs);
        assert!(e < 2e-6, "{name} {what}: relative error {e}");
    }
}

#[test]
fn matches_the_direct_convolution_in_f64() {
    check([3, 16, 9, 7], 16, 1, 4); // odd sizes: the last tile row and column half outside
    check([2, 17, 8, 8], 20, 0, 4); // valid padding
    check([5, 16, 5, 6], 18, 2, 2); // wider padding, partial groups
    check([1, 16, 1, 1], 16, 1, 4); // one tile, one image
    check([2, 32, 16, 16], 40, 1, 4); // several blocks per group
    check([9, 64, 4, 4], 64, 1, 4); // several images per group
}

/// The transforms are each other's transposes: `<T a, b> = <a, T^t b>` exactly on integers.
#[test]
fn each_backward_transform_is_the_transpose_of_its_forward() {
    let int = |i: usize, k: usize| ((i * 7 + k * 3) % 11) as f32 - 5.0;
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let a16: [f32; 16] = std::array::from_fn(|i| int(i, 1));
    let b16: [f32; 16] = std::array::from_fn(|i| int(i, 2));
    let b4: [f32; 4] = std::array::from_fn(|i| int(i, 3));
    let a9: [f32; 9] = std::array::from_fn(|i| int(i, 4));
    assert_eq!(dot(&input_tile(&a16), &b16), dot(&a16, &input_tile_t(&b16)));
    assert_eq!(dot(&output_tile(&a16), &b4), dot(&a16, &output_tile_t(&b4)));
    assert_eq!(dot(&weight_tile(&a9), &b16), dot(&a9, &weight_tile_t(&b16)));
}

#[test]
fn conv2d_uses_it_with_the_same_bits_on_any_thread_count() {
    let xs = [7, 16, 10, 10];
    let x = Var::from_tensor(&normal(3, "test/winograd/det-x", &xs, 0.0, 1.0)).unwrap();
    let w = Var::from_tensor(&normal(3, "test/winograd/det-w", &[24, 16, 3, 3], 0.0, 1.0)).unwrap();
    let probe = normal(3, "test/winograd/det-p", &[7, 24, 10, 10], 0.0, 1.0);
    let g = Geom::new(&xs, w.dims(), 1, 1, 1).unwrap();
    assert!(applies(&g));
    let run = || {
        let y = conv2d(&x, &w, 1, 1, 1).unwrap();
        let gr = probe_grads(&y, &probe);
        vec![y, gr.get(&x).unwrap().clone(), gr.get(&w).unwrap().clone()]
    };
    assert_same_bits_on_threads(&[2, 3], run);
    let outs = run();
    let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let (xv, wv, pv) = (flat(&x), flat(&w), flat(&probe));
    assert_eq!(flat(&outs[0]), forward(&g, &xv, &wv));
    assert_eq!(flat(&outs[1]), backward_data(&g, &pv, &wv));
    assert_eq!(
        flat(&outs[2]),
        backward_filter(&g, &xv, &pv, crate::engine::conv::GROUP)
    );
}

#[test]
fn applies_to_3x3_stride_1_convolutions_with_enough_channels() {
    let geom = |cin, cout, k, s| Geom::new(&[1, cin, 8, 8], &[cout, cin, k, k], s, 1, 1).unwrap();
    assert!(applies(&geom(16, 16, 3, 1)));
    assert!(!applies(&geom(3, 16, 3, 1)));
    assert!(!applies(&geom(16, 8, 3, 1)));
    assert!(!applies(&geom(16, 16, 3, 2)));
    assert!(!applies(&geom(16, 16, 5, 1)));
}

/// The row-vectorised transforms give each tile's definition (the 4x4 matrix products above)
/// bit for bit, the input gradients added tile by tile in order.
#[test]
fn vectorised_transforms_are_the_per_tile_definitions() {
    // short runs; runs of several chunks of lanes and a partial one; runs longer than `SEG`
    for (xs, block) in [
        ([3, 16, 7, 9], 7),
        ([3, 16, 5, 41], 40),
        ([3, 16, 3, 70], 100),
    ] {
        check_transforms::<lanes::Portable>(xs, block);
        // CI's x86-64 machines have AVX2: there the AVX instance must be checked too.
        #[cfg(target_arch = "x86_64")]
        {
            assert!(
                std::arch::is_x86_feature_detected!("avx2"),
                "no AVX2 to check"
            );
            check_transforms::<lanes::Avx>(xs, block);
        }
    }
}

fn check_transforms<W: lanes::Lanes>(xs: [usize; 4], block: usize) {
    let cout = 16;
    let g = Geom::new(&xs, &[cout, 16, 3, 3], 1, 1, 1).unwrap();
    let pl = Plan {
        block,
        ..Plan::new(&g, Some(3))
    };
    let (c, plane, gplane) = (g.cin, pl.hp * pl.wp, 4 * pl.tiles_per_image());
    let x = randn("vx", &xs);
    let dy = randn("vdy", &[3, cout, g.oh, g.ow]);
    let mut xp = vec![0f32; 3 * c * plane];
    let mut dyp = vec![0f32; 3 * cout * gplane];
    pad_planes(&x, (c, g.h, g.w), g.pad, &pl, &mut xp);
    pad_grad(&g, &pl, &dy, &mut dyp);
    let mut y = vec![0f32; 3 * g.out_img()];
    let (mut dxp, mut dxp_ref) = (vec![0f32; 3 * c * plane], vec![0f32; 3 * c * plane]);
    let mut y_ref = y.clone();
    let blocks: Vec<_> = pl.blocks(3).collect();
    assert!(blocks.len() > 1, "{blocks:?}");
    for (start, end) in blocks {
        let nb = end - start;
        let (mut v, mut dm) = (
            vec![0f32; 16 * xi_stride(c, nb)],
            vec![0f32; 16 * xi_stride(cout, nb)],
        );
        transforms::input_on::<W>(&xp, c, &pl, (start, end), &mut v);
        transforms::grad_on::<W>(&dyp, cout, &pl, (start, end), &mut dm);
        transforms::output_on::<W>(&g, &pl, &v, (start, end), &mut y);
        transforms::scatter_on::<W>(c, &pl, &v, (start, end), &mut dxp);
        for j in start..end {
            let (i, r0, c0) = pl.tile(j);
            let at = |xi: usize, ch: usize, n: usize| xi * xi_stride(n, nb) + ch * nb + j - start;
            for ch in 0..c {
                let p = &xp[(i * c + ch) * plane..];
                let d: [f32; 16] = std::array::from_fn(|q| p[(r0 + q / 4) * pl.wp + c0 + q % 4]);
                let want = input_tile(&d);
                let got: [f32; 16] = std::array::from_fn(|xi| v[at(xi, ch, c)]);
                assert_eq!(got, want, "input tile {j} channel {ch}");
                // output: v read as products of `cout = c` channels
                let yo = &mut y_ref[(i * c + ch) * g.ohw()..];
                for (q, val) in output_tile(&want).into_iter().enumerate() {
                    let (oy, ox) = (r0 + q / 2, c0 + q % 2);
                    if oy < g.oh && ox < g.ow {
                        yo[oy * g.ow + ox] = val;
                    }
                }
                let dd = input_tile_t(&want);
                let px = &mut dxp_ref[(i * c + ch) * plane..];
                for (q, val) in dd.into_iter().enumerate() {
                    px[(r0 + q / 4) * pl.wp + c0 + q % 4] += val;
                }
            }
            for o in 0..cout {
                let p = &dyp[(i * cout + o) * gplane..];
                let w2 = 2 * pl.tw;
                let t = [0, 1, w2, w2 + 1].map(|q| p[r0 * w2 + c0 + q]);
                let got: [f32; 16] = std::array::from_fn(|xi| dm[at(xi, o, cout)]);
                assert_eq!(got, output_tile_t(&t), "gradient tile {j} channel {o}");
            }
        }
    }
    assert_eq!(y, y_ref);
    assert_eq!(dxp, dxp_ref);
}
