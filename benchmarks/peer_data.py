"""Write the panels of the whole-process peer benchmark (``peer_bayespecon.py``) as CSV files.

Into ``benchmarks/_work/peer/`` (git-ignored), once (existing files are kept):

``cigar.csv``, ``cigar_w.csv``      Baltagi's cigarette panel (bundled; N = 46, T = 30) and its
                                    row-standardised usa46 W (dense CSV, header and index = ids)
``econ3000.csv``                   N = 3,000, T = 10, K = 6, two-way SDM data (rho = 0.4) on the
                                    inverse economic-distance W of the unit column ``gdp``
``knn3000.csv``, ``knn30000.csv``  N = 3,000 / 30,000, T = 10, K = 6, SDM data on the k-NN
                                    (k = 6) W of the unit coordinates ``px``, ``py``

Columns: ``id``, ``year``, ``y``, ``x1`` .. ``x6`` (+ ``gdp`` or ``px``, ``py``), rows unit-major.
W is built from the columns by each tool itself, so building it is part of each whole process.

Usage: ``python benchmarks/peer_data.py [--cases cigar,econ3000,knn3000,knn30000]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
WORK = HERE / "_work" / "peer"
CASES = ("cigar", "econ3000", "knn3000", "knn30000")
T, K = 10, 6


def write_cigar() -> None:
    import pandas as pd

    from bayes_sdm.datasets import load_dataset

    ds = load_dataset("cigar")
    frame = ds.frame[[ds.unit, ds.time, ds.y, *ds.x]]
    frame.to_csv(WORK / "cigar.csv", index=False)
    w = ds.weights
    m = w.matrix.toarray() if w.is_sparse else np.asarray(w.matrix)
    pd.DataFrame(m, index=list(w.ids), columns=list(w.ids)).to_csv(WORK / "cigar_w.csv")
    (WORK / "cigar.json").write_text(
        f'{{"unit": "{ds.unit}", "time": "{ds.time}", "y": "{ds.y}", '
        f'"x": [{", ".join(repr(v).replace(chr(39), chr(34)) for v in ds.x)}]}}')


def write_sim(name: str, n: int, kind: str, seed: int = 2026) -> None:
    import pandas as pd

    from bayes_sdm.simulate import simulate_y
    from bayes_sdm.weights import economic_distance, knn

    rng = np.random.default_rng(seed + n)
    ids = tuple(range(n))
    cols = {}
    if kind == "econ":
        gdp = rng.uniform(1.0, 100.0, size=n)
        w = economic_distance(gdp, ids=ids)
        cols["gdp"] = gdp
    else:
        xy = rng.random((n, 2))
        w = knn(xy, ids, 6)
        cols["px"], cols["py"] = xy[:, 0], xy[:, 1]
    x = rng.standard_normal((T, n, K))
    y = simulate_y(w, x, "sdm", 0.4, np.linspace(1.0, -1.0, K), np.linspace(-0.5, 0.5, K),
                   sigma=1.0, mu=rng.standard_normal(n), alpha=rng.standard_normal(T), rng=rng)
    unit = np.repeat(np.arange(n), T)
    year = np.tile(np.arange(2001, 2001 + T), n)
    df = pd.DataFrame({"id": unit, "year": year, "y": y.T.ravel()})
    for k in range(K):
        df[f"x{k + 1}"] = x[:, :, k].T.ravel()
    for c, v in cols.items():
        df[c] = v[unit]
    df.to_csv(WORK / f"{name}.csv", index=False)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default=",".join(CASES))
    a = ap.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    for case in a.cases.split(","):
        if (WORK / f"{case}.csv").exists():
            continue
        if case == "cigar":
            write_cigar()
        elif case.startswith("econ"):
            write_sim(case, int(case[4:]), "econ")
        elif case.startswith("knn"):
            write_sim(case, int(case[3:]), "knn")
        else:
            raise SystemExit(f"unknown case {case!r}")
        print(f"wrote {WORK / (case + '.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
