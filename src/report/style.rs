//! The one figure style: font, palette (Okabe-Ito, colour-blind safe), series markers, sizes, labels, tick and
//! caption number formats, and each metric's range (what bands are clipped to). Drawing only:
//! nothing here reads the store.

use plotters::prelude::{
    Circle, Color, Cross, DrawingBackend, DynElement, IntoDynElement, TriangleMarker,
};
use plotters::style::{FontStyle, RGBColor, register_font};
use std::sync::Once;

pub const FONT: &str = "sans-serif";
pub const SIZE: (u32, u32) = (960, 520);
/// Width of the legend strip right of the plot, so the legend never covers data.
pub const LEGEND_WIDTH: u32 = 250;
pub const TITLE_PX: u32 = 22;
pub const LABEL_PX: u32 = 18;
pub const TICK_PX: u32 = 15;

pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(0, 0, 0),
];

/// Colour of the dashed reference lines (chance, majority class, mean baseline).
pub const REFERENCE: RGBColor = RGBColor(110, 110, 110);

/// Register the bundled DejaVu Sans once per process (no system fonts needed).
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("fonts/DejaVuSans.ttf");
        register_font(FONT, FontStyle::Normal, bytes)
            .unwrap_or_else(|_| panic!("bundled font is valid"));
    });
}

/// Human label of a sweep key or metric (`data.train_size` -> `training-set size (galaxies)`).
pub fn label(key: &str) -> String {
    match key {
        "data.train_size" => "training-set size (images)".into(),
        "accuracy" => "accuracy".into(),
        "roc_auc" => "ROC AUC".into(),
        "f1" => "F1".into(),
        "log_loss" => "log loss (nats)".into(),
        "brier" => "Brier score".into(),
        "ece" => "expected calibration error".into(),
        "crowd.votes_per_galaxy" => "votes per galaxy".into(),
        "rmse" => "RMSE over the 37 GZ2 answers".into(),
        "pr_auc" => "PR AUC".into(),
        "fid" => "Frechet distance to real positives (pretrained features)".into(),
        "condition_accuracy" => "condition accuracy (real-trained classifier)".into(),
        "equivariance_spread" => "equivariance spread (over 8 views / over galaxies)".into(),
        "rmse_mean_baseline" => "RMSE of the mean baseline".into(),
        "majority_accuracy" => "majority-class accuracy".into(),
        "clicks_per_galaxy" => "clicks per galaxy".into(),
        "train_loss" => "final training loss (nats)".into(),
        "savings_factor" => "savings factor at matched accuracy (K* / clicks)".into(),
        "savings_vs_40" => "savings against 40 votes (40 / clicks)".into(),
        "k_matched" => "K*: fixed votes as accurate as SWAP".into(),
        "accuracy_gap_vs_40" => "accuracy minus that of 40 votes".into(),
        "swap_beats_mv_at_40" => "share of seeds more accurate than 40 votes".into(),
        "retired_share" => "share retired before the cap".into(),
        "retired_accuracy" => "accuracy of the retired galaxies".into(),
        "retired_confidence" => "mean confidence of the retired galaxies".into(),
        "expert_agreement" => "agreement with the expert panel".into(),
        "expert_accuracy" => "expert panel accuracy".into(),
        k => k.rsplit('.').next().unwrap_or(k).replace('_', " "),
    }
}

/// Tick label of an axis value: integers without a decimal point, others with 3 significant
/// digits.
pub fn tick(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{:.3}", v).trim_end_matches('0').to_string()
    }
}

/// The range a metric's values (and so its confidence bands) can take: `[0, 1]` for scores,
/// rates and the normalised equivariance spread, `[0, inf)` for errors, losses and savings
/// factors, unbounded for anything else.
pub fn bounds(metric: &str) -> (f64, f64) {
    match metric {
        "accuracy"
        | "roc_auc"
        | "pr_auc"
        | "f1"
        | "completeness"
        | "purity"
        | "condition_accuracy"
        | "condition_accuracy_real"
        | "brier"
        | "ece"
        | "majority_accuracy"
        | "prevalence"
        | "equivariance_spread"
        | "retired_share"
        | "retired_accuracy"
        | "retired_confidence"
        | "swap_beats_mv_at_40"
        | "expert_agreement"
        | "expert_accuracy" => (0.0, 1.0),
        "rmse" | "rmse_mean_baseline" | "log_loss" | "savings_factor" | "savings_vs_40" | "fid"
        | "fid_real" => (0.0, f64::INFINITY),
        _ => (f64::NEG_INFINITY, f64::INFINITY),
    }
}

/// A number for a caption: integers as written, other numbers to 3 significant digits without
/// trailing zeros (`0.08334512` -> `0.0833`, `12.3456` -> `12.3`), anything else unchanged.
pub fn caption_value(s: &str) -> String {
    let t = s.trim();
    let integer = t.strip_prefix('-').unwrap_or(t);
    if !integer.is_empty() && integer.bytes().all(|b| b.is_ascii_digit()) {
        return t.to_string();
    }
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() => sig3(v),
        _ => s.to_string(),
    }
}

/// `v` to 3 significant digits, plainly written (no exponent between 1e-4 and 1e6).
fn sig3(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let mag = v.abs().log10().floor() as i32;
    if !(-4..6).contains(&mag) {
        return format!("{v:.2e}");
    }
    let decimals = (2 - mag).max(0) as usize;
    let out = format!("{v:.decimals$}");
    if out.contains('.') {
        out.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        out
    }
}

/// The point marker of series `i`: the palette repeats every 7 series, so each repeat gets its
/// own shape (circle, triangle, cross, then again) and, every other repeat, a dashed line.
pub fn marker<DB: DrawingBackend, C: Clone + 'static>(
    i: usize,
    at: C,
    c: RGBColor,
) -> DynElement<'static, DB, C> {
    match i / PALETTE.len() % 3 {
        0 => Circle::new(at.clone(), 4, c.filled()).into_dyn(),
        1 => TriangleMarker::new(at.clone(), 6, c.filled()).into_dyn(),
        _ => Cross::new(at, 5, c.stroke_width(2)).into_dyn(),
    }
}

/// The title's font size: the style's, shrunk so a long title fits the plot area (`w` pixels
/// wide, less the legend strip) instead of being cut at both ends.
pub fn title_px(title: &str, w: u32) -> u32 {
    let fits = (w.saturating_sub(LEGEND_WIDTH) as f64 / (0.55 * title.len().max(1) as f64)) as u32;
    fits.clamp(12, TITLE_PX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caption_values_are_short() {
        assert_eq!(caption_value("0.08334512345678901"), "0.0833");
        assert_eq!(caption_value("12.3456"), "12.3");
        assert_eq!(caption_value("1234.7"), "1235");
        assert_eq!(caption_value("0.5"), "0.5");
        assert_eq!(caption_value("1.0"), "1");
        assert_eq!(caption_value("587722982278234213"), "587722982278234213");
        assert_eq!(caption_value("-3"), "-3");
        assert_eq!(caption_value("ring"), "ring");
        assert_eq!(caption_value("true"), "true");
        assert_eq!(caption_value("0.0000123"), "1.23e-5");
    }

    #[test]
    fn ticks_and_bounds() {
        assert_eq!(tick(&300.0), "300");
        assert_eq!(tick(&0.25), "0.25");
        assert_eq!(bounds("roc_auc"), (0.0, 1.0));
        assert_eq!(bounds("rmse").0, 0.0);
        assert!(bounds("rmse").1.is_infinite());
        assert!(bounds("train_loss").0.is_infinite());
    }
}
