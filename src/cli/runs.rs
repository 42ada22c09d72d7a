//! `gzbench runs`: every run in the store with its provenance (run format, device, code
//! revision, gzbench version, seconds), read from the files alone so runs of any older format
//! are listed too.

use super::*;
use serde_yaml::Value;

/// One line of the view.
struct Row {
    id: String,
    experiment: String,
    point: String,
    format: Option<u64>,
    complete: bool,
    device: String,
    rev: String,
    gzbench: String,
    seconds: Option<f64>,
}

fn row(store: &Store, id: &str) -> Row {
    let dir = store.run_dir(id);
    let spec: Value = std::fs::read_to_string(dir.join("spec.yaml"))
        .ok()
        .and_then(|t| serde_yaml::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let text = |k: &str| spec.get(k).and_then(Value::as_str).map(str::to_string);
    let mut point: Vec<String> = spec
        .get("point")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let v = serde_yaml::to_string(v).unwrap_or_default();
            format!("{}={}", k.as_str().unwrap_or("?"), v.trim())
        })
        .collect();
    if let Some(seed) = spec.get("seed").and_then(Value::as_u64) {
        point.push(format!("seed={seed}"));
    }
    let prov = store.provenance(id);
    Row {
        id: id.to_string(),
        experiment: text("experiment").unwrap_or_else(|| "?".into()),
        point: point.join(", "),
        format: spec.get("run_format").and_then(Value::as_u64),
        complete: store.is_complete(id),
        device: text("device").unwrap_or_else(|| "cpu".into()),
        rev: prov.as_ref().map_or("-".into(), |p| {
            let mark = if p.source.is_some() { "~" } else { "" };
            format!("{}{mark}", p.short_rev())
        }),
        gzbench: text("gzbench").unwrap_or_else(|| "?".into()),
        seconds: seconds(store, id),
    }
}

/// Wall seconds a run took, from its `timing.json`.
pub(super) fn seconds(store: &Store, id: &str) -> Option<f64> {
    std::fs::read_to_string(store.run_dir(id).join("timing.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|t| t.get("seconds").and_then(serde_json::Value::as_f64))
}

pub(super) fn runs(
    at: &ResultsAndProfile,
    experiment: Option<&str>,
    stale_only: bool,
) -> Result<(), CliError> {
    let store = Store::new(&at.results);
    let ids = store.ids().map_err(failed)?;
    let current = u64::from(spec::RUN_FORMAT_VERSION);
    let rows: Vec<Row> = ids
        .iter()
        .map(|id| row(&store, id))
        .filter(|r| experiment.is_none_or(|e| r.experiment == e))
        .filter(|r| !stale_only || r.format.is_some_and(|f| f < current))
        .collect();
    say!(
        "{:<16} {:<26} {:>7} {:<8} {:<6} {:<16} {:<8} {:>8}  point",
        "run",
        "experiment",
        "format",
        "state",
        "device",
        "code",
        "gzbench",
        "seconds"
    );
    let mut stale = 0;
    for r in &rows {
        let old = r.format.is_some_and(|f| f < current);
        stale += usize::from(old);
        let state = match (r.complete, old) {
            (false, _) => "partial",
            (true, true) => "stale",
            (true, false) => "ok",
        };
        say!(
            "{:<16} {:<26} {:>7} {:<8} {:<6} {:<16} {:<8} {:>8}  {}",
            r.id,
            r.experiment,
            r.format.map_or("?".into(), |f| f.to_string()),
            state,
            r.device,
            r.rev,
            r.gzbench,
            r.seconds.map_or("-".into(), |s| format!("{s:.1}")),
            r.point
        );
    }
    say!(
        "{} runs, {stale} stale (run format older than {current}); code `~`: backfilled from \
         git history (the commit that recorded the run), `-`: none recorded",
        rows.len()
    );
    Ok(())
}
