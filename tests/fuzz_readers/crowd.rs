//! The classification readers of `gzbench aggregate` (`crowd::exports::read_classifications`
//! in every format: the plain CSV through its fast and its general path, Panoptes flat JSON
//! lines, the Panoptes classification export; `cli::crowd::aggregate_file` with a gold file),
//! fed mutations of valid files and arbitrary bytes. Errors must name the file and the line.

use crate::mutate::{
    Records, Shown, apply, blank_lines, cell, mutations, with_blank_lines, with_cell,
};
use crate::{Scratch, config, n_lines};
use gzbench::cli::crowd::{AggregateOptions, aggregate_file};
use gzbench::crowd::exports::{InputFormat, read_classifications};
use gzbench::crowd::{CrowdError, Strategy as Aggregation};
use proptest::prelude::*;
use proptest::sample::Index;
use std::path::Path;
use std::sync::LazyLock;

/// Valid classification files: (file name, text).
static SEEDS: LazyLock<Vec<(&'static str, String)>> = LazyLock::new(|| {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/crowd/fixtures/sim_classifications.csv");
    let sim = std::fs::read_to_string(&fixture).expect("committed classification fixture");
    let head: String = sim.lines().take(40).map(|l| format!("{l}\n")).collect();
    vec![
        // plain, unquoted: the fast parallel path
        ("sim.csv", head),
        // quoted fields and an optional time column: the csv crate path
        (
            "timed.csv",
            "volunteer,galaxy,question,answer,time\nv1,g1,smooth-or-featured,smooth,10\n\
             \"v2\",g1,smooth-or-featured,featured-or-disk,11.5\nv1,\"g,2\",smooth-or-featured,smooth,\n\
             v3,\"g,2\",smooth-or-featured,featured-or-disk,12\nv3,g2,disk-edge-on,no,13\n"
                .into(),
        ),
        (
            "flat.json",
            [
                r#"{"created_at":"2019-12-04T20:48:11.904Z","user_id":"1954805","subject_id":"36227705","classification_id":"193627736","question":"smooth-or-featured","response":"artifact"}"#,
                r#"{"created_at":"2019-12-04T20:48:13.867Z","user_id":"1954801","subject_id":"32407550","classification_id":"193627737","question":"smooth-or-featured","response":"featured-or-disk"}"#,
                r#"{"created_at":"2019-12-04T20:48:13.867Z","subject_id":"32407550","classification_id":"193627738","question":"smooth-or-featured","response":"smooth"}"#,
                r#"{"created_at":"2019-12-04T20:49:13Z","user_id":7,"subject_id":36227705,"classification_id":"193627739","question":"smooth-or-featured","response":"smooth"}"#,
            ]
            .map(|l| format!("{l}\n"))
            .concat(),
        ),
        (
            "export.csv",
            "classification_id,user_id,workflow_version,created_at,annotations,subject_ids\n\
             91178981,290475,28.3,2018-02-20 10:44:42 UTC,\"[{\"\"task\"\":\"\"T0\"\",\"\"value\"\":\"\"![f.png](https://x/f.png) Features or Disk\"\"},{\"\"task\"\":\"\"T5\"\",\"\"value\"\":[\"\"Yes\"\"]}]\",36227705\n\
             91178982,,28.3,2018-02-20 10:45:00 UTC,\"[{\"\"task\"\":\"\"T0\"\",\"\"value\"\":\"\"Smooth\"\"}]\",\"36227706;36227707\"\n\
             91178983,290476,28.3,2018-02-21 00:00:01 UTC,\"[{\"\"task\"\":\"\"T0\"\",\"\"value\"\":\"\"Smooth\"\"}]\",36227705\n"
                .into(),
        ),
    ]
});

fn format() -> impl Strategy<Value = InputFormat> {
    prop::sample::select(vec![
        InputFormat::Auto,
        InputFormat::Csv,
        InputFormat::Zooniverse,
    ])
}

/// `Ok` if `e` is a parse error at a line of `path` (`lines` lines, or the line after them).
fn check_parse(e: &CrowdError, path: &Path, lines: usize) -> Result<(), String> {
    match e {
        CrowdError::Parse { path: p, line, .. }
            if p == path && (1..=lines as u64 + 1).contains(line) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "not located at a line of {} ({lines} lines): {e}",
            path.display()
        )),
    }
}

