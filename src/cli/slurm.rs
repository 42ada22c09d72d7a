//! The text of a Slurm submission for a sweep of independent items, as a pure function of its
//! settings (no file system, no experiment types): [`driver`] returns a bash script that,
//! run on a login node, submits
//!
//! 1. a job array, one task per item: task `i` runs `task_argv... <item_flag> ITEMS[i]`;
//! 2. a final job (`final_argv`) with `--dependency=afterany:<array job>`, so it runs once every
//!    task has ended, however it ended.
//!
//! Both job scripts are embedded in the driver as quoted here-documents handed to
//! `sbatch --parsable` on stdin; the driver prints both job ids. Only the `#SBATCH` options
//! given appear (nothing about a particular cluster is assumed); the array asks for the
//! per-task resources (GPUs, CPUs, memory), the final job only for the partition, account,
//! QOS, time limit and the extra lines. Logs go to `<log_dir>/%A_%a.out` (array) and
//! `<log_dir>/%j-final.out`, which the driver creates first (Slurm does not).

use std::fmt::Write as _;
use std::path::PathBuf;

/// `#SBATCH` settings; `None` leaves Slurm's (or the cluster's) default.
#[derive(Debug, Clone, Default)]
pub struct Sbatch {
    pub partition: Option<String>,
    pub gpus_per_task: Option<u32>,
    pub cpus_per_task: Option<u32>,
    pub mem: Option<String>,
    pub time: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// At most this many array tasks run at once (`--array=...%M`).
    pub array_limit: Option<usize>,
    /// Further lines, `--opt=value` or `#SBATCH --opt=value`.
    pub extra: Vec<String>,
}

/// One sweep to submit.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// Job name (the final job gets `-report` appended).
    pub name: String,
    /// Working directory of every job (absolute).
    pub workdir: PathBuf,
    /// Folder of the Slurm logs (absolute).
    pub log_dir: PathBuf,
    /// Command of every array task, before `item_flag ITEM`.
    pub task_argv: Vec<String>,
    pub item_flag: String,
    /// One array task per item, in this order (none is an error: nothing to submit).
    pub items: Vec<String>,
    /// Command of the final job.
    pub final_argv: Vec<String>,
    pub sbatch: Sbatch,
    /// Comment lines put at the top of the driver (how it was generated).
    pub header: Vec<String>,
}

/// A setting that cannot go into a script.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlurmError {
    #[error("nothing to submit: the sweep has no items")]
    Empty,
    #[error("{what} {value:?}: {why}")]
    Bad {
        what: &'static str,
        value: String,
        why: &'static str,
    },
}

/// `s` quoted for bash: as is when made of safe characters, else in single quotes.
pub fn quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+%@".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn argv(words: &[String]) -> String {
    words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
}

