"""The result of a fit, pooled or regional: :class:`FitResult`, and :func:`load_fit`.

A :class:`FitResult` *is* the ArviZ DataTree of the posterior (an ``xarray.DataTree`` with the
effects and the provenance attributes of :func:`bayes_sdm.api.provenance`), carrying the spec
and, for a fit made in this process, the prepared model.  Being a DataTree, it goes through
ArviZ 1.x's conversion (``arviz_base.convert_to_datatree`` returns a DataTree unchanged), so
``az.summary(res)``, ``az.plot_trace_dist(res)``, ``az.plot_forest(res)`` and, once
:meth:`FitResult.add_log_likelihood` has added the exact leave-one-out conditionals,
``az.loo(res)`` / ``az.compare`` take the fit directly.  ArviZ's own defaults apply there
(89% equal-tailed intervals); :func:`arviz_defaults` switches to the package's 94% HDIs for a
``with`` block.

Its tables and diagnostics are computed from the DataTree alone, so a fit read back with
:func:`load_fit` (a run folder or its ``posterior.nc``) gives the same tables as the one that
was saved.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import xarray as xr
import yaml

from .errors import InputError
from .reporting import arviz_defaults  # noqa: F401 - part of this module's API


class FitResult(xr.DataTree):
    """A fitted Bayesian spatial panel: the ArviZ DataTree plus what produced it.

    ``FitResult(idata, prepared, spec, timings, regional_model)`` wraps a DataTree (its nodes
    are shallow copies: the arrays are shared, not copied).  ``copy()`` keeps the attributes
    below; a pickled fit keeps them too.

    Attributes
    ----------
    idata : the fit itself (kept for code written against the earlier wrapper)
    prepared : the :class:`~bayes_sdm.prepared.Prepared` model (None when loaded from a file)
    spec : the :class:`~bayes_sdm.spec.ModelSpec` that was fitted
    timings : seconds per stage
    regional_model : the built :class:`~bayes_sdm.regional.model.RegionalModel` (regional fits
        made in this process)
    """

    __slots__ = ("prepared", "spec", "timings", "regional_model")

    def __init__(self, idata=None, prepared=None, spec=None, timings=None,
                 regional_model=None):
        if idata is None:  # xarray makes empty nodes of the same class when it copies
            super().__init__()
        else:
            if not isinstance(idata, xr.DataTree):
                raise InputError(f"FitResult wraps an xarray DataTree, got "
                                 f"{type(idata).__name__}")
            super().__init__(dataset=idata.to_dataset(inherit=False),
                             children=dict(idata.children), name=idata.name)
        self.prepared = prepared
        self.spec = spec
        self.timings = dict(timings or {})
        self.regional_model = regional_model

    def copy(self, *, inherit: bool = True, deep: bool = False) -> FitResult:
        """A copy (``xarray.DataTree.copy``) that keeps the spec and the prepared model."""
        new = super().copy(inherit=inherit, deep=deep)
        if isinstance(new, FitResult):
            new.prepared, new.spec = self.prepared, self.spec
            new.timings, new.regional_model = dict(self.timings), self.regional_model
        return new

    @property
    def idata(self) -> FitResult:
        """The DataTree: the fit itself."""
        return self

    @property
    def is_regional(self) -> bool:
        from .reporting import is_regional

        return is_regional(self)

    def summary_table(self, diagnostics=None) -> pd.DataFrame:
        """``summary.csv``: one row per scalar parameter (with ``region`` when regional);
        given this fit's :meth:`diagnostics`, from the summary they were computed on."""
        from .reporting import summary_table

        return summary_table(self, None if diagnostics is None else diagnostics.summary)

    def effects_table(self, include_overall: bool = False) -> pd.DataFrame:
        """``effects.csv``: direct / indirect / total effects (by region when regional; with
        ``include_overall`` also the whole-sample effects of a regional fit)."""
        from .reporting import effects_table, regional_effects_table

        if include_overall and self.is_regional:
            return regional_effects_table(self, include_overall=True)
        return effects_table(self)

    def contrasts_table(self, pairs=None) -> pd.DataFrame:
        """``region_contrasts.csv``: differences of region effects (regional fits only)."""
        from .reporting import contrasts_table

        self._need_regional("contrasts")
        return contrasts_table(self, pairs)

    def spillovers_table(self) -> pd.DataFrame:
        """``spillovers.csv``: region-to-region spillovers (regional fits with the full W)."""
        from .reporting import spillovers_table

        self._need_regional("spillovers")
        return spillovers_table(self)

    def diagnostics(self):
        """Convergence diagnostics with thresholds (:mod:`bayes_sdm.diagnostics`)."""
        from .diagnostics import diagnose

        return diagnose(self)

    def add_log_likelihood(self, var_name: str = "y") -> FitResult:
        """Add the ``log_likelihood`` group (exact leave-one-out conditionals,
        :mod:`bayes_sdm.elpd`) in place, so that ``az.loo(res)`` and
        ``az.compare({"a": res_a, "b": res_b})`` apply; returns the fit.  Needs the data (a fit
        made in this process)."""
        from .elpd import add_log_likelihood

        add_log_likelihood(self, var_name)
        return self

    def save(self, path, *, plots: bool = False, ml=None, progress=None) -> Path:
        """Write a run folder at ``path``, the layout of ``fit_region.py``'s ``--out``:
        ``posterior.nc``, ``summary.csv``, ``effects.csv``, ``diagnostics.json`` (regional:
        ``region_contrasts.csv``, ``spillovers.csv``; with an ML fit ``ml.csv``,
        ``ml_effects.csv``, ``comparison.csv``; with ``plots``: ``figures/``, ``report.md``,
        ``report.html``).  The folder is replaced whole (:class:`bayes_sdm.commands.RunFolder`).
        :func:`load_fit` reads it back.  ``save_netcdf`` writes the DataTree alone.

        Raises
        ------
        InputError
            a path ending in ``.nc`` (use :meth:`save_netcdf`), a path that cannot be written.
        """
        from .runfolder import save_run

        if Path(path).suffix == ".nc":
            raise InputError(f"save writes a run folder; {path} looks like a file: use "
                             "save_netcdf(path) for the netCDF file alone")
        return save_run(self, path, plots=plots, ml=ml, progress=progress)

    def save_netcdf(self, path) -> Path:
        """Write the DataTree (with its provenance) to one netCDF file at ``path``."""
        from .io import save_fit

        return save_fit(self, path)

    def _need_regional(self, what: str) -> None:
        if not self.is_regional:
            raise InputError(f"{what} are defined for regional fits only")

    def __repr__(self) -> str:
        return fit_card(self).text()

    __str__ = __repr__  # print(res): the summary, not the DataTree's full listing

    def _repr_html_(self) -> str:
        return fit_card(self).html()


