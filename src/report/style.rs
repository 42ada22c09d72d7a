//! The one figure style: font, palette (Okabe-Ito, colour-blind safe), sizes, labels.

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
        "equivariance_spread" => "equivariance spread (std over 8 views)".into(),
        "clicks_per_galaxy" => "clicks per galaxy".into(),
        "train_loss" => "final training loss (nats)".into(),
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
