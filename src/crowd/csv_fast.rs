//! The fast path of [`read_csv`](super::csv_io::read_csv) for plain classification CSVs (no
//! quoted fields, UTF-8, `\n` or `\r\n` line ends): the file is split at line ends into 1 MiB
//! chunks parsed in parallel, each interning its names (borrowed from the file, hashed with
//! `rustc-hash`'s Fx hash) in order of first appearance; the chunks' name tables are then merged
//! in file order, so ids are exactly those of a sequential read (first appearance in the file),
//! whatever the chunking or the number of threads. Files it does not handle (`None`) go to the
//! `csv` crate path, which accepts any RFC 4180 file and reports encoding errors.

use std::path::Path;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::classifications::{QuestionInfo, number_answers};
use super::csv_io::{COLUMNS, Columns};
use super::{Classifications, CrowdError};

/// Bytes per parse chunk (each ends at a line end).
const CHUNK: usize = 1 << 20;

/// Names in order of first appearance.
#[derive(Default)]
struct Names<'a> {
    map: FxHashMap<&'a str, u32>,
    list: Vec<&'a str>,
}

impl<'a> Names<'a> {
    fn id(&mut self, s: &'a str) -> u32 {
        let n = self.list.len() as u32;
        let id = *self.map.entry(s).or_insert(n);
        if id == n {
            self.list.push(s);
        }
        id
    }
}

/// (question, answer) pairs in order of first appearance. Questions have few answers: a linear
/// scan of each question's list beats hashing.
#[derive(Default)]
struct Pairs<'a> {
    /// Per question: (answer, pair id).
    per_q: Vec<Vec<(&'a str, u32)>>,
    list: Vec<(u32, &'a str)>,
}

impl<'a> Pairs<'a> {
    fn id(&mut self, q: u32, a: &'a str) -> u32 {
        if q as usize >= self.per_q.len() {
            self.per_q.resize_with(q as usize + 1, Vec::new);
        }
        let answers = &mut self.per_q[q as usize];
        if let Some(&(_, id)) = answers.iter().find(|(x, _)| *x == a) {
            return id;
        }
        let id = self.list.len() as u32;
        answers.push((a, id));
        self.list.push((q, a));
        id
    }
}

/// `str::trim`, skipping the work when the field starts and ends with a visible ASCII byte.
#[inline]
fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(&a), Some(&b)) if a > b' ' && a < 0x80 && b > b' ' && b < 0x80 => s,
        _ => s.trim(),
    }
}

/// One parsed chunk: per row chunk-local ids, plus the chunk's name tables.
#[derive(Default)]
struct Chunk<'a> {
    vol: Vec<u32>,
    gal: Vec<u32>,
    pair: Vec<u32>,
    time: Vec<f64>,
    /// Rows (chunk-local) without a time: they get their row number.
    untimed: Vec<u32>,
    vols: Names<'a>,
    gals: Names<'a>,
    qs: Names<'a>,
    pairs: Pairs<'a>,
}