def _sampler_text(fit) -> str:
    post = fit["posterior"]
    nc, nd = post.sizes.get("chain", 0), post.sizes.get("draw", 0)
    s = getattr(fit.spec, "sampler", None)
    if s is None:
        return f"{nc} chains x {nd:,} draws"
    if s.kind == "exact":
        return f"exact grid sampler, {nc} x {nd:,} independent draws"
    ta = fit.attrs.get("target_accept", s.target_accept)
    name = fit.attrs.get("nuts_sampler", s.nuts_sampler)
    return (f"NUTS ({name}), {nc} chains x {nd:,} draws after {s.tune:,} tuning, "
            f"target_accept {ta}")


def fit_card(fit):
    """The :class:`~bayes_sdm.display.Card` of a fit: what was fitted, how, the diagnostics'
    verdict and the head of the summary table."""
    import json

    from .display import Card, number

    a = fit.attrs
    model, fe = str(a.get("model", "?")).upper(), a.get("fe", "?")
    fields = [("data", f"N = {a.get('N', '?')} units, T = {a.get('T', '?')} periods"),
              ("W", str(a.get("weights", "?"))),
              ("log-determinant", str(a.get("logdet_method", "?"))),
              ("sampler", _sampler_text(fit))]
    if "regions" in a:
        try:
            names, sizes = json.loads(a["regions"]), json.loads(a.get("region_sizes", "[]"))
            regs = ", ".join(f"{r} {k}" for r, k in zip(names, sizes)) or ", ".join(names)
        except ValueError:
            regs = str(a["regions"])
        fields.insert(1, ("regions", f"{a.get('pooling', '?')} pooling, "
                                     f"{a.get('regional_w', '?')} W: {regs}"))
    try:
        d = fit.diagnostics()
        if d.passed:
            verdict = (f"passed (max r_hat {number(d.per_parameter['r_hat'].max())}, min ESS "
                       f"{d.per_parameter[['ess_bulk', 'ess_tail']].min().min():,.0f}, "
                       f"{d.divergences} divergences)")
        else:
            verdict = f"FAILED, {len(d.failures())} checks: see .diagnostics().failures()"
        fields.append(("diagnostics", verdict))
        table = fit.summary_table()
        table = table[[c for c in table.columns if c not in ("ess_tail",)]]
    except (KeyError, ValueError, InputError) as err:
        fields.append(("diagnostics", f"not available ({err})"))
        table = None
    if fit.timings:
        fields.append(("time", ", ".join(f"{k.removesuffix('_s')} {v:.1f} s"
                                         for k, v in fit.timings.items())))
    return Card(f"bayes_sdm.FitResult: {model} with {fe} fixed effects", fields, table,
                "posterior (mean, sd, 94% HDI)",
                notes=["tables: .summary_table() .effects_table() .diagnostics(); "
                       "az.summary(res); .save(folder)"])


