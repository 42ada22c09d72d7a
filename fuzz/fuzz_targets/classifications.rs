//! libFuzzer target `classifications`: bytes as what `gzbench aggregate` reads, through
//! `crowd::exports::read_classifications` (the first byte picks `auto`, `csv` or `zooniverse`:
//! the plain CSV's fast and general paths, Panoptes flat JSON lines, the Panoptes
//! classification export). Errors must name the file and a line of it.
#![no_main]

use gzbench::crowd::CrowdError;
use gzbench::crowd::exports::{InputFormat, read_classifications};
use gzbench_fuzz::{assert_line, lines, scratch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let n = lines(body);
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