/// The row state of one chunk's parse.
struct ChunkParser<'a, 'c> {
    ch: Chunk<'a>,
    cols: &'c Columns,
    /// The previous row's question and galaxy (files often repeat them row after row).
    last_q: Option<(&'a str, u32)>,
    last_g: Option<(&'a str, u32)>,
}

impl<'a> ChunkParser<'a, '_> {
    /// Adds the row whose line starts at byte `start` and splits into `fields`.
    fn row(&mut self, start: usize, fields: &[&'a str]) -> Result<(), (usize, String)> {
        let cols = self.cols;
        if fields.len() != cols.n {
            return Err((
                start,
                format!(
                    "malformed CSV row: {} fields, expected {} as in the header",
                    fields.len(),
                    cols.n
                ),
            ));
        }
        let mut f = [""; 4];
        for (i, &c) in cols.idx.iter().enumerate() {
            f[i] = trim(fields[c]);
            if f[i].is_empty() {
                return Err((start, format!("empty or missing `{}`", COLUMNS[i])));
            }
        }
        let ch = &mut self.ch;
        let q = match self.last_q {
            Some((name, id)) if name == f[2] => id,
            _ => {
                let id = ch.qs.id(f[2]);
                self.last_q = Some((f[2], id));
                id
            }
        };
        let g = match self.last_g {
            Some((name, id)) if name == f[1] => id,
            _ => {
                let id = ch.gals.id(f[1]);
                self.last_g = Some((f[1], id));
                id
            }
        };
        ch.vol.push(ch.vols.id(f[0]));
        ch.gal.push(g);
        ch.pair.push(ch.pairs.id(q, f[3]));
        let t = cols.time.map(|c| trim(fields[c])).unwrap_or("");
        if t.is_empty() {
            ch.untimed.push(ch.time.len() as u32);
            ch.time.push(0.0);
        } else {
            ch.time.push(parse_seconds(t).ok_or_else(|| {
                (
                    start,
                    format!("time `{t}` is not a number; expected seconds"),
                )
            })?);
        }
        Ok(())
    }
}

/// Parses the rows of `text` (whole lines; blank lines skipped) in one scan for commas and line
/// ends; errors carry the byte offset of the bad line.
fn parse_chunk<'a>(text: &'a str, cols: &Columns) -> Result<Chunk<'a>, (usize, String)> {
    // About 40 bytes a row: reserve so the row vectors rarely grow.
    let rows = text.len() / 40 + 16;
    let ch = Chunk {
        vol: Vec::with_capacity(rows),
        gal: Vec::with_capacity(rows),
        pair: Vec::with_capacity(rows),
        time: Vec::with_capacity(rows),
        ..Chunk::default()
    };
    let mut p = ChunkParser {
        ch,
        cols,
        last_q: None,
        last_g: None,
    };
    let mut fields: Vec<&str> = Vec::with_capacity(cols.n);
    let (mut line_start, mut field_start) = (0, 0);
    let bytes = text.as_bytes();
    let mut end_line = |fields: &mut Vec<&'a str>, line_start: usize| {
        if let Some(last) = fields.last_mut() {
            *last = last.strip_suffix('\r').unwrap_or(last);
        }
        let blank = fields.len() == 1 && fields[0].is_empty();
        let r = if blank {
            Ok(())
        } else {
            p.row(line_start, fields)
        };
        fields.clear();
        r
    };
    for i in memchr::memchr2_iter(b',', b'\n', bytes) {
        fields.push(&text[field_start..i]);
        field_start = i + 1;
        if bytes[i] == b'\n' {
            end_line(&mut fields, line_start)?;
            line_start = field_start;
        }
    }
    if line_start < bytes.len() {
        fields.push(&text[field_start..]);
        end_line(&mut fields, line_start)?;
    }
    Ok(p.ch)
}

/// Seconds: integers of up to 15 digits directly (exact), anything else by `str::parse`.
fn parse_seconds(t: &str) -> Option<f64> {
    if t.len() <= 15 && t.bytes().all(|b| b.is_ascii_digit()) {
        return Some(t.bytes().fold(0u64, |n, b| n * 10 + (b - b'0') as u64) as f64);
    }
    t.parse::<f64>().ok()
}

/// Splits `v` into consecutive slices of the given lengths.
fn split_by<'s, T>(mut v: &'s mut [T], lens: &[usize]) -> Vec<&'s mut [T]> {
    let mut out = Vec::with_capacity(lens.len());
    for &n in lens {
        let (a, b) = std::mem::take(&mut v).split_at_mut(n);
        out.push(a);
        v = b;
    }
    out
}

/// Reads `bytes` (the content of `path`) if it is a plain CSV this path handles; `None` sends
/// the caller to the general reader.
pub(super) fn read(path: &Path, bytes: &[u8]) -> Option<Result<Classifications, CrowdError>> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let perr = |line: u64, reason: String| CrowdError::Parse {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let hend = memchr::memchr(b'\n', bytes).unwrap_or(bytes.len());
    let header = plain_text(&bytes[..hend])?;
    let header = header.strip_suffix('\r').unwrap_or(header);
    let cols = match Columns::find(header.split(',')) {
        Ok(c) => c,
        Err(reason) => return Some(Err(perr(1, reason))),
    };
    let body = &bytes[(hend + 1).min(bytes.len())..];
    // Chunk boundaries: every CHUNK bytes, moved forward to just after a line end (so each
    // chunk is valid UTF-8 exactly when the whole body is).
    let mut cuts = vec![0];
    let mut at = CHUNK;
    while at < body.len() {
        let end = memchr::memchr(b'\n', &body[at..]).map_or(body.len(), |i| at + i + 1);
        cuts.push(end);
        at = end + CHUNK;
    }
    cuts.push(body.len());
    cuts.dedup();
    let parsed: Vec<Option<Result<Chunk, (usize, String)>>> = cuts
        .par_windows(2)
        .map(|w| {
            let text = plain_text(&body[w[0]..w[1]])?;
            Some(parse_chunk(text, &cols).map_err(|(o, e)| (w[0] + o, e)))
        })
        .collect();
    let mut chunks = Vec::with_capacity(parsed.len());
    for p in parsed {
        match p? {
            Ok(c) => chunks.push(c),
            Err((offset, reason)) => {
                let line = 2 + memchr::memchr_iter(b'\n', &body[..offset]).count();
                return Some(Err(perr(line as u64, reason)));
            }
        }
    }
    Some(Ok(merge(chunks)))
}

