"""What a process imports: ``import bayes_sdm`` stays light, and a command-line run imports only
what it needs (no PyMC/PyTensor for the exact sampler or ML, no plotting without --plots, no
ArviZ statistics package or scipy.stats for the diagnostics, no Dask without a cluster).  Each
check runs in a fresh interpreter and reads ``sys.modules`` when it exits."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("pymc", "pytensor", "matplotlib", "arviz_plots", "arviz_stats", "scipy.stats", "nutpie",
         "numba", "dask", "distributed", "jax", "pandas", "xarray", "scipy",
         # modules of numpy.f2py / numpy.testing: present only once those have run their code
         "numpy.f2py.crackfortran", "numpy.testing._private.utils")

#: runs a script as ``python script args`` and prints the heavy modules it imported at exit
WRAPPER = (
    "import atexit, runpy, sys\n"
    "atexit.register(lambda: print('MODULES', *[m for m in {heavy!r} if m in sys.modules]))\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n")


def _env():
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint('MODULES', *[m for m"
                          f" in {HEAVY!r} if m in sys.modules])"], capture_output=True,
                         text=True, cwd=ROOT, env=_env(), timeout=120, check=True)
    return set(out.stdout.split("MODULES", 1)[1].split())


def modules_of_run(args: list[str], tmp_path, codes=(0,)) -> set[str]:
    cmd = [sys.executable, "-c", WRAPPER.format(heavy=HEAVY), str(ROOT / "scripts" /
           "fit_region.py"), *args, "--quiet", "--out", str(tmp_path / "out")]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=300,
                         check=False)
    assert out.returncode in codes, out.stdout + out.stderr
    return set(out.stdout.split("MODULES", 1)[1].split())


def test_import_bayes_sdm_imports_nothing_heavy():
    """Not even NumPy's neighbours: pandas, xarray and SciPy come with the first call."""
    assert modules_after("import bayes_sdm") == set()


def test_import_cli_imports_no_model_stack():
    """The CLI module (``--help``) imports no sampler, plotting, statistics or Dask stack."""
    got = modules_after("import bayes_sdm.cli")
    assert not got & {"pymc", "pytensor", "matplotlib", "arviz_plots", "arviz_stats",
                      "scipy.stats", "nutpie", "numba", "dask", "distributed", "xarray"}, got


def test_exact_sampler_run_imports_only_what_it_needs(tmp_path):
    """An exact-sampler fit with its run folder: no PyMC/PyTensor, no plotting, no
    arviz_stats/scipy.stats (diagnostics by bayes_sdm.convergence), no Dask."""
    got = modules_of_run(["--dataset", "cigar", "--model", "sdm", "--fe", "twoway",
                          "--sampler", "exact"], tmp_path)
    assert not got & {"pymc", "pytensor", "matplotlib", "arviz_plots", "arviz_stats",
                      "scipy.stats", "nutpie", "numba", "dask", "distributed",
                      "numpy.f2py.crackfortran", "numpy.testing._private.utils"}, got
    assert {"summary.csv", "effects.csv", "diagnostics.json", "posterior.nc"} <= set(
        os.listdir(tmp_path / "out"))


def test_regional_closed_form_run_imports_no_pymc(tmp_path):
    """make run's hierarchical model on the closed-form sampler (short chains): nutpie and
    numba, but no PyMC/PyTensor (the regional PyMC graph is never built) and no plotting
    (exit 1 allowed: such short chains may miss the diagnostics' thresholds)."""
    got = modules_of_run(["--spec", str(ROOT / "models" / "seed_study_regional.yaml"),
                          "--draws", "100", "--tune", "100"], tmp_path, codes=(0, 1))
    assert {"nutpie", "numba"} <= got
    assert not got & {"pymc", "pytensor", "matplotlib", "arviz_plots", "arviz_stats",
                      "dask", "distributed"}, got


def test_ml_only_run_imports_no_sampler_stack(tmp_path):
    """ML with its tests (p-values from scipy.special, not scipy.stats): no sampler stack."""
    got = modules_of_run(["--dataset", "cigar", "--model", "sdm", "--fe", "twoway",
                          "--ml-only"], tmp_path)
    assert not got & {"pymc", "pytensor", "matplotlib", "arviz_plots", "arviz_stats", "nutpie",
                      "numba", "dask", "distributed", "scipy.stats"}, got