/// Reads `bytes` as classifications in `fmt`; on success checks every question's votes.
fn read_checked(dir: &Scratch, name: &str, bytes: &[u8], fmt: InputFormat) -> Result<(), String> {
    let path = dir.write(name, bytes);
    match read_classifications(&path, fmt) {
        Err(e) => check_parse(&e, &path, n_lines(bytes)),
        Ok((cls, _)) => {
            let n = cls.len();
            if [
                cls.galaxy.len(),
                cls.volunteer.len(),
                cls.question.len(),
                cls.time.len(),
            ]
            .iter()
            .any(|&l| l != n)
            {
                return Err("classification columns differ in length".into());
            }
            for q in 0..cls.questions.len() as u32 {
                // a question with one answer is refused here; never a panic
                let _ = cls.for_question(q);
            }
            Ok(())
        }
    }
}

proptest! {
    #![proptest_config(config(400))]

    #[test]
    fn fuzz_classifications_mutated(seed in any::<Index>(), muts in mutations(), fmt in format()) {
        let dir = Scratch::new("classifications");
        let (name, text) = &SEEDS[seed.index(SEEDS.len())];
        let bytes = apply(text.as_bytes(), &muts, Records::Lines);
        let r = read_checked(&dir, name, &bytes, fmt);
        prop_assert!(r.is_ok(), "{}\ninput: {:?}", r.unwrap_err(), Shown(&bytes));
    }

    #[test]
    fn fuzz_classifications_arbitrary_bytes(
        head in prop::sample::select(vec!["", "{", "volunteer,galaxy,question,answer\n",
            "volunteer,galaxy,question,answer,time\n",
            "classification_id,user_id,created_at,annotations,subject_ids\n"]),
        bytes in prop::collection::vec(any::<u8>(), 0..400),
        fmt in format(),
    ) {
        let dir = Scratch::new("classifications-bytes");
        let bytes = [head.as_bytes(), &bytes].concat();
        let r = read_checked(&dir, "any.csv", &bytes, fmt);
        prop_assert!(r.is_ok(), "{}\ninput: {:?}", r.unwrap_err(), Shown(&bytes));
    }
}

/// A valid gold file for the `timed.csv` seed.
const GOLD: &str = "galaxy,answer\ng1,smooth\n\"g,2\",featured-or-disk\n";

proptest! {
    #![proptest_config(config(200))]

    /// `gzbench aggregate`'s whole read: the classification file, the question's votes and a
    /// gold file, aggregated by a strategy that uses gold galaxies or not.
    #[test]
    fn fuzz_aggregate_with_gold(
        muts in mutations(),
        gold_muts in prop_oneof![Just(vec![]), mutations()],
        strategy in prop::sample::select(vec![Aggregation::MajorityVote, Aggregation::GoldMajorityVote, Aggregation::DawidSkene]),
    ) {
        let dir = Scratch::new("aggregate");
        let bytes = apply(SEEDS[1].1.as_bytes(), &muts, Records::Lines);
        let gold_bytes = apply(GOLD.as_bytes(), &gold_muts, Records::Lines);
        let input = dir.write("votes.csv", &bytes);
        let gold = dir.write("gold.csv", &gold_bytes);
        let opts = AggregateOptions {
            question: Some("smooth-or-featured"),
            gold: Some(&gold),
            ..AggregateOptions::default()
        };
        if let Err(e) = aggregate_file(&input, strategy, &opts) {
            let located = check_parse(&e, &input, n_lines(&bytes))
                .or_else(|_| check_parse(&e, &gold, n_lines(&gold_bytes)))
                .or_else(|_| match &e {
                    CrowdError::Config(m) if m.contains(&input.display().to_string()) => Ok(()),
                    _ => Err(()),
                });
            prop_assert!(located.is_ok(), "not located: {e}\ninput: {:?}\ngold: {:?}",
                Shown(&bytes), Shown(&gold_bytes));
        }
    }
}

/// The first line `e` names, if it is a parse error of `path`.
fn parse_line(e: &CrowdError, path: &Path) -> Option<u64> {
    match e {
        CrowdError::Parse { path: p, line, .. } if p == path => Some(*line),
        _ => None,
    }
}

/// Plain CSV classifications (the fast path's input): the seed's head without quotes, mutated,
/// as UTF-8 with every `\r` before a `\n`.
fn plain_csv() -> impl Strategy<Value = String> {
    mutations().prop_map(|m| {
        let b = apply(SEEDS[0].1.as_bytes(), &m, Records::Lines);
        let t = String::from_utf8_lossy(&b).replace('"', "'");
        let mut out = String::with_capacity(t.len());
        let mut chars = t.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '\r' || chars.peek() == Some(&'\n') {
                out.push(c);
            }
        }
        out
    })
}

