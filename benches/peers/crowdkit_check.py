"""Run crowd-kit on the simulated fixture and write the reference the Rust parity test checks.

Usage (from the crate root):
    python3 benches/peers/crowdkit_check.py \
        src/crowd/fixtures/sim_classifications.csv src/crowd/fixtures/crowdkit_reference.json

Writes labels and probabilities of MajorityVote, Wawa, DawidSkene, OneCoinDawidSkene and GLAD
(n_iter=100, tol=1e-5, matching gzbench's defaults), keyed by galaxy name, plus the number of
EM iterations crowd-kit ran.

Then five more methods, each at crowd-kit's defaults (see `add_more_methods`):

* `zero_based_skill`: ZeroBasedSkill (deterministic): labels and probabilities.
* `mace`: MACE (variational Bayes). Its initialisation is random (scipy `rvs(random_state=0)`),
  so the initial `spamming` / `thetas` it drew are written too (by worker name; thetas columns
  in sorted label order) and the Rust test injects them. crowd-kit 1.4.2's MACE lines up the
  per-worker strategy counts (a groupby, sorted by worker name) positionally with arrays in
  order of first appearance, so its result depends on how workers are named; it is run here on
  workers renamed `w000`, `w001`, ... in order of first appearance (sorted order = appearance
  order: the misalignment is a no-op) and the entry is keyed by the original names. The number
  of galaxies whose label changes on the raw names is written as `raw_name_label_changes`.
* `m_msr`: MMSR. Random init `u0 = v0 = sps.uniform.rvs(random_state=0)` written by worker
  name; `scores` is crowd-kit's `predict_score` (a skill-weighted vote, skills may be
  negative), `skills` the per-worker log-odds weights, `iterations` = len(loss_history_).
* `kos`: KOS on the answers mapped to binary, answer 1 vs the rest (label 0 = answer was 1,
  label 1 = any other answer; the runner's `featured-or-disk` vs the rest). The random
  reliabilities (`np.random.seed(0)`, then `normal(1, 1)` per row) are written in CSV row
  order. KOS returns labels only.
* `gold_majority_vote`: GoldMajorityVote with gold = every third galaxy in order of first
  appearance in the file (g0, g3, ...: 100 galaxies; crowd-kit refuses a worker without a gold
  vote, and v38's 3 votes first meet such a prefix of the file at 162 galaxies), each labelled
  with crowd-kit's `majority_vote` label above; the gold map and skills are in the entry.
"""

import json
import sys

import crowdkit
import pandas as pd
import crowdkit_compat  # noqa: F401  (scikit-learn >= 1.6 compatibility patch)
import numpy as np
import scipy.stats as sps
from crowdkit.aggregation import (
    GLAD,
    KOS,
    MACE,
    MMSR,
    DawidSkene,
    GoldMajorityVote,
    MajorityVote,
    OneCoinDawidSkene,
    Wawa,
    ZeroBasedSkill,
)



N_ITER, TOL = 100, 1e-5


def main(csv_path: str, out_path: str) -> None:
    df = pd.read_csv(csv_path)
    data = df.rename(columns={"galaxy": "task", "volunteer": "worker", "answer": "label"})[
        ["task", "worker", "label"]
    ]
    out = {
        "meta": {
            "crowdkit_version": crowdkit.__version__ if hasattr(crowdkit, "__version__") else "unknown",
            "pandas_version": pd.__version__,
            "source": csv_path,
            "n_iter": N_ITER,
            "tol": TOL,
        }
    }
    models = {
        "majority_vote": MajorityVote(),
        "wawa": Wawa(),
        "dawid_skene": DawidSkene(n_iter=N_ITER, tol=TOL),
        "one_coin_dawid_skene": OneCoinDawidSkene(n_iter=N_ITER, tol=TOL),
        "glad": GLAD(n_iter=N_ITER, tol=TOL, silent=True),
    }
    for name, model in models.items():
        probas = model.fit_predict_proba(data)
        labels = model.labels_
        classes = sorted(probas.columns)
        probas = probas[classes]
        entry = {
            "classes": [int(c) for c in classes],
            "labels": {str(t): int(l) for t, l in labels.items()},
            "probas": {str(t): [float(x) for x in row] for t, row in zip(probas.index, probas.to_numpy())},
        }
        if hasattr(model, "loss_history_"):
            entry["iterations"] = len(model.loss_history_)
        out[name] = entry
    add_more_methods(data, out)
    with open(out_path, "w") as f:
        json.dump(out, f, indent=0, sort_keys=True)
        f.write("\n")
    print(f"wrote {out_path}: " + ", ".join(f"{k} ({len(v['labels'])} galaxies)" for k, v in out.items() if k != "meta"))


