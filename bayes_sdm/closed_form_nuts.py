"""nutpie's NUTS on the closed-form pooled posterior (:mod:`bayes_sdm.closed_form`), with no
Python call per gradient and no PyMC or PyTensor.

nutpie's Rust sampler (Hoffman & Gelman 2014, JMLR 15:1593-1623, with nutpie's mass-matrix
adaptation) calls C function pointers for the log-density and for the draw expansion, each with a
user-data pointer (what nutpie's own numba backend does for a compiled PyMC model,
``nutpie.compile_pymc``).  Here the two C callbacks are numba ``cfunc`` s over
:func:`bayes_sdm.closed_form.logp_grad` / :func:`~bayes_sdm.closed_form.expand_into`, and the
user data is the model's flat float64 buffer, so the compiled code depends on no data: numba
caches it on disk (``cache=True``; the callbacks live beside the kernels in
:mod:`bayes_sdm.closed_form`, so that a change there invalidates both) and a new process, a new
dataset or another family only loads it.  The chains run in parallel threads (the callbacks
hold no GIL).

Why C callbacks rather than ``nutpie.compiled_pyfunc.from_pyfunc`` with a numba-jitted
log-density: the latter still makes one Python call (and one numba dispatch) per gradient,
GIL-bound, and measured about ten times slower on cigar (4 x 2,000 iterations, same kernels).

The draws carry the variables, names and dims of the PyMC model's (``rho`` or ``lambda``,
``beta[coef]``, ``theta[coef]``, ``intercept``, ``sigma``, ``sigma2``, and the priors'
auxiliary variables) and nutpie's ``sample_stats`` (divergences, tree depth, energy, step size).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


def compiled_model(cf):
    """A nutpie ``CompiledModel`` for a closed-form model
    (:class:`~bayes_sdm.closed_form.ClosedFormModel` or
    :class:`~bayes_sdm.regional.closed_form.CollapsedClosedForm`: a flat float64 ``buffer``,
    ``n_dim``, ``n_expanded``, ``names``, ``shapes``, ``dims``, ``coords``, ``initial_point``
    and ``callbacks()``, the two numba C callbacks); import nutpie through
    :func:`bayes_sdm.nutpie_pyfunc.import_nutpie` first."""
    from nutpie import _lib
    from nutpie.sample import CompiledModel

    c_logp, c_expand = cf.callbacks()

    @dataclass(frozen=True)
    class ClosedFormCompiled(CompiledModel):
        cf: object = field(default=None)

        @property
        def n_dim(self):
            return self.cf.n_dim

        @property
        def shapes(self):
            return {n: tuple(s) for n, s in zip(self.cf.names, self.cf.shapes, strict=True)}

        @property
        def coords(self):
            return {k: pd.Index(v) for k, v in self.cf.coords.items()}

        def _make_sampler(self, settings, init_mean, cores, progress_type, extra_callback,
                          extra_callback_rate, store):
            return _lib.PySampler.from_pymc(settings, cores, self._make_model(init_mean),
                                            progress_type, extra_callback, extra_callback_rate,
                                            store)

        def _make_model(self, init_mean):
            cfm = self.cf
            ptr = cfm.buffer.ctypes.data
            expand_fn = _lib.ExpandFunc(cfm.n_dim, cfm.n_expanded, c_expand.address, ptr, self)
            logp_fn = _lib.LogpFunc(c_logp.address, ptr, self)
            coords = self.coords
            dim_sizes = {k: len(v) for k, v in coords.items()}
            variables = _lib.PyVariable.new_variables(
                list(cfm.names), ["float64"] * len(cfm.names), [tuple(s) for s in cfm.shapes],
                dim_sizes, dict(cfm.dims))
            return _lib.PyMcModel(logp_fn, expand_fn, variables, cfm.n_dim, dim_sizes, coords,
                                  cfm.initial_point, None)

    return ClosedFormCompiled(dims=dict(cf.dims), cf=cf)