/// `text` with every field of every data line quoted (the `\r` of a `\r\n` left outside):
/// the same records for the `csv` crate, read by the general path.
fn quote_fields(text: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i == 0 || line.trim_end_matches(['\r', '\n']).is_empty() {
            out.push_str(line);
            continue;
        }
        let body = line.trim_end_matches('\n').trim_end_matches('\r');
        let quoted: Vec<String> = body.split(',').map(|f| format!("\"{f}\"")).collect();
        out.push_str(&quoted.join(","));
        out.push_str(&line[body.len()..]);
    }
    out
}

proptest! {
    #![proptest_config(config(300))]

    /// One bad cell in a data line, after blank lines or not: the error names that line, in
    /// the fast (plain) and the general (quoted) path alike.
    #[test]
    fn fuzz_classification_bad_cell_names_its_line(
        seed in 0usize..2,
        line in any::<Index>(),
        col in 0usize..5,
        v in cell(),
        blanks in blank_lines(),
    ) {
        let dir = Scratch::new("classification-cell");
        // (no comma inside the quoted fields, so that a line splits into its cells at commas)
        let text = SEEDS[seed].1.replace("\"g,2\"", "\"g3\"");
        let line = 2 + line.index(text.lines().count() - 1);
        let (bad, moved) = with_blank_lines(&with_cell(&text, line, col, &v), &blanks);
        let line = moved[line - 1];
        let path = dir.write("cell.csv", bad.as_bytes());
        if let Err(e) = read_classifications(&path, InputFormat::Csv) {
            prop_assert_eq!(parse_line(&e, &path), Some(line as u64), "{}\ninput: {:?}", e, Shown(bad.as_bytes()));
        }
    }

    /// The fast path and the `csv` crate path read a plain file (and its quoted twin) alike:
    /// the same classifications, or errors at the same line.
    #[test]
    fn fuzz_classification_fast_and_general_paths_agree(text in plain_csv()) {
        let dir = Scratch::new("classification-paths");
        let plain = dir.write("plain.csv", text.as_bytes());
        let quoted_text = quote_fields(&text);
        let quoted = dir.write("quoted.csv", quoted_text.as_bytes());
        let (a, b) = (read_classifications(&plain, InputFormat::Csv), read_classifications(&quoted, InputFormat::Csv));
        match (&a, &b) {
            (Ok((x, _)), Ok((y, _))) => {
                let bits = |c: &gzbench::crowd::Classifications| c.time.iter().map(|t| t.to_bits()).collect::<Vec<_>>();
                prop_assert_eq!(bits(x), bits(y), "times differ\ninput: {:?}", Shown(text.as_bytes()));
                let (mut x, mut y) = (x.clone(), y.clone());
                x.time.clear();
                y.time.clear();
                prop_assert_eq!(x, y, "input: {:?}", Shown(text.as_bytes()));
            }
            (Err(x), Err(y)) => prop_assert_eq!(parse_line(x, &plain), parse_line(y, &quoted),
                "{} / {}\ninput: {:?}", x, y, Shown(text.as_bytes())),
            _ => prop_assert!(false, "one path reads, the other fails: {:?} / {:?}\ninput: {:?}",
                a.as_ref().err().map(|e| e.to_string()), b.as_ref().err().map(|e| e.to_string()),
                Shown(text.as_bytes())),
        }
    }
}

proptest! {
    #![proptest_config(config(200))]

    /// One bad cell in a gold file, after blank lines or not: the error names that line.
    #[test]
    fn fuzz_gold_bad_cell_names_its_line(
        line in 2usize..4,
        col in 0usize..2,
        v in cell(),
        blanks in blank_lines(),
    ) {
        let dir = Scratch::new("gold-cell");
        // (no comma inside quotes, so that a line splits into its cells at commas)
        let input = dir.write("votes.csv", SEEDS[1].1.replace("\"g,2\"", "g3").as_bytes());
        let gold_text = GOLD.replace("\"g,2\"", "g3");
        let (bad, moved) = with_blank_lines(&with_cell(&gold_text, line, col, &v), &blanks);
        let line = moved[line - 1];
        let gold = dir.write("gold.csv", bad.as_bytes());
        let opts = AggregateOptions {
            question: Some("smooth-or-featured"),
            gold: Some(&gold),
            ..AggregateOptions::default()
        };
        if let Err(e) = aggregate_file(&input, Aggregation::GoldMajorityVote, &opts) {
            prop_assert_eq!(parse_line(&e, &gold), Some(line as u64), "{}\ngold: {:?}", e, Shown(bad.as_bytes()));
        }
    }
}
