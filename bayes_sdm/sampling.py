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
    block log-determinants; and the regional models whose posterior it can write the same way
    (:func:`regional_samplers`: the collapsed partial-pooling hierarchy on the full W,
    :mod:`bayes_sdm.regional.closed_form`; complete pooling; per-region fits).  Anything else
    (SAC, the other regional models, random effects, dynamic, variance models, predictive
    checks, other log-determinants) keeps the PyMC model below, and an explicit
    ``closed-form`` says so with a warning.
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
import time
import warnings
from contextlib import contextmanager, nullcontext

import numpy as np

from .errors import InputError, Interrupted, NumericalError
from .nutpie_pyfunc import compile_nutpie_pyfunc, import_nutpie, sample_nutpie_pyfunc
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


def small_blas(n: int):
    """:func:`single_thread_blas` for dense work on matrices under 500 rows (effects,
    replication), where a multi-threaded BLAS only adds synchronisation (an eigendecomposition
    of a 176 x 176 W took 0.43 s on two busy cores against 0.008 s on one); unchanged
    otherwise."""
    return single_thread_blas() if n < 500 else nullcontext()


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
        priors = priors or PriorSpec()
        cf = _closed_form(target.stats, target.logdet, target.family, priors, sampler,
                          regional=target.regional is not None)
        if cf is not None:
            return cf
        from .pymc_models import build_model

        target = build_model(target.stats, target.logdet, target.family, priors)
        return CompiledNUTS(target, sampler, _fallback_warned=True)
    return CompiledNUTS(target, sampler)


def regional_samplers(rm, sampler: SamplerSpec) -> dict:
    """The samplers of a built regional model
    (:class:`~bayes_sdm.regional.model.RegionalModel`): ``{region: sampler}`` for separate
    per-region fits (no pooling under block W), else ``{None: sampler}``.  With ``auto`` or
    ``closed-form``, the closed form where it covers the model: the collapsed partial-pooling
    hierarchy (:mod:`bayes_sdm.regional.closed_form`), the complete-pooling model and each
    region's own model (:mod:`bayes_sdm.closed_form`); else the PyMC model (built now; an
    explicit ``closed-form`` warns, naming why)."""
    from .regional.model import complete_pooling_inputs

    sampler.validate()
    family, priors = rm.family, rm.priors
    cf = None
    if rm.pooling == "complete":
        cf = _closed_form(*complete_pooling_inputs(rm), family, priors, sampler)
    elif rm.pooling == "partial" or rm.regional_w == "full":
        if _closed_form_wanted(sampler):
            from .regional.closed_form import CollapsedClosedForm, regional_unsupported

            cf = _gate(sampler, regional_unsupported(rm, priors),
                       lambda: CollapsedClosedForm(rm))
    else:
        return {b.name: _closed_form(b.stats, b.logdet, family, priors, sampler)
                or CompiledNUTS(rm.pymc_model() or rm.region_models[b.name], sampler,
                                _fallback_warned=True)
                for b in rm.blocks}
    if cf is not None:
        return {None: cf}
    return {None: CompiledNUTS(rm.pymc_model(), sampler, _fallback_warned=True)}


#: nutpie releases whose C-callback interface (``nutpie._lib.LogpFunc`` / ``ExpandFunc``, not
#: part of nutpie's public API) :mod:`bayes_sdm.closed_form_nuts` is written and tested against
CLOSED_FORM_NUTPIE = ("0.16.",)


def _nutpie_version() -> str:
    from importlib.metadata import version

    return version("nutpie")


def _closed_form_wanted(sampler: SamplerSpec) -> bool:
    """``closed-form`` (nutpie required), or ``auto`` with nutpie and numba installed."""
    name = sampler.nuts_sampler
    if name == "closed-form":
        resolve_sampler(name)
        return True
    return name == "auto" and bool(importlib.util.find_spec("nutpie")
                                   and importlib.util.find_spec("numba"))


def _gate(sampler: SamplerSpec, why: str | None, build):
    """``ClosedFormNUTS(build(), sampler)`` unless ``why`` (what the closed form does not cover)
    or the installed nutpie rules it out; then None, with a warning naming why when
    ``closed-form`` was asked for explicitly."""
    if why is None and not _nutpie_version().startswith(CLOSED_FORM_NUTPIE):
        why = (f"nutpie {_nutpie_version()} (it drives nutpie {', '.join(CLOSED_FORM_NUTPIE)}x's "
               "internal C-callback interface)")
    if why is not None:
        if sampler.nuts_sampler == "closed-form":
            warnings.warn(f"the closed-form sampler does not cover {why}; sampling the PyMC "
                          "model with nutpie-pyfunc", UserWarning, stacklevel=4)
        return None
    return ClosedFormNUTS(build(), sampler)


def _closed_form(stats, logdet, family, priors: PriorSpec, sampler: SamplerSpec,
                 regional: bool = False):
    """The closed-form NUTS of a pooled model (``closed-form``, or ``auto`` with nutpie and
    numba installed) when :func:`bayes_sdm.closed_form.unsupported` covers it, else None (the
    PyMC model; an explicit ``closed-form`` warns, naming why)."""
    if not _closed_form_wanted(sampler):
        return None
    from .closed_form import ClosedFormModel, unsupported

    priors.validate()
    why = unsupported(stats, logdet, family, priors, regional=regional)
    return _gate(sampler, why, lambda: ClosedFormModel(stats, logdet, family, priors))


class ClosedFormNUTS:
    """A closed-form posterior (:class:`~bayes_sdm.closed_form.ClosedFormModel`, or the
    regional :class:`~bayes_sdm.regional.closed_form.CollapsedClosedForm`) behind the
    :func:`compile_sampler` interface (nutpie on numba C callbacks,
    :mod:`bayes_sdm.closed_form_nuts`)."""

    name = "closed-form"
    compiles_separately = True

    def __init__(self, cf, sampler: SamplerSpec):
        self.spec, self.cf = sampler, cf
        check_memory(cf.n_expanded, sampler)
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
                return sample_nutpie_pyfunc(self._compiled, self.model, s, seed, progressbar)
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