def load_fit(path, data_hash: str | None = None, spec_hash: str | None = None) -> FitResult:
    """Read a fit written by bayes_sdm as a :class:`FitResult`: a run folder (``--out``,
    :meth:`FitResult.save`) or its ``posterior.nc``.

    Raises
    ------
    InputError
        missing file, a folder without ``posterior.nc``, not a bayes_sdm fit, or a hash
        mismatch (names which one).
    """
    from .io import read_fit
    from .spec import ModelSpec

    dt = read_fit(path, data_hash=data_hash, spec_hash=spec_hash)
    try:
        spec = ModelSpec.from_dict(yaml.safe_load(dt.attrs["spec"]), where=f"{path} (spec)")
    except (KeyError, yaml.YAMLError) as err:
        raise InputError(f"{path}: the stored spec cannot be read ({err})") from err
    check_complete(dt, spec, str(path))
    return FitResult(dt, None, spec)


def check_complete(idata, spec, where: str = "the fit") -> None:
    """Refuse a posterior that is not a finished run of its spec: fewer chains or draws than
    the spec asks (an interrupted sampler returns what it has) or non-finite draws.

    Raises
    ------
    InputError
        naming the file (or ``where``) and what is missing.
    """
    import numpy as np

    post = idata["posterior"]
    nc, nd = post.sizes.get("chain", 0), post.sizes.get("draw", 0)
    s = spec.sampler
    if (nc, nd) != (s.chains, s.draws):
        raise InputError(f"{where}: the posterior has {nc} chain(s) x {nd} draw(s) but its spec "
                         f"asks {s.chains} x {s.draws}: an interrupted or incomplete run")
    for name, da in post.data_vars.items():
        v = np.asarray(da.values)
        if v.dtype.kind == "f" and not np.isfinite(v).all():
            bad = int((~np.isfinite(v)).sum())
            raise InputError(f"{where}: {bad} non-finite draw(s) of {name!r}: an interrupted "
                             "or failed run")
