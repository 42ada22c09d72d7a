//! `reproduce --check`'s comparison of two results folders' Markdown tables (the committed ones
//! and a fresh rebuild). The tables print means and intervals to 4 digits, so equal text is
//! equality to printed precision. A differing cell is reported with its row and column, both
//! values, and the shift of the mean in units of the committed interval's half-width, so a user
//! on an unusual machine can tell float noise (a small fraction of the interval) from a real
//! regression (of the order of the interval or more).

use super::out_dir;
use crate::spec::{DeviceKind, Profile};
use crate::store::Store;

/// Compare the Markdown tables of every experiment between `committed` and `rebuilt`. Returns
/// one line per difference (empty = identical).
pub fn compare_tables(
    names: &[String],
    profile: Profile,
    device: DeviceKind,
    committed: &Store,
    rebuilt: &Store,
) -> Vec<String> {
    let mut diffs = Vec::new();
    for name in names {
        let rel = |s: &Store| {
            out_dir(s, name, profile, device)
                .join("tables")
                .join(format!("{name}.md"))
        };
        let (a, b) = (rel(committed), rel(rebuilt));
        let (Ok(old), Ok(new)) = (std::fs::read_to_string(&a), std::fs::read_to_string(&b)) else {
            diffs.push(format!(
                "{}: missing committed or rebuilt table",
                a.display()
            ));
            continue;
        };
        let shown = a.display().to_string();
        diffs.extend(compare_text(&shown, &old, &new));
    }
    diffs
}

/// The differences between two versions of one table's text, `file` naming it.
fn compare_text(file: &str, old: &str, new: &str) -> Vec<String> {
    let (old, new): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let mut diffs = Vec::new();
    if old.len() != new.len() {
        diffs.push(format!(
            "{file}: {} lines committed, {} rebuilt",
            old.len(),
            new.len()
        ));
    }
    let header = old.first().map(|h| cells(h)).unwrap_or_default();
    for (i, (o, n)) in old.iter().zip(&new).enumerate() {
        if o == n {
            continue;
        }
        let (oc, nc) = (cells(o), cells(n));
        if !o.starts_with('|') || oc.len() != nc.len() {
            diffs.push(format!("{file}:{}: committed `{o}`, rebuilt `{n}`", i + 1));
            continue;
        }
        let row = oc.first().copied().unwrap_or("");
        for (k, (a, b)) in oc.iter().zip(&nc).enumerate().filter(|(_, (a, b))| a != b) {
            let column = header.get(k).copied().unwrap_or("?");
            diffs.push(format!(
                "{file}:{}: row `{row}`, column `{column}`: committed `{a}`, rebuilt `{b}`{}",
                i + 1,
                shift(a, b).unwrap_or_default()
            ));
        }
    }
    diffs
}

/// The cells of a Markdown table row, trimmed.
fn cells(line: &str) -> Vec<&str> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(str::trim).collect()
}

/// `mean ± half` (and an optional ` (p=...)`) of a cell.
fn interval(cell: &str) -> Option<(f64, f64)> {
    let (mean, rest) = cell.split_once('±')?;
    let half = rest.split_whitespace().next()?;
    Some((mean.trim().parse().ok()?, half.parse().ok()?))
}

/// `; mean shifted by d = r of the committed half-width` for two interval cells.
fn shift(committed: &str, rebuilt: &str) -> Option<String> {
    let ((m0, h0), (m1, _)) = (interval(committed)?, interval(rebuilt)?);
    let d = (m1 - m0).abs();
    Some(if h0 > 0.0 {
        format!(
            "; mean shifted by {d:.4} = {:.2} of the committed half-width",
            d / h0
        )
    } else {
        format!("; mean shifted by {d:.4} (committed half-width 0)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "| model.backbone | accuracy | Δaccuracy vs model.backbone=cnn-small | n |\n\
                       |---|---|---|---|\n\
                       | cnn-small | 0.9385 ± 0.0340 | ref | 2 |\n\
                       | resnet | 0.9640 ± 0.0127 | +0.0111 ± 0.0392 (p=0.17) | 2 |\n";

    #[test]
    fn identical_tables_have_no_differences() {
        assert!(compare_text("t.md", OLD, OLD).is_empty());
    }

    #[test]
    fn a_differing_cell_names_row_column_and_its_shift_in_half_widths() {
        let new = OLD.replace("0.9640 ± 0.0127", "0.9650 ± 0.0254");
        let d = compare_text("t.md", OLD, &new);
        assert_eq!(
            d,
            vec![
                "t.md:4: row `resnet`, column `accuracy`: committed `0.9640 ± 0.0127`, rebuilt \
                 `0.9650 ± 0.0254`; mean shifted by 0.0010 = 0.08 of the committed half-width"
                    .to_string()
            ]
        );
        // the paired-difference column counts too, p-value and all
        let new = OLD.replace("+0.0111 ± 0.0392 (p=0.17)", "+0.0511 ± 0.0392 (p=0.01)");
        let d = compare_text("t.md", OLD, &new);
        assert_eq!(d.len(), 1);
        assert!(
            d[0].contains("column `Δaccuracy vs model.backbone=cnn-small`"),
            "{d:?}"
        );
        assert!(d[0].contains("= 1.02 of the committed half-width"), "{d:?}");
    }

    #[test]
    fn other_lines_and_lengths_are_reported_as_text() {
        let new = format!("{OLD}extra note\n");
        let d = compare_text("t.md", OLD, &new);
        assert_eq!(d, vec!["t.md: 4 lines committed, 5 rebuilt".to_string()]);
        let new = OLD.replace("| 2 |\n", "| 3 |\n");
        let d = compare_text("t.md", OLD, &new);
        assert_eq!(d.len(), 2);
        assert!(
            d[0].ends_with("column `n`: committed `2`, rebuilt `3`"),
            "{d:?}"
        );
    }
}
