//! Plain CSV files of classifications (`volunteer,galaxy,question,answer[,time]`, one vote per
//! row, names as strings) and of aggregated labels (`galaxy,label,p_<answer>...`), for the
//! `gzbench aggregate` CLI. Files are written to a temporary name and renamed into place.

use std::path::Path;

use super::classifications::Interner;
use super::{Aggregate, Classifications, CrowdError, QuestionVotes};
use crate::csv_line::record_line;

pub(super) const COLUMNS: [&str; 4] = ["volunteer", "galaxy", "question", "answer"];

/// Where the classification columns sit in a header.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Columns {
    /// Positions of [`COLUMNS`].
    pub idx: [usize; 4],
    pub time: Option<usize>,
    /// Number of header fields.
    pub n: usize,
}

impl Columns {
    /// Finds the columns (names trimmed); the error says which is missing.
    pub fn find<'h>(header: impl Iterator<Item = &'h str>) -> Result<Columns, String> {
        let names: Vec<&str> = header.map(str::trim).collect();
        let col = |name: &str| names.iter().position(|h| *h == name);
        let mut idx = [0usize; 4];
        for (i, name) in COLUMNS.iter().enumerate() {
            idx[i] = col(name).ok_or_else(|| {
                format!(
                    "missing column `{name}`; expected a header with {}",
                    COLUMNS.join(",")
                )
            })?;
        }
        Ok(Columns {
            idx,
            time: col("time"),
            n: names.len(),
        })
    }
}

/// The bytes of a CSV file (read whole, so that record lines can be told exactly with
/// [`record_line`]); errors name the file.
pub(super) fn read_bytes(path: &Path) -> Result<Vec<u8>, CrowdError> {
    std::fs::read(path).map_err(|source| CrowdError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads the header of `rdr`; errors name the file (and line 1 for the header).
pub(super) fn with_header<R: std::io::Read>(
    path: &Path,
    mut rdr: csv::Reader<R>,
) -> Result<(csv::Reader<R>, csv::StringRecord), CrowdError> {
    let header = rdr
        .headers()
        .map_err(|e| CrowdError::Parse {
            path: path.to_path_buf(),
            line: 1,
            reason: format!("bad header: {e}"),
        })?
        .clone();
    Ok((rdr, header))
}

/// Reads a classification CSV. Required columns (any order): `volunteer`, `galaxy`, `question`,
/// `answer`; optional `time` (seconds; default: row number). Answers are numbered per question
/// in sorted order (numerically when all are integers), see [`Interner`]. Plain files (no
/// quotes) are parsed in parallel by `csv_fast` (1M rows: about 0.1 s on 2
/// cores); others by the `csv` crate, with the same result.
pub fn read_csv(path: impl AsRef<Path>) -> Result<Classifications, CrowdError> {
    let path = path.as_ref();
    let bytes = read_bytes(path)?;
    match super::csv_fast::read(path, &bytes) {
        Some(result) => result,
        None => read_csv_general(path, &bytes),
    }
}

/// The `csv` crate reader behind [`read_csv`] (any RFC 4180 file).
fn read_csv_general(path: &Path, bytes: &[u8]) -> Result<Classifications, CrowdError> {
    let parse = |line: u64, reason: String| CrowdError::Parse {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let (mut rdr, header) = with_header(path, csv::ReaderBuilder::new().from_reader(bytes))?;
    let cols = Columns::find(header.iter()).map_err(|reason| parse(1, reason))?;
    let mut it = Interner::new();
    for (row, rec) in rdr.records().enumerate() {
        let line = row as u64 + 2;
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(line, |p| record_line(bytes, p));
            parse(line, format!("malformed CSV row: {e}"))
        })?;
        let line = rec.position().map_or(line, |p| record_line(bytes, p));
        let mut f = [""; 4];
        for (i, &c) in cols.idx.iter().enumerate() {
            f[i] = rec
                .get(c)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| parse(line, format!("empty or missing `{}`", COLUMNS[i])))?;
        }
        let t = match cols.time.and_then(|c| rec.get(c)) {
            Some(s) if !s.trim().is_empty() => s.trim().parse::<f64>().map_err(|_| {
                parse(
                    line,
                    format!("time `{}` is not a number; expected seconds", s.trim()),
                )
            })?,
            _ => row as f64,
        };
        it.push(f[0], f[1], f[2], f[3], t);
    }
    Ok(it.finish())
}

