"""nutpie's NUTS driving PyTensor-compiled Python functions (the ``nutpie-pyfunc`` sampler of
:mod:`bayes_sdm.sampling`), and :func:`import_nutpie`, nutpie's import without all of ArviZ.

nutpie's Rust sampler (Hoffman & Gelman 2014, JMLR 15:1593-1623, with nutpie's mass-matrix
adaptation) calls a Python function for each log-density and gradient; here that function is
the PyMC model's, compiled once by PyTensor and cached on disk under a key that is the same in
every process for the same computation (:func:`compiled_functions`).
"""

from __future__ import annotations

import importlib
import os
import threading
import time

import numpy as np
import pandas as pd

from .spec import SamplerSpec


def import_nutpie():
    """``import nutpie`` without importing all of ArviZ.

    nutpie's sampler module does ``import arviz`` at import time and uses only
    ``arviz.from_dict`` and ``arviz.dict_to_dataset``, which ArviZ 1.x re-exports from
    ``arviz_base``; the full ``arviz`` also imports its plotting stack and matplotlib (most of
    nutpie's 4 s import).  While nutpie is imported, ``arviz`` resolves to a module whose
    attributes come from ``arviz_base`` (and, for anything else, from the real ArviZ, imported
    on first use); the entry is removed from ``sys.modules`` right after, so a later
    ``import arviz`` anywhere gets the real package.
    """
    import sys
    import types

    if "nutpie" in sys.modules or "arviz" in sys.modules:
        import nutpie

        return nutpie
    from .arviz_light import import_arviz_base

    arviz_base = import_arviz_base()
    shim = types.ModuleType("arviz", "arviz_base, for nutpie's import (bayes_sdm.sampling)")

    def _attr(name):
        if hasattr(arviz_base, name):
            return getattr(arviz_base, name)
        if sys.modules.get("arviz") is shim:
            del sys.modules["arviz"]
        return getattr(importlib.import_module("arviz"), name)

    shim.__getattr__ = _attr
    sys.modules["arviz"] = shim
    try:
        import nutpie
    finally:
        if sys.modules.get("arviz") is shim:
            del sys.modules["arviz"]
    return nutpie


def _graph_key(inputs, outputs) -> str:
    """A key for a PyTensor graph that is the same in every process for the same computation:
    the versions, the printed graph (structure, types, names) and the bytes of every constant
    and shared value in it."""
    import hashlib
    import importlib.metadata as md
    import io

    import pytensor
    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import ancestors, io_toposort

    h = hashlib.sha256()
    for pkg in ("pytensor", "pymc", "numba", "numpy"):
        try:
            h.update(f"{pkg}={md.version(pkg)};".encode())
        except md.PackageNotFoundError:
            pass
    buf = io.StringIO()
    pytensor.printing.debugprint(outputs, file=buf, print_type=True)
    h.update(buf.getvalue().encode())
    for v in ancestors(outputs):
        data = v.data if isinstance(v, Constant) else (
            v.get_value(borrow=True) if hasattr(v, "get_value") else None)
        if data is not None:
            a = np.asarray(data)
            h.update(f"{a.dtype}{a.shape}".encode())
            h.update(np.ascontiguousarray(a).tobytes())
    h.update(str(len(io_toposort(inputs, outputs))).encode())
    return h.hexdigest()[:32]


