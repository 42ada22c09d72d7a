//! Readers for real Zooniverse / Panoptes exports into [`Classifications`]: the flattened JSON
//! lines of `panoptes_flat.json` (`user_id, subject_id, question, response, created_at`) and the
//! project classification CSV export (`classification_id, user_id, created_at, annotations,
//! subject_ids`, annotations as JSON), and [`read_classifications`], which tells these and the
//! plain CSV apart from the first line (`gzbench aggregate --format`). Errors name the file, the
//! line / row and what was expected; bad input never panics. Owns no aggregation.

use std::path::Path;

use serde_json::Value;

use super::classifications::Interner;
use super::csv_io::read_csv;
use super::{Classifications, CrowdError};
use crate::csv_line::record_line;

fn read(path: &Path) -> Result<Vec<u8>, CrowdError> {
    std::fs::read(path).map_err(|source| CrowdError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Unix seconds of `YYYY-MM-DD[T ]HH:MM:SS[.fff][Z| UTC]`.
pub fn parse_time(s: &str) -> Option<f64> {
    let s = s.trim().trim_end_matches(" UTC").trim_end_matches('Z');
    let (date, time) = s.split_once(['T', ' '])?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let mut t = time.split(':');
    let (hh, mm) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let ss = t.next()?.parse::<f64>().ok()?;
    if t.next().is_some()
        || !(0..24).contains(&hh)
        || !(0..60).contains(&mm)
        || !(0.0..61.0).contains(&ss)
    {
        return None;
    }
    // Days from civil (Howard Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hh * 3600 + mm * 60) as f64 + ss)
}

/// A JSON string or number as text.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads `panoptes_flat.json`-style JSON lines (one answer per line). Anonymous rows (no
/// `user_id`) get the volunteer `not-logged-in:<classification_id>`.
pub fn read_panoptes_flat(path: impl AsRef<Path>) -> Result<Classifications, CrowdError> {
    let path = path.as_ref();
    let body = read(path)?;
    let mut it = Interner::new();
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        let ln = i as u64 + 1;
        let err = |reason: String| CrowdError::Parse {
            path: path.to_path_buf(),
            line: ln,
            reason,
        };
        // decoded line by line, so that bytes that are not UTF-8 are reported with their line
        let line = std::str::from_utf8(raw).map_err(|e| {
            err(format!(
                "byte {} of the line is not UTF-8 text; expected JSON lines",
                e.valid_up_to() + 1
            ))
        })?;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let v: Value =
            serde_json::from_str(line).map_err(|e| err(format!("not a JSON object: {e}")))?;
        if !v.is_object() {
            return Err(err("expected a JSON object per line".into()));
        }
        let field = |k: &str| {
            text(v.get(k)).ok_or_else(|| err(format!("missing or empty `{k}`; expected a string")))
        };
        let subject = field("subject_id")?;
        let question = field("question")?;
        let response = field("response")?;
        let user = match text(v.get("user_id")) {
            Some(u) => u,
            None => format!("not-logged-in:{}", field("classification_id")?),
        };
        let t = match text(v.get("created_at")) {
            Some(s) => parse_time(&s).ok_or_else(|| {
                err(format!(
                    "created_at `{s}`; expected YYYY-MM-DDTHH:MM:SS[.fff]Z"
                ))
            })?,
            None => i as f64,
        };
        it.push(&user, &subject, &question, &response, t);
    }
    Ok(it.finish())
}

/// Strips Markdown images (`![alt](url)`) and whitespace from an answer label.
fn clean_label(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("![") {
        out.push_str(&rest[..i]);
        match rest[i..].find(')') {
            Some(j) => rest = &rest[i + j + 1..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

/// Reads a Panoptes classification CSV export: each annotation `{task, value}` becomes one row
/// (question = task id such as `T0`; answer = the value text without Markdown images; list values
/// give one row per element; empty values are skipped). Uses the first of `subject_ids`.
pub fn read_panoptes_classifications(
    path: impl AsRef<Path>,
) -> Result<Classifications, CrowdError> {
    let path = path.as_ref();
    let perr = |line: u64, reason: String| CrowdError::Parse {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let bytes = super::csv_io::read_bytes(path)?;
    let rdr = csv::ReaderBuilder::new().from_reader(&bytes[..]);
    let (mut rdr, header) = super::csv_io::with_header(path, rdr)?;
    let col = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            perr(
                1,
                format!("missing column `{name}`; expected a Panoptes classification export"),
            )
        })
    };
    let (c_id, c_user, c_time, c_ann, c_subj) = (
        col("classification_id")?,
        col("user_id")?,
        col("created_at")?,
        col("annotations")?,
        col("subject_ids")?,
    );
    let mut it = Interner::new();
    for (row, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| {
            let line = e
                .position()
                .map_or(row as u64 + 2, |p| record_line(&bytes, p));
            perr(line, format!("malformed CSV row: {e}"))
        })?;
        let line = rec
            .position()
            .map_or(row as u64 + 2, |p| record_line(&bytes, p));
        let get = |c: usize| rec.get(c).map(str::trim).unwrap_or("");
        let id = get(c_id);
        let user = match get(c_user) {
            "" => format!("not-logged-in:{id}"),
            u => u.to_string(),
        };
        let subject = get(c_subj)
            .split([';', ','])
            .map(str::trim)
            .find(|s| !s.is_empty())
            .ok_or_else(|| perr(line, "empty `subject_ids`; expected a subject id".into()))?
            .to_string();
        let t = parse_time(get(c_time)).ok_or_else(|| {
            perr(
                line,
                format!(
                    "created_at `{}`; expected `YYYY-MM-DD HH:MM:SS UTC`",
                    get(c_time)
                ),
            )
        })?;
        let ann: Value = serde_json::from_str(get(c_ann))
            .map_err(|e| perr(line, format!("annotations are not JSON: {e}")))?;
        let tasks = ann.as_array().ok_or_else(|| {
            perr(
                line,
                "annotations: expected a JSON list of {task, value}".into(),
            )
        })?;
        for a in tasks {
            let task = text(a.get("task")).ok_or_else(|| {
                perr(
                    line,
                    "annotation without `task`; expected e.g. \"T0\"".into(),
                )
            })?;
            let values: Vec<&Value> = match a.get("value") {
                Some(Value::Array(xs)) => xs.iter().collect(),
                Some(v) => vec![v],
                None => vec![],
            };
            for v in values {
                if let Some(s) = text(Some(v)) {
                    let label = clean_label(&s);
                    if !label.is_empty() {
                        it.push(&user, &subject, &task, &label, t);
                    }
                }
            }
        }
    }
    Ok(it.finish())
}

/// Classification file formats `aggregate` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// Told from the file's first line: `{` starts Panoptes flat JSON lines; a header with
    /// `annotations` and `subject_ids` is a Panoptes classification export; a header with
    /// `volunteer,galaxy,question,answer` is the plain CSV.
    Auto,
    /// The plain CSV `volunteer,galaxy,question,answer[,time]` ([`super::csv_io::read_csv`]).
    Csv,
    /// A Zooniverse export: the Panoptes classification CSV export
    /// ([`read_panoptes_classifications`]) or flattened JSON lines ([`read_panoptes_flat`]),
    /// told apart by the first byte.
    Zooniverse,
}

impl InputFormat {
    /// Parses `auto`, `csv` or `zooniverse`.
    pub fn from_name(name: &str) -> Option<InputFormat> {
        match name {
            "auto" => Some(InputFormat::Auto),
            "csv" => Some(InputFormat::Csv),
            "zooniverse" => Some(InputFormat::Zooniverse),
            _ => None,
        }
    }
}

/// The first line of `path` (at most 64 KiB), without a UTF-8 byte-order mark.
fn first_line(path: &Path) -> Result<String, CrowdError> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(1 << 16).read_to_end(&mut buf))
        .map_err(|source| CrowdError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let buf = buf.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&buf);
    let end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    Ok(String::from_utf8_lossy(&buf[..end]).trim().to_string())
}

