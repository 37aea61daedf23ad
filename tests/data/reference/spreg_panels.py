"""spreg panel reference fits (random and fixed effects, ML) on the bundled cigar and Produc
panels, plus an independent exact evaluation of the random-effects log-likelihood at spreg's
estimates (dense, any W) so that spreg's own log-likelihood conventions can be checked.

Run from the repository root:  .venv/bin/python tests/data/reference/spreg_panels.py
Writes tests/data/reference/spreg_<panel>.json.
"""
from __future__ import annotations

import datetime
import json
import platform
import sys
import traceback
import warnings
from pathlib import Path

import libpysal
import numpy as np
import pandas as pd
import scipy
import spreg

warnings.filterwarnings("ignore")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
DATA = ROOT / "bayes_sdm" / "datasets" / "data"

PANELS = {
    "cigar": dict(csv="cigar/cigar_panel.csv", w="cigar/usa46_W_binary.csv", unit="state_name",
                  y="logc", x=["logp", "logy"]),
    "produc": dict(csv="produc/produc_model.csv", w="produc/usaww_W_binary.csv", unit="state",
                   y="lgsp", x=["lpcap", "lpc", "lemp", "unemp"]),
}


def load(name):
    spec = PANELS[name]
    d = pd.read_csv(DATA / spec["csv"])
    B = pd.read_csv(DATA / spec["w"], index_col=0)
    units = list(B.index)
    assert list(B.columns) == units
    A = B.to_numpy(dtype=float)
    d["uid"] = d[spec["unit"]].map({u: i for i, u in enumerate(units)})
    d = d.sort_values(["year", "uid"]).reset_index(drop=True)   # time-major, W's unit order
    N, T = len(units), d["year"].nunique()
    assert len(d) == N * T and (d["uid"].to_numpy() == np.tile(np.arange(N), T)).all()
    w = libpysal.weights.full2W(A, ids=list(range(N)))
    w.transform = "r"
    y = d[[spec["y"]]].to_numpy(dtype=float)
    x = d[spec["x"]].to_numpy(dtype=float)
    W = A / A.sum(axis=1, keepdims=True)
    return dict(y=y, x=x, w=w, W=W, N=N, T=T, name_y=spec["y"], name_x=list(spec["x"]))


# --------------------------------------------------------------- exact RE log-likelihoods
def re_loglik(u, N, T, sig2, sig2_mu, R):
    """log N(u; 0, sig2_mu J_T (x) I_N + sig2 I_T (x) R) for u stacked time-major, R = N x N
    covariance of one period's remainder (I for the lag model, (B'B)^-1 for the error model)."""
    U = u.reshape(T, N)
    ubar = U.mean(axis=0)
    D = U - ubar
    Om1 = T * sig2_mu * np.eye(N) + sig2 * R          # between block (J_T/T part)
    Om2 = sig2 * R                                   # within block (E_T part)
    s1, ld1 = np.linalg.slogdet(Om1)
    s2, ld2 = np.linalg.slogdet(Om2)
    q = T * ubar @ np.linalg.solve(Om1, ubar) + np.einsum("ti,ti->", D, np.linalg.solve(Om2, D.T).T)
    return -0.5 * N * T * np.log(2 * np.pi) - 0.5 * ld1 - 0.5 * (T - 1) * ld2 - 0.5 * q


def exact_ll_lag(y, X, W, N, T, beta, rho, sig2, sig2_mu):
    Wy = (y.reshape(T, N) @ W.T).reshape(-1)
    u = y.reshape(-1) - rho * Wy - X @ beta
    _, ldA = np.linalg.slogdet(np.eye(N) - rho * W)
    return T * ldA + re_loglik(u, N, T, sig2, sig2_mu, np.eye(N))


def exact_ll_err(y, X, W, N, T, beta, lam, sig2, sig2_mu):
    B = np.eye(N) - lam * W
    u = y.reshape(-1) - X @ beta
    return re_loglik(u, N, T, sig2, sig2_mu, np.linalg.inv(B.T @ B))


# --------------------------------------------------------------- helpers
def fnum(v):
    return float(np.asarray(v).reshape(-1)[0])


