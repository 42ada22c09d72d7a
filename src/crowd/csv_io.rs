//! Plain CSV files of classifications (`volunteer,galaxy,question,answer[,time]`, one vote per
//! row, names as strings) and of aggregated labels (`galaxy,label,p_<answer>...`), for the
//! `gzbench aggregate` CLI. Files are written to a temporary name and renamed into place.

use std::path::Path;

use super::data::Interner;
use super::{Aggregate, Classifications, CrowdError};

const COLUMNS: [&str; 4] = ["volunteer", "galaxy", "question", "answer"];

/// Opens a CSV file and reads its header; errors name the file (and line 1 for the header).
pub(super) fn open_csv(
    path: &Path,
) -> Result<(csv::Reader<std::fs::File>, csv::StringRecord), CrowdError> {
    let mut rdr = csv::ReaderBuilder::new()
        .from_path(path)
        .map_err(|e| CrowdError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
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
/// in sorted order (numerically when all are integers), see [`Interner`].
pub fn read_csv(path: impl AsRef<Path>) -> Result<Classifications, CrowdError> {
    let path = path.as_ref();
    let parse = |line: u64, reason: String| CrowdError::Parse {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let (mut rdr, header) = open_csv(path)?;
    let col = |name: &str| header.iter().position(|h| h.trim() == name);
    let mut idx = [0usize; 4];
    for (i, name) in COLUMNS.iter().enumerate() {
        idx[i] = col(name).ok_or_else(|| {
            parse(
                1,
                format!(
                    "missing column `{name}`; expected a header with {}",
                    COLUMNS.join(",")
                ),
            )
        })?;
    }
    let time_col = col("time");
    let mut it = Interner::new();
    for (row, rec) in rdr.records().enumerate() {
        let line = row as u64 + 2;
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(line, |p| p.line());
            parse(line, format!("malformed CSV row: {e}"))
        })?;
        let mut f = [""; 4];
        for (i, &c) in idx.iter().enumerate() {
            f[i] = rec
                .get(c)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| parse(line, format!("empty or missing `{}`", COLUMNS[i])))?;
        }
        let t = match time_col.and_then(|c| rec.get(c)) {
            Some(s) if !s.trim().is_empty() => s.trim().parse::<f64>().map_err(|_| {
                parse(
                    line,
                    format!("time `{s}` is not a number; expected seconds"),
                )
            })?,
            _ => row as f64,
        };
        it.push(f[0], f[1], f[2], f[3], t);
    }
    Ok(it.finish())
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
}
