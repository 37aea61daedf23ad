"""Dynamic spatial error panels (bayes_sdm.dynamic_error): the likelihood against an explicit
period-by-period implementation written here, ML against the explicit maximum, long-run effects
against dense inverses, refusals, the CLI, and the bias correction by simulation (slow)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.optimize as so

from bayes_sdm.dynamic import dynamic_effects
from bayes_sdm.dynamic_error import (
    fit_dynamic_error_ml,
    loglik,
    prepare_dynamic_error,
    simulate_dynamic_error,
)
from bayes_sdm.errors import InputError
from bayes_sdm.families import get
from bayes_sdm.logdet import make_logdet
from bayes_sdm.sbc.core import lattice_weights


def _explicit(panel, w, fe):
    """Transformed y_t, y_{t-1}, X_t and W* written out (time demeaning, then F_N')."""
    wm = w.matrix.toarray() if w.is_sparse else np.asarray(w.matrix)
    y, x = panel.y, panel.X
    tt, n = y.shape
    yt, y1, xt = y[1:], y[:-1], x[1:]
    if fe in ("unit", "twoway"):
        q = np.eye(tt - 1) - np.ones((tt - 1, tt - 1)) / (tt - 1)
        yt, y1 = q @ yt, q @ y1
        xt = np.einsum("st,tnk->snk", q, xt)
    ws = wm
    if fe in ("time", "twoway"):
        ev, vec = np.linalg.eigh(np.eye(n) - np.ones((n, n)) / n)
        f = vec[:, ev > 0.5]
        yt, y1 = yt @ f, y1 @ f
        xt = np.einsum("tnk,nm->tmk", xt, f)
        ws = f.T @ wm @ f
    return yt, y1, xt, ws


def _explicit_loglik(ex, lam, tau, eta, beta, theta, sigma2):
    yt, y1, xt, ws = ex
    tp, n = yt.shape
    b = np.eye(n) - lam * ws
    ssr = 0.0
    for t in range(tp):
        v = yt[t] - tau * y1[t] - eta * ws @ y1[t] - xt[t] @ beta - ws @ (xt[t] @ theta)
        e = b @ v
        ssr += e @ e
    return -0.5 * n * tp * math.log(2 * math.pi * sigma2) + tp * np.linalg.slogdet(b)[1] \
        - ssr / (2 * sigma2)


def _explicit_ml(ex, durbin, interval):
    yt, y1, xt, ws = ex
    tp, n = yt.shape

    def prof(lam):
        b = np.eye(n) - lam * ws
        lhs, rows = [], []
        for t in range(tp):
            lhs.append(b @ yt[t])
            cols = [y1[t], ws @ y1[t], *[xt[t][:, j] for j in range(xt.shape[2])]]
            if durbin:
                cols += [ws @ xt[t][:, j] for j in range(xt.shape[2])]
            rows.append(b @ np.column_stack(cols))
        a, m = np.concatenate(lhs), np.vstack(rows)
        coef = np.linalg.lstsq(m, a, rcond=None)[0]
        e = a - m @ coef
        s2 = e @ e / (n * tp)
        return -0.5 * n * tp * (math.log(2 * math.pi * s2) + 1) + tp * np.linalg.slogdet(b)[1], \
            coef, s2

    lo, hi = interval
    xs = np.linspace(lo + 1e-3, hi - 1e-3, 81)
    i = int(np.argmax([prof(v)[0] for v in xs]))
    res = so.minimize_scalar(lambda r: -prof(r)[0], bounds=(xs[max(i - 1, 0)], xs[i + 1]),
                             method="bounded", options={"xatol": 1e-12})
    ll, coef, s2 = prof(res.x)
    return res.x, coef, s2, ll


@pytest.fixture(scope="module")
def sim():
    w = lattice_weights(36)
    panel = simulate_dynamic_error(w, 9, tau=0.45, lam=0.35, eta=0.1, beta=[1.0, -0.5],
                                   theta=[0.4, 0.2], sigma=0.8, seed=11)
    return panel, w


@pytest.mark.parametrize("fe", ["unit", "twoway", "none", "time"])
@pytest.mark.parametrize("model", ["sdem", "sem"])
def test_loglik_equals_explicit(sim, fe, model):
    panel, w = sim
    dd = prepare_dynamic_error(panel, w, model, fe)
    ex = _explicit(panel, w, fe)
    rng = np.random.default_rng(3)
    for _ in range(3):
        lam, tau, eta = rng.uniform(-0.3, 0.5), rng.uniform(0, 0.6), rng.uniform(-0.3, 0.3)
        beta, theta = rng.normal(size=2), rng.normal(size=2)
        s2 = rng.uniform(0.5, 2)
        th = theta if model == "sdem" else np.zeros(2)
        a = loglik(dd, lam, tau, eta, beta, th, s2)
        assert a == pytest.approx(_explicit_loglik(ex, lam, tau, eta, beta, th, s2),
                                  rel=1e-10, abs=1e-8)


@pytest.mark.parametrize("fe,model", [("unit", "sdem"), ("twoway", "sdem"),
                                      ("twoway", "sem")])
def test_ml_equals_explicit_maximum(sim, fe, model):
    panel, w = sim
    dd = prepare_dynamic_error(panel, w, model, fe)
    r = fit_dynamic_error_ml(dd, correction="none")
    lam, coef, s2, ll = _explicit_ml(_explicit(panel, w, fe), model == "sdem", dd.interval)
    p = r.params
    assert p["lambda"] == pytest.approx(lam, abs=1e-7)
    assert p["tau"] == pytest.approx(coef[0], abs=1e-7)
    assert p["eta"] == pytest.approx(coef[1], abs=1e-7)
    assert p["beta[x1]"] == pytest.approx(coef[2], abs=1e-7)
    if model == "sdem":
        assert p["theta[x2]"] == pytest.approx(coef[-1], abs=1e-7)
    assert p["sigma2"] == pytest.approx(s2, rel=1e-7)
    assert r.loglik == pytest.approx(ll, rel=1e-10)
    # the bias correction moves tau up (the Nickell bias is downward) and leaves the table whole
    rb = fit_dynamic_error_ml(dd)
    assert rb.params["tau"] > p["tau"] and np.isfinite(rb.se).all() and (rb.se > 0).all()
    assert rb.uncorrected["tau"] == p["tau"]


def test_effects_short_and_long_run_against_dense_inverses(sim):
    panel, w = sim
    wm = np.asarray(w.matrix.toarray() if w.is_sparse else w.matrix)
    n = wm.shape[0]
    ld = make_logdet(w, "eigen")
    tau, eta, beta, theta = 0.45, 0.15, np.array([1.0, -0.5]), np.array([0.4, 0.2])
    for name, th in (("sdem", theta), ("sem", None)):
        fam = get(name)
        short = dynamic_effects(fam, 0.3, tau, eta, beta, th, ld, "short")
        long = dynamic_effects(fam, 0.3, tau, eta, beta, th, ld, "long")
        tt = np.zeros(2) if th is None else th
        for k in range(2):
            s = beta[k] * np.eye(n) + tt[k] * wm
            ls = np.linalg.inv((1 - tau) * np.eye(n) - eta * wm) @ s
            for m, want in ((short, s), (long, ls)):
                d, tot = np.trace(want) / n, want.sum() / n
                np.testing.assert_allclose(m[:, k], [d, tot - d, tot], rtol=1e-8, atol=1e-10)


def test_refusals(sim):
    panel, w = sim
    with pytest.raises(InputError, match="restricted"):
        prepare_dynamic_error(panel, w, "sdem", "twoway", "restricted")
    with pytest.raises(InputError, match="SEM and SDEM"):
        prepare_dynamic_error(panel, w, "sar", "twoway")
    dd = prepare_dynamic_error(panel, w, "sem", "twoway")
    with pytest.raises(InputError, match="correction"):
        fit_dynamic_error_ml(dd, correction="transform")
    r = fit_dynamic_error_ml(prepare_dynamic_error(panel, w, "sem", "none"))
    assert "no unit effects" in r.notes[0] and (r.bias_correction == 0).all()


def test_cli_dynamic_sdem_ml_only_and_restricted_refused(tmp_path, capsys):
    from bayes_sdm.cli import main

    base = ["--dataset", "cigar", "--model", "sdem", "--fe", "twoway", "--dynamic", "--quiet",
            "--no-progress"]
    out = tmp_path / "ml"
    assert main([*base, "--ml-only", "--out", str(out)]) == 0
    ml = pd.read_csv(out / "ml.csv").set_index("parameter")
    assert {"lambda", "tau", "eta", "theta[logy]"} <= set(ml.index)
    eff = pd.read_csv(out / "ml_effects.csv")
    assert sorted(set(eff.horizon)) == ["long", "short"] and np.isfinite(eff["mean"]).all()
    assert main([*base, "--ml-only", "--dynamic-form", "restricted", "--out",
                 str(tmp_path / "b")]) == 2
    assert "restricted" in capsys.readouterr().err


@pytest.mark.slow
def test_bias_correction_removes_the_bias_by_simulation():
    """50 panels at N = 100, T' = 10: the corrected tau, lambda, eta are unbiased within 2
    Monte Carlo SEs; the uncorrected tau is not."""
    w = lattice_weights(100)
    est = {"bias": [], "none": []}
    for r in range(50):
        p = simulate_dynamic_error(w, 11, 0.4, 0.4, 0.1, [1.0], [0.5], seed=100 + r)
        dd = prepare_dynamic_error(p, w, "sdem", "twoway")
        for c in est:
            res = fit_dynamic_error_ml(dd, c)
            est[c].append([res.params[v] for v in ("tau", "lambda", "eta")])
    truth = np.array([0.4, 0.4, 0.1])
    z = {c: (np.mean(v, 0) - truth) / (np.std(v, 0, ddof=1) / np.sqrt(50))
         for c, v in est.items()}
    assert np.abs(z["bias"]).max() < 2.0
    assert z["none"][0] < -5.0


# ----------------------------------------------------------------------------- Bayesian (CRE)
def _explicit_cre_loglik(panel, w, fe, lam, tau, eta, beta, theta, s2, psi, smu):
    """r_t = B (y_t - tau y_{t-1} - eta W y_{t-1} - X_t beta - W X_t theta) - h psi in the raw
    space, then F_N' with time effects; every unit's T' residuals are N(0, s2 I + smu^2 J)."""
    from scipy import stats

    wm = w.matrix.toarray() if w.is_sparse else np.asarray(w.matrix)
    y, x = panel.y, panel.X
    tt, n = y.shape
    b = np.eye(n) - lam * wm
    xm = x[1:].mean(axis=0)
    h = np.column_stack([y[0], wm @ y[0], xm, wm @ xm] + ([] if fe == "twoway"
                                                           else [np.ones(n)]))
    r = np.stack([b @ (y[t] - tau * y[t - 1] - eta * wm @ y[t - 1] - x[t] @ beta
                       - wm @ (x[t] @ theta)) - h @ psi for t in range(1, tt)])  # (T', N)
    ld = np.linalg.slogdet(b)[1]
    if fe == "twoway":
        ev, vec = np.linalg.eigh(np.eye(n) - np.ones((n, n)) / n)
        r = r @ vec[:, ev > 0.5]
        ld -= math.log1p(-lam)
    cov = s2 * np.eye(tt - 1) + smu**2 * np.ones((tt - 1, tt - 1))
    return (tt - 1) * ld + stats.multivariate_normal(np.zeros(tt - 1), cov).logpdf(r.T).sum()


@pytest.mark.parametrize("fe", ["unit", "twoway"])
@pytest.mark.parametrize("model", ["sdem", "sem"])
def test_cre_loglik_equals_explicit_and_the_model(sim, fe, model):
    from bayes_sdm.dynamic_error_bayes import build_dynamic_error_model, error_cre_loglik

    panel, w = sim
    dd = prepare_dynamic_error(panel, w, model, fe)
    rng = np.random.default_rng(5)
    m = 6 if fe == "twoway" else 7
    for _ in range(3):
        lam, tau, eta = rng.uniform(-0.3, 0.5), rng.uniform(0, 0.6), rng.uniform(-0.3, 0.3)
        beta, theta = rng.normal(size=2), rng.normal(size=2)
        th = theta if model == "sdem" else np.zeros(2)
        s2, smu, psi = rng.uniform(0.5, 2), rng.uniform(0.2, 1.5), rng.normal(size=m)
        a = error_cre_loglik(dd, lam, tau, eta, beta, th, s2, psi, smu)
        want = _explicit_cre_loglik(panel, w, fe, lam, tau, eta, beta, th, s2, psi, smu)
        assert a == pytest.approx(want, rel=1e-10)
    if (model, fe) != ("sdem", "twoway"):
        return
    # the PyMC model's likelihood term is the numpy one at the model's values (one case: the
    # compilation takes seconds)
    mod = build_dynamic_error_model(dd)
    names = ["loglik", "lambda", "tau", "eta", "beta", "theta", "sigma2", "psi", "sigma_mu"]
    if model == "sem":
        names.remove("theta")
    f = mod.compile_fn([mod[v] for v in names], inputs=mod.value_vars,
                       on_unused_input="ignore", point_fn=True)
    v = dict(zip(names, f(mod.initial_point(random_seed=3)), strict=True))
    want = error_cre_loglik(dd, float(v["lambda"]), float(v["tau"]), float(v["eta"]),
                            v["beta"], v.get("theta", np.zeros(2)), float(v["sigma2"]),
                            v["psi"], float(v["sigma_mu"]))
    assert np.isfinite(want) and float(v["loglik"]) == pytest.approx(want, rel=1e-9)


@pytest.mark.slow
def test_cli_dynamic_sdem_bayes(tmp_path):
    from bayes_sdm.cli import main

    out = tmp_path / "b"
    rc = main(["--dataset", "cigar", "--model", "sdem", "--fe", "twoway", "--dynamic",
               "--quiet", "--no-progress", "--draws", "100", "--tune", "100", "--chains", "1",
               "--out", str(out)])
    assert rc in (0, 1)
    summ = pd.read_csv(out / "summary.csv")
    assert {"lambda", "tau", "eta", "sigma_mu", "psi[y0]"} <= set(summ.parameter)
    eff = pd.read_csv(out / "effects.csv")
    assert sorted(set(eff.horizon)) == ["long", "short"] and np.isfinite(eff["mean"]).all()
