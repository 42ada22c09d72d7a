//! Structured mutations of a valid input, the way a hand edit or a broken transfer spoils a file:
//! a record (text line, or 80-byte FITS card) deleted, duplicated or swapped with another, a
//! byte flipped, a field replaced by a random string or number, a key renamed (to a random name
//! or to another key of the same file), bytes inserted, the file truncated. Positions are
//! proptest [`Index`]es, so one mutation fits any input and shrinks towards its start.

use proptest::prelude::*;
use proptest::sample::Index;

/// What a record is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Records {
    /// Text lines (each with its `\n`). Fields are runs of bytes between delimiters; keys are
    /// YAML / JSON keys (a field followed by `:`) and the fields of a CSV header.
    Lines,
    /// Fixed-size records (FITS cards): edits keep every record this long; the key of a card
    /// is its first 8 bytes, its fields the runs of bytes after them.
    Fixed(usize),
}

/// A new name for a key: a random one, or the name of another key of the same file.
#[derive(Clone, Debug)]
pub enum Name {
    Random(String),
    Other(Index),
}

#[derive(Clone, Debug)]
pub enum Mutation {
    DeleteRecord(Index),
    DuplicateRecord(Index),
    SwapRecords(Index, Index),
    FlipByte(Index, u8),
    Truncate(Index),
    ReplaceField(Index, String),
    RenameKey(Index, Name),
    Insert(Index, Vec<u8>),
}

/// A random replacement value: numbers at and past the edges of every type, YAML / CSV / JSON
/// syntax, random printable ASCII and random Unicode.
pub fn value() -> impl Strategy<Value = String> {
    let specials = prop::sample::select(vec![
        "",
        "0",
        "-0",
        "-1",
        "1e309",
        "-1e309",
        "NaN",
        "nan",
        "inf",
        "-inf",
        "1e-320",
        "18446744073709551616",
        "-9223372036854775809",
        "4294967296",
        "0x10",
        "1_000",
        "~",
        "null",
        "true",
        "no",
        "[]",
        "{}",
        "[1, [2]]",
        "{a: 1}",
        "*x",
        "&x y",
        "!!binary AAAA",
        "\"\"",
        "'",
        "\"",
        "- x",
        "? x",
        "|",
        ">-",
        "#",
        "%YAML",
        "---",
        "...",
        "\t",
        "\\",
        "a,b",
        "\r",
        "\n",
        "{\"task\": 1}",
        "[{\"value\": []}]",
        "![x](",
        "T",
        "F",
        "= 1",
    ]);
    prop_oneof![
        3 => specials.prop_map(String::from),
        2 => any::<i64>().prop_map(|v| v.to_string()),
        2 => any::<f64>().prop_map(|v| v.to_string()),
        2 => (0u32..2000).prop_map(|v| v.to_string()),
        2 => "[ -~]{0,16}",
        1 => "\\PC{0,6}",
    ]
}

fn key_name() -> impl Strategy<Value = Name> {
    prop_oneof![
        "[a-zA-Z_][a-zA-Z0-9_.\\-]{0,12}".prop_map(Name::Random),
        "[ -~]{0,10}".prop_map(Name::Random),
        any::<Index>().prop_map(Name::Other),
    ]
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => any::<Index>().prop_map(Mutation::DeleteRecord),
        2 => any::<Index>().prop_map(Mutation::DuplicateRecord),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapRecords(a, b)),
        2 => (any::<Index>(), 1u8..=255).prop_map(|(i, m)| Mutation::FlipByte(i, m)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        4 => (any::<Index>(), value()).prop_map(|(i, v)| Mutation::ReplaceField(i, v)),
        3 => (any::<Index>(), key_name()).prop_map(|(i, n)| Mutation::RenameKey(i, n)),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
    ]
}

/// One to three mutations.
pub fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..=3)
}

/// `bytes` after `muts`, in order.
pub fn apply(bytes: &[u8], muts: &[Mutation], records: Records) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for m in muts {
        b = apply_one(b, m, records);
    }
    b
}

/// Byte ranges of the records of `b` (lines include their `\n`).
fn record_ranges(b: &[u8], records: Records) -> Vec<(usize, usize)> {
    match records {
        Records::Lines => {
            let mut out = Vec::new();
            let mut start = 0;
            for (i, &c) in b.iter().enumerate() {
                if c == b'\n' {
                    out.push((start, i + 1));
                    start = i + 1;
                }
            }
            if start < b.len() {
                out.push((start, b.len()));
            }
            out
        }
        Records::Fixed(n) => (0..b.len())
            .step_by(n)
            .map(|s| (s, (s + n).min(b.len())))
            .collect(),
    }
}

