//! The experiment commands: `validate`, `run`, `report`, `list`, `reproduce [--check]` and the
//! progress bar they draw.

use super::*;

pub(super) fn validate(files: &[PathBuf]) -> Result<(), CliError> {
    let mut bad = 0;
    for f in files {
        let checked: Result<Vec<(Profile, usize, String)>, spec::SpecError> =
            [Profile::Smoke, Profile::Cpu, Profile::Gpu]
                .into_iter()
                .map(|p| runner::plan(f, p).map(|(exp, runs)| (p, runs.len(), exp.name)))
                .collect();
        match checked {
            Ok(per_profile) => {
                let n: Vec<String> = per_profile
                    .iter()
                    .map(|(p, n, _)| format!("{n} {}", p.as_str()))
                    .collect();
                match check_catalogue(f) {
                    Ok(()) => say!(
                        "ok  {}: `{}`, runs: {}",
                        f.display(),
                        per_profile[0].2,
                        n.join(", ")
                    ),
                    Err(e) => {
                        esay!("{}: {e}", f.display());
                        bad += 1;
                    }
                }
            }
            Err(e) => {
                esay!("{e}");
                bad += 1;
            }
        }
    }
    if bad > 0 {
        Err(bad_input(format!(
            "{bad} of {} experiment files are invalid",
            files.len()
        )))
    } else {
        Ok(())
    }
}

/// `validate` of a catalogue experiment: read its catalogues and decode every image (the
/// first run's mapping; data not on this machine is reported, not failed).
fn check_catalogue(f: &Path) -> Result<(), crate::data::DataError> {
    use crate::data::{catalog, catalog_splits, unavailable};
    let Ok((_, runs)) = runner::plan(f, Profile::Cpu) else {
        return Ok(());
    };
    let Some(spec) = runs.first() else {
        return Ok(());
    };
    let Some(c) = &spec.data.catalog else {
        return Ok(());
    };
    if let Some(why) = unavailable(spec) {
        say!("    {}: catalogue not checked: {why}", f.display());
        return Ok(());
    }
    if c.file_column.is_none() && c.file_pattern.is_none() {
        let (rows, path) = crate::data::catalog_rows(spec, c)?;
        say!(
            "    {}: {} galaxies read and checked (no images)",
            path.display(),
            rows.len()
        );
        return Ok(());
    }
    let (pool, test, path) = catalog_splits(spec, c)?;
    let opt = catalog::ImageOptions::new(spec.data.image_size, c);
    catalog::load(&pool, &opt)?;
    catalog::load(&test, &opt)?;
    say!(
        "    {}: {} galaxies in the pool, {} in the test split; every image readable",
        path.display(),
        pool.len(),
        test.len()
    );
    Ok(())
}

struct Bar {
    bar: ProgressBar,
    started: Instant,
}

impl Progress for Bar {
    fn start(&self, total: usize, done: usize) {
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
    }
    fn epoch(&self, id: &str, epoch: usize, epochs: usize, loss: f64, rate: f64) {
        self.bar.set_message(format!(
            "run {id} epoch {}/{epochs} loss {loss:.4} {rate:.0} img/s",
            epoch + 1
        ));
    }
    fn run_finished(&self, _id: &str) {
        self.bar.inc(1);
        let per = self.started.elapsed().as_secs_f64() / self.bar.position().max(1) as f64;
        self.bar.set_prefix(format!("{per:.1} s/run"));
    }
}