/// Reads a gold file (`galaxy,answer` or `galaxy,label` columns, names as in the
/// classifications) into per-galaxy known labels of `votes`.
pub fn read_gold(
    path: &Path,
    cls: &Classifications,
    q: u32,
    votes: &QuestionVotes,
) -> Result<Vec<Option<u32>>, CrowdError> {
    let perr = |line: u64, reason: String| CrowdError::Parse {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let bytes = read_bytes(path)?;
    let (mut rdr, header) = with_header(path, csv::ReaderBuilder::new().from_reader(&bytes[..]))?;
    let col = |name: &str| header.iter().position(|h| h.trim() == name);
    let (Some(cg), Some(ca)) = (col("galaxy"), col("answer").or_else(|| col("label"))) else {
        return Err(perr(
            1,
            "expected a header with `galaxy` and `answer` (or `label`) columns".into(),
        ));
    };
    let answers = &cls.questions[q as usize].answers;
    let mut local = vec![u32::MAX; cls.galaxy_names.len()];
    for (l, &g) in votes.galaxy_index.iter().enumerate() {
        local[g as usize] = l as u32;
    }
    let by_name: std::collections::HashMap<&str, usize> = cls
        .galaxy_names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut gold = vec![None; votes.n_galaxies];
    for (row, rec) in rdr.records().enumerate() {
        let line = row as u64 + 2;
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(line, |p| record_line(&bytes, p));
            perr(line, format!("malformed CSV row: {e}"))
        })?;
        let line = rec.position().map_or(line, |p| record_line(&bytes, p));
        let (g, a) = (
            rec.get(cg).unwrap_or("").trim(),
            rec.get(ca).unwrap_or("").trim(),
        );
        let ai = answers.iter().position(|x| x == a).ok_or_else(|| {
            perr(
                line,
                format!(
                    "answer `{a}` is not one of the question's answers ({})",
                    crate::spec::names(answers.iter())
                ),
            )
        })?;
        if let Some(&gi) = by_name.get(g)
            && local[gi] != u32::MAX
        {
            gold[local[gi] as usize] = Some(ai as u32);
        }
    }
    if gold.iter().all(Option::is_none) {
        return Err(perr(
            1,
            "no gold galaxy has a vote on this question; expected galaxy names as in the \
             classifications"
                .into(),
        ));
    }
    Ok(gold)
}

fn write_atomic(path: &Path, body: &[u8]) -> Result<(), CrowdError> {
    crate::atomic::write(path, body).map_err(|(p, e)| CrowdError::Write {
        path: p,
        reason: e.to_string(),
    })
}

fn to_csv(rows: impl Iterator<Item = Vec<String>>) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.write_record(&r).map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

/// Writes classifications as `volunteer,galaxy,question,answer,time` with names.
pub fn write_csv(path: impl AsRef<Path>, c: &Classifications) -> Result<(), CrowdError> {
    let path = path.as_ref();
    let header = std::iter::once(
        ["volunteer", "galaxy", "question", "answer", "time"]
            .map(String::from)
            .to_vec(),
    );
    let rows = (0..c.len()).map(|i| {
        let q = &c.questions[c.question[i] as usize];
        vec![
            c.volunteer_names[c.volunteer[i] as usize].clone(),
            c.galaxy_names[c.galaxy[i] as usize].clone(),
            q.name.clone(),
            q.answers[c.answer[i] as usize].clone(),
            c.time[i].to_string(),
        ]
    });
    let body = to_csv(header.chain(rows)).map_err(|reason| CrowdError::Write {
        path: path.to_path_buf(),
        reason,
    })?;
    write_atomic(path, &body)
}

