"""On-disk cache of eigenvalues and interpolant node values, keyed by a hash of W.

``$BAYES_SDM_CACHE`` (default ``~/.cache/bayes_sdm``; ``0`` disables it)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..weights import SpatialWeights

_CACHE_ENV = "BAYES_SDM_CACHE"


def _cache_dir() -> Path | None:
    d = os.environ.get(_CACHE_ENV)
    if d == "0":
        return None
    p = Path(d) if d else Path.home() / ".cache" / "bayes_sdm"
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return p


def _hash_w(w: SpatialWeights, extra: str = "") -> str:
    """SHA-256 of W's numbers (sparse arrays hashed without densifying) and of ``extra``."""
    h = hashlib.sha256()
    m = w.matrix
    if sp.issparse(m):
        m = sp.csr_array(m)
        m.sort_indices()
        for a in (m.indptr, m.indices, m.data):
            h.update(np.ascontiguousarray(a).tobytes())
        h.update(repr(m.shape).encode())
    else:
        h.update(np.ascontiguousarray(m).tobytes())
    h.update(b"sym" if w.sym_scale is not None else b"gen")
    h.update(extra.encode())
    return h.hexdigest()[:32]


def _save_cache(path: Path, **arrays) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except OSError:
        pass