def test_xarray_still_sees_dask_arrays():
    """bayes_sdm.xarray_dask answers "no Dask" only while Dask is not imported: once it is, a
    Dask-backed variable is chunked, computes and is written to netCDF as before."""
    pytest.importorskip("dask.array")
    code = (
        "import sys, tempfile, os, numpy as np\n"
        "import bayes_sdm.io, bayes_sdm.xarray_dask\n"
        "bayes_sdm.xarray_dask.install()\n"
        "import xarray as xr\n"
        "ds = xr.Dataset({'a': (('x',), np.arange(4.0))})\n"
        "p = os.path.join(tempfile.mkdtemp(), 'a.nc')\n"
        "bayes_sdm.io.save_fit(xr.DataTree(ds), p)\n"
        "assert 'dask' not in sys.modules\n"
        "import dask.array as da\n"
        "dd = xr.Dataset({'a': (('x',), da.arange(4.0, chunks=2))})\n"
        "assert dd['a'].chunks == ((2, 2),) and float(dd['a'].sum()) == 6.0\n"
        "bayes_sdm.io.save_fit(xr.DataTree(dd), p)\n"
        "assert float(xr.open_dataset(p, engine='h5netcdf')['a'].sum()) == 6.0\n"
        "from xarray.namedarray.pycompat import array_type\n"
        "assert array_type('dask') == (da.Array,)\n")
    modules_after(code)


def test_library_import_leaves_xarray_alone():
    """Only a command-line process changes xarray's Dask checks; importing the library does not."""
    modules_after(
        "import bayes_sdm.api, bayes_sdm.io\n"
        "from xarray.namedarray import utils\n"
        "assert not hasattr(utils.is_dask_collection, '__wrapped__')\n")


def test_arviz_base_stand_ins_leave_no_trace():
    """arviz_light imports arviz_base with stand-ins for the missing jax/numpyro: afterwards
    ``import jax`` fails as before, and arviz_base's NumPyro converter says jax is missing."""
    modules_after(
        "import importlib.util, sys\n"
        "import numpy as np\n"
        "from bayes_sdm.arviz_light import import_arviz_base\n"
        "az = import_arviz_base()\n"
        "dt = az.from_dict({'posterior': {'a': np.ones((1, 2))}})\n"
        "assert dt['posterior']['a'].shape == (1, 2)\n"
        "if importlib.util.find_spec('jax') is None:\n"
        "    assert 'jax' not in sys.modules and 'numpyro' not in sys.modules\n"
        "    try:\n"
        "        import jax\n"
        "    except ModuleNotFoundError:\n"
        "        pass\n"
        "    else:\n"
        "        raise AssertionError('jax importable after the stand-in')\n"
        "    try:\n"
        "        az.io_numpyro.jax.random\n"
        "    except ModuleNotFoundError as err:\n"
        "        assert 'jax' in str(err)\n"
        "    else:\n"
        "        raise AssertionError('stand-in did not raise')\n")


def test_numpy_lazy_submodules_run_on_first_use():
    """bayes_sdm.numpy_lazy: SciPy's import leaves numpy.f2py / numpy.testing unexecuted; the
    first attribute read or ``import numpy.testing`` runs them in full, as a plain import would;
    a module already imported is left alone."""
    modules_after(
        "import sys\n"
        "import numpy as np\n"
        "from bayes_sdm.numpy_lazy import enable\n"
        "assert enable() == ['numpy.f2py', 'numpy.testing']\n"
        "assert enable() == []\n"
        "import scipy.sparse, scipy.linalg, scipy.special\n"
        "assert 'numpy.testing._private.utils' not in sys.modules\n"
        "assert 'numpy.f2py.crackfortran' not in sys.modules\n"
        "import numpy.testing as npt\n"
        "npt.assert_allclose(np.ones(2), np.ones(2))\n"
        "assert 'numpy.testing._private.utils' in sys.modules\n"
        "from numpy.testing import assert_array_equal\n"
        "assert np.testing.assert_array_equal is assert_array_equal\n"
        "assert callable(np.f2py.run_main) and 'numpy.f2py.crackfortran' in sys.modules\n")
