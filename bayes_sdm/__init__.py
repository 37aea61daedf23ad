"""bayes_sdm: Bayesian spatial Durbin panel models with Lee-Yu fixed effects, in PyMC.

Public API (see ARCHITECTURE.md for the module map):

* data: :func:`panel_from_frame`, :class:`Panel`, weights builders in :mod:`bayes_sdm.weights`,
  bundled datasets :func:`load_dataset`;
* estimation: :func:`prepare`, :func:`fit` (PyMC), :func:`bayes_sdm.ml.fit_ml` (maximum
  likelihood);
* outputs: :func:`save_fit` / :func:`load_fit`, tables in :mod:`bayes_sdm.reporting`.
"""

__version__ = "0.1.0"

from .errors import DiagnosticsFailed, InputError  # noqa: E402
from .panel import Panel, panel_from_frame  # noqa: E402
from .weights import SpatialWeights, economic_distance, make_weights, read_weights  # noqa: E402


def __getattr__(name):  # lazy imports keep `import bayes_sdm` light (no PyMC until needed)
    if name in ("prepare", "fit", "FitResult", "Prepared"):
        from . import api

        return getattr(api, name)
    if name in ("load_dataset", "list_datasets"):
        from . import datasets

        return getattr(datasets, name)
    if name in ("save_fit", "load_fit"):
        from . import io

        return getattr(io, name)
    raise AttributeError(f"module 'bayes_sdm' has no attribute {name!r}")


__all__ = [
    "DiagnosticsFailed", "InputError", "Panel", "SpatialWeights", "economic_distance",
    "make_weights", "panel_from_frame", "read_weights", "prepare", "fit", "FitResult",
    "Prepared", "load_dataset", "list_datasets", "save_fit", "load_fit", "__version__",
]
