"""``import arviz_base`` without its detour through ``inspect.stack``.

``arviz_base`` (1.x) imports its NumPyro converter, which runs ``lazy_loader.load("jax")`` and
``load("numpyro")``.  Where these are not installed, lazy_loader calls ``inspect.stack()`` to
remember the caller for a later error message; that reads the source of every frame of the
import chain and scans every loaded module, 0.3-0.6 s of a 2 s exact-sampler run.  While
``arviz_base`` is imported, each of them that is not installed is a stand-in module that raises
``ModuleNotFoundError`` on first use (what lazy_loader's own stand-in raises); the stand-ins
leave ``sys.modules`` right after, so a later ``import jax`` behaves as without this.  xarray,
pandas and NumPy are imported first, so that nothing but ``arviz_base`` itself (and the
standard library) is imported while the stand-ins are in place.
"""

from __future__ import annotations

import importlib.util
import sys
import types

#: optional modules that ``arviz_base`` asks lazy_loader for at import
_LAZY = ("jax", "numpyro")


def _missing(name: str) -> types.ModuleType:
    mod = types.ModuleType(name, f"{name} is not installed (stand-in, bayes_sdm.arviz_light)")

    def __getattr__(attr):
        raise ModuleNotFoundError(f"No module named '{name}'")

    mod.__getattr__ = __getattr__
    return mod


def import_arviz_base():
    """``arviz_base``, imported once without lazy_loader's stack inspection (module docstring)."""
    if "arviz_base" in sys.modules:
        return sys.modules["arviz_base"]
    import numpy  # noqa: F401 - imported before the stand-ins are in place
    import pandas  # noqa: F401
    import xarray  # noqa: F401

    stand_ins = {n: _missing(n) for n in _LAZY
                 if n not in sys.modules and importlib.util.find_spec(n) is None}
    sys.modules.update(stand_ins)
    try:
        import arviz_base
    finally:
        for name, mod in stand_ins.items():
            if sys.modules.get(name) is mod:
                del sys.modules[name]
    return arviz_base
