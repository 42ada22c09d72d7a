//! The legend strip beside every line figure: the series key as title, one entry per line in
//! the line's colour, dash and marker ([`style::marker`]), the reference line, and what the
//! points, lines and bands are.

use super::{DrawResult, Plot};
use crate::report::style;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

/// The legend strip: title (the series key), one entry per line (with its fitted exponent on
/// the learning curve), the reference line, and what the bands are.
pub(super) fn draw_legend<DB: DrawingBackend>(
    legend: &DrawingArea<DB, plotters::coord::Shift>,
    plot: &Plot,
) -> DrawResult<DB> {
    let font = (style::FONT, style::LABEL_PX).into_font();
    let small = (style::FONT, style::TICK_PX).into_font();
    let mut y = 40;
    if let Some(t) = &plot.legend_title {
        legend.draw(&Text::new(t.clone(), (8, y), font.clone()))?;
        y += 32;
    } else {
        y += 4;
    }
    for (i, l) in plot.lines.iter().enumerate() {
        let c = style::PALETTE[i % style::PALETTE.len()];
        if i / style::PALETTE.len() % 2 == 1 {
            legend.draw(&DashedPathElement::new(
                vec![(8, y), (38, y)],
                10,
                5,
                c.stroke_width(3),
            ))?;
        } else {
            legend.draw(&PathElement::new(vec![(8, y), (38, y)], c.stroke_width(3)))?;
        }
        legend.draw(&style::marker(i, (23, y), c))?;
        let name = match &plot.fits[i] {
            Some((_, bs)) => format!("{}: b = {:.2}", l.name, bs.fit.b),
            None => l.name.clone(),
        };
        legend.draw(&Text::new(name, (46, y - 9), font.clone()))?;
        y += 28;
    }
    if let Some(r) = &plot.reference {
        legend.draw(&DashedPathElement::new(
            vec![(8, y), (38, y)],
            8,
            6,
            style::REFERENCE.stroke_width(2),
        ))?;
        legend.draw(&Text::new(r.label.clone(), (46, y - 9), font.clone()))?;
        y += 28;
    }
    y += 8;
    let notes: &[&str] = if plot.fits.iter().any(Option::is_some) {
        &[
            "points: mean, whiskers: 95% CI",
            "lines: fit a·n^-b + c",
            "bands: 95% bootstrap of the fit",
        ]
    } else {
        &["lines: mean over seeds", "bands: 95% CI"]
    };
    for note in notes {
        legend.draw(&Text::new(note.to_string(), (8, y), small.clone()))?;
        y += 20;
    }
    Ok(())
}