/// `bytes` as text if this reader handles it: UTF-8, no quote, every `\r` followed by `\n`.
fn plain_text(bytes: &[u8]) -> Option<&str> {
    if memchr::memchr(b'"', bytes).is_some()
        || memchr::memchr_iter(b'\r', bytes).any(|i| bytes.get(i + 1).is_some_and(|&b| b != b'\n'))
    {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

/// Merges the chunks' name tables in file order and writes the global ids.
fn merge(chunks: Vec<Chunk>) -> Classifications {
    let (mut vols, mut gals, mut qs) = (Names::default(), Names::default(), Names::default());
    // At most the sum of the chunks' counts: reserving avoids rehashing the big tables.
    let most = |f: fn(&Chunk) -> usize| chunks.iter().map(f).sum::<usize>();
    vols.map.reserve(most(|c| c.vols.list.len()).min(1 << 22));
    gals.map.reserve(most(|c| c.gals.list.len()).min(1 << 22));
    let mut pairs = Pairs::default();
    // Per chunk: local -> global volunteer, galaxy; local pair -> global pair and question.
    let mut maps = Vec::with_capacity(chunks.len());
    for ch in &chunks {
        let v: Vec<u32> = ch.vols.list.iter().map(|s| vols.id(s)).collect();
        let g: Vec<u32> = ch.gals.list.iter().map(|s| gals.id(s)).collect();
        let q: Vec<u32> = ch.qs.list.iter().map(|s| qs.id(s)).collect();
        let p: Vec<(u32, u32)> = ch
            .pairs
            .list
            .iter()
            .map(|&(lq, a)| {
                let gq = q[lq as usize];
                (pairs.id(gq, a), gq)
            })
            .collect();
        maps.push((v, g, p));
    }
    let mut questions: Vec<QuestionInfo> = qs
        .list
        .iter()
        .map(|s| QuestionInfo {
            name: s.to_string(),
            answers: Vec::new(),
        })
        .collect();
    let pair_answer = number_answers(&mut questions, &pairs.list);
    let lens: Vec<usize> = chunks.iter().map(|c| c.vol.len()).collect();
    let n: usize = lens.iter().sum();
    let (mut volunteer, mut galaxy) = (vec![0u32; n], vec![0u32; n]);
    let (mut question, mut answer) = (vec![0u32; n], vec![0u32; n]);
    let mut time = vec![0.0; n];
    let mut offsets = Vec::with_capacity(lens.len());
    lens.iter().fold(0, |o, &l| {
        offsets.push(o);
        o + l
    });
    chunks
        .par_iter()
        .zip(maps.par_iter())
        .zip(offsets.par_iter())
        .zip(split_by(&mut volunteer, &lens).into_par_iter())
        .zip(split_by(&mut galaxy, &lens).into_par_iter())
        .zip(split_by(&mut question, &lens).into_par_iter())
        .zip(split_by(&mut answer, &lens).into_par_iter())
        .zip(split_by(&mut time, &lens).into_par_iter())
        .for_each(|(((((((ch, (vm, gm, pm)), &off), v), g), q), a), t)| {
            for i in 0..ch.vol.len() {
                v[i] = vm[ch.vol[i] as usize];
                g[i] = gm[ch.gal[i] as usize];
                let (p, gq) = pm[ch.pair[i] as usize];
                q[i] = gq;
                a[i] = pair_answer[p as usize];
            }
            t.copy_from_slice(&ch.time);
            for &r in &ch.untimed {
                t[r as usize] = (off + r as usize) as f64;
            }
        });
    Classifications {
        volunteer,
        galaxy,
        question,
        answer,
        time,
        volunteer_names: vols.list.iter().map(|s| s.to_string()).collect(),
        galaxy_names: gals.list.iter().map(|s| s.to_string()).collect(),
        questions,
    }
}
