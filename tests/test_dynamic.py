"""Dynamic spatial panels (bayes_sdm.dynamic): the Yu-de Jong-Lee likelihood against an explicit
implementation written here, ML against SDPDmod (cigar), effects against dense inverses, the
bias correction by simulation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.optimize as so

from bayes_sdm.dynamic import (
    dynamic_effects,
    fit_dynamic_ml,
    loglik,
    prepare_dynamic,
    simulate_dynamic,
)
from bayes_sdm.effects import dense_effects
from bayes_sdm.errors import InputError
from bayes_sdm.sbc.core import lattice_weights

REF = Path(__file__).parent / "data" / "sdpdmod_vignette_cigar.json"


# ----------------------------------------------------------------------------- explicit YDL
def _explicit(panel, w, fe):
    """Transformed y_t, y_{t-1}, X_t and W* written out period by period (no Gram matrix)."""
    wm = w.matrix.toarray() if w.is_sparse else np.asarray(w.matrix)
    y, x = panel.y, panel.X
    tt, n = y.shape
    yt, y1, xt = y[1:], y[:-1], x[1:]
    if fe in ("unit", "twoway"):
        q = np.eye(tt - 1) - np.ones((tt - 1, tt - 1)) / (tt - 1)  # time demeaning Q_T
        yt, y1 = q @ yt, q @ y1
        xt = np.einsum("st,tnk->snk", q, xt)
    ws = wm
    if fe in ("time", "twoway"):
        # orthonormal complement of iota from the eigenvectors of J_N (Lee & Yu 2010)
        ev, vec = np.linalg.eigh(np.eye(n) - np.ones((n, n)) / n)
        f = vec[:, ev > 0.5]
        yt, y1 = yt @ f, y1 @ f
        xt = np.einsum("tnk,nm->tmk", xt, f)
        ws = f.T @ wm @ f
    return yt, y1, xt, ws


def _explicit_loglik(ex, rho, tau, eta, beta, theta, sigma2):
    yt, y1, xt, ws = ex
    tp, n = yt.shape
    s = np.eye(ws.shape[0]) - rho * ws
    ssr = 0.0
    for t in range(tp):
        v = (s @ yt[t] - tau * y1[t] - eta * ws @ y1[t] - xt[t] @ beta
             - ws @ (xt[t] @ theta))
        ssr += v @ v
    _, ld = np.linalg.slogdet(s)
    return -0.5 * n * tp * math.log(2 * math.pi * sigma2) + tp * ld - ssr / (2 * sigma2)


def _explicit_ml(ex, durbin: bool, restricted: bool):
    """Profile: OLS at each rho on the explicit vectors, then a bounded search."""
    yt, y1, xt, ws = ex
    tp, n = yt.shape

    def prof(rho):
        lhs, rows = [], []
        for t in range(tp):
            lhs.append(yt[t] - rho * ws @ yt[t])
            cols = [y1[t] - rho * ws @ y1[t]] if restricted else [y1[t], ws @ y1[t]]
            cols += [xt[t][:, j] for j in range(xt.shape[2])]
            if durbin:
                cols += [ws @ xt[t][:, j] for j in range(xt.shape[2])]
            rows.append(np.column_stack(cols))
        a, b = np.concatenate(lhs), np.vstack(rows)
        coef = np.linalg.lstsq(b, a, rcond=None)[0]
        e = a - b @ coef
        s2 = e @ e / (n * tp)
        _, ld = np.linalg.slogdet(np.eye(n) - rho * ws)
        return -0.5 * n * tp * (math.log(2 * math.pi * s2) + 1) + tp * ld, coef, s2

    res = so.minimize_scalar(lambda r: -prof(r)[0], bounds=(-0.9, 0.95), method="bounded",
                             options={"xatol": 1e-12})
    ll, coef, s2 = prof(res.x)
    return res.x, coef, s2, ll


@pytest.fixture(scope="module")
def sim():
    w = lattice_weights(36)
    panel = simulate_dynamic(w, 9, tau=0.45, rho=0.3, eta=-0.1, beta=[1.0, -0.5],
                             theta=[0.4, 0.2], sigma=0.8, seed=11)
    return panel, w


@pytest.mark.parametrize("fe", ["unit", "twoway", "none", "time"])
@pytest.mark.parametrize("model", ["sdm", "sar"])
def test_loglik_equals_explicit_ydl(sim, fe, model):
    panel, w = sim
    dd = prepare_dynamic(panel, w, model, fe)
    ex = _explicit(panel, w, fe)
    rng = np.random.default_rng(3)
    for _ in range(3):
        rho, tau, eta = rng.uniform(-0.3, 0.5), rng.uniform(0, 0.6), rng.uniform(-0.3, 0.3)
        beta, theta = rng.normal(size=2), rng.normal(size=2)
        s2 = rng.uniform(0.5, 2)
        th = theta if model == "sdm" else np.zeros(2)
        a = loglik(dd, rho, tau, eta, beta, th, s2)
        b = _explicit_loglik(ex, rho, tau, eta, beta, th, s2)
        assert a == pytest.approx(b, rel=1e-10, abs=1e-8)


@pytest.mark.parametrize("form", ["unrestricted", "restricted"])
@pytest.mark.parametrize("fe", ["unit", "twoway"])
def test_ml_equals_explicit_maximum(sim, fe, form):
    panel, w = sim
    dd = prepare_dynamic(panel, w, "sdm", fe, form)
    r = fit_dynamic_ml(dd, correction="none")
    rho, coef, s2, ll = _explicit_ml(_explicit(panel, w, fe), True, form == "restricted")
    p = r.params
    assert p["rho"] == pytest.approx(rho, abs=1e-7)
    assert p["tau"] == pytest.approx(coef[0], abs=1e-7)
    if form == "unrestricted":
        assert p["eta"] == pytest.approx(coef[1], abs=1e-7)
    assert p["beta[x1]"] == pytest.approx(coef[-4], abs=1e-7)
    assert p["theta[x2]"] == pytest.approx(coef[-1], abs=1e-7)
    assert p["sigma2"] == pytest.approx(s2, rel=1e-7)
    assert r.loglik == pytest.approx(ll, rel=1e-10)
    # the explicit likelihood's gradient vanishes at the estimate
    ex = _explicit(panel, w, fe)
    vec = p.to_numpy()

    def f(v):
        eta = -v[1] * v[0] if form == "restricted" else v[2]
        o = 2 if form == "restricted" else 3
        return _explicit_loglik(ex, v[0], v[1], eta, v[o:o + 2], v[o + 2:o + 4], v[-1])

    h = 1e-6
    grad = [(f(vec + h * e) - f(vec - h * e)) / (2 * h) for e in np.eye(vec.size)]
    assert np.max(np.abs(grad)) < 1e-3


def _sdpd(key):
    return json.loads(REF.read_text())[key]


@pytest.mark.parametrize("key,corr", [
    ("mod2_dynamic_sar_individual_LYtransFALSE_tl_stl", "none"),
    ("mod3_dynamic_sar_individual_LYtransTRUE_tl_stl", "bias")])
def test_sdpdmod_cigar_unit_fe(cigar, key, corr):
    """SDPDmod's vignette (dynamic SAR, unit FE, with and without the YDL correction).
    SDPDmod looks log|I - rho W| up on a 0.001 grid, so rho differs by up to ~3e-3."""
    panel, w = cigar
    ref = _sdpd(key)
    r = fit_dynamic_ml(prepare_dynamic(panel, w, "sar", "unit"), correction=corr)
    assert r.params["rho"] == pytest.approx(ref["rho"], abs=4e-3)
    assert r.params["tau"] == pytest.approx(ref["coef"]["logc(t-1)"], abs=5e-4)
    assert r.params["eta"] == pytest.approx(ref["coef"]["W*logc(t-1)"], abs=4e-3)
    assert r.params["beta[logp]"] == pytest.approx(ref["coef"]["logp"], abs=5e-4)
    assert r.params["beta[logy]"] == pytest.approx(ref["coef"]["logy"], abs=5e-4)
    for name, rn in (("tau", "logc(t-1)"), ("eta", "W*logc(t-1)"), ("beta[logp]", "logp"),
                     ("beta[logy]", "logy")):
        assert r.se[name] == pytest.approx(ref["se"][rn], rel=0.01)
    assert r.se["rho"] == pytest.approx(ref["rho_se"], rel=0.01)


def test_sdpdmod_bias_shift(cigar):
    """The YDL correction moves the cigar estimates as SDPDmod's does (mod3 - mod2)."""
    panel, w = cigar
    dd = prepare_dynamic(panel, w, "sar", "unit")
    shift = fit_dynamic_ml(dd, "bias").params - fit_dynamic_ml(dd, "none").params
    m2 = _sdpd("mod2_dynamic_sar_individual_LYtransFALSE_tl_stl")
    m3 = _sdpd("mod3_dynamic_sar_individual_LYtransTRUE_tl_stl")
    ref = m3["coef"]["logc(t-1)"] - m2["coef"]["logc(t-1)"]
    assert shift["tau"] == pytest.approx(ref, abs=3e-4)
    assert shift["rho"] == pytest.approx(m3["rho"] - m2["rho"], abs=3e-4)


