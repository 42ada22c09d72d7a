//! The experiment YAML loader: `spec::parse_str`, `spec::with_profile`, `spec::expand` on text,
//! and `runner::plan` on a file, fed mutations of the committed `experiments/*.yaml`, documents
//! built from their keys with random values, and arbitrary bytes. Every error must be
//! `file:line:col: ...` with a line of the file.

use crate::mutate::{Records, Shown, apply, mutations, value};
use crate::{Scratch, config, n_lines};
use gzbench::spec::{self, Profile, SpecError};
use proptest::prelude::*;
use proptest::sample::Index;
use std::path::Path;
use std::sync::LazyLock;

/// The committed experiments: (file name, text).
static SEEDS: LazyLock<Vec<(String, String)>> = LazyLock::new(|| {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("experiments/")
        .map(|e| e.expect("experiments/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("experiment text"))
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 10,
        "expected the committed experiments in {}",
        dir.display()
    );
    out
});

/// Every key the committed experiments use (the vocabulary of generated documents).
static KEYS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut keys: Vec<String> = SEEDS
        .iter()
        .flat_map(|(_, t)| t.lines())
        .filter_map(|l| {
            let l = l.trim_start().trim_start_matches("- ");
            let (k, _) = l.split_once(':')?;
            (!k.is_empty() && !k.contains([' ', '#', '{', '"'])).then(|| k.to_string())
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
});

fn profile() -> impl Strategy<Value = Profile> {
    prop::sample::select(vec![Profile::Smoke, Profile::Cpu, Profile::Gpu])
}

/// `Ok` if `e` is `file:line:col` with `line` within the `lines` lines of the text (or one past
/// the end, where a parser reports the end of the input).
fn check(e: &SpecError, file: &str, lines: usize) -> Result<(), String> {
    match e {
        SpecError::At {
            file: f, line, col, ..
        } if f == file && (1..=lines + 1).contains(line) && *col >= 1 => Ok(()),
        _ => Err(format!(
            "not located at a line of {file} ({lines} lines): {e}"
        )),
    }
}

/// Runs the loader on `bytes` as the text of `name` (in memory through `parse_str`,
/// `with_profile` and `expand`; on disk through `runner::plan`) and checks every error.
fn load_everywhere(dir: &Scratch, name: &str, bytes: &[u8], p: Profile) -> Result<(), String> {
    let text = String::from_utf8_lossy(bytes);
    // YAML (libyaml) also breaks lines at a lone `\r` and at U+0085, U+2028, U+2029
    let breaks = text
        .matches(['\r', '\u{85}', '\u{2028}', '\u{2029}'])
        .count();
    let lines = n_lines(bytes) + breaks;
    let file = format!("experiments/{name}");
    match spec::parse_str(&text, &file) {
        Err(e) => check(&e, &file, lines)?,
        Ok(exp) => {
            for p in [Profile::Smoke, Profile::Cpu, Profile::Gpu] {
                match spec::with_profile(&exp, p, &text, &file) {
                    Err(e) => check(&e, &file, lines)?,
                    Ok(resolved) => {
                        if let Err(e) = spec::expand(&resolved, &text, &file) {
                            check(&e, &file, lines)?;
                        }
                    }
                }
            }
        }
    }
    let path = dir.write(name, bytes);
    let shown = path.display().to_string();
    if let Err(e) = spec::load(&path) {
        check(&e, &shown, lines)?;
    }
    // the raw bytes too: `plan` locates bytes that are not UTF-8 as `load` does
    if let Err(e) = gzbench::runner::plan(&path, p) {
        check(&e, &shown, lines)?;
    }
    Ok(())
}

/// A document of `key: value` lines from the experiments' keys, indented at random.
fn document() -> impl Strategy<Value = String> {
    let line = (
        prop::sample::select(vec!["", "", "  ", "    ", "  - "]),
        any::<Index>(),
        value(),
    )
        .prop_map(|(indent, k, v)| format!("{indent}{}: {v}\n", KEYS[k.index(KEYS.len())]));
    prop::collection::vec(line, 0..24).prop_map(|lines| {
        // most documents start as a real one does, so validation (not only parsing) is reached
        format!("name: fuzz\nkind: train\n{}", lines.concat())
    })
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn fuzz_spec_mutated_experiments(seed in any::<Index>(), muts in mutations(), p in profile()) {
        let dir = Scratch::new("spec");
        let (name, text) = &SEEDS[seed.index(SEEDS.len())];
        let bytes = apply(text.as_bytes(), &muts, Records::Lines);
        let r = load_everywhere(&dir, name, &bytes, p);
        prop_assert!(r.is_ok(), "{}\ninput: {:?}", r.unwrap_err(), Shown(&bytes));
    }
}

proptest! {
    #![proptest_config(config(200))]

    #[test]
    fn fuzz_spec_generated_documents(doc in document(), p in profile()) {
        let dir = Scratch::new("spec-doc");
        let r = load_everywhere(&dir, "doc.yaml", doc.as_bytes(), p);
        prop_assert!(r.is_ok(), "{}\ninput: {:?}", r.unwrap_err(), Shown(doc.as_bytes()));
    }

    #[test]
    fn fuzz_spec_arbitrary_bytes(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..400),
            "[ -~\n]{0,300}".prop_map(String::into_bytes),
        ],
        p in profile(),
    ) {
        let dir = Scratch::new("spec-bytes");
        let r = load_everywhere(&dir, "bytes.yaml", &bytes, p);
        prop_assert!(r.is_ok(), "{}\ninput: {:?}", r.unwrap_err(), Shown(&bytes));
    }
}