def record(out, p, reg, names):
    b = np.asarray(reg.betas).reshape(-1)
    se = np.sqrt(np.diag(np.asarray(reg.vm))) if getattr(reg, "vm", None) is not None else None
    for i, nm in enumerate(names):
        out[f"{p}.coef.{nm}"] = float(b[i])
        if se is not None and i < len(se):
            out[f"{p}.se.{nm}"] = float(se[i])
    out[f"{p}.sigma2"] = fnum(reg.sig2)
    out[f"{p}.loglik"] = fnum(reg.logll)
    out[f"{p}.name_x"] = ",".join(reg.name_x)


def diagnose_re_error(out, y, x, w):
    """Re-run Panel_RE_Error's own optimisation step (spreg.panel_re.err_c_loglik_ord, same
    start, bounds and method as BasePanel_RE_Error) to record where it stopped."""
    import scipy.sparse as sps
    from scipy.optimize import minimize
    from spreg.panel_re import err_c_loglik_ord
    from spreg.w_utils import symmetrize

    n = w.n
    t = y.shape[0] // n
    bigx = np.hstack([np.ones((y.shape[0], 1)), x])
    Wsp = w.sparse
    Wnt = sps.kron(sps.identity(t), Wsp, format="csr")
    eye_n = np.identity(n)
    assert w.asymmetry(intrinsic=False) == []
    evals, evecs = np.linalg.eigh(np.array(symmetrize(w).todense()))
    Q = sps.kron(np.ones((t, t)) / t, eye_n, format="csr")
    args = (evals, evecs, n, t, y, bigx, Wnt @ y, Wnt @ bigx, Q @ y, Q @ bigx, eye_n, Wsp)
    res = minimize(err_c_loglik_ord, (0.0, 0.1), bounds=((-1.0, 1.0), (0.0, 10000.0)),
                   method="L-BFGS-B", args=args)
    out["re_error.optimizer_x_lambda"] = float(res.x[0])
    out["re_error.optimizer_x_phi"] = float(res.x[1])
    out["re_error.optimizer_fun"] = None if not np.isfinite(res.fun) else float(res.fun)
    out["re_error.optimizer_message"] = str(res.message)
    out["re_error.max_eigenvalue_symmetrized_W"] = float(evals.max())
    out["re_error.objective_at_start"] = float(err_c_loglik_ord((0.0, 0.1), *args))


def run(name):
    P = load(name)
    y, x, w, W, N, T = P["y"], P["x"], P["w"], P["W"], P["N"], P["T"]
    X1 = np.hstack([np.ones((N * T, 1)), x])
    xn = P["name_x"]
    out, notes = {"N": N, "T": T}, {}

    def attempt(tag, fn):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 -- record where spreg itself fails
            notes[tag] = f"{type(e).__name__}: {e}"
            out[f"{tag}.failed"] = True
            traceback.print_exc()
            return None

    kw = dict(name_y=P["name_y"], name_x=xn)
    # ---- random effects, spatial lag
    for tag, cls in (("re_lag", spreg.Panel_RE_Lag), ("ml_lagre", spreg.ML_LagRE)):
        reg = attempt(tag, lambda cls=cls: cls(y, x, w, **kw))
        if reg is None:
            continue
        names = ["CONSTANT"] + xn + ["rho", "phi"]
        record(out, tag, reg, names)
        rho, phi = float(reg.rho), float(reg.phi)
        beta = np.asarray(reg.betas).reshape(-1)[: len(xn) + 1]
        sig2 = fnum(reg.sig2)
        sig2_mu = sig2 * (1.0 / phi**2 - 1.0) / T      # phi^2 = sig2 / (T sig2_mu + sig2)
        out[f"{tag}.rho"] = rho
        out[f"{tag}.phi"] = phi
        out[f"{tag}.sigma2_mu_implied"] = sig2_mu
        out[f"{tag}.splm_phi_implied"] = sig2_mu / sig2
        out[f"{tag}.loglik_exact_at_estimate"] = exact_ll_lag(y, X1, W, N, T, beta, rho, sig2, sig2_mu)
    # ---- random effects, spatial error
    for tag, cls in (("re_error", spreg.Panel_RE_Error), ("ml_errorre", spreg.ML_ErrorRE)):
        reg = attempt(tag, lambda cls=cls: cls(y, x, w, **kw))
        if reg is None:
            continue
        names = ["CONSTANT"] + xn + ["lambda", "sig2_u"]
        record(out, tag, reg, names)
        lam = float(reg.lam)
        beta = np.asarray(reg.betas).reshape(-1)[: len(xn) + 1]
        sig2, sig2_mu = fnum(reg.sig2), fnum(reg.sig2_u)
        out[f"{tag}.lambda"] = lam
        out[f"{tag}.phi"] = float(reg.phi)
        out[f"{tag}.sigma2_mu"] = sig2_mu
        out[f"{tag}.splm_phi_implied"] = sig2_mu / sig2
        out[f"{tag}.loglik_exact_at_estimate"] = exact_ll_err(y, X1, W, N, T, beta, lam, sig2, sig2_mu)
    if out.get("re_error.failed"):
        diagnose_re_error(out, y, x, w)
    # ---- fixed effects (unit), context
    for tag, cls, sp in (("fe_lag", spreg.Panel_FE_Lag, "rho"), ("fe_error", spreg.Panel_FE_Error, "lambda"),
                         ("ml_lagfe", spreg.ML_LagFE, "rho"), ("ml_errorfe", spreg.ML_ErrorFE, "lambda")):
        reg = attempt(tag, lambda cls=cls: cls(y, x, w, **kw))
        if reg is None:
            continue
        record(out, tag, reg, xn + [sp])
        out[f"{tag}.{sp}"] = float(np.asarray(reg.betas).reshape(-1)[len(xn)])
    return out, notes


