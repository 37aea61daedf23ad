"""bayes_sdm: Bayesian spatial Durbin panel models with Lee-Yu fixed effects, in PyMC.

Public API (see ARCHITECTURE.md for the module map):

* data: :func:`panel_from_frame`, :class:`Panel`, weights builders in :mod:`bayes_sdm.weights`,
  bundled datasets :func:`load_dataset`;
* model families: :mod:`bayes_sdm.families` (the registry);
* estimation: :func:`prepare` (pooled or regional), :func:`fit` (PyMC or the exact sampler),
  :func:`fit_ml` (maximum likelihood of a prepared model);
* outputs: ``FitResult.save`` (a run folder) / :func:`load_fit`, tables in
  :mod:`bayes_sdm.reporting`; a fit is an ArviZ DataTree (``az.summary(res)``), and
  :func:`arviz_defaults` gives ArviZ the package's 94% HDIs inside a ``with`` block.
"""

__version__ = "0.1.0"

from .errors import DiagnosticsFailed, InputError, NumericalError  # noqa: E402

_LAZY = {
    "Panel": "panel", "panel_from_frame": "panel", "SpatialWeights": "weights",
    "economic_distance": "weights", "make_weights": "weights", "read_weights": "weights",
    "prepare": "api", "fit": "api", "Prepared": "prepared", "FitResult": "result",
    "load_fit": "result", "save_fit": "io", "load_dataset": "datasets",
    "list_datasets": "datasets", "fit_ml": "ml", "families": "families",
    "arviz_defaults": "reporting",
}


def __getattr__(name):  # lazy: `import bayes_sdm` imports nothing heavy (not even pandas)
    if name in _LAZY:
        import importlib

        mod = importlib.import_module(f".{_LAZY[name]}", __name__)
        return mod if name == _LAZY[name] else getattr(mod, name)
    raise AttributeError(f"module 'bayes_sdm' has no attribute {name!r}")


__all__ = [
    "DiagnosticsFailed", "InputError", "NumericalError", "Panel", "SpatialWeights",
    "economic_distance", "make_weights", "panel_from_frame", "read_weights", "prepare", "fit",
    "fit_ml", "FitResult", "Prepared", "load_dataset", "list_datasets", "save_fit", "load_fit",
    "families", "arviz_defaults", "__version__",
]
