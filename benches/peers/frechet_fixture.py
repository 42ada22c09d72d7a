"""Write `benches/peers/fixtures/frechet.json`: pytorch-fid's Fréchet distance, the reference for
`eval::frechet` (`src/eval/frechet/tests.rs`, `matches_pytorch_fid`).

Usage: /var/tmp/ck/bin/python benches/peers/frechet_fixture.py

`fid` below is pytorch-fid's `calculate_frechet_distance` (v0.3.0, src/pytorch_fid/fid_score.py)
on the means and `np.cov(x, rowvar=False)` of each set: `scipy.linalg.sqrtm(S1 @ S2)`, retried
with `eps * I` added to both covariances when the root is not finite, the imaginary part dropped
when it is negligible. Each case also records `eigen`, the same distance computed as gzbench does
(sum of the square roots of the eigenvalues of sqrt(S1) S2 sqrt(S1)), and the two printed
side by side show how far scipy's root of a singular product is from the exact trace.

Inputs are seeded normal rows rounded to 4 decimals (stored exactly enough in JSON). Cases:
`tall` (40 x 6 vs 50 x 6, shifted and differently scaled), `shifted` (the same rows plus a
constant: only the mean term), `rank_deficient` (5 x 8 vs 6 x 8: both covariances singular).
"""

import json
from pathlib import Path

import numpy as np
from scipy import linalg

OUT = Path(__file__).resolve().parent / "fixtures/frechet.json"


def fid(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """pytorch-fid's calculate_frechet_distance (sqrtm without the deprecated `disp`)."""
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        print(f"fid: singular product; adding {eps} to diagonal of cov estimates")
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            m = np.max(np.abs(covmean.imag))
            raise ValueError(f"Imaginary component {m}")
        covmean = covmean.real
    tr_covmean = np.trace(covmean)
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean


def eigen(mu1, sigma1, mu2, sigma2):
    w, v = np.linalg.eigh(sigma1)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root @ sigma2 @ root
    lam = np.linalg.eigvalsh((m + m.T) / 2)
    diff = mu1 - mu2
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.sqrt(np.clip(lam, 0, None)).sum()


def case(name, a, b):
    a, b = np.round(a, 4), np.round(b, 4)
    stats = [(x.mean(axis=0), np.cov(x, rowvar=False)) for x in (a, b)]
    want = float(fid(*stats[0], *stats[1]))
    exact = float(eigen(*stats[0], *stats[1]))
    print(f"{name}: {a.shape} vs {b.shape}: pytorch-fid {want!r}, eigen {exact!r}, rel diff {abs(want - exact) / abs(exact):.3g}")
    return {"name": name, "a": a.tolist(), "b": b.tolist(), "fid": want, "eigen": exact}


def main():
    rng = np.random.default_rng(19)
    a = rng.normal(size=(40, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(50, 6)) * np.array([1.0, 2.0, 0.5, 1.5, 1.0, 3.0]) + 0.7
    c = rng.normal(size=(5, 8))
    d = rng.normal(size=(6, 8)) * 2.0 - 0.3
    cases = [
        case("tall", a, b),
        case("shifted", a, a + np.array([1.0, -2.0, 0.5, 0.0, 0.25, 3.0])),
        case("rank_deficient", c, d),
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"cases": cases}, indent=None) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