/// Writes aggregated labels: `galaxy,label,p_<answer>...`, one row per galaxy of `agg`
/// (`galaxy_names[g]` and `answers[label]` name them).
pub fn write_labels_csv(
    path: impl AsRef<Path>,
    galaxy_names: &[String],
    answers: &[String],
    agg: &Aggregate,
) -> Result<(), CrowdError> {
    let path = path.as_ref();
    if galaxy_names.len() != agg.labels.len() || answers.len() != agg.n_classes {
        return Err(CrowdError::Write {
            path: path.to_path_buf(),
            reason: format!(
                "{} galaxy names and {} answers for an aggregate of {} galaxies x {} classes",
                galaxy_names.len(),
                answers.len(),
                agg.labels.len(),
                agg.n_classes
            ),
        });
    }
    let mut header = vec!["galaxy".to_string(), "label".to_string()];
    header.extend(answers.iter().map(|a| format!("p_{a}")));
    let rows = (0..agg.labels.len()).map(|g| {
        let mut r = vec![
            galaxy_names[g].clone(),
            answers[agg.labels[g] as usize].clone(),
        ];
        r.extend(agg.row(g).iter().map(|p| format!("{p:.17e}")));
        r
    });
    let body = to_csv(std::iter::once(header).chain(rows)).map_err(|reason| CrowdError::Write {
        path: path.to_path_buf(),
        reason,
    })?;
    write_atomic(path, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crowd::{Aggregator, MajorityVote};

    #[test]
    fn round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.csv");
        std::fs::write(
            &p,
            "galaxy,volunteer,question,answer\ng1,alice,q,b\ng1,bob,q,a\ng2,alice,q,b\n",
        )
        .unwrap();
        let c = read_csv(&p).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c.questions[0].answers, vec!["a", "b"]);
        assert_eq!(c.answer, vec![1, 0, 1]);
        let p2 = dir.path().join("out.csv");
        write_csv(&p2, &c).unwrap();
        let c2 = read_csv(&p2).unwrap();
        assert_eq!(
            (c2.answer.clone(), c2.galaxy.clone()),
            (c.answer.clone(), c.galaxy.clone())
        );
        let v = c.for_question(0).unwrap();
        let a = MajorityVote.aggregate(&v).unwrap();
        let names: Vec<String> = v
            .galaxy_index
            .iter()
            .map(|&g| c.galaxy_names[g as usize].clone())
            .collect();
        let lp = dir.path().join("labels.csv");
        write_labels_csv(&lp, &names, &c.questions[0].answers, &a).unwrap();
        let text = std::fs::read_to_string(&lp).unwrap();
        assert!(text.starts_with("galaxy,label,p_a,p_b\ng1,a,"), "{text}");
        std::fs::write(&p, "galaxy,volunteer,question\ng1,alice,q\n").unwrap();
        let e = read_csv(&p).unwrap_err().to_string();
        assert!(
            e.contains(":1:") && e.contains("missing column `answer`"),
            "{e}"
        );
        std::fs::write(
            &p,
            "galaxy,volunteer,question,answer\ng1,alice,q,a\ng1,,q,a\n",
        )
        .unwrap();
        let e = read_csv(&p).unwrap_err().to_string();
        assert!(e.contains(":3:") && e.contains("volunteer"), "{e}");
        assert!(read_csv(dir.path().join("nope.csv")).is_err());
    }
    /// The parallel reader and the `csv` crate reader give identical classifications (ids in
    /// order of first appearance, answer numbering, default times), whatever the chunking.
    #[test]
    fn fast_path_matches_general_reader() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.csv");
        let mut body = String::from("time,answer,galaxy,question,volunteer,extra\r\n");
        for i in 0..5000u32 {
            let t = if i % 3 == 0 {
                String::new()
            } else {
                format!("{}.5", i * 7 % 101)
            };
            let (q, a) = if i % 4 == 0 {
                ("bar", ["10", "9", "100"][(i % 3) as usize].to_string())
            } else {
                (
                    "smooth",
                    ["z", "a", " m "][(i * 5 % 3) as usize].to_string(),
                )
            };
            body.push_str(&format!(
                "{t},{a},g{},{q},v{},x\r\n",
                i * 13 % 701,
                i * 31 % 97
            ));
            if i % 1000 == 999 {
                body.push_str("\r\n");
            }
        }
        std::fs::write(&p, &body).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let general = read_csv_general(&p, &bytes).unwrap();
        let fast = super::super::csv_fast::read(&p, &bytes)
            .expect("plain file takes the fast path")
            .unwrap();
        assert_eq!(fast, general);
        assert_eq!(fast.len(), 5000);
        let bar = &fast.questions[fast.question_id("bar").unwrap() as usize];
        assert_eq!(bar.answers, vec!["9", "10", "100"]);
        // Untimed rows get their row number (blank lines do not count).
        assert_eq!(fast.time[3], 3.0);
        assert_eq!(fast.time[1], 7.5);
        // Errors: same line numbers on both paths.
        for (bad, want) in [
            (
                "volunteer,galaxy,question,answer\nv,g,q,a\nv,,q,a\n\n",
                ":3:",
            ),
            (
                "volunteer,galaxy,question,answer,time\nv,g,q,a,1\nv,g,q,a,soon\n",
                ":3:",
            ),
            ("volunteer,galaxy,question,answer\nv,g,q,a\nv,g,q\n", ":3:"),
        ] {
            std::fs::write(&p, bad).unwrap();
            let bytes = std::fs::read(&p).unwrap();
            let e1 = super::super::csv_fast::read(&p, &bytes)
                .unwrap()
                .unwrap_err()
                .to_string();
            let e2 = read_csv_general(&p, &bytes).unwrap_err().to_string();
            assert!(e1.contains(want) && e2.contains(want), "{e1} / {e2}");
        }
        // Quoted fields go to the general reader.
        std::fs::write(&p, "volunteer,galaxy,question,answer\nv,\"g,1\",q,a\n").unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert!(super::super::csv_fast::read(&p, &bytes).is_none());
        assert_eq!(read_csv(&p).unwrap().galaxy_names, vec!["g,1"]);
    }

    /// Found by `tests/fuzz_readers`: after a blank line the `csv` crate path named the line
    /// before the bad record (the fast path named the right one).
    #[test]
    fn both_paths_name_the_line_after_blank_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.csv");
        for body in ["v1,g,q,a\n\n\r\n,g,q,b\n", "\"v1\",g,q,a\n\n\r\n,g,q,b\n"] {
            std::fs::write(&p, format!("volunteer,galaxy,question,answer\n{body}")).unwrap();
            let e = read_csv(&p).unwrap_err().to_string();
            let want = format!("{}:5: empty or missing `volunteer`", p.display());
            assert_eq!(e, want);
        }
    }
}