pub(super) fn run(
    file: &Path,
    at: &ResultsAndProfile,
    device: &candle_core::Device,
    opts: runner::RunOptions,
    write_report: bool,
) -> Result<Summary, CliError> {
    let store = Store::new(&at.results);
    let part = match &opts.select {
        runner::Select::All => String::new(),
        runner::Select::Shard { index, count } => format!(" (shard {index}/{count})"),
        runner::Select::Ids(ids) if ids.len() == 1 => format!(" (run {})", ids[0]),
        runner::Select::Ids(ids) => format!(" ({} run ids)", ids.len()),
    };
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} runs, eta {eta} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let progress = Bar {
        bar,
        started: Instant::now(),
    };
    let wait = |id: &str| esay!("waiting: another gzbench is computing run {id} in this store");
    let (summary, errors) = runner::run_experiment(
        file, at.profile, &store, device, opts, &progress, wait,
    )
    .map_err(|e| match e {
        runner::RunError::Spec(e) => bad_input(e),
        runner::RunError::Select(e) => bad_input(e),
        e => failed(e),
    })?;
    progress.bar.finish_and_clear();
    say!(
        "{}{part}: {} runs ({} already complete, {} computed, {} failed) in {:.1} s on {}",
        summary.experiment,
        summary.total,
        summary.skipped,
        summary.computed,
        summary.failed,
        summary.seconds,
        engine::describe(device)
    );
    if summary.unavailable > 0 {
        esay!(
            "skipped {} runs whose data is not on this machine:",
            summary.unavailable
        );
        for why in &summary.unavailable_reasons {
            esay!("  {why}");
        }
    }
    let reported = match write_report {
        true => report(file, at, DeviceKind::of(device)),
        false => Ok(()),
    };
    if !errors.is_empty() {
        if let Err(CliError { message: msg, .. }) = &reported {
            esay!("report: {msg}");
        }
        for e in &errors {
            esay!("{e}");
        }
        if summary.not_attempted > 0 {
            esay!(
                "stopped: the results folder {} cannot be written (above); the {} runs finished \
                 before are kept, {} were not attempted: fix it and run again to compute the rest",
                at.results.display(),
                summary.skipped + summary.computed,
                summary.not_attempted
            );
        }
        return Err(failed(format!(
            "{} of {} runs failed",
            errors.len(),
            summary.total
        )));
    }
    reported?;
    Ok(summary)
}

pub(super) fn report(
    file: &Path,
    at: &ResultsAndProfile,
    device: DeviceKind,
) -> Result<(), CliError> {
    let store = Store::new(&at.results);
    // no complete run (e.g. its real data is not on this machine): keep what was written before
    let (exp, runs) = runner::plan(file, at.profile).map_err(bad_input)?;
    let runs = spec::on_device(runs, device);
    let (done, stale) = completeness(&store, &runs);
    if stale > 0 {
        esay!(
            "{}: {stale} runs are only in the store from an older run format (this gzbench writes \
             format {}): left out of the report; `gzbench reproduce` recomputes them",
            exp.name,
            spec::RUN_FORMAT_VERSION
        );
    }
    if done == 0 {
        esay!(
            "{}: no complete {} runs in {}; its tables and figures are left as they are",
            exp.name,
            device.as_str(),
            at.results.display()
        );
        return Ok(());
    }
    let w = crate::report::report(file, at.profile, device, &store).map_err(|e| match e {
        crate::report::ReportError::Spec(e) => bad_input(e),
        e => failed(e),
    })?;
    if w.complete < w.runs {
        esay!(
            "note: {} of {} runs are complete; the report covers those",
            w.complete,
            w.runs
        );
    }
    for f in &w.files {
        say!("wrote {}", f.display());
    }
    Ok(())
}

