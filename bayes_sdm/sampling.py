"""The one sampler dispatch: :func:`sample` (a prepared model or a PyMC model in, an ArviZ
DataTree out) for every NUTS implementation and for the exact grid sampler, and
:func:`compile_sampler` for many fits of one model to new data (SBC, simulation studies).

Sampler kinds (``SamplerSpec.kind``): ``nuts``, or ``exact`` -- independent draws from the exact
posterior under the flat reference prior (:mod:`bayes_sdm.exact`; pooled models with one
spatial parameter).

NUTS implementations (``SamplerSpec.nuts_sampler``):

``closed-form`` (what ``auto`` picks for a prepared pooled model it covers)
    nutpie's Rust NUTS on the closed-form log-density and gradient of the pooled Gaussian
    posterior (:mod:`bayes_sdm.closed_form`, :mod:`bayes_sdm.closed_form_nuts`): numba C
    callbacks cached on disk, no PyMC or PyTensor, no Python per gradient, parallel chains.
    Covers SAR, SDM, SEM, SDEM and SLX with one sigma^2, any FE (and the ``fe="none"``
    intercept), every prior of :class:`~bayes_sdm.spec.PriorSpec`, eigenvalue, Chebyshev and
    block log-determinants; anything else (SAC, regional, random effects, dynamic, variance
    models, predictive checks, other log-determinants) keeps the PyMC model below, and an
    explicit ``closed-form`` says so with a warning.
``nutpie-pyfunc`` (``auto`` for every other model when nutpie is installed)
    nutpie's Rust NUTS (the adaptation of Stan's NUTS, Hoffman & Gelman 2014, JMLR 15:1593-1623,
    with nutpie's gradient-based mass-matrix adaptation) calling, through nutpie's
    Python-function interface, the model's log-density and gradient compiled by PyTensor's
    default backend (numba in PyTensor 3).  Why: after the foundation's sufficient statistics
    the log-density of a pooled model costs about 5 us (a K x K quadratic form plus an O(N) or
    O(1) log-determinant), so a small fit is dominated by compilation.  PyTensor caches its
    compiled functions on disk, so this path compiles in under a second once the cache is warm,
    where nutpie's own numba route spends 4-16 s per process building C callbacks that numba
    cannot cache.  The price is about 20 us of Python per gradient, GIL-bound, so the chains
    share one core (``cores=1`` unless set): cigar's 4 x 2,000 iterations (about 35,000
    gradients) take about 0.9 s.
``nutpie``
    nutpie's own compile (PyTensor -> numba C callbacks, as ``pm.sample(nuts_sampler="nutpie")``):
    no Python per gradient and parallel chains, at 4-16 s of compilation per process; worth it
    for long runs of expensive models (on the hierarchical ``make run`` model the two tie).
``pymc``
    PyMC's NUTS (Python); parallel chains in processes.
``numpyro``, ``blackjax``
    JAX samplers through ``pymc.sampling.jax`` (numpyro: optional extra ``bayes_sdm[jax]``,
    measured on the CPU; blackjax: passed through, untested); a GPU when JAX sees one.

Measured figures (benchmarks/results.md) say which is fastest where.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import threading
import time
import warnings
from contextlib import contextmanager, nullcontext

import numpy as np
import pandas as pd

from .errors import InputError, Interrupted, NumericalError
from .spec import NUTS_SAMPLERS, PriorSpec, SamplerSpec

#: the package each sampler needs
SAMPLER_PACKAGE = {"closed-form": "nutpie", "nutpie-pyfunc": "nutpie", "nutpie": "nutpie",
                   "numpyro": "numpyro", "blackjax": "blackjax", "pymc": "pymc"}


def resolve_sampler(name: str) -> str:
    """``auto`` -> ``nutpie-pyfunc`` when nutpie is installed (fastest here), else ``pymc``:
    the implementation for a PyMC model.  ``closed-form`` -> ``nutpie-pyfunc`` too: a PyMC model
    has no closed form (:func:`compile_sampler` takes ``closed-form`` for a prepared pooled
    model it covers before asking this).

    Raises
    ------
    InputError
        An unknown sampler, or one whose package is not installed.
    """
    if name == "auto":
        return "nutpie-pyfunc" if importlib.util.find_spec("nutpie") else "pymc"
    if name not in NUTS_SAMPLERS:
        raise InputError(f"unknown NUTS sampler {name!r}; use one of {', '.join(NUTS_SAMPLERS)}")
    module = SAMPLER_PACKAGE[name]
    if not importlib.util.find_spec(module):
        extra = {"numpyro": " (pip install 'bayes_sdm[jax]')",
                 "blackjax": " (pip install blackjax; untested with bayes_sdm)"}.get(module, "")
        raise InputError(f"sampler {name!r} needs {module}, which is not installed{extra}")
    return "nutpie-pyfunc" if name == "closed-form" else name


@contextmanager
def interrupts_detected():
    """Record SIGINT / SIGTERM while sampling, then let the usual handler run.

    Samplers catch ``KeyboardInterrupt`` and return the draws they have (PyMC keeps the
    finished chains; nutpie pads the rest with NaN), so a run interrupted by the user could pass
    for a finished one.  Yields a one-element list that holds True once a signal arrived; the
    dispatch then raises :class:`~bayes_sdm.errors.Interrupted` instead of returning."""
    seen = [False]
    old = {}

    def handler(signum, frame):
        seen[0] = True
        prev = old.get(signum)
        if callable(prev):
            prev(signum, frame)
        else:
            raise KeyboardInterrupt

    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: nothing to watch
        old = {}
    try:
        yield seen
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def check_draws(idata, sampler: SamplerSpec) -> None:
    """A sampler's result is complete: ``chains`` x ``draws`` finite draws of every variable.

    Raises
    ------
    NumericalError
        naming what is missing or not finite.
    """
    post = idata["posterior"]
    shape = (post.sizes.get("chain", 0), post.sizes.get("draw", 0))
    if shape != (sampler.chains, sampler.draws):
        raise NumericalError(f"the sampler returned {shape[0]} chain(s) x {shape[1]} draw(s), "
                             f"not {sampler.chains} x {sampler.draws}")
    for name, da in post.data_vars.items():
        v = np.asarray(da.values)
        if v.dtype.kind == "f" and not np.isfinite(v).all():
            chains = sorted({int(c) for c in np.nonzero(~np.isfinite(v))[0]})
            raise NumericalError(f"non-finite draws of {name!r} in chain(s) {chains}: the "
                                 "sampler failed (see the data's scale and the priors)")


#: bytes held per stored value while sampling and writing (the sampler's buffer, the DataTree,
#: effects and tables, the netCDF writer): a generous multiple of the 8 bytes of a float64
BYTES_PER_VALUE = 48


def available_memory() -> int | None:
    """Bytes of memory available to this process (Linux ``MemAvailable``), None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_memory(values_per_draw: int, sampler: SamplerSpec) -> None:
    """Refuse, before sampling, draws that would not fit in memory.

    Raises
    ------
    InputError
        naming the estimated need and what is available.
    """
    need = int(values_per_draw) * sampler.chains * sampler.draws * BYTES_PER_VALUE
    avail = available_memory()
    if avail is not None and need > avail:
        raise InputError(f"{sampler.chains} chains x {sampler.draws} draws of {values_per_draw} "
                         f"values would need about {need / 1e9:.1f} GB; this machine has "
                         f"{avail / 1e9:.1f} GB available: lower --draws or --chains")