/// Refuse what would break a line of the script (newlines, control characters, empty values).
fn check(what: &'static str, value: &str) -> Result<(), SlurmError> {
    let bad = |why| SlurmError::Bad {
        what,
        value: value.to_string(),
        why,
    };
    if value.trim().is_empty() {
        return Err(bad("must not be empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(bad("must be one line without control characters"));
    }
    Ok(())
}

/// `#SBATCH --key=value` for a value given on the command line; a value with whitespace or
/// shell characters is refused (Slurm parses these lines itself, without a shell).
fn line(out: &mut String, what: &'static str, key: &str, value: &str) -> Result<(), SlurmError> {
    check(what, value)?;
    if value
        .chars()
        .any(|c| c.is_whitespace() || "'\"\\$`;&|<>#".contains(c))
    {
        return Err(SlurmError::Bad {
            what,
            value: value.to_string(),
            why: "must be one word without quotes or shell characters",
        });
    }
    writeln!(out, "#SBATCH --{key}={value}").expect("write to String");
    Ok(())
}

fn shared_lines(out: &mut String, s: &Sbatch) -> Result<(), SlurmError> {
    let opts = [
        ("--partition", "partition", &s.partition),
        ("--account", "account", &s.account),
        ("--qos", "qos", &s.qos),
        ("--time", "time", &s.time),
    ];
    for (what, key, v) in opts {
        if let Some(v) = v {
            line(out, what, key, v)?;
        }
    }
    for extra in &s.extra {
        check("--extra-sbatch", extra)?;
        let extra = extra.trim();
        let extra = extra.strip_prefix("#SBATCH").unwrap_or(extra).trim();
        if !extra.starts_with('-') {
            return Err(SlurmError::Bad {
                what: "--extra-sbatch",
                value: extra.to_string(),
                why: "expected an sbatch option such as --constraint=a100 or '#SBATCH --mail-type=END'",
            });
        }
        writeln!(out, "#SBATCH {extra}").expect("write to String");
    }
    Ok(())
}

/// A here-document delimiter that occurs in none of `texts`.
fn delimiter(base: &str, body: &str) -> String {
    let mut d = base.to_string();
    while body.lines().any(|l| l.trim() == d) {
        d.push('_');
    }
    d
}

/// The driver script of a sweep (see the module doc).
pub fn driver(sw: &Sweep) -> Result<String, SlurmError> {
    if sw.items.is_empty() {
        return Err(SlurmError::Empty);
    }
    check("job name", &sw.name)?;
    for item in &sw.items {
        check("item", item)?;
    }
    let logs = sw.log_dir.display().to_string();
    let workdir = sw.workdir.display().to_string();
    check("log folder", &logs)?;
    check("working folder", &workdir)?;
    let s = &sw.sbatch;
    let k = sw.items.len();

    // the array job
    let mut array = String::from("#!/bin/bash\n");
    writeln!(array, "#SBATCH --job-name={}", quote(&sw.name)).expect("write to String");
    let limit = match s.array_limit {
        Some(0) => {
            return Err(SlurmError::Bad {
                what: "--array-limit",
                value: "0".into(),
                why: "must be at least 1",
            });
        }
        Some(m) => format!("%{m}"),
        None => String::new(),
    };
    writeln!(array, "#SBATCH --array=0-{}{limit}", k - 1).expect("write to String");
    writeln!(
        array,
        "#SBATCH --output={}",
        quote(&format!("{logs}/%A_%a.out"))
    )
    .expect("write to String");
    writeln!(array, "#SBATCH --chdir={}", quote(&workdir)).expect("write to String");
    if let Some(g) = s.gpus_per_task {
        line(
            &mut array,
            "--gpus-per-task",
            "gpus-per-task",
            &g.to_string(),
        )?;
    }
    if let Some(c) = s.cpus_per_task {
        line(
            &mut array,
            "--cpus-per-task",
            "cpus-per-task",
            &c.to_string(),
        )?;
    }
    if let Some(m) = &s.mem {
        line(&mut array, "--mem", "mem", m)?;
    }
    shared_lines(&mut array, s)?;
    array.push_str("set -euo pipefail\n");
    array.push_str("ITEMS=(\n");
    for item in &sw.items {
        writeln!(array, "  {}", quote(item)).expect("write to String");
    }
    array.push_str(")\n");
    writeln!(
        array,
        "echo \"task $SLURM_ARRAY_TASK_ID of {k} on $(hostname): {} ${{ITEMS[$SLURM_ARRAY_TASK_ID]}}\"",
        sw.item_flag
    )
    .expect("write to String");
    writeln!(
        array,
        "exec {} {} \"${{ITEMS[$SLURM_ARRAY_TASK_ID]}}\"",
        argv(&sw.task_argv),
        quote(&sw.item_flag)
    )
    .expect("write to String");

    // the final job
    let mut last = String::from("#!/bin/bash\n");
    writeln!(
        last,
        "#SBATCH --job-name={}",
        quote(&format!("{}-report", sw.name))
    )
    .expect("write to String");
    writeln!(
        last,
        "#SBATCH --output={}",
        quote(&format!("{logs}/%j-report.out"))
    )
    .expect("write to String");
    writeln!(last, "#SBATCH --chdir={}", quote(&workdir)).expect("write to String");
    shared_lines(&mut last, s)?;
    last.push_str("set -euo pipefail\n");
    writeln!(last, "exec {}", argv(&sw.final_argv)).expect("write to String");

    let (da, dl) = (
        delimiter("GZBENCH_ARRAY", &array),
        delimiter("GZBENCH_REPORT", &last),
    );
    let mut out = String::from("#!/bin/bash\n");
    for h in &sw.header {
        for l in h.lines() {
            writeln!(out, "# {l}").expect("write to String");
        }
    }
    writeln!(
        out,
        "# Run this file with bash on a machine that can submit jobs. It submits a job array of\n\
         # {k} tasks (one per run), then the report job with --dependency=afterany on it, and\n\
         # prints both job ids. Logs: {logs}/"
    )
    .expect("write to String");
    out.push_str("set -euo pipefail\n");
    writeln!(out, "mkdir -p {}", quote(&logs)).expect("write to String");
    writeln!(out, "array=$(sbatch --parsable <<'{da}'\n{array}{da}\n)").expect("write to String");
    // --parsable prints `jobid` or `jobid;cluster`
    out.push_str("array=${array%%;*}\n");
    writeln!(
        out,
        "report=$(sbatch --parsable --dependency=afterany:\"$array\" <<'{dl}'\n{last}{dl}\n)"
    )
    .expect("write to String");
    out.push_str("report=${report%%;*}\n");
    writeln!(out, "echo \"array job: $array ({k} tasks)\"").expect("write to String");
    out.push_str("echo \"report job: $report (after the array job)\"\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweep() -> Sweep {
        Sweep {
            name: "gzbench-demo".into(),
            workdir: "/work/proj".into(),
            log_dir: "/data/results/slurm".into(),
            task_argv: vec!["/opt/gz bench".into(), "run".into(), "/x.yaml".into()],
            item_flag: "--run-id".into(),
            items: vec!["aa11".into(), "bb22".into(), "cc33".into()],
            final_argv: vec!["/opt/gz bench".into(), "report".into(), "/x.yaml".into()],
            sbatch: Sbatch::default(),
            header: vec!["made by a test".into()],
        }
    }

    fn sbatch_lines(s: &str) -> Vec<&str> {
        s.lines().filter(|l| l.starts_with("#SBATCH")).collect()
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("/a/b-c_d.yaml"), "/a/b-c_d.yaml");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$HOME"), "'$HOME'");
    }

    #[test]
    fn only_the_options_given_become_sbatch_lines() {
        let s = driver(&sweep()).unwrap();
        let lines = sbatch_lines(&s);
        // array: name, array, output, chdir; report: name, output, chdir
        assert_eq!(lines.len(), 7, "{s}");
        assert!(lines.contains(&"#SBATCH --array=0-2"));
        assert!(lines.contains(&"#SBATCH --output=/data/results/slurm/%A_%a.out"));
        assert!(lines.contains(&"#SBATCH --chdir=/work/proj"));
        for absent in ["partition", "gpus", "mem", "time", "account", "qos"] {
            assert!(!s.contains(absent), "{absent} in\n{s}");
        }
    }

    #[test]
    fn options_map_to_sbatch_lines_and_resources_only_on_the_array() {
        let mut sw = sweep();
        sw.sbatch = Sbatch {
            partition: Some("gpu".into()),
            gpus_per_task: Some(1),
            cpus_per_task: Some(8),
            mem: Some("32G".into()),
            time: Some("02:00:00".into()),
            account: Some("astro".into()),
            qos: Some("normal".into()),
            array_limit: Some(4),
            extra: vec!["--constraint=a100".into(), "#SBATCH --mail-type=END".into()],
        };
        let s = driver(&sw).unwrap();
        let (array, report) = s.split_once("GZBENCH_REPORT").unwrap();
        for l in [
            "#SBATCH --array=0-2%4",
            "#SBATCH --gpus-per-task=1",
            "#SBATCH --cpus-per-task=8",
            "#SBATCH --mem=32G",
        ] {
            assert!(array.contains(l), "{l}");
            assert!(!report.contains(l), "{l}");
        }
        for l in [
            "#SBATCH --partition=gpu",
            "#SBATCH --time=02:00:00",
            "#SBATCH --account=astro",
            "#SBATCH --qos=normal",
            "#SBATCH --constraint=a100",
            "#SBATCH --mail-type=END",
        ] {
            assert!(array.contains(l), "{l}");
            assert!(report.contains(l), "{l}");
        }
    }

    #[test]
    fn tasks_map_the_array_index_to_an_item_and_the_report_waits() {
        let s = driver(&sweep()).unwrap();
        assert!(s.contains("ITEMS=(\n  aa11\n  bb22\n  cc33\n)\n"), "{s}");
        assert!(s.contains(
            "exec '/opt/gz bench' run /x.yaml --run-id \"${ITEMS[$SLURM_ARRAY_TASK_ID]}\""
        ));
        assert!(s.contains("exec '/opt/gz bench' report /x.yaml\n"));
        assert!(s.contains("sbatch --parsable --dependency=afterany:\"$array\""));
        assert!(s.contains("mkdir -p /data/results/slurm\n"));
        assert!(s.starts_with("#!/bin/bash\n# made by a test\n"));
        // the array is submitted before the report job
        assert!(s.find("<<'GZBENCH_ARRAY'").unwrap() < s.find("<<'GZBENCH_REPORT'").unwrap());
    }

    #[test]
    fn the_driver_is_valid_bash() {
        let mut sw = sweep();
        sw.sbatch.extra = vec!["--comment=GZBENCH_ARRAY".into()];
        let s = driver(&sw).unwrap();
        let out = std::process::Command::new("bash")
            .args(["-n", "-c", &s])
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        let mut sw = sweep();
        sw.items.clear();
        assert_eq!(driver(&sw).unwrap_err(), SlurmError::Empty);
        type Case = (fn(&mut Sweep), &'static str);
        let cases: Vec<Case> = vec![
            (
                |s| s.sbatch.partition = Some("gpu\n#SBATCH --x".into()),
                "--partition",
            ),
            (|s| s.sbatch.time = Some("1:00 ; rm".into()), "--time"),
            (|s| s.sbatch.mem = Some(String::new()), "--mem"),
            (
                |s| s.sbatch.extra = vec!["constraint=a100".into()],
                "--extra-sbatch",
            ),
            (|s| s.sbatch.array_limit = Some(0), "--array-limit"),
            (|s| s.items[1] = "a\nb".into(), "item"),
        ];
        for (set, what) in cases {
            let mut sw = sweep();
            set(&mut sw);
            let e = driver(&sw).unwrap_err();
            assert!(e.to_string().starts_with(what), "{e}");
        }
    }
}