/// Reads classifications from `path` in `format`; returns them and the format's name
/// (`csv`, `panoptes-csv` or `panoptes-flat`).
pub fn read_classifications(
    path: &Path,
    format: InputFormat,
) -> Result<(Classifications, &'static str), CrowdError> {
    if format == InputFormat::Csv {
        return Ok((read_csv(path)?, "csv"));
    }
    let line = first_line(path)?;
    if line.starts_with('{') {
        return Ok((read_panoptes_flat(path)?, "panoptes-flat"));
    }
    let names: Vec<&str> = line
        .split(',')
        .map(|h| h.trim().trim_matches('"'))
        .collect();
    let has = |c: &str| names.contains(&c);
    if format == InputFormat::Zooniverse || (has("annotations") && has("subject_ids")) {
        return Ok((read_panoptes_classifications(path)?, "panoptes-csv"));
    }
    if ["volunteer", "galaxy", "question", "answer"]
        .iter()
        .all(|c| has(c))
    {
        return Ok((read_csv(path)?, "csv"));
    }
    Err(CrowdError::Parse {
        path: path.to_path_buf(),
        line: 1,
        reason: format!(
            "unrecognised header `{}`; expected a classification CSV \
             (volunteer,galaxy,question,answer[,time]), a Panoptes classification export \
             (classification_id,user_id,created_at,annotations,subject_ids,...) or Panoptes flat \
             JSON lines ({{\"user_id\", \"subject_id\", \"question\", \"response\", ...}})",
            line.chars().take(200).collect::<String>()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crowd::{Aggregator, MajorityVote};
    use crate::shared_data::require_or_skip;

    #[test]
    fn times() {
        assert_eq!(parse_time("1970-01-02T00:00:01.5Z"), Some(86_401.5));
        assert_eq!(parse_time("2018-02-20 10:44:42 UTC"), Some(1_519_123_482.0));
        assert_eq!(parse_time("2018-13-20 10:44:42 UTC"), None);
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn real_panoptes_flat() {
        let Some(p) = require_or_skip("zooniverse-exports/panoptes_flat.json") else {
            return;
        };
        let c = read_panoptes_flat(&p).unwrap();
        assert_eq!(c.len(), 1729);
        assert_eq!(c.galaxy_names.len(), 463);
        // 34 logged-in users plus 56 anonymous classifications (228 rows without user_id), each
        // its own `not-logged-in:<classification_id>` volunteer.
        assert_eq!(c.volunteer_names.len(), 90);
        let q = c.question_id("smooth-or-featured").unwrap();
        assert_eq!(
            c.questions[q as usize].answers,
            vec!["artifact", "featured-or-disk", "smooth"]
        );
        let v = c.for_question(q).unwrap();
        assert_eq!(v.len(), 467);
        let a = MajorityVote.aggregate(&v).unwrap();
        assert_eq!(a.labels.len(), v.n_galaxies);
        // First line: user 1954805 answered `artifact` for subject 36227705 on 2019-12-04.
        assert_eq!(c.volunteer_names[c.volunteer[0] as usize], "1954805");
        assert_eq!(c.galaxy_names[c.galaxy[0] as usize], "36227705");
        assert_eq!(c.answer[0], 0);
        assert!((c.time[0] - parse_time("2019-12-04T20:48:11.904Z").unwrap()).abs() < 1e-9);
    }

    #[test]
    fn real_classification_csv() {
        let Some(p) = require_or_skip("zooniverse-exports/panoptes_classifications_minimal.csv")
        else {
            return;
        };
        let c = read_panoptes_classifications(&p).unwrap();
        assert!(c.len() > 9, "{} rows", c.len());
        let q = c.question_id("T0").unwrap();
        let answers = &c.questions[q as usize].answers;
        assert!(
            answers.iter().any(|a| a == "Features or Disk"),
            "{answers:?}"
        );
        assert!(answers.iter().all(|a| !a.contains("![")));
        assert_eq!(c.volunteer_names[0], "290475");
    }

    #[test]
    fn bad_input_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("flat.json");
        std::fs::write(&p, "{\"user_id\":\"1\",\"subject_id\":\"2\",\"question\":\"q\",\"response\":\"a\"}\n\n{\"user_id\":\"1\",\"subject_id\":\"2\"}\n").unwrap();
        let e = read_panoptes_flat(&p).unwrap_err().to_string();
        assert!(
            e.contains("flat.json:3:") && e.contains("`question`"),
            "{e}"
        );
        std::fs::write(&p, "not json\n").unwrap();
        assert!(
            read_panoptes_flat(&p)
                .unwrap_err()
                .to_string()
                .contains(":1:")
        );
        let p = dir.path().join("cls.csv");
        std::fs::write(
            &p,
            "classification_id,user_id,created_at,annotations,subject_ids\n1,u,2018-02-20 10:44:42 UTC,\"[{\"\"task\"\":\"\"T0\"\",\"\"value\"\":\"\"Yes\"\"}]\",5\n2,u,2018-02-20 10:44:42 UTC,{oops,5\n",
        )
        .unwrap();
        let e = read_panoptes_classifications(&p).unwrap_err().to_string();
        assert!(e.contains("cls.csv:3:") && e.contains("annotations"), "{e}");
    }

    /// Found by `tests/fuzz_readers`: flat JSON lines that are not UTF-8 were a "cannot read"
    /// without a line.
    #[test]
    fn flat_json_that_is_not_utf8_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("flat.json");
        let good = r#"{"user_id":"1","subject_id":"2","question":"q","response":"a"}"#;
        let mut bytes = format!("{good}\r\n{{").into_bytes();
        bytes.extend_from_slice(b"\x80\"x\":1}\n");
        std::fs::write(&p, &bytes).unwrap();
        let e = read_panoptes_flat(&p).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}:2: byte 2 of the line is not UTF-8 text; expected JSON lines",
                p.display()
            )
        );
        // a `\r\n` line end still reads
        std::fs::write(&p, format!("{good}\r\n{good}\r\n")).unwrap();
        assert_eq!(read_panoptes_flat(&p).unwrap().len(), 2);
    }
}
