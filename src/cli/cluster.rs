//! `gzbench slurm`: which runs of an experiment are pending, and the Slurm driver script that
//! computes them as a job array (one task per run, `gzbench run --run-id ID --no-report`) and
//! then rebuilds the report in a dependent job. The script text itself is [`super::slurm`]'s.

use super::slurm::{Sbatch, Sweep, driver};
use super::*;

/// Write a Slurm driver script for an experiment's pending runs.
///
/// The script is a bash driver: `bash script.sh` on a login node submits a job array over the
/// runs not yet complete in --results (task i runs `gzbench run FILE --run-id <id i>`; every
/// task shares the results folder, which must be on a filesystem all nodes see) and then a
/// report job with --dependency=afterany on the array (`gzbench report FILE`). Only the #SBATCH
/// options given are written. Logs: RESULTS/slurm/%A_%a.out and %j-report.out.
///
/// Example: gzbench slurm experiments/backbones.yaml --profile gpu --device cuda
/// --partition gpu --gpus-per-task 1 --time 02:00:00 --array-limit 8
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub(super) struct SlurmArgs {
    file: PathBuf,
    /// Device kind the runs are computed on (part of their ids).
    #[arg(long, value_enum, default_value_t = DeviceKind::Cpu)]
    device: DeviceKind,
    /// #SBATCH --partition (array and report job).
    #[arg(long)]
    partition: Option<String>,
    /// #SBATCH --gpus-per-task (array tasks only).
    #[arg(long, value_name = "G")]
    gpus_per_task: Option<u32>,
    /// #SBATCH --cpus-per-task (array tasks only).
    #[arg(long, value_name = "C")]
    cpus_per_task: Option<u32>,
    /// #SBATCH --mem, e.g. 16G (array tasks only).
    #[arg(long, value_name = "M")]
    mem: Option<String>,
    /// #SBATCH --time, e.g. 02:00:00 (array and report job).
    #[arg(long, value_name = "T")]
    time: Option<String>,
    /// At most M array tasks at once (--array=0-K%M).
    #[arg(long, value_name = "M")]
    array_limit: Option<usize>,
    /// #SBATCH --account (array and report job).
    #[arg(long)]
    account: Option<String>,
    /// #SBATCH --qos (array and report job).
    #[arg(long)]
    qos: Option<String>,
    /// Another #SBATCH line for both jobs, e.g. --extra-sbatch=--constraint=a100 (repeatable).
    #[arg(long = "extra-sbatch", value_name = "LINE", allow_hyphen_values = true)]
    extra: Vec<String>,
    /// The gzbench the jobs run (default: this one), on a path every node sees.
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Where the script goes (`-`: stdout); default RESULTS/slurm/<experiment>-<profile>[-cuda].sh.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print every run's id, status and grid point; write nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    at: ResultsAndProfile,
}

fn absolute(p: &Path) -> Result<PathBuf, CliError> {
    std::path::absolute(p).map_err(|e| bad_input(format!("{}: {e}", p.display())))
}

pub(super) fn slurm(a: SlurmArgs) -> Result<(), CliError> {
    let profile: Profile = a.at.profile;
    let (exp, runs) = runner::plan(&a.file, profile).map_err(bad_input)?;
    let runs = spec::on_device(runs, a.device);
    let store = Store::new(&a.at.results);
    let mut pending = Vec::new();
    let (mut complete, mut unavailable) = (0, 0);
    for r in &runs {
        let id = run_id(r);
        let status = if store.is_complete(&id) {
            complete += 1;
            "complete"
        } else if let Some(why) = crate::data::unavailable(r) {
            unavailable += 1;
            if a.dry_run {
                esay!("{id}: {why}");
            }
            "no-data"
        } else {
            pending.push(id.clone());
            "pending"
        };
        if a.dry_run {
            say!("{id}  {status:<8}  {}", runner::point_label(r));
        }
    }
    let counts = format!(
        "{}: {} {} runs on {}: {complete} complete, {} pending{}",
        exp.name,
        runs.len(),
        profile.as_str(),
        a.device.as_str(),
        pending.len(),
        if unavailable > 0 {
            format!(", {unavailable} without their data on this machine (left out)")
        } else {
            String::new()
        }
    );
    if a.dry_run {
        say!("{counts} (in {})", a.at.results.display());
        return Ok(());
    }
    if pending.is_empty() {
        say!(
            "{counts}: nothing to submit; `gzbench report {} --profile {} --device {} --results {}` \
             rebuilds the tables",
            a.file.display(),
            profile.as_str(),
            a.device.as_str(),
            a.at.results.display()
        );
        return Ok(());
    }
    let file = absolute(&a.file)?;
    let results = absolute(&a.at.results)?;
    let binary = match &a.binary {
        Some(b) => absolute(b)?,
        None => std::env::current_exe().map_err(|e| {
            failed(format!(
                "cannot tell where this gzbench is: {e}; give --binary"
            ))
        })?,
    };
    if !binary.is_file() {
        return Err(bad_input(format!(
            "--binary {}: no such file (the jobs run it; give a path every node sees)",
            binary.display()
        )));
    }
    let workdir = std::env::current_dir()
        .map_err(|e| failed(format!("cannot read the current folder: {e}")))?;
    let text = |p: &Path| p.display().to_string();
    let common = vec![
        text(&file),
        "--profile".into(),
        profile.as_str().into(),
        "--device".into(),
        a.device.as_str().into(),
        "--results".into(),
        text(&results),
    ];
    let mut task_argv = vec![text(&binary), "run".into()];
    task_argv.extend(common.iter().cloned());
    task_argv.push("--no-report".into());
    let mut final_argv = vec![text(&binary), "report".into()];
    final_argv.extend(common);
    let k = pending.len();
    let sweep = Sweep {
        name: format!("gzbench-{}", exp.name),
        workdir,
        log_dir: results.join("slurm"),
        task_argv,
        item_flag: "--run-id".into(),
        items: pending,
        final_argv,
        sbatch: Sbatch {
            partition: a.partition,
            gpus_per_task: a.gpus_per_task,
            cpus_per_task: a.cpus_per_task,
            mem: a.mem,
            time: a.time,
            account: a.account,
            qos: a.qos,
            array_limit: a.array_limit,
            extra: a.extra,
        },
        header: vec![format!(
            "Generated by gzbench {} (gzbench slurm).\n{counts}.",
            crate::store::provenance::VERSION_LINE
        )],
    };
    let script = driver(&sweep).map_err(bad_input)?;
    if a.gpus_per_task.is_some() && a.device == DeviceKind::Cpu {
        esay!(
            "note: --gpus-per-task with --device cpu: the runs compute on the CPU (add --device cuda)"
        );
    }
    if k > 1000 {
        esay!(
            "note: {k} array tasks; Slurm's default MaxArraySize is 1001 (`scontrol show config | grep MaxArraySize`)"
        );
    }
    let out = a.out.unwrap_or_else(|| {
        let cuda = if a.device.is_cpu() { "" } else { "-cuda" };
        results
            .join("slurm")
            .join(format!("{}-{}{cuda}.sh", exp.name, profile.as_str()))
    });
    if out == Path::new("-") {
        say!("{}", script.trim_end());
        return Ok(());
    }
    crate::store::write_atomic(&out, script.as_bytes()).map_err(failed)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755));
    }
    say!("{counts}");
    say!(
        "wrote {}: a job array of {k} tasks and a report job after it; submit with: bash {}",
        out.display(),
        out.display()
    );
    Ok(())
}
