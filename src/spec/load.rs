//! Reading experiment files: YAML -> [`Experiment`], with errors that say `file:line:col: what; expected`.

use super::{Experiment, Profile};
use serde_yaml::Value;
use std::path::Path;

/// A bad experiment file. Displayed as `file:line:col: what is wrong; what was expected`.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{col}: {msg}")]
    At {
        file: String,
        line: usize,
        col: usize,
        msg: String,
    },
    #[error("{file}: {msg}")]
    File { file: String, msg: String },
}

/// Read and validate an experiment file.
pub fn load(path: &Path) -> Result<Experiment, SpecError> {
    let text = read_text(path)?;
    parse_str(&text, &path.display().to_string())
}

/// The text of an experiment file; bytes that are not UTF-8 are an error located at the line
/// and (byte) column of the first bad one.
pub fn read_text(path: &Path) -> Result<String, SpecError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| SpecError::Io {
        file: file.clone(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|e| {
        // located like a YAML error: the line and (byte) column of the first bad byte
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        SpecError::At {
            file,
            line: 1 + good.iter().filter(|&&b| b == b'\n').count(),
            col: 1 + good.len() - line_start,
            msg: "not UTF-8 text; expected a YAML file in UTF-8".into(),
        }
    })
}

/// Parse and validate experiment text; `file` names it in errors.
pub fn parse_str(text: &str, file: &str) -> Result<Experiment, SpecError> {
    let exp: Experiment = serde_yaml::from_str(text).map_err(|e| yaml_error(&e, file))?;
    validate(&exp, text, file)?;
    Ok(exp)
}

/// Turn a serde_yaml error into `file:line:col: message`, dropping serde_yaml's own location suffix.
fn yaml_error(e: &serde_yaml::Error, file: &str) -> SpecError {
    let full = e.to_string();
    let msg = match full.find(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full,
    };
    let msg = explain(&msg);
    match e.location() {
        Some(loc) => SpecError::At {
            file: file.into(),
            line: loc.line(),
            col: loc.column(),
            msg,
        },
        None => SpecError::File {
            file: file.into(),
            msg,
        },
    }
}

/// Rephrase serde's wording in the project's `what; expected` form.
pub(super) fn explain(msg: &str) -> String {
    if let Some(i) = msg.find("unknown variant ") {
        let (path, rest) = msg.split_at(i);
        let rest = rest
            .replacen("unknown variant ", "unknown name ", 1)
            .replacen(", expected", "; expected", 1);
        return format!("{path}{rest}");
    }
    if let Some(i) = msg.find("unknown field ") {
        let (path, rest) = msg.split_at(i);
        let rest = rest.replacen("unknown field ", "unknown key ", 1).replacen(
            ", expected",
            "; expected",
            1,
        );
        return format!("{path}{rest} (check the spelling)");
    }
    if msg.contains("invalid type") {
        return msg.replacen(", expected", "; expected", 1);
    }
    msg.to_string()
}

/// 1-based line and column of the first occurrence of `needle` as a YAML key in `text`.
pub fn locate(text: &str, needle: &str) -> (usize, usize) {
    for (i, line) in text.lines().enumerate() {
        if let Some(c) = line.find(&format!("{needle}:")) {
            return (i + 1, c + 1);
        }
    }
    (1, 1)
}

/// 1-based line and column of `key` inside the top-level section `section` (block or flow
/// style), pointing at `value` on that line when it is there; falls back to [`locate`].
pub fn locate_in(text: &str, section: &str, key: &str, value: Option<&str>) -> (usize, usize) {
    let mut inside = false;
    for (i, line) in text.lines().enumerate() {
        let top = !line.starts_with([' ', '\t', '#']) && !line.trim().is_empty();
        if top {
            inside = line.starts_with(&format!("{section}:"));
        }
        if !inside {
            continue;
        }
        if let Some(c) = line.find(&format!("{key}:")) {
            let col = value
                .and_then(|v| line[c..].find(v).map(|o| c + o))
                .unwrap_or(c);
            return (i + 1, col + 1);
        }
    }
    locate(text, key)
}

fn at(text: &str, file: &str, key: &str, msg: String) -> SpecError {
    let (line, col) = locate(text, key);
    SpecError::At {
        file: file.into(),
        line,
        col,
        msg,
    }
}

