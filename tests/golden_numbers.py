"""Golden numbers: a broad, deterministic snapshot of what the package computes.

``python tests/golden_numbers.py --write`` stores them in ``tests/data/golden.json``
(``--update KEY ...`` rewrites only the named entries);
``tests/test_golden.py`` recomputes them and requires agreement to 1e-10 (relative).  Used to
prove that refactorings change no number.  Only bundled real data (cigar, produc) and seeded
simulations are used.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).parent / "data" / "golden.json"


def _f(x):
    return np.asarray(x, dtype=float).ravel().tolist()


def compute(quick: bool = False) -> dict[str, list[float]]:
    """All the numbers; ``quick``: cigar's two-way ML of every family, its exact draws and
    PyMC log-densities only (seconds; the default test tier)."""
    from bayes_sdm import load_dataset
    from bayes_sdm.api import prepare
    from bayes_sdm.exact import sample_exact
    from bayes_sdm.hypothesis import all_tests
    from bayes_sdm.marginal import log_marginals
    from bayes_sdm.ml import fit_ml
    from bayes_sdm.moran import moran_table
    from bayes_sdm.predictive import draw_y, predictive_data
    from bayes_sdm.pymc_models import build_model
    from bayes_sdm.spec import PriorSpec
    from bayes_sdm.spectests import lm_tests

    out: dict[str, list[float]] = {}
    warnings.simplefilter("ignore")
    for name in ("cigar",) if quick else ("cigar", "produc"):
        ds = load_dataset(name)
        panel, w = ds.panel(region_col=None), ds.weights
        for model in ("sdm", "sar", "sem", "sdem", "slx", "ols"):
            for fe in ("twoway",) if quick else ("twoway", "unit", "time", "none"):
                corrs = ("transform", "none", "bias") if fe == "twoway" else ("transform",)
                for corr in corrs:
                    r = fit_ml(prepare(panel, w, model=model, fe=fe, intercept=False),
                               correction=corr)  # the snapshot predates the intercept
                    key = f"{name}/ml/{model}/{fe}/{corr}"
                    out[key + "/params"] = _f(r.params)
                    out[key + "/se"] = _f(r.se)
                    out[key + "/ll_r2"] = _f([r.loglik, r.r2])
                    eff = r.effects()
                    out[key + "/effects"] = _f(eff[["mean", "se"]].to_numpy())
            for conv in ("WQy",):
                r = fit_ml(prepare(panel, w, model=model, fe="twoway", lag_convention=conv),
                           correction="none")
                out[f"{name}/ml/{model}/twoway/none/{conv}/params"] = _f(r.params)
        for model in ("sdm", "sar", "sem", "sdem"):
            prep = prepare(panel, w, model=model, fe="twoway")
            idata = sample_exact(prep.stats, prep.logdet, model=model, draws=200, chains=2,
                                 seed=11)
            post = idata["posterior"]
            for v in post.data_vars:
                out[f"{name}/exact/{model}/{v}"] = _f(post[v].values.mean(axis=(0, 1)))
            for priors in ("default", "flat"):
                m = build_model(prep.stats, prep.logdet, model, PriorSpec.preset(priors))
                pt = m.initial_point()
                out[f"{name}/pymc/{model}/{priors}/logp"] = _f(m.compile_logp()(pt))
        if quick:
            continue
        lm = log_marginals(panel, w, fe=["twoway", "unit"])
        out[f"{name}/marginals"] = _f(lm[["log_marginal", "probability"]].to_numpy())
        out[f"{name}/lm"] = _f(lm_tests(panel, w, "twoway")[["statistic", "p"]].to_numpy())
        tests = all_tests(prepare(panel, w, model="sdm", fe="twoway"), fe_test_models=("sdm",))
        out[f"{name}/tests"] = _f(_numbers(tests))
        mt = moran_table(panel, w)
        out[f"{name}/moran"] = _f(mt[["I", "z", "p"]].to_numpy())
        data = predictive_data(panel, w, "twoway")
        r = fit_ml(prepare(panel, w, model="sdm", fe="twoway"))
        k = panel.K
        y = draw_y(data, "sdm", r.params.iloc[0], r.params.iloc[1:1 + k].to_numpy(),
                   r.params.iloc[1 + k:1 + 2 * k].to_numpy(), np.sqrt(r.params.iloc[-1]), 5)
        out[f"{name}/draw_y"] = _f(y[:3, :5])
    if not quick:
        out.update(_regional())
    return out


def _numbers(obj) -> list[float]:
    vals = []
    if isinstance(obj, dict):
        for k in sorted(obj):
            vals += _numbers(obj[k])
    elif isinstance(obj, list | tuple):
        for v in obj:
            vals += _numbers(v)
    elif isinstance(obj, bool):
        vals.append(float(obj))
    elif isinstance(obj, int | float) and obj is not None:
        vals.append(float(obj))
    return vals


def _regional() -> dict[str, list[float]]:
    from bayes_sdm import load_dataset
    from bayes_sdm.regional import build_regional_model, prepare_regional

    out = {}
    ds = load_dataset("cigar")
    panel, w = ds.panel(), ds.weights
    regions = panel.unit_info["census_region"]
    for pooling in ("partial", "none", "complete"):
        for rw in ("block", "full"):
            for model in ("sdm", "sem"):
                rd = prepare_regional(panel, w, regions, model, fe="twoway", pooling=pooling,
                                      regional_w=rw)
                rm = build_regional_model(rd)
                if rm.model is not None:
                    pt = rm.model.initial_point()
                    out[f"regional/{pooling}/{rw}/{model}/logp"] = _f(
                        rm.model.compile_logp()(pt))
                else:
                    vals = []
                    for m in rm.region_models.values():
                        vals.append(float(m.compile_logp()(m.initial_point())))
                    out[f"regional/{pooling}/{rw}/{model}/logp"] = vals
    from bayes_sdm.regional import RegionalDecomposition, make_regions

    regs = make_regions(panel, regions)
    dec = RegionalDecomposition(w, regs)
    rng = np.random.default_rng(3)
    beta = rng.normal(size=(1, regs.G, panel.K))
    theta = rng.normal(size=(1, regs.G, panel.K))
    eff, spill = dec.effects(np.array([0.3]), beta, theta)
    out["regional/decomposition"] = _f(eff) + _f(spill)
    return out


def main() -> None:
    vals = compute()
    if "--update" in sys.argv:
        # rewrite only the named entries (a legitimate change of those numbers)
        keys = sys.argv[sys.argv.index("--update") + 1:]
        ref = json.loads(GOLDEN.read_text())
        unknown = [k for k in keys if k not in ref or k not in vals]
        if unknown or not keys:
            raise SystemExit(f"unknown golden keys {unknown}")
        ref.update({k: vals[k] for k in keys})
        GOLDEN.write_text(json.dumps(ref, indent=0, sort_keys=True))
        print(f"updated {len(keys)} entries of {GOLDEN}")
        return
    if "--write" in sys.argv:
        GOLDEN.write_text(json.dumps(vals, indent=0, sort_keys=True))
        print(f"wrote {len(vals)} entries to {GOLDEN}")
        return
    ref = json.loads(GOLDEN.read_text())
    bad = compare(ref, vals)
    print("\n".join(bad) if bad else f"all {len(ref)} entries agree")


def compare(ref: dict, vals: dict, rtol: float = 1e-10) -> list[str]:
    bad = []
    for k, r in ref.items():
        if k not in vals:
            bad.append(f"missing {k}")
            continue
        a, b = np.asarray(r, float), np.asarray(vals[k], float)
        if a.shape != b.shape:
            bad.append(f"{k}: shape {a.shape} vs {b.shape}")
            continue
        scale = np.maximum(np.abs(a), 1.0)
        err = np.nanmax(np.abs(a - b) / scale) if a.size else 0.0
        if not (err <= rtol) or (np.isnan(a) != np.isnan(b)).any():
            bad.append(f"{k}: max rel err {err:.3g}")
    return bad


if __name__ == "__main__":
    main()
