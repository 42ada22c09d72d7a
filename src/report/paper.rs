//! The paper: `paper/gzbench.md` with its generated tables spliced in, rendered to
//! `paper/gzbench.html` (figures are referenced by relative path, so the HTML shows them in place),
//! and to PDF when `pandoc` with a LaTeX engine is installed (skipped with a message otherwise).
//!
//! A line `<!-- table: ../results/<name>/tables/<name>.md -->` is replaced by that file's table
//! (without its trailing notes), so the paper always shows the tables the last report wrote.

use super::ReportError;
use crate::store::write_atomic;
use std::path::{Path, PathBuf};

const MARKER: &str = "<!-- table:";

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
