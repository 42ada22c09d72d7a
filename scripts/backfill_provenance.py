#!/usr/bin/env python3
"""One-off migration (issue 22): give every committed run recorded before runs kept
`provenance.json` one from git history. Its code revision is the commit that last recorded the
run's `metrics.json` (results are committed with the code that computed them); the dirty flag is
unknown (null) and `source` says how the record was made. Runs that already have a provenance
file are left alone. Run from the repository root: python3 scripts/backfill_provenance.py
"""
import json
import pathlib
import subprocess

import yaml

RUNS = pathlib.Path("results/runs")
SOURCE = "backfilled from git history: the commit that recorded metrics.json"

log = subprocess.run(
    ["git", "log", "--format=commit %H", "--name-only", "--", str(RUNS)],
    check=True, capture_output=True, text=True,
).stdout
latest = {}
commit = None
for line in log.splitlines():
    if line.startswith("commit "):
        commit = line.split()[1]
    elif line.endswith("/metrics.json"):
        run = pathlib.Path(line).parent.name
        latest.setdefault(run, commit)  # newest first

written = 0
for d in sorted(p for p in RUNS.iterdir() if p.is_dir() and not p.name.startswith(".")):
    out = d / "provenance.json"
    if out.exists() or not (d / "COMPLETE").exists() or d.name not in latest:
        continue
    spec = yaml.safe_load((d / "spec.yaml").read_text())
    timing = json.loads((d / "timing.json").read_text())
    record = {
        "results_schema": spec["run_format"],
        "gzbench": spec["gzbench"],
        "code_rev": latest[d.name],
        "code_dirty": None,
        "device": spec.get("device", "cpu"),
        "device_detail": timing.get("device", "cpu"),
        "source": SOURCE,
    }
    out.write_text(json.dumps(record, indent=2) + "\n")
    written += 1
print(f"wrote {written} provenance records")
