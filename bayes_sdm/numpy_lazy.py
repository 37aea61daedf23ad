"""Keep ``import scipy`` from executing ``numpy.f2py`` and ``numpy.testing`` in a command-line
process.

SciPy (1.17-1.18) clones the NumPy namespace into its array-API layer
(``scipy._external.array_api_compat.numpy``: ``from numpy import *`` and ``hasattr(numpy, n)``
for every name of ``dir(numpy)``) the first time any SciPy subpackage is imported.  Both reach
NumPy's lazily imported submodules ``numpy.f2py`` and ``numpy.testing`` (in ``numpy.__all__``),
which then run: the Fortran wrapper generator compiles its regular expressions and imports
``charset_normalizer``, the testing package imports ``unittest``, ``importlib.metadata`` and
``email``.  No bayes_sdm command uses either; together they were about a tenth of the imports
of an exact-sampler run (0.1-0.2 s of 1.5-2.5 s).

:func:`enable` registers the two as lazily executed modules (the standard library's
:class:`importlib.util.LazyLoader`): the module objects exist, ``from numpy import *`` binds
them, and each runs its code in full the first time one of its attributes is read (``import
numpy.testing`` included), as if it had been imported then.  Nothing is done for a module that
is already imported or that NumPy does not have.  Only a command-line process does this
(:func:`bayes_sdm.commands.run_command`); a library user's NumPy is left as it is.
"""

from __future__ import annotations

import importlib.util
import sys

#: NumPy's submodules that ``import scipy`` reaches but no bayes_sdm command uses
LAZY = ("numpy.f2py", "numpy.testing")


def enable(names: tuple[str, ...] = LAZY) -> list[str]:
    """Register ``names`` (submodules of NumPy not yet imported) as lazily executed modules;
    returns those registered (module docstring)."""
    import numpy

    done = []
    for name in names:
        if name in sys.modules:
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            continue
        spec.loader = importlib.util.LazyLoader(spec.loader)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)  # defers the module's code to its first attribute read
        setattr(numpy, name.rpartition(".")[2], module)  # what the import system does
        done.append(name)
    return done