fn validate(exp: &Experiment, text: &str, file: &str) -> Result<(), SpecError> {
    if exp.name.is_empty()
        || !exp
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(at(
            text,
            file,
            "name",
            format!(
                "name `{}` is not usable as a folder name; expected letters, digits, `-` or `_`",
                exp.name
            ),
        ));
    }
    if exp.seeds.is_empty() {
        return Err(at(
            text,
            file,
            "seeds",
            "seeds is empty; expected at least one seed, e.g. [0, 1, 2]".into(),
        ));
    }
    for (key, values) in &exp.sweep {
        if values.is_empty() {
            return Err(at(
                text,
                file,
                key,
                format!("sweep `{key}` has no values; expected a non-empty list"),
            ));
        }
        if key == "seeds" || key == "seed" {
            return Err(at(
                text,
                file,
                key,
                "seeds are not swept here; expected them in the top-level `seeds:` list".into(),
            ));
        }
    }
    for (which, key) in [("x", &exp.report.x), ("series", &exp.report.series)] {
        if let Some(k) = key
            && !exp.sweep.contains_key(k)
        {
            let known = super::names(exp.sweep.keys());
            return Err(at(
                text,
                file,
                which,
                format!("report.{which} `{k}` is not a sweep key; expected one of {known}"),
            ));
        }
    }
    for (key, value) in exp.report.reference.iter().flatten() {
        let shown = super::yaml_name(value);
        let msg = match exp.sweep.get(key) {
            None => {
                let known = super::names(exp.sweep.keys());
                format!("report.reference `{key}` is not a sweep key; expected one of {known}")
            }
            Some(values) if !values.contains(value) => {
                let known = super::names(values.iter().map(super::yaml_name));
                format!(
                    "report.reference `{key}` = {shown} is not a swept value; expected one of {known}"
                )
            }
            Some(_) => continue,
        };
        return Err(at(text, file, "reference", msg));
    }
    // Every profile must produce a valid experiment, and every grid point a valid run.
    for profile in [Profile::Smoke, Profile::Cpu, Profile::Gpu] {
        let resolved = with_profile(exp, profile, text, file)?;
        let runs = super::sweep::expand(&resolved, text, file)?;
        check_report_metrics(exp, &runs, text, file)?;
    }
    Ok(())
}

