"""Export Anselin's Columbus crime data from libpysal's built-in example (offline) to
bayes_sdm/datasets/data/columbus/: columbus.csv (id, CRIME, INC, HOVAL, X, Y), the shipped
queen-contiguity GAL file unchanged, and the same W as a 49 x 49 binary CSV.

Run from the repository root:  .venv/bin/python tests/data/reference/export_columbus.py
"""
from __future__ import annotations

import shutil
from pathlib import Path

import libpysal
import numpy as np
import pandas as pd
from libpysal import examples

OUT = Path("bayes_sdm/datasets/data/columbus")
OUT.mkdir(parents=True, exist_ok=True)

dbf = libpysal.io.open(examples.get_path("columbus.dbf"))
cols = {"id": "POLYID", "CRIME": "CRIME", "INC": "INC", "HOVAL": "HOVAL", "X": "X", "Y": "Y"}
df = pd.DataFrame({k: dbf.by_col(v) for k, v in cols.items()})
dbf.close()
assert (df["id"].to_numpy() == np.arange(1, 50)).all()
# repr-round-trip floats: the values exactly as the dbf parses to float64
df.to_csv(OUT / "columbus.csv", index=False, float_format=None)

gal = examples.get_path("columbus.gal")
shutil.copyfile(gal, OUT / "columbus.gal")
w = libpysal.io.open(gal).read()
ids = [str(i) for i in range(1, 50)]
assert w.id_order == ids
A = np.zeros((49, 49), dtype=int)
for i, nb in w.neighbors.items():
    for j in nb:
        A[ids.index(i), ids.index(j)] = 1
assert (A == A.T).all() and A.trace() == 0
pd.DataFrame(A, index=range(1, 50), columns=range(1, 50)).to_csv(OUT / "columbus_W_binary.csv")
back = pd.read_csv(OUT / "columbus.csv")
for c in cols:
    assert (back[c].to_numpy() == df[c].to_numpy()).all(), c
print("n =", len(df), " links =", int(A.sum()), " libpysal", libpysal.__version__)
