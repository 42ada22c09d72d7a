"""Run crowd-kit on the simulated fixture and write the reference the Rust parity test checks.

Usage (from the crate root):
    python3 benches/peers/crowdkit_check.py \
        src/crowd/fixtures/sim_classifications.csv src/crowd/fixtures/crowdkit_reference.json

Writes labels and probabilities of MajorityVote, Wawa, DawidSkene, OneCoinDawidSkene and GLAD
(n_iter=100, tol=1e-5, matching gzbench's defaults), keyed by galaxy name, plus the number of
EM iterations crowd-kit ran.
"""

import json
import sys

import crowdkit
import pandas as pd
import crowdkit.aggregation.classification.wawa as _wawa
from crowdkit.aggregation import GLAD, DawidSkene, MajorityVote, OneCoinDawidSkene, Wawa


def _check_fitted(est, attributes):
    # crowd-kit 1.4.2 calls sklearn's check_is_fitted, which in scikit-learn >= 1.6 requires
    # __sklearn_tags__ that crowd-kit's attrs classes lack; the check itself is only "was fit()
    # called", so replace it with exactly that. The algorithm is untouched.
    if getattr(est, attributes, None) is None:
        raise RuntimeError(f"{type(est).__name__} is not fitted")


_wawa.check_is_fitted = _check_fitted

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
    with open(out_path, "w") as f:
        json.dump(out, f, indent=0, sort_keys=True)
        f.write("\n")
    print(f"wrote {out_path}: " + ", ".join(f"{k} ({len(v['labels'])} galaxies)" for k, v in out.items() if k != "meta"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