def test_effects_against_dense_inverses(sim):
    panel, w = sim
    r = fit_dynamic_ml(prepare_dynamic(panel, w, "sdm", "twoway"))
    p = r.params
    wm = np.asarray(w.matrix.toarray() if w.is_sparse else w.matrix)
    beta = p[["beta[x1]", "beta[x2]"]].to_numpy()
    theta = p[["theta[x1]", "theta[x2]"]].to_numpy()
    eff = r.effects()
    short = dense_effects(p["rho"], beta, theta, wm)
    n = wm.shape[0]
    inv = np.linalg.inv((1 - p["tau"]) * np.eye(n) - (p["rho"] + p["eta"]) * wm)
    long = np.empty((3, 2))
    for k in range(2):
        s = inv @ (beta[k] * np.eye(n) + theta[k] * wm)
        long[:, k] = (np.trace(s) / n, s.sum() / n - np.trace(s) / n, s.sum() / n)
    for horizon, ref in (("short", short), ("long", long)):
        sub = eff[eff["horizon"] == horizon]
        for i, e in enumerate(("direct", "indirect", "total")):
            for k, x in enumerate(("x1", "x2")):
                row = sub[(sub["effect"] == e) & (sub["variable"] == x)].iloc[0]
                assert row["mean"] == pytest.approx(ref[i, k], rel=1e-9, abs=1e-12)
                assert 0 < row["se"] < 10 * abs(ref[i, k]) + 1
    # long-run total = (beta + theta) / (1 - tau - rho - eta) for a row-standardised W
    tot = (beta + theta) / (1 - p["tau"] - p["rho"] - p["eta"])
    assert long[2] == pytest.approx(tot, rel=1e-10)
    # non-stationary draws give NaN long-run effects
    out = dynamic_effects(r.family, np.array([0.5]), np.array([0.9]), np.array([0.2]),
                          beta[None], theta[None], r.logdet, "long")
    assert np.isnan(out).all()