/// `report.metrics` and `report.power_law` name only what the experiment's runs record.
fn check_report_metrics(
    exp: &Experiment,
    runs: &[super::RunSpec],
    text: &str,
    file: &str,
) -> Result<(), SpecError> {
    let mut known: Vec<&str> = runs
        .iter()
        .flat_map(|r| super::task::recorded(r.kind, r.task.target))
        .collect();
    known.sort_unstable();
    known.dedup();
    let asked = exp.report.metrics.iter().flatten().map(|m| ("metrics", m));
    for (key, name) in asked.chain(exp.report.power_law.iter().map(|m| ("power_law", m))) {
        if !known.contains(&name.as_str()) {
            let (line, col) = locate_in(text, "report", key, Some(name));
            return Err(SpecError::At {
                file: file.into(),
                line,
                col,
                msg: format!(
                    "report.{key}: `{name}` is not recorded by these runs; expected one of {}",
                    known.join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// The experiment with the overrides of `profile` applied (no overrides: unchanged).
pub fn with_profile(
    exp: &Experiment,
    profile: Profile,
    text: &str,
    file: &str,
) -> Result<Experiment, SpecError> {
    let Some(overrides) = exp.profiles.get(&profile) else {
        return Ok(exp.clone());
    };
    let mut doc = serde_yaml::to_value(exp).expect("experiment serialises");
    for (key, value) in overrides {
        let path: Vec<&str> = if let Some(rest) = key.strip_prefix("sweep.") {
            vec!["sweep", rest]
        } else {
            key.split('.').collect()
        };
        set_path(&mut doc, &path, value.clone());
    }
    serde_yaml::from_value(doc).map_err(|e| {
        at(
            text,
            file,
            profile.as_str(),
            format!(
                "profile `{}`: {}",
                profile.as_str(),
                explain(&e.to_string())
            ),
        )
    })
}

/// Set `doc[path[0]][path[1]]... = value`, creating mappings on the way.
pub(super) fn set_path(doc: &mut Value, path: &[&str], value: Value) {
    let mut cur = doc;
    for (i, part) in path.iter().enumerate() {
        if !cur.is_mapping() {
            *cur = Value::Mapping(Default::default());
        }
        let map = cur.as_mapping_mut().expect("mapping");
        let k = Value::String((*part).to_string());
        if i + 1 == path.len() {
            map.insert(k, value);
            return;
        }
        cur = map.entry(k).or_insert(Value::Mapping(Default::default()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "name: t\nkind: train\nseeds: [0, 1]\ndata:\n  source: shapes\n  train_size: 100\nsweep:\n  data.train_size: [10, 20]\n";

    fn err(text: &str) -> String {
        parse_str(text, "x.yaml").unwrap_err().to_string()
    }

    #[test]
    fn bytes_that_are_not_utf8_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.yaml");
        std::fs::write(&p, b"name: t\nkind: tr\x80ain\n").unwrap();
        let e = load(&p).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}:2:9: not UTF-8 text; expected a YAML file in UTF-8",
                p.display()
            )
        );
    }

    #[test]
    fn good_file_parses() {
        let e = parse_str(GOOD, "x.yaml").unwrap();
        assert_eq!(e.seeds, vec![0, 1]);
        assert_eq!(e.data.train_size, 100);
    }

    #[test]
    fn misspelled_key_has_location() {
        let e = err(&GOOD.replace("train_size: 100", "trian_size: 100"));
        assert!(
            e.starts_with("x.yaml:6:3: data: unknown key `trian_size`"),
            "{e}"
        );
        assert!(e.contains("expected one of"), "{e}");
    }

    #[test]
    fn wrong_type_has_location() {
        let e = err(&GOOD.replace("train_size: 100", "train_size: lots"));
        assert!(e.starts_with("x.yaml:6:"), "{e}");
        assert!(e.contains("invalid type") && e.contains("expected"), "{e}");
    }

    #[test]
    fn unknown_registered_name_lists_known_ones() {
        let e = err(&GOOD.replace("source: shapes", "source: shpaes"));
        assert!(
            e.starts_with("x.yaml:5:11: data.source: unknown name `shpaes`; expected"),
            "{e}"
        );
        assert!(e.contains("`shapes`"), "{e}");
    }

    #[test]
    fn bad_sweep_key_is_located() {
        let e = err(&GOOD.replace("data.train_size: [10, 20]", "data.trainsize: [10, 20]"));
        assert!(e.starts_with("x.yaml:8:3: sweep `data.trainsize`"), "{e}");
        assert!(e.contains("unknown key `trainsize`"), "{e}");
    }

    #[test]
    fn profile_overrides_apply() {
        let text = format!(
            "{GOOD}profiles:\n  smoke:\n    seeds: [5]\n    sweep.data.train_size: [3]\n    train.epochs: 1\n"
        );
        let e = parse_str(&text, "x.yaml").unwrap();
        let s = with_profile(&e, Profile::Smoke, &text, "x.yaml").unwrap();
        assert_eq!(s.seeds, vec![5]);
        assert_eq!(s.train.epochs, 1);
        assert_eq!(s.sweep["data.train_size"].len(), 1);
        let c = with_profile(&e, Profile::Cpu, &text, "x.yaml").unwrap();
        assert_eq!(c.seeds, vec![0, 1]);
    }

    #[test]
    fn reference_arm_is_checked() {
        let ok = format!("{GOOD}report:\n  reference: {{ data.train_size: 20 }}\n");
        let e = parse_str(&ok, "x.yaml").unwrap();
        let r = e.report.reference.unwrap();
        assert_eq!(r["data.train_size"], Value::from(20));
        let e = err(&ok.replace("20 }", "30 }"));
        assert!(
            e.starts_with(
                "x.yaml:10:3: report.reference `data.train_size` = 30 is not a swept value"
            ),
            "{e}"
        );
        assert!(e.ends_with("expected one of `10`, `20`"), "{e}");
        let e = err(&ok.replace("data.train_size: 20", "model.backbone: linear"));
        assert!(
            e.starts_with("x.yaml:10:3: report.reference `model.backbone` is not a sweep key"),
            "{e}"
        );
    }

    #[test]
    fn bad_profile_override_is_located() {
        let text = format!("{GOOD}profiles:\n  smoke:\n    train.epoch: 1\n");
        let e = err(&text);
        assert!(e.starts_with("x.yaml:10:3: profile `smoke`"), "{e}");
        assert!(e.contains("epoch"), "{e}");
    }
}
