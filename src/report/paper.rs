//! The paper: `paper/gzbench.md` with its generated tables spliced in, rendered to
//! `paper/gzbench.html` (figures are referenced by relative path, so the HTML shows them in place),
//! and to PDF when `pandoc` with a LaTeX engine is installed (skipped with a message otherwise).
//!
//! A line `<!-- table: ../results/<name>/tables/<name>.md -->` is replaced by that file's table
//! (without its trailing notes), so the paper always shows the tables the last report wrote.
//!
//! A line `<!-- finding: <experiment> <metric> key=value key=value ... -->` is replaced by one
//! sentence stating that metric for the row of `../results/<experiment>/tables/<experiment>.csv`
//! whose sweep columns match every `key=value`, and its paired difference against the
//! experiment's reference arm ([`finding`]): "At data.train_size=100, pretrain.source=astro
//! reaches accuracy 0.712 ± 0.020, +0.051 ± 0.030 over pretrain.source=none (p=0.004)." An
//! unknown experiment, metric or row is an error naming the paper line.

use super::ReportError;
use super::tables::p_str;
use crate::store::write_atomic;
use std::path::{Path, PathBuf};

const MARKER: &str = "<!-- table:";
const FINDING: &str = "<!-- finding:";

/// What the paper build wrote, and why a PDF was not made (if it was not).
pub struct Built {
    pub files: Vec<PathBuf>,
    pub pdf_skipped: Option<String>,
}

