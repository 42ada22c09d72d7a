//! libFuzzer target `spec`: bytes as an experiment YAML file through `spec::parse_str`,
//! `with_profile` and `expand` (in memory), `spec::load` and `runner::plan` (on disk). Every
//! error must be `file:line:col` at a line of the input. Seed it with `experiments/*.yaml`.
#![no_main]

use gzbench::spec::{self, Profile, SpecError};
use gzbench_fuzz::{assert_line, lines, scratch};
use libfuzzer_sys::fuzz_target;

fn check(e: &SpecError, file: &str, n: usize) {
    match e {
        SpecError::At { file: f, line, .. } if f == file => {
            assert_line(*line as u64, n, &e.to_string())
        }
        _ => panic!("not located at a line of {file}: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // YAML also breaks lines at a lone `\r` and at U+0085, U+2028, U+2029
    let n = lines(data)
        + text
            .matches(['\r', '\u{85}', '\u{2028}', '\u{2029}'])
            .count();
    let file = "fuzz.yaml";
    match spec::parse_str(&text, file) {
        Err(e) => check(&e, file, n),
        Ok(exp) => {
            for p in [Profile::Smoke, Profile::Cpu, Profile::Gpu] {
                match spec::with_profile(&exp, p, &text, file) {
                    Err(e) => check(&e, file, n),
                    Ok(resolved) => {
                        if let Err(e) = spec::expand(&resolved, &text, file) {
                            check(&e, file, n);
                        }
                    }
                }
            }
        }
    }
    let path = scratch("load.yaml", data);
    if let Err(e) = spec::load(&path) {
        check(&e, &path.display().to_string(), n);
    }
    // `runner::plan` reads with `read_to_string`: it gets UTF-8 text
    let path = scratch("plan.yaml", text.as_bytes());
    if let Err(e) = gzbench::runner::plan(&path, Profile::Smoke) {
        check(&e, &path.display().to_string(), n);
    }
});