def main():
    for name in PANELS:
        vals, notes = run(name)
        prov = {
            "tool": "PySAL spreg (Panel_RE_Lag, Panel_RE_Error, Panel_FE_Lag, Panel_FE_Error [deprecated in 1.9, "
                    "module panel_re/panel_fe] and their successors ML_LagRE, ML_ErrorRE, ML_LagFE, ML_ErrorFE [module panel])",
            "versions": f"Python {platform.python_version()}; spreg {spreg.__version__}; libpysal {libpysal.__version__}; "
                        f"numpy {np.__version__}; scipy {scipy.__version__}",
            "date": datetime.date.today().isoformat(),
            "script": "tests/data/reference/spreg_panels.py",
            "data": f"bayes_sdm/datasets/data/{PANELS[name]['csv']}; y = {PANELS[name]['y']}, x = {PANELS[name]['x']} "
                    "(spreg adds the CONSTANT itself for RE; FE sweeps unit means, no constant)",
            "weights": f"bayes_sdm/datasets/data/{PANELS[name]['w']} -> libpysal full2W, transform='r' (row-standardised)",
            "layout": "long format, time-major: rows sorted by year then W's unit order (spreg's convention y[0:N] = period 0)",
            "calls": "cls(y, x, w, name_y=..., name_x=...) with default epsilon=1e-7",
            "phi": "re_lag / ml_lagre: phi with phi^2 = sigma2 / (T sigma2_mu + sigma2) (Baltagi/Elhorst transform weight, "
                   "quasi-demeaning y - (1-phi) ybar_i); re_error: 'phi' = sigma_mu / sigma (L-BFGS-B parameter), betas[-1] = "
                   "sig2_u = phi^2 sigma2; ml_errorre: phi = sigma2_mu / sigma2 (already squared, splm's phi), betas[-1] = sig2_u",
            "sigma2": "SSE/(NT) of the transformed residuals (all classes)",
            "se": "sqrt(diag(vm)), spreg's analytic information matrices; re_error/ml_errorre vm is block-diagonal "
                  "(beta: sigma2 (X*'X*)^-1; (lambda, sig2_u) from an analytic information block)",
            "loglik_exact_at_estimate": "independent dense evaluation of the full RE log-likelihood "
                                        "log N(u; 0, s2_mu J_T(x)I_N + s2 I_T(x)R) (+ T log|I-rho W| for lag; R = I for lag, "
                                        "((I-lam W)'(I-lam W))^-1 for error) at spreg's reported (beta, rho|lambda, sigma2, sigma2_mu)",
            "failures": json.dumps(notes) if notes else "none",
        }
        path = HERE / f"spreg_{name}.json"
        with open(path, "w") as fh:
            json.dump({"provenance": prov, **vals}, fh, indent=2)
            fh.write("\n")
        print(name, "wrote", len(vals), "values; failures:", notes or "none")


if __name__ == "__main__":
    sys.exit(main())