fn is_delim(c: u8, records: Records) -> bool {
    match records {
        Records::Lines => b",:\n\r[]{}\t\"' #=".contains(&c),
        Records::Fixed(_) => b" ='/".contains(&c),
    }
}

/// Runs of non-delimiter bytes in `b[from..to]`.
fn fields_in(b: &[u8], from: usize, to: usize, records: Records) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, &c) in b.iter().enumerate().take(to).skip(from) {
        match (is_delim(c, records), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, to));
    }
    out
}

fn fields(b: &[u8], records: Records) -> Vec<(usize, usize)> {
    match records {
        Records::Lines => fields_in(b, 0, b.len(), records),
        Records::Fixed(n) => record_ranges(b, records)
            .into_iter()
            .flat_map(|(s, e)| fields_in(b, (s + 8).min(e), e, records))
            .filter(|_| n > 8)
            .collect(),
    }
}

/// Byte ranges of the keys of `b` (see [`Records`]).
fn keys(b: &[u8], records: Records) -> Vec<(usize, usize)> {
    match records {
        Records::Lines => {
            let mut out: Vec<(usize, usize)> = fields(b, records)
                .into_iter()
                .filter(|&(_, e)| {
                    let rest = &b[e..];
                    let rest = rest.strip_prefix(b"\"").unwrap_or(rest);
                    rest.first() == Some(&b':') && rest.get(1).is_none_or(|c| b" \n\r".contains(c))
                })
                .collect();
            // the fields of a CSV header
            let first_end = b.iter().position(|&c| c == b'\n').unwrap_or(b.len());
            if b[..first_end].contains(&b',') {
                out.extend(fields_in(b, 0, first_end, records));
            }
            out.sort_unstable();
            out.dedup();
            out
        }
        Records::Fixed(n) => record_ranges(b, records)
            .into_iter()
            .filter(|&(s, e)| e - s == n && b[s..s + 8].iter().any(|&c| c != b' '))
            .map(|(s, _)| (s, s + 8))
            .collect(),
    }
}

/// `b` with `range` replaced by `new`; a fixed-size record keeps its size (the edit is
/// truncated, or the rest of the record padded with spaces).
fn splice(b: Vec<u8>, (s, e): (usize, usize), new: &[u8], records: Records) -> Vec<u8> {
    match records {
        Records::Lines => [&b[..s], new, &b[e..]].concat(),
        Records::Fixed(n) => {
            let rs = s - s % n;
            let re = (rs + n).min(b.len());
            let mut rec = [&b[rs..s], new, &b[e..re]].concat();
            rec.resize(re - rs, b' ');
            [&b[..rs], &rec[..], &b[re..]].concat()
        }
    }
}

fn apply_one(mut b: Vec<u8>, m: &Mutation, records: Records) -> Vec<u8> {
    let recs = record_ranges(&b, records);
    let pick = |v: &[(usize, usize)], i: &Index| (!v.is_empty()).then(|| v[i.index(v.len())]);
    match m {
        Mutation::DeleteRecord(i) => match pick(&recs, i) {
            Some((s, e)) => [&b[..s], &b[e..]].concat(),
            None => b,
        },
        Mutation::DuplicateRecord(i) => match pick(&recs, i) {
            Some((s, e)) => [&b[..e], &b[s..e], &b[e..]].concat(),
            None => b,
        },
        Mutation::SwapRecords(i, j) => match (pick(&recs, i), pick(&recs, j)) {
            (Some(x), Some(y)) if x != y => {
                let (a, c) = if x.0 < y.0 { (x, y) } else { (y, x) };
                // a line without its `\n` (the last) swaps with the other's content only
                let body = |(s, e): (usize, usize)| {
                    if records == Records::Lines && b[e - 1] == b'\n' {
                        (s, e - 1)
                    } else {
                        (s, e)
                    }
                };
                let (a, c) = (body(a), body(c));
                [
                    &b[..a.0],
                    &b[c.0..c.1],
                    &b[a.1..c.0],
                    &b[a.0..a.1],
                    &b[c.1..],
                ]
                .concat()
            }
            _ => b,
        },
        Mutation::FlipByte(i, mask) => {
            if !b.is_empty() {
                let at = i.index(b.len());
                b[at] ^= mask;
            }
            b
        }
        Mutation::Truncate(i) => {
            let at = i.index(b.len() + 1);
            b.truncate(at);
            b
        }
        Mutation::ReplaceField(i, v) => match pick(&fields(&b, records), i) {
            Some(r) => splice(b, r, v.as_bytes(), records),
            None => b,
        },
        Mutation::RenameKey(i, name) => {
            let ks = keys(&b, records);
            match pick(&ks, i) {
                Some(r) => {
                    let new = match name {
                        Name::Random(s) => s.as_bytes().to_vec(),
                        Name::Other(j) => {
                            let (s, e) = ks[j.index(ks.len())];
                            b[s..e].to_vec()
                        }
                    };
                    splice(b, r, &new, records)
                }
                None => b,
            }
        }
        Mutation::Insert(i, bytes) => {
            let at = i.index(b.len() + 1);
            [&b[..at], &bytes[..], &b[at..]].concat()
        }
    }
}