def test_restricted_and_refusals(sim):
    panel, w = sim
    r = fit_dynamic_ml(prepare_dynamic(panel, w, "sdm", "unit", "restricted"))
    assert "eta" not in r.params.index and np.isfinite(r.se).all()
    with pytest.raises(InputError, match="not implemented yet"):
        prepare_dynamic(panel, w, "sem", "unit")
    with pytest.raises(InputError, match="dynamic form"):
        prepare_dynamic(panel, w, "sdm", "unit", "partial")
    with pytest.raises(InputError, match="correction"):
        fit_dynamic_ml(prepare_dynamic(panel, w, "sdm", "unit"), correction="transform")


def _mc(reps, n, t, seed, fe="unit"):
    w = lattice_weights(n)
    truth = dict(tau=0.4, rho=0.3, eta=-0.1)
    out = {"bias": [], "none": []}
    for r in range(reps):
        panel = simulate_dynamic(w, t + 1, beta=[1.0], theta=[0.5], sigma=1.0,
                                 seed=seed + r, time_sd=1.0 if fe == "twoway" else 0.0,
                                 **truth)
        dd = prepare_dynamic(panel, w, "sdm", fe)
        for corr in out:
            p = fit_dynamic_ml(dd, corr).params
            out[corr].append([p["tau"] - truth["tau"], p["rho"] - truth["rho"],
                              p["eta"] - truth["eta"]])
    return {k: np.asarray(v) for k, v in out.items()}


def test_bias_correction_small_mc():
    """12 replications, N = 49, T = 10: the correction removes most of tau's Nickell bias."""
    d = _mc(12, 49, 10, 100)
    b_unc = d["none"].mean(0)
    b_cor = d["bias"].mean(0)
    assert b_unc[0] < -0.03  # the uncorrected tau is biased down by O(1/T)
    assert abs(b_cor[0]) < 0.4 * abs(b_unc[0])


@pytest.mark.slow
@pytest.mark.parametrize("fe", ["unit", "twoway"])
def test_bias_correction_monte_carlo(fe):
    """60 replications at N = 100, T = 10: the corrected mean bias of tau, rho, eta is within
    2 Monte Carlo SEs of 0; the uncorrected tau's is not."""
    d = _mc(60, 100, 10, 1000, fe)
    for corr in ("bias", "none"):
        m, se = d[corr].mean(0), d[corr].std(0, ddof=1) / math.sqrt(len(d[corr]))
        print(fe, corr, "mean bias (tau, rho, eta)", m, "MC se", se)
    m, se = d["bias"].mean(0), d["bias"].std(0, ddof=1) / math.sqrt(60)
    assert np.all(np.abs(m) < 2 * se)
    mu, seu = d["none"].mean(0), d["none"].std(0, ddof=1) / math.sqrt(60)
    assert abs(mu[0]) > 4 * seu[0]


@pytest.mark.slow
def test_bias_correction_restricted_form():
    """Restricted form (eta = -tau rho), 40 replications at N = 100, T = 10, two-way effects:
    the correction (b and Sigma mapped through the Jacobian of the restriction) removes tau's
    bias (measured: -0.080 -> -0.002, MC se 0.004)."""
    w = lattice_weights(100)
    tau, rho = 0.5, 0.3
    out = {"bias": [], "none": []}
    for r in range(40):
        p = simulate_dynamic(w, 11, tau=tau, rho=rho, eta=-tau * rho, beta=[1.0], theta=[0.5],
                             seed=300 + r)
        dd = prepare_dynamic(p, w, "sdm", "twoway", "restricted")
        for c in out:
            q = fit_dynamic_ml(dd, c).params
            out[c].append([q["tau"] - tau, q["rho"] - rho])
    m, se = np.mean(out["bias"], 0), np.std(out["bias"], 0, ddof=1) / math.sqrt(40)
    assert np.all(np.abs(m) < 2 * se)
    mu = np.mean(out["none"], 0)
    assert mu[0] < -10 * se[0]
