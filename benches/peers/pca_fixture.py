"""Write `src/repr/fixtures/pca_numpy.json`: numpy's PCA, the reference for `repr::pca`
(`src/repr/pca/tests.rs`, `matches_numpy_eigh`).

Usage: /var/tmp/ck/bin/python benches/peers/pca_fixture.py

Each case holds float32 rows `x` (stored exactly as f64), `k`, the mean, and the top `k`
eigenpairs of `np.cov(x, rowvar=False)` (denominator n - 1) from `np.linalg.eigh` in float64,
by decreasing eigenvalue, each eigenvector signed so that its largest-magnitude entry (the first
one on a tie) is positive, plus the total variance (trace). Case `tall` (n > d) exercises the
covariance route, `wide` (n < d) the Gram-matrix route.
"""

import json
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[2] / "src/repr/fixtures/pca_numpy.json"


def rows(rng, n, d, scales):
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    z = rng.normal(size=(n, d)) * np.asarray(scales)
    return (z @ q.T + rng.normal(size=d) * 3.0).astype(np.float32)


def case(name, x, k):
    xd = x.astype(np.float64)
    cov = np.cov(xd, rowvar=False)
    w, v = np.linalg.eigh(cov)
    order = np.argsort(-w)[:k]
    comps = []
    for i in order:
        c = v[:, i]
        if c[np.argmax(np.abs(c))] < 0:
            c = -c
        comps.append(c.tolist())
    gaps = -np.diff(np.sort(w)[::-1][: k + 1])
    print(f"{name}: n={x.shape[0]} d={x.shape[1]} k={k} eigenvalues {w[order]} min gap {gaps.min():.3g}")
    return {
        "name": name,
        "k": k,
        "x": xd.tolist(),
        "mean": xd.mean(axis=0).tolist(),
        "components": comps,
        "explained_variance": w[order].tolist(),
        "total_variance": float(np.trace(cov)),
    }


def main():
    rng = np.random.default_rng(21)
    cases = [
        case("tall", rows(rng, 60, 7, [5.0, 3.0, 2.0, 1.2, 0.6, 0.3, 0.1]), 4),
        case("wide", rows(rng, 9, 15, [6.0, 4.0, 2.5, 1.5] + [0.2] * 11), 4),
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"numpy": np.__version__, "cases": cases}, indent=1) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