GOLD_STEP = 3


def _labels_probas(labels, probas) -> dict:
    classes = sorted(probas.columns)
    probas = probas[classes]
    return {
        "classes": [int(c) for c in classes],
        "labels": {str(t): int(l) for t, l in labels.items()},
        "probas": {str(t): [float(x) for x in row] for t, row in zip(probas.index, probas.to_numpy())},
    }


class _RecordingMACE(MACE):
    """MACE that keeps the first initialisation it draws (all restarts draw the same one)."""

    def _initialize(self, n_workers: int, n_labels: int) -> None:
        super()._initialize(n_workers, n_labels)
        if not hasattr(self, "_first_init"):
            self._first_init = (self.spamming_.copy(), self.thetas_.copy())


def add_more_methods(data: pd.DataFrame, out: dict) -> None:
    workers = pd.unique(data.worker)
    label_order = list(pd.unique(data.label))
    assert label_order == sorted(label_order), "MACE's label misalignment would not be a no-op"

    zbs = ZeroBasedSkill()
    probas = zbs.fit_predict_proba(data)
    out["zero_based_skill"] = _labels_probas(zbs.labels_, probas)

    rename = {w: f"w{i:03d}" for i, w in enumerate(workers)}
    mace = _RecordingMACE()
    probas = mace.fit_predict_proba(data.assign(worker=data.worker.map(rename)))
    entry = _labels_probas(mace.labels_, probas)
    spamming, thetas = mace._first_init
    order = np.argsort(label_order)  # factorize (first-appearance) columns -> sorted labels
    entry["init"] = {
        "spamming": {str(w): [float(x) for x in spamming[i]] for i, w in enumerate(workers)},
        "thetas": {str(w): [float(x) for x in thetas[i][order]] for i, w in enumerate(workers)},
    }
    entry["n_restarts"], entry["n_iter"] = mace.n_restarts, mace.n_iter
    raw = MACE().fit_predict(data)
    entry["raw_name_label_changes"] = int((raw.sort_index() != mace.labels_.sort_index()).sum())
    out["mace"] = entry

    mmsr = MMSR()
    scores = mmsr.fit_predict_score(data)
    u0 = sps.uniform.rvs(size=(len(workers), 1), random_state=mmsr.random_state)
    classes = sorted(scores.columns)
    out["m_msr"] = {
        "classes": [int(c) for c in classes],
        "labels": {str(t): int(l) for t, l in mmsr.labels_.items()},
        "scores": {str(t): [float(x) for x in row] for t, row in zip(scores.index, scores[classes].to_numpy())},
        "skills": {str(w): float(s) for w, s in mmsr.skills_.items()},
        "iterations": len(mmsr.loss_history_),
        "init": {str(w): float(u0[i, 0]) for i, w in enumerate(workers)},
        "n_iter": mmsr.n_iter,
        "tol": mmsr.tol,
    }

    binary = data.assign(label=(data.label != 1).astype(int))
    kos = KOS()
    labels = kos.fit_predict(binary)
    np.random.seed(kos.random_state)  # exactly the draws KOS.fit makes, in row order
    reliabilities = np.random.normal(loc=1, scale=1, size=len(binary))
    out["kos"] = {
        "binary_rule": "label 0 = answer 1, label 1 = any other answer",
        "labels": {str(t): int(l) for t, l in labels.items()},
        "init": [float(x) for x in reliabilities],
        "n_iter": kos.n_iter,
    }

    tasks = list(pd.unique(data.task))[::GOLD_STEP]
    gold = {str(t): out["majority_vote"]["labels"][str(t)] for t in tasks}
    true_labels = pd.Series(gold)
    gmv = GoldMajorityVote()
    probas = gmv.fit_predict_proba(data, true_labels)
    assert set(gmv.skills_.index) == set(workers), "every worker needs a gold vote"
    entry = _labels_probas(gmv.labels_, probas)
    entry["gold"] = gold
    entry["skills"] = {str(w): float(s) for w, s in gmv.skills_.items()}
    out["gold_majority_vote"] = entry


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