/// Splice the tables into the Markdown source at `src` (paths relative to its folder).
pub fn splice(src: &Path) -> Result<String, ReportError> {
    let err = |p: &Path, msg: String| ReportError::Write {
        path: p.display().to_string(),
        msg,
    };
    let text = std::fs::read_to_string(src).map_err(|e| err(src, e.to_string()))?;
    let dir = src.parent().unwrap_or(Path::new("."));
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(rest) = line.trim().strip_prefix(FINDING) {
            let spec = rest.trim_end_matches("-->").trim();
            let sentence = finding(dir, spec)
                .map_err(|e| err(src, format!("line {}: finding `{spec}`: {e}", i + 1)))?;
            out.push_str(&sentence);
            out.push('\n');
            continue;
        }
        match line.trim().strip_prefix(MARKER) {
            Some(rest) => {
                let rel = rest.trim_end_matches("-->").trim();
                let path = dir.join(rel);
                let table = std::fs::read_to_string(&path).map_err(|e| {
                    err(
                        src,
                        format!(
                            "line {}: table {}: {e}; run `gzbench reproduce` first",
                            i + 1,
                            path.display()
                        ),
                    )
                })?;
                for l in table
                    .lines()
                    .skip_while(|l| !l.starts_with('|'))
                    .take_while(|l| l.starts_with('|'))
                {
                    out.push_str(l);
                    out.push('\n');
                }
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// The sentence of a finding marker `spec` = `<experiment> <metric> key=value ...`, from the CSV
/// table `dir/../results/<experiment>/tables/<experiment>.csv`. The keys that belong to the
/// reference arm (the table's `reference` column) name the arm; the others set the scene.
/// The difference is "detected" when its 95% interval excludes zero.
pub fn finding(dir: &Path, spec: &str) -> Result<String, String> {
    let mut words = spec.split_whitespace();
    let (Some(name), Some(metric)) = (words.next(), words.next()) else {
        return Err("expected `<!-- finding: <experiment> <metric> key=value ... -->`".to_string());
    };
    let mut want: Vec<(&str, &str)> = Vec::new();
    for w in words {
        let kv = w.split_once('=').ok_or(format!(
            "`{w}` is not key=value; expected e.g. data.train_size=100"
        ))?;
        want.push(kv);
    }
    let path = dir
        .join("../results")
        .join(name)
        .join("tables")
        .join(format!("{name}.csv"));
    let mut reader = csv::Reader::from_path(&path).map_err(|e| {
        format!(
            "unknown experiment `{name}`: cannot read {}: {e}; run `gzbench reproduce` first",
            path.display()
        )
    })?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .iter()
        .map(String::from)
        .collect();
    let col = |c: &str| header.iter().position(|h| h == c);
    let mean_col = col(&format!("{metric}_mean")).ok_or_else(|| {
        let known = crate::spec::names(header.iter().filter_map(|h| h.strip_suffix("_mean")));
        format!("unknown metric `{metric}` in {name}; expected one of {known}")
    })?;
    for (k, _) in &want {
        if col(k).is_none() {
            return Err(format!("`{k}` is not a column of {name}'s table"));
        }
    }
    let same = |a: &str, b: &str| match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    };
    let mut found = Vec::new();
    for record in reader.records() {
        let r = record.map_err(|e| format!("{}: {e}", path.display()))?;
        if want
            .iter()
            .all(|(k, v)| col(k).is_some_and(|i| same(&r[i], v)))
        {
            found.push(r);
        }
    }
    let row = match found.len() {
        1 => found.remove(0),
        0 => return Err(format!("no row of {name}'s table has {}", spec_keys(&want))),
        n => {
            return Err(format!(
                "{n} rows of {name}'s table have {}; add keys to pick one",
                spec_keys(&want)
            ));
        }
    };
    let num = |c: &str| {
        col(c)
            .and_then(|i| row[i].parse::<f64>().ok())
            .filter(|v| v.is_finite())
    };
    let reference = col("reference").map(|i| row[i].to_string());
    let ref_keys: Vec<&str> = reference
        .iter()
        .flat_map(|r| r.split(", "))
        .filter_map(|kv| kv.split_once('=').map(|(k, _)| k))
        .collect();
    let (arm, scene): (Vec<_>, Vec<_>) = want.iter().partition(|(k, _)| ref_keys.contains(k));
    let mean: f64 = row[mean_col]
        .parse()
        .map_err(|_| format!("{metric} has no value in the row with {}", spec_keys(&want)))?;
    let value = match num(&format!("{metric}_ci95")) {
        Some(ci) => format!("{mean:.3} ± {ci:.3}"),
        None => format!("{mean:.3}"),
    };
    let mut s = String::new();
    if !scene.is_empty() {
        s += &format!("At {}, ", spec_keys(&scene));
    }
    if arm.is_empty() {
        s += &format!("{metric} is {value}");
    } else {
        s += &format!("{} reaches {metric} {value}", spec_keys(&arm));
    }
    let signed = |x: f64| format!("{x:+.3}").replace('-', "\u{2212}");
    let diff = (
        num(&format!("{metric}_diff")),
        num(&format!("{metric}_diff_ci95")),
        num(&format!("{metric}_p")),
    );
    let p = |p: f64| {
        let t = p_str(p);
        if t.starts_with('<') {
            format!("p{t}")
        } else {
            format!("p={t}")
        }
    };
    match (diff, reference) {
        ((Some(d), Some(ci), Some(pv)), Some(r)) if d.abs() > ci => {
            s += &format!(", {} ± {ci:.3} over {r} ({}).", signed(d), p(pv));
        }
        ((Some(d), Some(ci), Some(pv)), Some(r)) => {
            s += &format!(
                "; no difference from {r} is detected ({} ± {ci:.3}, {}).",
                signed(d),
                p(pv)
            );
        }
        ((Some(d), _, _), Some(r)) => {
            s += &format!(", {} over {r} (one seed, no interval).", signed(d));
        }
        _ => s.push('.'),
    }
    if let Some(first) = s.get(..1) {
        let upper = first.to_uppercase();
        s.replace_range(..1, &upper);
    }
    Ok(s)
}

fn spec_keys(kv: &[(&str, &str)]) -> String {
    kv.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Build `paper/gzbench.html` (and PDF if possible) from `paper/gzbench.md`.
pub fn build(paper_dir: &Path) -> Result<Built, ReportError> {
    let src = paper_dir.join("gzbench.md");
    let md = splice(&src)?;
    let mut opts = pulldown_cmark::Options::empty();
    opts.insert(pulldown_cmark::Options::ENABLE_TABLES);
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, pulldown_cmark::Parser::new_ext(&md, opts));
    let html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>gzbench</title>\n<style>\
         body{{max-width:60rem;margin:2rem auto;font-family:sans-serif;line-height:1.45}}\
         table{{border-collapse:collapse;font-size:.85rem}}td,th{{border:1px solid #ccc;padding:.2rem .45rem}}\
         img{{max-width:100%}}</style></head><body>\n{body}</body></html>\n"
    );
    let out = paper_dir.join("gzbench.html");
    write_atomic(&out, html.as_bytes())?;
    let mut built = Built {
        files: vec![out],
        pdf_skipped: None,
    };
    let has = |tool: &str| {
        std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if has("pandoc") && has("pdflatex") {
        let spliced = paper_dir.join(".gzbench.spliced.md");
        write_atomic(&spliced, md.as_bytes())?;
        let pdf = paper_dir.join("gzbench.pdf");
        let ok = std::process::Command::new("pandoc")
            .current_dir(paper_dir)
            .args([".gzbench.spliced.md", "-o", "gzbench.pdf"])
            .status()
            .is_ok_and(|s| s.success());
        let _ = std::fs::remove_file(&spliced);
        if ok {
            built.files.push(pdf);
        } else {
            built.pdf_skipped = Some("pandoc failed; see its output above".into());
        }
    } else {
        built.pdf_skipped = Some("PDF skipped: pandoc and pdflatex are not both installed".into());
    }
    Ok(built)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_markers_become_sentences() {
        let dir = tempfile::tempdir().unwrap();
        let paper = dir.path().join("paper");
        let tables = dir.path().join("results/transfer/tables");
        std::fs::create_dir_all(&paper).unwrap();
        std::fs::create_dir_all(&tables).unwrap();
        std::fs::write(
            tables.join("transfer.csv"),
            "pretrain.source,data.train_size,accuracy_mean,accuracy_std,accuracy_ci95,accuracy_diff,accuracy_diff_ci95,accuracy_p,n,reference\n\
             none,100.000000,0.661000,0.010000,0.015000,,,,3,pretrain.source=none\n\
             astro,100.000000,0.712000,0.010000,0.020000,0.051000,0.030000,0.004000,3,pretrain.source=none\n\
             astro,300.000000,0.800000,0.010000,0.020000,-0.010000,0.030000,0.510000,3,pretrain.source=none\n",
        )
        .unwrap();
        let f = |spec: &str| finding(&paper, spec);
        assert_eq!(
            f("transfer accuracy data.train_size=100 pretrain.source=astro").unwrap(),
            "At data.train_size=100, pretrain.source=astro reaches accuracy 0.712 ± 0.020, \
             +0.051 ± 0.030 over pretrain.source=none (p=0.004)."
        );
        assert_eq!(
            f("transfer accuracy data.train_size=300 pretrain.source=astro").unwrap(),
            "At data.train_size=300, pretrain.source=astro reaches accuracy 0.800 ± 0.020; \
             no difference from pretrain.source=none is detected (\u{2212}0.010 ± 0.030, p=0.51)."
        );
        assert_eq!(
            f("transfer accuracy data.train_size=100 pretrain.source=none").unwrap(),
            "At data.train_size=100, pretrain.source=none reaches accuracy 0.661 ± 0.015."
        );
        let e = f("transfer rmse data.train_size=100").unwrap_err();
        assert!(
            e.contains("unknown metric `rmse`") && e.contains("accuracy"),
            "{e}"
        );
        let e = f("transfer accuracy data.train_size=50").unwrap_err();
        assert!(e.contains("no row"), "{e}");
        let e = f("transfer accuracy data.train_size=100").unwrap_err();
        assert!(e.contains("2 rows"), "{e}");
        assert!(
            f("nothere accuracy")
                .unwrap_err()
                .contains("unknown experiment `nothere`")
        );
        // in the paper, the marker line becomes the sentence; a bad one names its line
        std::fs::write(
            paper.join("gzbench.md"),
            "Intro.\n\n<!-- finding: transfer accuracy pretrain.source=astro data.train_size=100 -->\n",
        )
        .unwrap();
        let md = splice(&paper.join("gzbench.md")).unwrap();
        assert!(
            md.contains("\nAt data.train_size=100, pretrain.source=astro reaches"),
            "{md}"
        );
        assert!(!md.contains("<!--"), "{md}");
        std::fs::write(
            paper.join("gzbench.md"),
            "x\n<!-- finding: transfer f1 -->\n",
        )
        .unwrap();
        let e = splice(&paper.join("gzbench.md")).err().unwrap().to_string();
        assert!(
            e.contains("line 2: finding `transfer f1`: unknown metric"),
            "{e}"
        );
    }

    #[test]
    fn tables_are_spliced_and_html_written() {
        let dir = tempfile::tempdir().unwrap();
        let paper = dir.path().join("paper");
        std::fs::create_dir_all(&paper).unwrap();
        std::fs::write(
            dir.path().join("t.md"),
            "| a | b |\n|---|---|\n| 1 | 2 |\n\nValues: notes\n",
        )
        .unwrap();
        std::fs::write(
            paper.join("gzbench.md"),
            "# Title\n\n<!-- table: ../t.md -->\n\n![fig](../f.png)\n",
        )
        .unwrap();
        let md = splice(&paper.join("gzbench.md")).unwrap();
        assert!(
            md.contains("| 1 | 2 |") && !md.contains("Values: notes"),
            "{md}"
        );
        let built = build(&paper).unwrap();
        let html = std::fs::read_to_string(&built.files[0]).unwrap();
        assert!(
            html.contains("<table>") && html.contains("<td>2</td>"),
            "{html}"
        );
        assert!(html.contains("src=\"../f.png\""), "{html}");
        std::fs::write(paper.join("gzbench.md"), "<!-- table: ../missing.md -->\n").unwrap();
        let e = build(&paper).err().unwrap().to_string();
        assert!(
            e.contains("line 1: table") && e.contains("missing.md"),
            "{e}"
        );
    }
}