pub(super) fn experiment_files(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| bad_input(format!("{}: cannot list experiments: {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Complete and stale (only an older run format in the store) runs of `runs`.
fn completeness(store: &Store, runs: &[spec::RunSpec]) -> (usize, usize) {
    let done = runs
        .iter()
        .filter(|r| store.is_complete(&run_id(r)))
        .count();
    let stale = runs
        .iter()
        .filter(|r| !store.is_complete(&run_id(r)) && !store.older_runs(r).is_empty())
        .count();
    (done, stale)
}

pub(super) fn list(dir: &Path, at: &ResultsAndProfile, device: DeviceKind) -> Result<(), CliError> {
    let store = Store::new(&at.results);
    let profile: Profile = at.profile;
    say!(
        "{:<32} {:>10} {:>6} {:>9}  question",
        format!("experiment ({}, {})", profile.as_str(), device.as_str()),
        "complete",
        "stale",
        "compute s"
    );
    let mut total = 0.0;
    for f in experiment_files(dir)? {
        match runner::plan(&f, profile) {
            Ok((exp, runs)) => {
                let runs = spec::on_device(runs, device);
                let (done, stale) = completeness(&store, &runs);
                // `+ 0.0`: an empty sum is -0.0, printed "-0"
                let secs: f64 = runs
                    .iter()
                    .filter_map(|r| super::runs::seconds(&store, &run_id(r)))
                    .sum::<f64>()
                    + 0.0;
                total += secs;
                say!(
                    "{:<32} {:>10} {:>6} {:>9.0}  {}",
                    exp.name,
                    format!("{done}/{}", runs.len()),
                    stale,
                    secs,
                    exp.question.unwrap_or_default()
                );
            }
            Err(e) => say!("{:<32} {:>10}  {e}", f.display(), "invalid"),
        }
    }
    say!(
        "compute s: wall seconds the complete runs took (timing.json), {total:.0} in all; \
         stale: computed only by an older run format than this gzbench's ({}): \
         `gzbench reproduce` recomputes them, `gzbench runs --stale` lists them",
        spec::RUN_FORMAT_VERSION
    );
    Ok(())
}

/// `reproduce --frozen`: fail, naming them, when any experiment's run is missing or stale.
pub(super) fn frozen(
    dir: &Path,
    at: &ResultsAndProfile,
    device: DeviceKind,
) -> Result<(), CliError> {
    let store = Store::new(&at.results);
    let mut short = Vec::new();
    for f in experiment_files(dir)? {
        let (exp, runs) = runner::plan(&f, at.profile).map_err(bad_input)?;
        let runs: Vec<_> = spec::on_device(runs, device)
            .into_iter()
            .filter(|r| crate::data::unavailable(r).is_none())
            .collect();
        let (done, stale) = completeness(&store, &runs);
        if done < runs.len() {
            short.push(format!(
                "{}: {} of {} runs missing ({stale} of them stale, computed by an older run format)",
                exp.name,
                runs.len() - done,
                runs.len()
            ));
        }
    }
    if short.is_empty() {
        return Ok(());
    }
    Err(failed(format!(
        "--frozen: the store {} lacks runs this gzbench (run format {}) would compute:\n  {}\n\
             run `gzbench reproduce` without --frozen to compute them",
        at.results.display(),
        spec::RUN_FORMAT_VERSION,
        short.join("\n  ")
    )))
}

pub(super) fn build_paper(dir: &Path) -> Result<(), CliError> {
    if !dir.join("gzbench.md").is_file() {
        esay!(
            "no paper source at {}; paper not built",
            dir.join("gzbench.md").display()
        );
        return Ok(());
    }
    let built = crate::report::paper::build(dir).map_err(failed)?;
    for f in &built.files {
        say!("wrote {}", f.display());
    }
    if let Some(why) = built.pdf_skipped {
        say!("{why}");
    }
    Ok(())
}

/// `reproduce --check`: every run recomputed in a temporary store, tables compared.
pub(super) fn reproduce_check(
    dir: &Path,
    at: &ResultsAndProfile,
    device: &candle_core::Device,
    opts: runner::RunOptions,
) -> Result<(), CliError> {
    let scratch = std::env::temp_dir().join(format!("gzbench-check-{}", std::process::id()));
    let fresh = ResultsAndProfile {
        results: scratch.clone(),
        profile: at.profile,
    };
    // experiments whose (optional) data is not on this machine cannot be checked here: said,
    // or, under GZBENCH_REQUIRE_SHARED_DATA, a failure before anything is recomputed
    let mut names = Vec::new();
    let mut unchecked = Vec::new();
    for f in experiment_files(dir)? {
        let Ok((exp, runs)) = runner::plan(&f, at.profile) else {
            continue;
        };
        match runs.iter().find_map(crate::data::unavailable) {
            Some(why) => unchecked.push((exp.name, why)),
            None => names.push(exp.name),
        }
    }
    if crate::shared_data::required() && !unchecked.is_empty() {
        for (name, why) in &unchecked {
            esay!("cannot check {name}: {why}");
        }
        let list: Vec<&str> = unchecked.iter().map(|(n, _)| n.as_str()).collect();
        return Err(failed(format!(
            "{} is set but {} experiments cannot be checked, their data is not on this machine: {}; set {} to the shared data folder (looked in {})",
            crate::shared_data::REQUIRE_ENV,
            list.len(),
            list.join(", "),
            crate::shared_data::ENV,
            crate::shared_data::root().display()
        )));
    }
    let result = reproduce(dir, &fresh, device, opts);
    for (name, why) in &unchecked {
        say!("not checked: {name} ({why})");
    }
    let diffs = crate::report::compare_tables(
        &names,
        at.profile,
        DeviceKind::of(device),
        &Store::new(&at.results),
        &Store::new(&scratch),
    );
    let _ = std::fs::remove_dir_all(&scratch);
    result?;
    if diffs.is_empty() {
        say!(
            "check passed: {} experiments' tables match the committed ones",
            names.len()
        );
        Ok(())
    } else {
        for d in &diffs {
            esay!("{d}");
        }
        Err(failed(format!("{} table lines differ", diffs.len())))
    }
}

pub(super) fn reproduce(
    dir: &Path,
    at: &ResultsAndProfile,
    device: &candle_core::Device,
    opts: runner::RunOptions,
) -> Result<(), CliError> {
    let started = Instant::now();
    let files = experiment_files(dir)?;
    // validate everything first: a typo in the last file should not cost the first file's hours
    for f in &files {
        runner::plan(f, at.profile).map_err(bad_input)?;
    }
    let mut rows = Vec::new();
    let mut any_failed = false;
    for f in &files {
        match run(f, at, device, opts.clone(), true) {
            Ok(s) => {
                prune_superseded(f, at, DeviceKind::of(device))?;
                rows.push(s)
            }
            Err(CliError { code, message }) => {
                esay!("error: {}: {message}", f.display());
                any_failed = true;
                if code == 2 {
                    return Err(bad_input(message));
                }
            }
        }
    }
    say!(
        "\n{:<32} {:>6} {:>8} {:>9} {:>7} {:>9}",
        "experiment",
        "runs",
        "skipped",
        "computed",
        "failed",
        "seconds"
    );
    for s in &rows {
        say!(
            "{:<32} {:>6} {:>8} {:>9} {:>7} {:>9.1}",
            s.experiment,
            s.total,
            s.skipped,
            s.computed,
            s.failed,
            s.seconds
        );
    }
    say!("total {:.1} s", started.elapsed().as_secs_f64());
    for s in rows.iter().filter(|s| s.unavailable > 0) {
        for why in &s.unavailable_reasons {
            say!(
                "skipped: {} ({} of {} runs): {why}",
                s.experiment,
                s.unavailable,
                s.total
            );
        }
    }
    if any_failed {
        Err(failed("some experiments failed"))
    } else {
        Ok(())
    }
}

/// Delete the older-run-format runs of an experiment whose recomputation is now complete (the
/// store keeps one result per spec and device).
fn prune_superseded(
    file: &Path,
    at: &ResultsAndProfile,
    device: DeviceKind,
) -> Result<(), CliError> {
    let store = Store::new(&at.results);
    let (exp, runs) = runner::plan(file, at.profile).map_err(bad_input)?;
    let mut removed = 0;
    for r in spec::on_device(runs, device) {
        if !store.is_complete(&run_id(&r)) {
            continue;
        }
        for (id, _) in store.older_runs(&r) {
            // a process still reading or writing it keeps it
            let Ok(Some(claim)) = store.try_claim(&id) else {
                continue;
            };
            store.remove(&claim).map_err(failed)?;
            removed += 1;
        }
    }
    if removed > 0 {
        say!(
            "{}: removed {removed} runs of an older run format, superseded by their recomputation",
            exp.name
        );
    }
    Ok(())
}