def _model_values(model) -> int:
    """Values stored per draw of a PyMC model (free variables and deterministics)."""
    n = 0
    for v in model.unobserved_RVs:
        try:
            n += int(np.prod(v.shape.eval())) if v.ndim else 1
        except Exception:  # noqa: BLE001 - a shape that needs data: count it as one
            n += 1
    return n


def single_thread_blas():
    """Context: BLAS on one thread.  The models evaluate tiny dense linear algebra (K x K); a
    multi-threaded BLAS only adds synchronisation (x100 slower per gradient on a busy machine)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a PyMC dependency
        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def sample(target, sampler: SamplerSpec, priors: PriorSpec | None = None,
           seed: int | None = None, progressbar: bool = False):
    """Draw from the posterior of ``target`` with the sampler of ``sampler``.

    Parameters
    ----------
    target : a :class:`~bayes_sdm.prepared.Prepared` pooled model (its PyMC model is built here
        with ``priors``; or, with ``sampler.kind == "exact"``, drawn exactly) or a built
        ``pm.Model`` (NUTS only)
    sampler : kind, draws, tune, chains, target_accept, nuts_sampler, cores, seed
    priors : the priors of a prepared target (default weakly informative)
    seed : overrides ``sampler.seed``

    Returns
    -------
    ArviZ DataTree with ``posterior`` (and, for NUTS, ``sample_stats``).

    Raises
    ------
    InputError
        the exact sampler with priors other than the flat reference prior, or with a target it
        does not cover.
    """
    return compile_sampler(target, sampler, priors).sample(seed, progressbar=progressbar)


def _checked(draw, sampler: SamplerSpec):
    """Run ``draw()`` watching for interrupts; refuse incomplete or non-finite results."""
    with interrupts_detected() as seen:
        try:
            idata = draw()
        except KeyboardInterrupt:
            raise Interrupted("sampling") from None
    if seen[0]:
        raise Interrupted("sampling")
    check_draws(idata, sampler)
    return idata


def sample_nuts(model, sampler: SamplerSpec, seed: int | None = None,
                progressbar: bool = False):
    """:func:`sample` for a built ``pm.Model`` (NUTS)."""
    return CompiledNUTS(model, sampler).sample(seed, progressbar=progressbar)


def compile_sampler(target, sampler: SamplerSpec, priors: PriorSpec | None = None):
    """A sampler for ``target`` (see :func:`sample`) compiled once: ``.sample(seed, data=...)``
    draws again, with the model's ``pm.Data`` containers set to ``data`` (NUTS) -- what SBC and
    simulation studies need."""
    from .prepared import Prepared

    sampler.validate()
    if sampler.kind == "exact" and isinstance(target, Prepared):
        k = target.stats.K
        check_memory(4 + 2 * k + 3 * k, sampler)
    if sampler.kind == "exact":
        if not isinstance(target, Prepared):
            raise InputError("the exact sampler draws from a prepared pooled model (it "
                             "integrates the coefficients out analytically); use NUTS for "
                             "this model")
        return ExactSampler(target, sampler, priors or PriorSpec())
    if isinstance(target, Prepared):
        cf = _closed_form(target, sampler, priors or PriorSpec())
        if cf is not None:
            return cf
        from .pymc_models import build_model

        target = build_model(target.stats, target.logdet, target.family, priors)
        return CompiledNUTS(target, sampler, _fallback_warned=True)
    return CompiledNUTS(target, sampler)


#: nutpie releases whose C-callback interface (``nutpie._lib.LogpFunc`` / ``ExpandFunc``, not
#: part of nutpie's public API) :mod:`bayes_sdm.closed_form_nuts` is written and tested against
CLOSED_FORM_NUTPIE = ("0.16.",)


def _nutpie_version() -> str:
    from importlib.metadata import version

    return version("nutpie")


def _closed_form(prep, sampler: SamplerSpec, priors: PriorSpec):
    """The closed-form NUTS of a prepared pooled model (``closed-form``, or ``auto`` with
    nutpie and numba installed) when :func:`bayes_sdm.closed_form.unsupported` covers it, else
    None (the PyMC model; an explicit ``closed-form`` warns, naming why)."""
    name = sampler.nuts_sampler
    if name == "closed-form":
        resolve_sampler(name)
    elif name != "auto" or not (importlib.util.find_spec("nutpie")
                                and importlib.util.find_spec("numba")):
        return None
    from .closed_form import unsupported

    priors.validate()
    why = unsupported(prep.stats, prep.logdet, prep.family, priors,
                      regional=prep.regional is not None)
    if why is None and not _nutpie_version().startswith(CLOSED_FORM_NUTPIE):
        why = (f"nutpie {_nutpie_version()} (it drives nutpie {', '.join(CLOSED_FORM_NUTPIE)}x's "
               "internal C-callback interface)")
    if why is not None:
        if name == "closed-form":
            warnings.warn(f"the closed-form sampler does not cover {why}; sampling the PyMC "
                          "model with nutpie-pyfunc", UserWarning, stacklevel=4)
        return None
    return ClosedFormNUTS(prep, sampler, priors)


class ClosedFormNUTS:
    """The closed-form posterior of a prepared pooled model behind the :func:`compile_sampler`
    interface (nutpie on numba C callbacks, :mod:`bayes_sdm.closed_form_nuts`)."""

    name = "closed-form"
    compiles_separately = True

    def __init__(self, prep, sampler: SamplerSpec, priors: PriorSpec):
        from .closed_form import ClosedFormModel

        self.spec = sampler
        self.cf = ClosedFormModel(prep.stats, prep.logdet, prep.family, priors)
        check_memory(self.cf.n_expanded, sampler)
        self._compiled = None

    def compile(self) -> ClosedFormNUTS:
        """Load (or, the first time on a machine, compile) the C callbacks."""
        if self._compiled is None:
            import_nutpie()
            from .closed_form_nuts import compiled_model

            self._compiled = compiled_model(self.cf)
        return self

    def sample(self, seed: int | None = None, data=None, progressbar: bool = False):
        if data:
            raise InputError("the closed-form sampler takes new data through a new prepared "
                             "model")
        return _checked(lambda: self._sample(seed, progressbar), self.spec)

    def _sample(self, seed, progressbar):
        nutpie = import_nutpie()
        s = self.compile().spec
        t0 = time.time()
        # the callbacks hold no GIL: the chains run in parallel threads
        idata = nutpie.sample(self._compiled, draws=s.draws, tune=max(s.tune, 1),
                              chains=s.chains, cores=s.cores or min(s.chains, os.cpu_count() or 1),
                              seed=int(s.seed if seed is None else seed),
                              target_accept=s.target_accept, save_warmup=False,
                              progress_bar=progressbar)
        idata["posterior"].attrs.update(sampling_time=time.time() - t0, tuning_steps=s.tune)
        idata.attrs["nuts_sampler"] = self.name
        return idata


class ExactSampler:
    """The exact grid sampler of a prepared model behind the :func:`compile_sampler`
    interface."""

    def __init__(self, prep, sampler: SamplerSpec, priors: PriorSpec):
        from .exact import exact_supported

        if not priors.is_flat:
            raise InputError("the exact sampler integrates beta, theta and sigma2 out under the "
                             "flat reference prior: use --priors flat (or NUTS)")
        if prep.regional is not None or not exact_supported(prep.family):
            raise InputError(f"the exact sampler covers pooled models with one spatial "
                             f"parameter, not this {'regional ' if prep.regional else ''}"
                             f"{prep.family.name} model; use NUTS")
        self.prep, self.sampler = prep, sampler

    #: nothing to compile
    compiles_separately = False

    def compile(self) -> ExactSampler:
        return self

    def sample(self, seed: int | None = None, data=None, progressbar: bool = False):
        from .exact import sample_exact

        if data:
            raise InputError("the exact sampler takes new data through a new prepared model")
        s = self.sampler
        return _checked(lambda: sample_exact(self.prep.stats, self.prep.logdet,
                                             model=self.prep.family, draws=s.draws,
                                             chains=s.chains,
                                             seed=s.seed if seed is None else seed,
                                             effects=False), s)


class CompiledNUTS:
    """A PyMC model compiled once for one NUTS implementation."""

    def __init__(self, model, sampler: SamplerSpec, _fallback_warned: bool = False):
        self.model, self.spec = model, sampler
        self.name = resolve_sampler(sampler.nuts_sampler)
        if sampler.nuts_sampler == "closed-form" and not _fallback_warned:
            warnings.warn("the closed-form sampler covers prepared pooled models, not a PyMC "
                          "model (regional, random effects, variance or dynamic models); "
                          "sampling it with nutpie-pyfunc", UserWarning, stacklevel=3)
        check_memory(_model_values(model), sampler)
        self._compiled = None
        self._step = None

    @property
    def compiles_separately(self) -> bool:
        """Whether :meth:`compile` does the compilation (``nutpie-pyfunc``); the other
        samplers compile inside :meth:`sample` (``pm.sample``)."""
        return self.name == "nutpie-pyfunc"

    def compile(self) -> CompiledNUTS:
        """Compile now rather than in the first :meth:`sample`, so that a caller can time
        compilation and sampling apart (``nutpie-pyfunc``; a no-op for the others)."""
        if self._compiled is None and self.name == "nutpie-pyfunc":
            with single_thread_blas():
                self._compiled = compile_nutpie_pyfunc(self.model)
        return self

    def _set_data(self, data) -> None:
        import pymc as pm

        if data:
            with self.model:
                pm.set_data(data)

    def sample(self, seed: int | None = None, data=None, progressbar: bool = False):
        """Draw (again); ``data`` sets the model's ``pm.Data`` containers first.  The compiled
        code is reused across calls (nutpie's compile, PyMC's NUTS step, the
        ``nutpie-pyfunc`` functions).  An interrupt raises
        :class:`~bayes_sdm.errors.Interrupted`; incomplete or non-finite draws
        :class:`~bayes_sdm.errors.NumericalError`."""
        return _checked(lambda: self._sample(seed, data, progressbar), self.spec)

    def _sample(self, seed, data, progressbar):
        import pymc as pm

        s = self.spec
        seed = s.seed if seed is None else seed
        with single_thread_blas():
            if self.name == "nutpie-pyfunc":
                self._set_data(data)
                if self._compiled is None:
                    self._compiled = compile_nutpie_pyfunc(self.model)
                return _sample_nutpie_pyfunc(self._compiled, self.model, s, seed, progressbar)
            if data and self.name == "nutpie":
                from pymc.backends.arviz import patch_nutpie_idata

                nutpie = import_nutpie()

                if self._compiled is None:
                    self._compiled = nutpie.compile_pymc_model(self.model)
                t0 = time.time()
                idata = nutpie.sample(self._compiled.with_data(**data), draws=s.draws,
                                      tune=s.tune, chains=s.chains, cores=s.cores or 1,
                                      seed=int(seed), target_accept=s.target_accept,
                                      progress_bar=progressbar)
                patch_nutpie_idata(idata, self.model, sampling_time=time.time() - t0)
                return idata
            self._set_data(data)
            with self.model:
                if data and self.name == "pymc":
                    if self._step is None:
                        self._step = pm.NUTS(target_accept=s.target_accept)
                    return pm.sample(draws=s.draws, tune=s.tune, chains=s.chains,
                                     cores=s.cores or 1, step=self._step, random_seed=seed,
                                     progressbar=progressbar, compute_convergence_checks=False)
                return pm.sample(draws=s.draws, tune=s.tune, chains=s.chains, cores=s.cores,
                                 random_seed=seed, progressbar=progressbar,
                                 nuts_sampler=self.name, compute_convergence_checks=False,
                                 target_accept=s.target_accept)


# --------------------------------------------------------------------------------------------
# nutpie driving PyTensor-compiled Python functions
# --------------------------------------------------------------------------------------------


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


def _sample_nutpie_pyfunc(compiled, model, sampler: SamplerSpec, seed: int, progressbar: bool):
    from pymc.backends.arviz import patch_nutpie_idata

    nutpie = import_nutpie()

    t0 = time.time()
    idata = nutpie.sample(compiled, draws=sampler.draws, tune=max(sampler.tune, 1),
                          chains=sampler.chains, cores=sampler.cores or 1, seed=int(seed),
                          target_accept=sampler.target_accept, save_warmup=False,
                          progress_bar=progressbar)
    patch_nutpie_idata(idata, model, sampling_time=time.time() - t0)
    return idata
