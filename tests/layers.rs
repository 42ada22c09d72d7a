//! The layering of `src/` as a checked fact: every top-level module uses only modules listed
//! before it in [`LAYERS`] (outside its tests), so the data flow of the crate docs and
//! ARCHITECTURE.md cannot silently grow a cycle; a new top-level module must be placed here.

use std::collections::BTreeMap;
use std::path::Path;

/// Lowest first.
const LAYERS: &[&str] = &[
    "atomic",
    "csv_line",
    "rng",
    "geom",
    "linalg",
    "shared_data",
    "simd",
    "engine",
    "tree",
    "spec",
    "store",
    "universe",
    "crowd",
    "data",
    "model",
    "eval",
    "train",
    "diffusion",
    "generative",
    "gzx",
    "repr",
    "clumps",
    "runner",
    "report",
    "cli",
];

/// The `crate::<module>` names a source text uses (paths and `crate::{a, b::c}` groups), with
/// comments and a trailing `#[cfg(test)] mod tests { .. }` left out.
fn uses(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let code = match code.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &code[..i],
        None => &code[..],
    };
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + 7..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                out.push(ident(item.trim()));
            }
        } else {
            out.push(ident(rest));
        }
    }
    out
}

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, files);
        } else if p.extension().is_some_and(|x| x == "rs") {
            files.push(p);
        }
    }
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let rank: BTreeMap<&str, usize> = LAYERS.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut bad = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let name = rel.file_name().unwrap().to_string_lossy().to_string();
        let is_test = name == "tests.rs"
            || name.ends_with("_tests.rs")
            || rel.components().any(|c| c.as_os_str() == "tests");
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = top.trim_end_matches(".rs");
        if is_test || top == "lib" || top == "main" {
            continue;
        }
        let Some(&own) = rank.get(top) else {
            bad.push(format!(
                "{}: module `{top}` is not placed in LAYERS",
                rel.display()
            ));
            continue;
        };
        for used in uses(&std::fs::read_to_string(f).unwrap()) {
            if let Some(&r) = rank.get(used.as_str())
                && r > own
            {
                bad.push(format!(
                    "{}: `{top}` uses `{used}`, a layer above it",
                    rel.display()
                ));
            }
        }
    }
    bad.sort();
    bad.dedup();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert!(files.len() > 100, "only {} source files found", files.len());
}

#[test]
fn the_checker_sees_plain_and_grouped_paths() {
    let text = "use crate::engine::conv;\nuse crate::{data::Dataset, rng};\n// crate::cli\n";
    assert_eq!(uses(text), ["engine", "data", "rng"]);
}
