"""The package's structure (issue: architecture): no import cycles, numerics never import the
user layer, modules small enough to read in one sitting, model families only in the registry.

Imports are read from the source (``ast``), function-level imports included, so a cycle that
only closes at run time is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "bayes_sdm"

#: the numerics layer (issue 11): these never import a user-layer module
NUMERICS = ("bayes_sdm.errors", "bayes_sdm.families", "bayes_sdm.design", "bayes_sdm.panel",
            "bayes_sdm.weights", "bayes_sdm.logdet", "bayes_sdm.likelihood",
            "bayes_sdm.effects", "bayes_sdm.simulate", "bayes_sdm.prepared",
            "bayes_sdm.draws", "bayes_sdm.information", "bayes_sdm.convergence",
            "bayes_sdm.arviz_light")
#: the user layer: validation, naming, files, commands, tables, figures
USER = ("bayes_sdm.api", "bayes_sdm.result", "bayes_sdm.cli", "bayes_sdm.commands",
        "bayes_sdm.io", "bayes_sdm.inputs", "bayes_sdm.spec", "bayes_sdm.reporting",
        "bayes_sdm.report", "bayes_sdm.plots", "bayes_sdm.diagnostics",
        "bayes_sdm.selection", "bayes_sdm.comparison", "bayes_sdm.datasets",
        "bayes_sdm.progress", "bayes_sdm.runfolder", "bayes_sdm.document",
        "bayes_sdm.plot_mcmc", "bayes_sdm.study")
MAX_LINES = 700


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PKG.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text())
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    typing_only = {id(n) for b in ast.walk(tree) if isinstance(b, ast.If)
                   and getattr(b.test, "id", None) == "TYPE_CHECKING" for n in ast.walk(b)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:  # annotations only: no run-time import
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            cands = [mod] + [f"{mod}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            cands = [a.name for a in node.names]
        else:
            continue
        for c in cands:
            if c in known:
                out.add(c)
    out.discard(name)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {n: _imports(n, p, known) for n, p in mods.items()}


def _layer(mod: str, prefixes) -> bool:
    return any(mod == p or mod.startswith(p + ".") for p in prefixes)


def test_no_import_cycles():
    g = _graph()
    # a package's __init__ importing its own submodules is not a cycle of concerns
    edges = {a: {b for b in bs if not (a.startswith(b + ".") and b in g)} for a, bs in g.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                cycles.append(stack[stack.index(m):] + [m])
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_numerics_never_import_the_user_layer():
    g = _graph()
    bad = [(a, b) for a, bs in g.items() if _layer(a, NUMERICS) for b in bs if _layer(b, USER)]
    assert not bad, f"numerics modules import the user layer: {bad}"


def test_modules_are_small_enough_to_read():
    big = {n: len(p.read_text().splitlines()) for n, p in _modules().items()}
    big = {n: c for n, c in big.items() if c > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


@pytest.mark.parametrize("name", ["sdm", "sar", "sem", "sdem", "slx", "ols"])
def test_family_names_are_not_dispatched_on_outside_the_registry(name):
    """No module compares a model name with a family's name string (``model == "sdm"``,
    ``model in ("sdm", "sar")``): families are dispatched on their declared flags."""
    import re

    pat = re.compile(rf"""model\w*\s*(==|!=|\bin\b|not in)\s*\(?[^#\n]*["']{name}["']""")
    offenders = []
    for n, p in _modules().items():
        if n in ("bayes_sdm.families",):
            continue
        for i, line in enumerate(p.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if pat.search(code) and "choices" not in code:
                offenders.append(f"{n}:{i}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_every_model_spec_in_models_is_valid_and_used():
    """``models/*.yaml`` hold specs that load, and each is referenced by the README or a test;
    the packaged default spec equals ``models/seed_study.yaml``."""
    from bayes_sdm.commands import default_spec
    from bayes_sdm.spec import ModelSpec

    root = PKG.parent
    text = (root / "README.md").read_text() + "".join(
        p.read_text() for p in (root / "tests").glob("*.py"))
    for p in sorted((root / "models").glob("*.yaml")):
        ModelSpec.from_yaml(p)
        assert f"models/{p.name}" in text, f"models/{p.name} is used by nothing"
    assert default_spec().to_dict() == ModelSpec.from_yaml(root / "models" /
                                                           "seed_study.yaml").to_dict()


def _modules_after(code: str) -> set[str]:
    import subprocess
    import sys

    # (whenever Dask is installed, xarray imports dask.array in reductions and `distributed`
    # to look for a scheduler when writing netCDF: not counted; the package's own Dask code,
    # bayes_sdm.distributed, is)
    heavy = ("pymc", "pytensor", "matplotlib", "arviz_plots", "nutpie", "bayes_sdm.distributed",
             "jax")
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(' '.join(m for m in "
                          f"{heavy!r} if m in sys.modules))"],
                         capture_output=True, text=True, cwd=PKG.parent, check=True)
    return set(out.stdout.split())


def test_import_bayes_sdm_is_light():
    """``import bayes_sdm`` pulls neither PyMC/PyTensor nor matplotlib, ArviZ's plots or nutpie."""
    assert _modules_after("import bayes_sdm") == set()


def test_nuts_fit_does_not_import_plotting():
    """A NUTS fit (nutpie) imports neither matplotlib nor ArviZ's plots (nutpie's own
    ``import arviz`` is served from arviz_base: :func:`bayes_sdm.nutpie_pyfunc.import_nutpie`)."""
    code = ("from bayes_sdm import load_dataset, prepare, fit\n"
            "ds = load_dataset('cigar')\n"
            "from bayes_sdm.spec import SamplerSpec\n"
            "fit(prepare(ds.panel(), ds.weights), sampler=SamplerSpec(draws=50, tune=50, "
            "chains=2), progressbar=False)")
    assert not _modules_after(code) & {"matplotlib", "arviz_plots"}


def test_exact_and_ml_runs_do_not_import_pymc(tmp_path):
    """The exact sampler and ML-only runs of the CLI never import PyMC, PyTensor or
    matplotlib."""
    for extra in ("'--sampler', 'exact'", "'--ml-only'"):
        code = ("from bayes_sdm.cli import main\n"
                f"rc = main(['--dataset', 'cigar', {extra}, '--quiet', '--out', "
                f"r'{tmp_path / extra[3:8]}'])\nassert rc == 0, rc")
        assert _modules_after(code) == set(), extra
