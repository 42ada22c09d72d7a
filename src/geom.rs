//! Plane geometry shared by clump truth (`universe`), volunteer marks (`crowd`), the detector
//! (`model::detector`) and detection metrics (`eval::detection`): axis-aligned boxes in pixel
//! coordinates (x to the right, y down, corners `x0 <= x1`, `y0 <= y1`, continuous: a pixel `i`
//! covers `[i, i + 1)`), their intersection over union, and points.
//!
//! A leaf module: it uses nothing else of the crate.
//!
//! ```
//! use gzbench::geom::Rect;
//! let a = Rect::new(0.0, 0.0, 2.0, 2.0);
//! let b = Rect::new(1.0, 0.0, 3.0, 2.0);
//! assert_eq!(a.iou(&b), 2.0 / 6.0);
//! ```

use serde::{Deserialize, Serialize};

/// An axis-aligned box `[x0, x1) x [y0, y1)` in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rect {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

/// A point in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

impl Point {
    pub fn new(x: f32, y: f32) -> Point {
        Point { x, y }
    }

    /// Euclidean distance to `o`.
    pub fn distance(&self, o: &Point) -> f32 {
        ((self.x - o.x).powi(2) + (self.y - o.y).powi(2)).sqrt()
    }
}

impl Rect {
    pub fn new(x0: f32, y0: f32, x1: f32, y1: f32) -> Rect {
        Rect { x0, y0, x1, y1 }
    }

    /// The box of side `w x h` centred on `c`.
    pub fn around(c: Point, w: f32, h: f32) -> Rect {
        Rect::new(c.x - w / 2.0, c.y - h / 2.0, c.x + w / 2.0, c.y + h / 2.0)
    }

    pub fn width(&self) -> f32 {
        (self.x1 - self.x0).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y1 - self.y0).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    pub fn centre(&self) -> Point {
        Point::new((self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0)
    }

    /// Area of the intersection with `o` (0 when they do not overlap).
    pub fn intersection(&self, o: &Rect) -> f32 {
        let w = self.x1.min(o.x1) - self.x0.max(o.x0);
        let h = self.y1.min(o.y1) - self.y0.max(o.y0);
        w.max(0.0) * h.max(0.0)
    }

    /// Intersection over union; 0 when both are empty.
    pub fn iou(&self, o: &Rect) -> f32 {
        let inter = self.intersection(o);
        let union = self.area() + o.area() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }

    /// The box clipped to `[0, w] x [0, h]`.
    pub fn clip(&self, w: f32, h: f32) -> Rect {
        Rect::new(
            self.x0.clamp(0.0, w),
            self.y0.clamp(0.0, h),
            self.x1.clamp(0.0, w),
            self.y1.clamp(0.0, h),
        )
    }

    /// The box scaled by `s` about the origin (a cutout resized by factor `s`).
    pub fn scaled(&self, s: f32) -> Rect {
        Rect::new(self.x0 * s, self.y0 * s, self.x1 * s, self.y1 * s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_hand_computed_boxes() {
        let a = Rect::new(0.0, 0.0, 4.0, 4.0);
        // overlap 2x2 = 4, union 16 + 16 - 4 = 28
        assert!((a.iou(&Rect::new(2.0, 2.0, 6.0, 6.0)) - 4.0 / 28.0).abs() < 1e-7);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&Rect::new(5.0, 5.0, 6.0, 6.0)), 0.0);
        assert_eq!(
            Rect::new(1.0, 1.0, 1.0, 1.0).iou(&Rect::new(1.0, 1.0, 1.0, 1.0)),
            0.0
        );
    }

    #[test]
    fn around_clip_and_centre() {
        let r = Rect::around(Point::new(1.0, 2.0), 4.0, 2.0);
        assert_eq!(r, Rect::new(-1.0, 1.0, 3.0, 3.0));
        assert_eq!(r.centre(), Point::new(1.0, 2.0));
        assert_eq!(r.clip(2.0, 2.5), Rect::new(0.0, 1.0, 2.0, 2.5));
        assert_eq!(Point::new(0.0, 0.0).distance(&Point::new(3.0, 4.0)), 5.0);
    }
}