def compiled_functions(x, *outputs):
    """``pytensor.function([x], outs)`` for each list of outputs, compiled once per computation
    and kept in the on-disk cache (``$BAYES_SDM_CACHE/pyfunc``) -- unless the graph holds
    shared variables (``pm.Data``): a pickled function would not see ``pm.set_data``.

    PyTensor caches the compiled code of a graph on disk, but rewrites the graph in every new
    process (1-2 s for a pooled model); a pickled compiled function skips the rewriting.  The
    key (:func:`_graph_key`) covers the versions, the graph and every constant in it, so a
    changed model, prior or dataset compiles afresh; a stale or unreadable entry is replaced."""
    import pickle

    import pytensor

    from .logdet.cache import _cache_dir

    def build():
        return tuple(pytensor.function([x], list(o), on_unused_input="ignore",
                                       trust_input=True) for o in outputs)

    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.traversal import ancestors

    root = _cache_dir()
    flat = [o for out in outputs for o in out]
    if root is None or any(isinstance(v, SharedVariable) for v in ancestors(flat)):
        # a function read back from the disk has its own copies of the shared variables
        # (pm.Data), which pm.set_data on the model would no longer reach
        return build()
    path = root / "pyfunc" / f"{_graph_key([x], [o for out in outputs for o in out])}.pkl"
    if path.exists():
        try:
            with open(path, "rb") as f:
                fns = pickle.load(f)
            if isinstance(fns, tuple) and len(fns) == len(outputs):
                return fns
        except Exception:  # noqa: BLE001 - any unreadable entry is rebuilt below
            pass
    fns = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            pickle.dump(fns, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except Exception:  # noqa: BLE001 - a cache that cannot be written is only slower
        pass
    return fns


def compile_nutpie_pyfunc(model):
    """The model as a nutpie ``CompiledModel`` whose log-density and gradient (in the
    unconstrained space, Jacobians included) and whose draw expansion (constrained free variables
    and deterministics) are PyTensor functions compiled in the default mode (disk-cached)."""
    import pytensor.tensor as pt

    import_nutpie()
    from nutpie.compiled_pyfunc import from_pyfunc
    from pymc.initial_point import make_initial_point_fn
    from pymc.pytensorf import join_nonshared_inputs
    from pymc.util import get_default_varnames

    value_vars = list(model.value_vars)
    init_fn = make_initial_point_fn(model=model, jitter_rvs=set(model.free_RVs),
                                    return_transformed=True)
    point = init_fn(0)
    logp = model.logp()
    grad = pt.concatenate([g.ravel() for g in pt.grad(logp, value_vars)])
    expand = get_default_varnames(model.unobserved_value_vars, include_transformed=False)
    outs, x = join_nonshared_inputs(point, [logp, grad, *expand], value_vars)
    logp_fn, expand_fn = compiled_functions(x, outs[:2], outs[2:])

    def ravel(p):
        return np.concatenate([np.ravel(p[v.name]) for v in value_vars]).astype(float)

    x0 = ravel(point)
    names = [v.name for v in expand]
    shapes = [np.shape(a) for a in expand_fn(x0)]

    def make_initial_point(seed):
        return ravel(init_fn(seed))

    # One compiled function for all chains, behind a lock: ``Function.copy`` re-creates the numba
    # thunks (about 80 ms each); the chains share one core anyway (GIL-bound callbacks), and the
    # outputs are copied before the lock is released.
    lock = threading.Lock()

    def make_logp_fn():
        def logp_and_grad(x, **_):
            with lock:
                lp, g = logp_fn(x)
                return float(lp), np.array(g, dtype=float)
        return logp_and_grad

    def make_expand_fn(*_seeds):
        def expand_draw(x, **_):
            with lock:
                vals = expand_fn(x)
                return {n: np.array(v, dtype=float, order="C")
                        for n, v in zip(names, vals, strict=True)}
        return expand_draw

    dims = {n: tuple(model.named_vars_to_dims[n]) for n in names
            if n in model.named_vars_to_dims}
    # pandas indexes, as nutpie's own compile passes them (labels need not be strings; a dim
    # declared by its length alone gets 0..n-1)
    coords = {k: pd.Index(list(v)) if v is not None
              else pd.RangeIndex(int(model.dim_lengths[k].eval()))
              for k, v in model.coords.items()}
    return from_pyfunc(len(x0), make_logp_fn, make_expand_fn,
                       [np.dtype("float64")] * len(names), shapes, names, coords=coords,
                       dims=dims, make_initial_point_fn=make_initial_point)


def sample_nutpie_pyfunc(compiled, model, sampler: SamplerSpec, seed: int, progressbar: bool):
    from pymc.backends.arviz import patch_nutpie_idata

    nutpie = import_nutpie()

    t0 = time.time()
    idata = nutpie.sample(compiled, draws=sampler.draws, tune=max(sampler.tune, 1),
                          chains=sampler.chains, cores=sampler.cores or 1, seed=int(seed),
                          target_accept=sampler.target_accept, save_warmup=False,
                          progress_bar=progressbar)
    patch_nutpie_idata(idata, model, sampling_time=time.time() - t0)
    return idata
