//! Anchors as torchvision's `AnchorGenerator` (one feature map): for every feature-map cell, in
//! row-major order (`y` outer, `x` inner), for every aspect ratio, for every size, one anchor
//! centred on the cell's top-left corner `(x * stride_w, y * stride_h)` in image pixels. So anchor
//! `a = r * sizes.len() + s` of cell `(y, x)` has index `(y * w + x) * A + a` with
//! `A = ratios.len() * sizes.len()`, the order the RPN head's channels are flattened in
//! ([`super::rpn::RpnHead::forward`]).
//!
//! A ratio is `height / width`: an anchor of size `s` and ratio `r` is `s / sqrt(r)` wide and
//! `s sqrt(r)` high, and its half-extents are rounded to integers (half to even, as torch's
//! `round`), exactly as torchvision does.

use crate::geom::Rect;

/// The anchors of one cell centred on the origin, ratio-major, size-minor.
pub fn base_anchors(sizes: &[f32], ratios: &[f32]) -> Vec<Rect> {
    let mut out = Vec::with_capacity(sizes.len() * ratios.len());
    for &r in ratios {
        let h_ratio = r.sqrt();
        let w_ratio = 1.0 / h_ratio;
        for &s in sizes {
            let (w, h) = (w_ratio * s, h_ratio * s);
            let hw = (w / 2.0).round_ties_even();
            let hh = (h / 2.0).round_ties_even();
            out.push(Rect::new(-hw, -hh, hw, hh));
        }
    }
    out
}

/// Every anchor of a `grid_h x grid_w` map whose cells are `stride_h x stride_w` image pixels,
/// cell-major (row-major cells, then the base anchors in order).
pub fn grid_anchors(
    base: &[Rect],
    (grid_h, grid_w): (usize, usize),
    (stride_h, stride_w): (usize, usize),
) -> Vec<Rect> {
    let mut out = Vec::with_capacity(grid_h * grid_w * base.len());
    for y in 0..grid_h {
        let sy = (y * stride_h) as f32;
        for x in 0..grid_w {
            let sx = (x * stride_w) as f32;
            out.extend(
                base.iter()
                    .map(|b| Rect::new(b.x0 + sx, b.y0 + sy, b.x1 + sx, b.y1 + sy)),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_anchors_by_hand() {
        let b = base_anchors(&[4.0, 8.0], &[0.5, 1.0, 2.0]);
        assert_eq!(b.len(), 6);
        // ratio 0.5, size 4: w = 4 sqrt 2 = 5.66 -> half 2.83 -> 3; h = 2.83 -> half 1.41 -> 1
        assert_eq!(b[0], Rect::new(-3.0, -1.0, 3.0, 1.0));
        // ratio 0.5, size 8: half-extents 5.66 -> 6, 2.83 -> 3
        assert_eq!(b[1], Rect::new(-6.0, -3.0, 6.0, 3.0));
        assert_eq!(b[2], Rect::new(-2.0, -2.0, 2.0, 2.0));
        assert_eq!(b[3], Rect::new(-4.0, -4.0, 4.0, 4.0));
        assert_eq!(b[4], Rect::new(-1.0, -3.0, 1.0, 3.0));
        // half to even: size 5, ratio 1 -> half 2.5 -> 2
        assert_eq!(
            base_anchors(&[5.0], &[1.0])[0],
            Rect::new(-2.0, -2.0, 2.0, 2.0)
        );
    }

    #[test]
    fn grid_count_and_one_cell() {
        let base = base_anchors(&[4.0, 8.0, 16.0], &[0.5, 1.0, 2.0]);
        let a = grid_anchors(&base, (3, 5), (4, 4));
        assert_eq!(a.len(), 3 * 5 * 9);
        // cell (y = 2, x = 1): centre (4, 8); its anchors start at (2 * 5 + 1) * 9
        let cell = &a[(2 * 5 + 1) * 9..(2 * 5 + 2) * 9];
        assert_eq!(cell[0], Rect::new(1.0, 7.0, 7.0, 9.0)); // ratio 0.5, size 4
        assert_eq!(cell[4], Rect::new(0.0, 4.0, 8.0, 12.0)); // ratio 1, size 8
        assert_eq!(cell[8], Rect::new(-2.0, -3.0, 10.0, 19.0)); // ratio 2, size 16: 11.3 x 22.6
        for r in cell {
            assert_eq!(r.centre(), crate::geom::Point::new(4.0, 8.0));
        }
    }
}
