//! Box coding as torchvision's `BoxCoder` (`torchvision/models/detection/_utils.py`): a box is
//! coded relative to a reference box (an anchor or a proposal) as the deltas
//! `(wx (cx - rcx) / rw, wy (cy - rcy) / rh, ww ln(w / rw), wh ln(h / rh))`, with weights
//! `(1, 1, 1, 1)` for the RPN and `(10, 10, 5, 5)` for the box head. Decoding clamps the size
//! deltas at `ln(1000 / 16)` so `exp` cannot overflow. No `+ 1` pixel offsets (torchvision's
//! current convention; boxes are continuous).
//!
//! Host-side only: regression targets are encoded here and compared with the network's raw
//! deltas, and inference decodes on the host.

use crate::geom::Rect;

/// torchvision's `bbox_xform_clip`, `ln(1000 / 16)`.
pub const BBOX_XFORM_CLIP: f32 = 4.135_166_6;

/// Encodes boxes as deltas from reference boxes and back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxCoder {
    /// `(wx, wy, ww, wh)`.
    pub weights: [f32; 4],
    /// Upper clamp of the decoded `dw`, `dh` (after dividing by the weights).
    pub clip: f32,
}

impl BoxCoder {
    /// The RPN's coder, weights `(1, 1, 1, 1)`.
    pub const RPN: BoxCoder = BoxCoder {
        weights: [1.0, 1.0, 1.0, 1.0],
        clip: BBOX_XFORM_CLIP,
    };
    /// The box head's coder, weights `(10, 10, 5, 5)`.
    pub const ROI: BoxCoder = BoxCoder {
        weights: [10.0, 10.0, 5.0, 5.0],
        clip: BBOX_XFORM_CLIP,
    };

    /// Deltas that take `reference` to `target` (the reference must have positive size).
    pub fn encode(&self, reference: &Rect, target: &Rect) -> [f32; 4] {
        let [wx, wy, ww, wh] = self.weights;
        let (rw, rh) = (reference.x1 - reference.x0, reference.y1 - reference.y0);
        let (rcx, rcy) = (reference.x0 + 0.5 * rw, reference.y0 + 0.5 * rh);
        let (tw, th) = (target.x1 - target.x0, target.y1 - target.y0);
        let (tcx, tcy) = (target.x0 + 0.5 * tw, target.y0 + 0.5 * th);
        [
            wx * (tcx - rcx) / rw,
            wy * (tcy - rcy) / rh,
            ww * (tw / rw).ln(),
            wh * (th / rh).ln(),
        ]
    }

    /// The box that `deltas` code relative to `reference`.
    pub fn decode(&self, deltas: [f32; 4], reference: &Rect) -> Rect {
        let [wx, wy, ww, wh] = self.weights;
        let (rw, rh) = (reference.x1 - reference.x0, reference.y1 - reference.y0);
        let (rcx, rcy) = (reference.x0 + 0.5 * rw, reference.y0 + 0.5 * rh);
        let dx = deltas[0] / wx;
        let dy = deltas[1] / wy;
        let dw = (deltas[2] / ww).min(self.clip);
        let dh = (deltas[3] / wh).min(self.clip);
        let (cx, cy) = (dx * rw + rcx, dy * rh + rcy);
        let (w, h) = (dw.exp() * rw, dh.exp() * rh);
        Rect::new(cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;
    use rand::Rng;

    #[test]
    fn clip_is_ln_1000_over_16() {
        assert!((BBOX_XFORM_CLIP - (1000f32 / 16.0).ln()).abs() < 1e-6);
    }

    #[test]
    fn hand_computed_deltas() {
        // reference centre (2, 2) size 4x4; target centre (3, 1) size 8x2.
        let r = Rect::new(0.0, 0.0, 4.0, 4.0);
        let t = Rect::new(-1.0, 0.0, 7.0, 2.0);
        let d = BoxCoder::RPN.encode(&r, &t);
        let want = [0.25, -0.25, 2f32.ln(), 0.5f32.ln()];
        for k in 0..4 {
            assert!((d[k] - want[k]).abs() < 1e-6, "{d:?}");
        }
        let d = BoxCoder::ROI.encode(&r, &t);
        let want = [2.5, -2.5, 5.0 * 2f32.ln(), 5.0 * 0.5f32.ln()];
        for k in 0..4 {
            assert!((d[k] - want[k]).abs() < 1e-5, "{d:?}");
        }
        // decoding clamps the size deltas
        let huge = BoxCoder::RPN.decode([0.0, 0.0, 100.0, 0.0], &r);
        assert!((huge.width() - 4.0 * 62.5).abs() < 1e-2, "{huge:?}");
        assert!((huge.height() - 4.0).abs() < 1e-6);
    }

    #[test]
    fn encode_decode_round_trip_for_both_weight_sets() {
        let mut r = stream(0, "test/detector/boxes");
        let rect = |r: &mut rand_chacha::ChaCha8Rng| {
            let (x, y) = (r.random_range(-10.0..70.0), r.random_range(-10.0..70.0));
            let (w, h) = (r.random_range(0.5..30.0), r.random_range(0.5..30.0));
            Rect::new(x, y, x + w, y + h)
        };
        for coder in [BoxCoder::RPN, BoxCoder::ROI] {
            for _ in 0..200 {
                let (a, b) = (rect(&mut r), rect(&mut r));
                let back = coder.decode(coder.encode(&a, &b), &a);
                for (u, v) in [
                    (back.x0, b.x0),
                    (back.y0, b.y0),
                    (back.x1, b.x1),
                    (back.y1, b.y1),
                ] {
                    assert!(
                        (u - v).abs() < 1e-3 * (1.0 + v.abs()),
                        "{a:?} {b:?} {back:?}"
                    );
                }
            }
        }
    }
}