/// A cell value that stays one CSV field: printable ASCII without quotes or commas.
pub fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        value().prop_map(|v| v.replace(['"', ',', '\n', '\r'], "")),
        "[ -!#-+\\--~]{0,8}",
    ]
}

/// `text` with cell `col` of line `line` (1-based, a data line) replaced by `v`.
pub fn with_cell(text: &str, line: usize, col: usize, v: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut cells: Vec<String> = lines[line - 1].split(',').map(String::from).collect();
    let col = col % cells.len();
    cells[col] = v.to_string();
    lines[line - 1] = cells.join(",");
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Up to two blank lines (`\n`, or `\r\n` when the flag is set) to insert into a CSV file.
pub fn blank_lines() -> impl Strategy<Value = Vec<(Index, bool)>> {
    prop::collection::vec((any::<Index>(), any::<bool>()), 0..=2)
}

/// `text` with `blanks` inserted before data lines (never before the header), and the line
/// each line of `text` (1-based) is on afterwards.
pub fn with_blank_lines(text: &str, blanks: &[(Index, bool)]) -> (String, Vec<usize>) {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut before = vec![Vec::new(); lines.len()];
    for (i, crlf) in blanks {
        if lines.len() > 1 {
            before[1 + i.index(lines.len() - 1)].push(if *crlf { "\r\n" } else { "\n" });
        }
    }
    let (mut out, mut moved, mut at) = (String::new(), Vec::new(), 1);
    for (line, blank) in lines.iter().zip(&before) {
        for b in blank {
            out.push_str(b);
            at += 1;
        }
        out.push_str(line);
        moved.push(at);
        at += 1;
    }
    (out, moved)
}

/// Bytes shown as text with escapes (how failing inputs print).
pub struct Shown<'a>(pub &'a [u8]);

impl std::fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(i: usize) -> Index {
        // Index::index(len) = (value * len) >> 64; pick the i-th of a known length via a
        // value in the middle of its bucket
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        loop {
            let v = any::<Index>().new_tree(&mut runner).unwrap().current();
            if v.index(3) == i {
                return v;
            }
        }
    }

    #[test]
    fn fuzz_mutations_edit_what_they_say() {
        let text = b"a: 1\nb: [x, y]\nc: z\n";
        let del = apply(text, &[Mutation::DeleteRecord(idx(1))], Records::Lines);
        assert_eq!(del, b"a: 1\nc: z\n");
        let dup = apply(text, &[Mutation::DuplicateRecord(idx(0))], Records::Lines);
        assert_eq!(dup, b"a: 1\na: 1\nb: [x, y]\nc: z\n");
        let swap = apply(
            text,
            &[Mutation::SwapRecords(idx(0), idx(2))],
            Records::Lines,
        );
        assert_eq!(swap, b"c: z\nb: [x, y]\na: 1\n");
        let ren = Mutation::RenameKey(idx(2), Name::Random("q".into()));
        assert_eq!(
            apply(text, &[ren], Records::Lines),
            b"a: 1\nb: [x, y]\nq: z\n"
        );
        let ren = Mutation::RenameKey(idx(2), Name::Other(idx(0)));
        assert_eq!(
            apply(text, &[ren], Records::Lines),
            b"a: 1\nb: [x, y]\na: z\n"
        );
        let card = format!("{:<80}", "NAXIS   =                    2 / n");
        let rep = apply(
            card.as_bytes(),
            &[Mutation::ReplaceField(idx(0), "x".into())],
            Records::Fixed(80),
        );
        assert_eq!(rep.len(), 80);
        assert!(
            rep.starts_with(b"NAXIS   =                    x / n "),
            "{:?}",
            Shown(&rep)
        );
    }
}
