//! libFuzzer target `classifications`: bytes as what `gzbench aggregate` reads, through
//! `crowd::exports::read_classifications` (the first byte picks `auto`, `csv` or `zooniverse`:
//! the plain CSV's fast and general paths, Panoptes flat JSON lines, the Panoptes
//! classification export), and as a GZ DECaLS vote table (`tree::VoteTable`). Errors must name
//! the file and a line of it.
#![no_main]

use gzbench::crowd::CrowdError;
use gzbench::crowd::exports::{InputFormat, read_classifications};
use gzbench::tree::{Tree, TreeError, VoteTable};
use gzbench_fuzz::{assert_line, lines, scratch};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static DECALS: LazyLock<Tree> = LazyLock::new(Tree::decals);

fn tree_line(e: &TreeError) -> Option<u64> {
    match e {
        TreeError::Csv { line, .. }
        | TreeError::BadCell { line, .. }
        | TreeError::Row { line, .. } => Some(*line),
        TreeError::IdColumn { .. } | TreeError::MissingColumn { .. } => Some(1),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let n = lines(body);
    if pick & 0x80 != 0 {
        let name = std::path::Path::new("votes.csv");
        match VoteTable::from_reader(body, name, &DECALS) {
            Err(e) => assert_line(tree_line(&e).unwrap_or(0), n, &e.to_string()),
            Ok(table) => {
                for (_, e) in table.violations(&DECALS) {
                    assert_line(tree_line(&e).unwrap_or(0), n, &e.to_string());
                }
            }
        }
        return;
    }
    let format = [InputFormat::Auto, InputFormat::Csv, InputFormat::Zooniverse][pick as usize % 3];
    let path = scratch("classifications.csv", body);
    match read_classifications(&path, format) {
        Err(CrowdError::Parse {
            path: p,
            line,
            reason,
        }) if p == path => assert_line(line, n, &reason),
        Err(e) => panic!("not located at a line of {}: {e}", path.display()),
        Ok((cls, _)) => {
            for q in 0..cls.questions.len() as u32 {
                let _ = cls.for_question(q);
            }
        }
    }
});
