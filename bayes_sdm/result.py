"""The result of a fit, pooled or regional: :class:`FitResult`, and :func:`load_fit`.

A :class:`FitResult` is the ArviZ DataTree of the posterior (with the effects and the
provenance attributes of :func:`bayes_sdm.api.provenance`) plus the spec and, for a fit made in
this process, the prepared model.  Its tables and diagnostics are computed from the DataTree
alone, so a fit read back with :func:`load_fit` gives the same tables as the one that was saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from .errors import InputError


@dataclass
class FitResult:
    """A fitted Bayesian spatial panel: the ArviZ DataTree plus what produced it.

    Attributes
    ----------
    idata : the DataTree (``posterior`` with ``effects``; ``sample_stats`` for NUTS)
    prepared : the :class:`~bayes_sdm.prepared.Prepared` model (None when loaded from a file)
    spec : the :class:`~bayes_sdm.spec.ModelSpec` that was fitted
    timings : seconds per stage
    regional_model : the built :class:`~bayes_sdm.regional.model.RegionalModel` (regional fits
        made in this process)
    """

    idata: object
    prepared: object
    spec: object
    timings: dict = field(default_factory=dict)
    regional_model: object = None

    @property
    def is_regional(self) -> bool:
        from .reporting import is_regional

        return is_regional(self.idata)

    def __getitem__(self, group: str):
        """A group of the DataTree (``res["posterior"]``), as ArviZ's DataTree indexing."""
        return self.idata[group]

    @property
    def attrs(self) -> dict:
        """The provenance attributes of the DataTree."""
        return self.idata.attrs

    @property
    def posterior(self):
        return self.idata["posterior"].to_dataset()

    def summary_table(self) -> pd.DataFrame:
        """``summary.csv``: one row per scalar parameter (with ``region`` when regional)."""
        from .reporting import summary_table

        return summary_table(self.idata)

    def effects_table(self, include_overall: bool = False) -> pd.DataFrame:
        """``effects.csv``: direct / indirect / total effects (by region when regional; with
        ``include_overall`` also the whole-sample effects of a regional fit)."""
        from .reporting import effects_table, regional_effects_table

        if include_overall and self.is_regional:
            return regional_effects_table(self.idata, include_overall=True)
        return effects_table(self.idata)

    def contrasts_table(self, pairs=None) -> pd.DataFrame:
        """``region_contrasts.csv``: differences of region effects (regional fits only)."""
        from .reporting import contrasts_table

        self._need_regional("contrasts")
        return contrasts_table(self.idata, pairs)

    def spillovers_table(self) -> pd.DataFrame:
        """``spillovers.csv``: region-to-region spillovers (regional fits with the full W)."""
        from .reporting import spillovers_table

        self._need_regional("spillovers")
        return spillovers_table(self.idata)

    def diagnostics(self):
        """Convergence diagnostics with thresholds (:mod:`bayes_sdm.diagnostics`)."""
        from .diagnostics import diagnose

        return diagnose(self.idata)

    def save(self, path) -> Path:
        """Write the DataTree (with its provenance) to netCDF at ``path``."""
        from .io import save_fit

        return save_fit(self.idata, path)

    def _need_regional(self, what: str) -> None:
        if not self.is_regional:
            raise InputError(f"{what} are defined for regional fits only")


def load_fit(path, data_hash: str | None = None, spec_hash: str | None = None) -> FitResult:
    """Read a fit written by bayes_sdm (``posterior.nc``) as a :class:`FitResult`.

    Raises
    ------
    InputError
        missing file, not a bayes_sdm fit, or a hash mismatch (names which one).
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
