"""Independent exact ML of the unit random-effects SAR and SEM panels (any W, dense N x N
algebra), used to arbitrate between splm (spreml) and spreg where they disagree.

Model: y = rho W y + X beta + (iota_T (x) mu) + e   (lag; R = I)
       y = X beta + (iota_T (x) mu) + u, u_t = lambda W u_t + e_t   (error; R = (B'B)^-1)
mu ~ N(0, sigma2_mu I_N), e ~ N(0, sigma2 I); phi = sigma2_mu / sigma2 (splm's phi).
beta and sigma2 are concentrated out by GLS; (rho|lambda, log phi) maximised by Nelder-Mead
(L-BFGS-B from (0.3, log 5), then Nelder-Mead polished twice, xatol 1e-11, fatol 1e-12).

Run from the repository root:  .venv/bin/python tests/data/reference/re_exact_check.py
"""
from __future__ import annotations

import datetime
import json
import platform
import sys
from pathlib import Path

import numpy as np
import scipy
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from spreg_panels import PANELS, load  # noqa: E402

HERE = Path(__file__).resolve().parent


def concentrated(theta, kind, y, X, W, N, T):
    sp, lphi = theta
    phi = np.exp(lphi)
    eye_n = np.eye(N)
    if kind == "lag":
        yy = y - sp * (y.reshape(T, N) @ W.T).reshape(-1)
        Rinv = eye_n
        ldR = 0.0
        _, ldA = np.linalg.slogdet(eye_n - sp * W)
        jac = T * ldA
    else:
        B = eye_n - sp * W
        Rinv = B.T @ B
        ldR = -np.linalg.slogdet(Rinv)[1]
        jac = 0.0
        yy = y
    R = np.linalg.inv(Rinv)
    M = np.linalg.inv(T * phi * eye_n + R)          # between-block inverse (per unit of J/T)
    ldS = np.linalg.slogdet(T * phi * eye_n + R)[1] + (T - 1) * ldR

    def parts(Z):
        Z3 = Z.reshape(T, N, -1)
        Zb = Z3.mean(axis=0)
        return Z3 - Zb, Zb

    Xd, Xb = parts(X)
    yd, yb = parts(yy.reshape(-1, 1))

    def quad(Ad, Ab, Bd, Bb):
        within = np.einsum("tik,ij,tjl->kl", Ad, Rinv, Bd)
        between = T * Ab.T @ M @ Bb
        return within + between

    XtX = quad(Xd, Xb, Xd, Xb)
    Xty = quad(Xd, Xb, yd, yb)
    beta = np.linalg.solve(XtX, Xty)
    e = yy.reshape(-1, 1) - X @ beta
    ed, eb = parts(e)
    ssr = float(quad(ed, eb, ed, eb)[0, 0])
    NT = N * T
    s2 = ssr / NT
    ll = jac - 0.5 * NT * np.log(2 * np.pi * s2) - 0.5 * ldS - 0.5 * NT
    return ll, beta.reshape(-1), s2, phi


def fit(kind, y, X, W, N, T, start):
    f = lambda th: -concentrated(th, kind, y, X, W, N, T)[0]  # noqa: E731
    r = minimize(f, np.asarray(start, float), method="L-BFGS-B",
                 bounds=((-0.99, 0.99), (-10.0, 10.0)), options=dict(ftol=1e-15, gtol=1e-10))
    x0 = r.x
    for _ in range(2):
        r = minimize(f, x0, method="Nelder-Mead",
                     options=dict(xatol=1e-11, fatol=1e-12, maxfev=3000))
        x0 = r.x
    ll, beta, s2, phi = concentrated(r.x, kind, y, X, W, N, T)
    return dict(sp=float(r.x[0]), phi=float(phi), ll=float(ll), beta=beta, s2=float(s2))


def main():
    out = {}
    for name in PANELS:
        P = load(name)
        y, x, W, N, T = P["y"].reshape(-1), P["x"], P["W"], P["N"], P["T"]
        X = np.hstack([np.ones((N * T, 1)), x])
        names = ["(Intercept)"] + P["name_x"]
        for kind, sp in (("lag", "rho"), ("error", "lambda")):
            r = fit(kind, y, X, W, N, T, (0.3, np.log(5.0)))
            p = f"{name}.re_{'sar' if kind == 'lag' else 'sem'}"
            for nm, b in zip(names, r["beta"]):
                out[f"{p}.coef.{nm}"] = float(b)
            out[f"{p}.{sp}"] = r["sp"]
            out[f"{p}.phi"] = r["phi"]
            out[f"{p}.sigma2"] = r["s2"]
            out[f"{p}.sigma2_mu"] = r["phi"] * r["s2"]
            out[f"{p}.spreg_phi"] = float(np.sqrt(1.0 / (1.0 + T * r["phi"])))
            out[f"{p}.loglik"] = r["ll"]
            print(p, r["sp"], r["phi"], r["ll"])
    prov = {
        "tool": "independent NumPy/SciPy implementation (this script), not a peer tool: arbiter for splm vs spreg",
        "versions": f"Python {platform.python_version()}; numpy {np.__version__}; scipy {scipy.__version__}",
        "date": datetime.date.today().isoformat(),
        "script": "tests/data/reference/re_exact_check.py",
        "model": __doc__.split("Run from")[0].strip(),
        "keys": "<panel>.re_sar|re_sem.<coef.name|rho|lambda|phi|sigma2|sigma2_mu|spreg_phi|loglik>; phi = sigma2_mu/sigma2, "
                "spreg_phi = (1 + T phi)^-1/2; sigma2 = GLS SSR / (NT); loglik full, with constants",
    }
    with open(HERE / "re_exact_check.json", "w") as fh:
        json.dump({"provenance": prov, **out}, fh, indent=2)
        fh.write("\n")


if __name__ == "__main__":
    main()
