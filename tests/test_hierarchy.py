"""Regional (hierarchical) models: input checks, the collapsed likelihood, region effects and
spillovers against dense brute force, and the pooling limits (tau -> 0 is complete pooling,
tau large is separate fits).

Sampled tests use tiny panels, PyMC's NUTS, 2 chains x 400 draws.  Tolerance for "reproduces"
(posterior means): |difference| < 0.3 posterior sd; the Monte Carlo error of a difference of two
such means is about 0.07 sd, so the bound is ~4 MC standard errors while a wrong limit (e.g.
no pooling where complete pooling is expected) moves the means by several sd.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest
from conftest import regional_fit, regional_model
from scipy.stats import multivariate_normal, norm

from bayes_sdm.effects import dense_effects
from bayes_sdm.errors import InputError
from bayes_sdm.likelihood import loglik
from bayes_sdm.panel import Panel
from bayes_sdm.regional import (
    RegionalDecomposition,
    dense_regional_effects,
    make_regions,
    regional_effects_draws,
    select_region,
)
from bayes_sdm.reporting import (
    CONTRAST_COLUMNS,
    EFFECTS_COLUMNS,
    SPILLOVER_COLUMNS,
    SUMMARY_COLUMNS,
    region_pairs,
)
from bayes_sdm.simulate import simulate_y
from bayes_sdm.spec import PriorSpec, SamplerSpec
from bayes_sdm.weights import economic_distance, make_weights


def simulate(sizes=(8, 8), T=10, K=2, seed=0, rho=0.3, beta=None, theta=None,  # noqa: N803
             sigma=0.5, block=False, rhos=None):
    """A small panel with region-specific coefficients (full-W or block-W DGP)."""
    rng = np.random.default_rng(seed)
    g_count, n = len(sizes), sum(sizes)
    names = [f"r{g}" for g in range(g_count)]
    ids = tuple(f"u{i:02d}" for i in range(n))
    index = np.repeat(np.arange(g_count), sizes)
    w = economic_distance(rng.normal(size=n), ids)
    x = rng.normal(size=(T, n, K))
    beta = np.asarray(beta if beta is not None else rng.normal(1.0, 0.3, (g_count, K)))
    theta = np.asarray(theta if theta is not None else rng.normal(0.5, 0.3, (g_count, K)))
    mu, alpha = rng.normal(size=n), rng.normal(size=T)
    if not block:
        y = simulate_y(w, x, "sdm", rho, beta[index], theta[index], sigma, mu, alpha, rng)
    else:
        y = np.empty((T, n))
        for g in range(g_count):
            idx = np.nonzero(index == g)[0]
            wg = w.subset([ids[i] for i in idx])
            r = rho if rhos is None else rhos[g]
            y[:, idx] = simulate_y(wg, x[:, idx], "sdm", r, beta[g], theta[g], sigma, mu[idx],
                                   alpha, rng)
    panel = Panel(y, x, ids, tuple(range(T)), "y", tuple(f"x{k + 1}" for k in range(K)))
    return panel, w, [names[g] for g in index]


# ------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------
def test_region_labels_checked():
    panel, w, regs = simulate(sizes=(4, 4, 4))
    r = make_regions(panel, regs)
    assert r.names == ("r0", "r1", "r2") and list(r.sizes) == [4, 4, 4]
    # a Series indexed by unit id, a mapping and a unit_info column give the same regions
    s = pd.Series(regs, index=panel.units)
    assert make_regions(panel, s.iloc[::-1]).index.tolist() == r.index.tolist()
    assert make_regions(panel, dict(zip(panel.units, regs, strict=True))).names == r.names
    info = Panel(panel.y, panel.X, panel.units, panel.times, "y", panel.x_names,
                 pd.DataFrame({"reg": regs}, index=list(panel.units)))
    assert make_regions(info, "reg").names == r.names
    with pytest.raises(InputError, match="not a unit attribute"):
        make_regions(info, "nope")
    bad = list(regs)
    bad[5] = None
    with pytest.raises(InputError, match="missing for 1 unit.*u05"):
        make_regions(panel, bad)
    bad[5] = float("nan")
    with pytest.raises(InputError, match="u05"):
        make_regions(panel, bad)
    with pytest.raises(InputError, match="11 region labels for 12 units"):
        make_regions(panel, regs[:-1])
    with pytest.raises(InputError, match=r"region\(s\) \['r9'\] do not exist"):
        make_regions(panel, regs, order=["r0", "r1", "r9"])
    with pytest.raises(InputError, match="omits"):
        make_regions(panel, regs, order=["r0", "r1"])
    one = list(regs)
    one[0] = "solo"
    with pytest.raises(InputError, match="fewer than 2 units: 'solo'"):
        make_regions(panel, one)
    with pytest.raises(InputError, match="at least 2 regions"):
        make_regions(panel, ["a"] * panel.N)


def test_region_without_neighbours_inside_block_w():
    panel, _, regs = simulate(sizes=(3, 3))
    # regions r0 = {u0, u1, u2}, r1 = {u3, u4, u5}; u0's only neighbour is u3 (in r1), so u0
    # has no neighbour inside its own region under the block-diagonal W
    c = np.zeros((6, 6))
    for i, j in [(0, 3), (1, 2), (2, 3), (3, 4), (4, 5), (1, 4)]:
        c[i, j] = c[j, i] = 1.0
    w = make_weights(c, panel.units)
    with pytest.raises(InputError, match=r"region 'r0'.*no neighbours inside.*u00"):
        regional_model(panel, w, regs, regional_w="block")
    with pytest.raises(InputError, match="no neighbours inside"):
        select_region(panel, w, regs, "r0")
    # the full W keeps the cross-region link, so it is fine there
    rm = regional_model(panel, w, regs, regional_w="full")
    assert rm.model is not None


def test_select_region_and_options():
    panel, w, regs = simulate(sizes=(4, 5))
    p1, w1 = select_region(panel, w, regs, "r1")
    assert p1.N == 5 and w1.n == 5 and np.allclose(np.asarray(w1.matrix).sum(1), 1.0)
    with pytest.raises(InputError, match="region 'east' does not exist"):
        select_region(panel, w, regs, "east")
    with pytest.raises(InputError, match="unknown pooling"):
        regional_model(panel, w, regs, pooling="some")
    with pytest.raises(InputError, match="unknown regional W"):
        regional_model(panel, w, regs, regional_w="diag")
    with pytest.raises(InputError, match="fixed tau for beta"):
        regional_model(panel, w, regs, tau={"beta": -1.0})
    with pytest.raises(InputError, match="unknown tau component"):
        regional_model(panel, w, regs, tau={"gamma": 1.0})
    with pytest.raises(InputError, match="unknown hierarchy prior"):
        regional_model(panel, w, regs, hyper={"alpha_tau": 1.0})
    with pytest.raises(InputError, match="lag_convention='QWy'"):
        regional_model(panel, w, regs, regional_w="full", lag_convention="WQy")
    with pytest.raises(InputError, match="region 'r7' does not exist"):
        region_pairs(["r0", "r1"], [("r0", "r7")])
    assert region_pairs(["a", "b", "c"]) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert region_pairs(["a", "b"], ["b - a"]) == [("b", "a")]


# ------------------------------------------------------------------------------------------
# the collapsed likelihood is the explicit one with the coefficients integrated out
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("regional_w", "model"), [("block", "sdm"), ("full", "sdm"),
                                                   ("full", "sar"), ("block", "sdem"),
                                                   ("full", "slx")])
def test_collapsed_marginal_identity(regional_w, model):
    """log p(y | rho, sigma, tau) = log L(gamma) + log p(gamma | mu, tau) + log p(mu)
    - log p(gamma, mu | y, rho, sigma, tau) at an arbitrary (gamma, mu) (exact Gaussian
    integral), with the foundation's loglik on the left-hand pieces."""
    panel, w, regs = simulate(sizes=(5, 6, 5), T=6, block=True, rhos=[0.2, 0.4, 0.3])
    rm = regional_model(panel, w, regs, model=model, regional_w=regional_w)
    ch = rm.collapsed
    nb, nmu = len(rm.blocks), ch.n_mu
    rng = np.random.default_rng(1)
    rhos = rng.uniform(0.1, 0.4, nb) if model != "slx" else np.zeros(nb)
    s2s = rng.uniform(0.5, 1.5, nb)
    tau = np.exp(rng.normal(size=nmu))
    m0, s0 = rng.normal(size=nmu), np.exp(rng.normal(size=nmu))
    rv = [pt.dscalar() for _ in range(nb)]
    sv = [pt.dscalar() for _ in range(nb)]
    tv = pt.dvector()
    f = pytensor.function(rv + sv + [tv], ch.marginal_loglik([b.logdet for b in rm.blocks],
                                                             rv, sv, tv, m0, s0),
                          mode="FAST_COMPILE")
    marg = f(*rhos, *s2s, tau)
    gam, mu = rng.normal(size=ch.d), rng.normal(size=nmu)
    tot = 0.0
    for j, (b, part) in enumerate(zip(rm.blocks, ch.parts, strict=True)):
        gj = gam[ch.offsets[j]:ch.offsets[j + 1]]
        k = b.stats.K
        tot += loglik(b.stats, b.logdet, b.lik_family, rhos[j], gj[:k],
                      gj[k:] if part.durbin else None, s2s[j])
    tot += norm.logpdf(gam, mu[ch.amap], tau[ch.amap]).sum() + norm.logpdf(mu, m0, s0).sum()
    mean, cov = ch.conditional(rhos, s2s, tau, m0, s0)
    cond = multivariate_normal(mean, cov)
    assert marg == pytest.approx(tot - cond.logpdf(np.concatenate([gam, mu])), abs=1e-7)
    # the identity holds at any (gamma, mu): the conditional is the right normal
    gam2, mu2 = gam + 0.3, mu - 0.2
    tot2 = sum(loglik(b.stats, b.logdet, b.lik_family, rhos[j],
                      gam2[ch.offsets[j]:ch.offsets[j + 1]][:b.stats.K],
                      gam2[ch.offsets[j]:ch.offsets[j + 1]][b.stats.K:] if p.durbin else None,
                      s2s[j]) for j, (b, p) in enumerate(zip(rm.blocks, ch.parts, strict=True)))
    tot2 += norm.logpdf(gam2, mu2[ch.amap], tau[ch.amap]).sum() + norm.logpdf(mu2, m0, s0).sum()
    assert marg == pytest.approx(tot2 - cond.logpdf(np.concatenate([gam2, mu2])), abs=1e-7)
    # the conditional draws have that mean (z-scores of 4000 draws' means)
    g2, m2 = ch.draw(np.tile(rhos, (4000, 1)), np.tile(s2s, (4000, 1)), np.tile(tau, (4000, 1)),
                     m0, s0, np.random.default_rng(2))
    z = (np.concatenate([g2, m2], 1).mean(0) - mean) / np.sqrt(np.diag(cov) / 4000)
    assert np.abs(z).max() < 4.5


def test_collapsed_tiny_group_scale_is_stable():
    """A group scale of 1e-7 (coefficients equal across regions) leaves the collapsed
    likelihood smooth: its value and gradient in log tau match central differences."""
    panel, w, regs = simulate(sizes=(5, 6), T=6)
    rm = regional_model(panel, w, regs, regional_w="full")
    ch, b = rm.collapsed, rm.blocks[0]
    m0, s0 = np.zeros(4), np.full(4, 10.0)
    lt = pt.dvector()
    expr = ch.marginal_loglik([b.logdet], [pt.constant(0.3)], [pt.constant(0.4)], pt.exp(lt),
                              m0, s0)
    f = pytensor.function([lt], [expr, pytensor.grad(expr, lt)])
    x = np.log(np.array([1e-7, 1e-3, 1.0, 10.0]))
    v, g = f(x)
    for i in range(4):
        e = np.zeros(4)
        e[i] = 1e-4
        num = (f(x + e)[0] - f(x - e)[0]) / 2e-4
        assert g[i] == pytest.approx(num, rel=1e-4, abs=1e-6)


def test_collapsed_flat_prior_is_a_constant_offset():
    """With flat priors on the common means the integral is improper in mu; the collapsed
    likelihood then differs from the explicit identity by a constant only."""
    panel, w, regs = simulate(sizes=(5, 6), T=6)
    rm = regional_model(panel, w, regs, regional_w="full", priors=PriorSpec.preset("flat"))
    ch = rm.collapsed
    b = rm.blocks[0]
    rv, sv, tv = pt.dscalar(), pt.dscalar(), pt.dvector()
    f = pytensor.function([rv, sv, tv], ch.marginal_loglik([b.logdet], [rv], [sv], tv),
                          mode="FAST_COMPILE")
    offs = []
    for seed in (1, 2, 3):
        rng = np.random.default_rng(seed)
        rho, s2, tau = rng.uniform(0.1, 0.4), rng.uniform(0.5, 1.5), np.exp(rng.normal(size=4))
        gam, mu = rng.normal(size=ch.d), rng.normal(size=4)
        tot = loglik(b.stats, b.logdet, b.lik_family, rho, gam, None, s2)
        tot += norm.logpdf(gam, mu[ch.amap], tau[ch.amap]).sum()
        mean, cov = ch.conditional([rho], [s2], tau)
        cond = multivariate_normal(mean, cov).logpdf(np.concatenate([gam, mu]))
        offs.append(f(rho, s2, tau) - (tot - cond))
    assert np.ptp(offs) < 1e-7


# ------------------------------------------------------------------------------------------
# region effects and spillovers: exact vs dense brute force
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["symmetric", "general", "defective"])
@pytest.mark.parametrize("perspective", ["origin", "destination"])
def test_region_effects_equal_dense(kind, perspective):
    panel, w, regs = simulate(sizes=(5, 7, 4))
    rng = np.random.default_rng(3)
    n = panel.N
    if kind == "general":  # a non-symmetric W (no symmetric similar form): general eig path
        w = make_weights(rng.uniform(0.1, 1.0, (n, n)) * (1 - np.eye(n)), panel.units,
                         symmetric=False)
    elif kind == "defective":  # a defective W (Jordan block of eigenvalue 0): a chain of
        c = np.zeros((n, n))  # units each pointing to the previous one, ending at a pair
        c[0, 1] = c[1, 0] = 1.0
        for i in range(2, n):
            c[i, i - 1] = 1.0
        w = make_weights(c, panel.units, symmetric=False)
    rm = regional_model(panel, w, regs, regional_w="full", pooling="none")
    with pytest.warns(UserWarning, match="ill-conditioned") if kind == "defective" else \
            _nullcontext():
        dec = RegionalDecomposition(w, rm.regions)
    assert (dec.dense is not None) == (kind == "defective")
    s, g, k = 3, 3, 2
    rho = rng.uniform(-0.5, 0.8, s)
    beta, theta = rng.normal(size=(s, g, k)), rng.normal(size=(s, g, k))
    eff, sp = dec.effects(rho, beta, theta, perspective)
    wd = np.asarray(w.matrix.toarray() if w.is_sparse else w.matrix)
    idx = rm.regions.index
    for i in range(s):
        e2, s2 = dense_regional_effects(rho[i], beta[i][idx], theta[i][idx], wd, idx,
                                        perspective)
        np.testing.assert_allclose(eff[i], e2, atol=1e-10)
        np.testing.assert_allclose(sp[i], s2, atol=1e-10)
    # spillover identities: destination totals are sums over origins; origin totals the
    # N_b / N_a weighted sums over destinations; the N-weighted region averages are the
    # LeSage-Pace scalar effects of the whole sample
    eff_o, sp = dec.effects(rho, beta, theta, "origin")
    eff_d, _ = dec.effects(rho, beta, theta, "destination")
    nb = rm.regions.sizes
    np.testing.assert_allclose(sp.sum(axis=1), eff_d[:, :, 2], atol=1e-10)
    np.testing.assert_allclose((sp * nb[None, None, :, None]).sum(axis=2) / nb[None, :, None],
                               eff_o[:, :, 2], atol=1e-10)
    # common coefficients: the N-weighted averages are LeSage & Pace's tr(S)/N, iota'S iota/N
    bc, tc = np.broadcast_to(beta[:, :1], beta.shape), np.broadcast_to(theta[:, :1], beta.shape)
    e1, _ = dec.effects(rho, bc, tc, perspective)
    avg = np.einsum("sgek,g->sek", e1, nb / nb.sum())
    for i in range(s):
        np.testing.assert_allclose(avg[i], dense_effects(rho[i], beta[i, 0], theta[i, 0], wd),
                                   atol=1e-10)


class _nullcontext:  # noqa: N801
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_block_effects_equal_dense_block_diagonal():
    """Block W region effects (lag_effects per region) = brute force on the block-diagonal
    W; there both perspectives agree and there are no spillovers across regions."""
    import xarray as xr

    panel, w, regs = simulate(sizes=(5, 6, 4))
    rm = regional_model(panel, w, regs, regional_w="block", pooling="none")
    n, g, k = panel.N, 3, 2
    wb = np.zeros((n, n))
    for b in rm.blocks:
        wb[np.ix_(b.positions, b.positions)] = np.asarray(b.w.matrix)
    rng = np.random.default_rng(4)
    rho, beta, theta = rng.uniform(-0.3, 0.7, (1, 2, g)), rng.normal(size=(1, 2, g, k)), \
        rng.normal(size=(1, 2, g, k))
    post = xr.Dataset({"rho": (("chain", "draw", "region"), rho),
                       "beta": (("chain", "draw", "region", "coef"), beta),
                       "theta": (("chain", "draw", "region", "coef"), theta)},
                      coords={"region": list(rm.regions.names), "coef": list(panel.x_names)})
    eff = regional_effects_draws(rm, post)["effects"].values
    idx = rm.regions.index
    for d in range(2):
        # per-unit rho is not a single SDM, so check region by region on its own block
        for gg in range(g):
            e_dense, sp = dense_regional_effects(rho[0, d, gg], beta[0, d][idx],
                                                 theta[0, d][idx], wb, idx)
            np.testing.assert_allclose(eff[0, d, gg], e_dense[gg], atol=1e-10)
            off = np.delete(sp[gg], gg, axis=0)
            assert np.abs(off).max() < 1e-12


# ------------------------------------------------------------------------------------------
# sampled: pooling limits, tables, none-pooling stacking
# ------------------------------------------------------------------------------------------
SAMPLER = SamplerSpec(draws=400, tune=400, chains=2, seed=11, nuts_sampler="pymc", cores=1)


def _close(a, b, sd, tol=0.3):
    a, b, sd = (np.asarray(v, dtype=float) for v in (a, b, sd))
    assert np.all(np.abs(a - b) <= tol * sd), (a, b, sd)


@pytest.fixture(scope="module")
def block_panel():
    return simulate(sizes=(8, 8), T=10, block=True, rhos=[0.2, 0.4],
                    beta=[[1.0, 0.5], [1.3, 0.2]], theta=[[0.5, 0.0], [0.2, 0.4]])


@pytest.fixture(scope="module")
def full_panel():
    return simulate(sizes=(8, 8), T=10, beta=[[1.0, 0.5], [1.3, 0.2]],
                    theta=[[0.5, 0.0], [0.2, 0.4]])


@pytest.fixture(scope="module")
def fits_full(full_panel):
    panel, w, regs = full_panel
    part0 = regional_fit(panel, w, regs, regional_w="full", tau=1e-4, sampler=SAMPLER)
    comp = regional_fit(panel, w, regs, regional_w="full", pooling="complete", sampler=SAMPLER)
    return part0, comp


@pytest.fixture(scope="module")
def fits_block(block_panel):
    panel, w, regs = block_panel
    part0 = regional_fit(panel, w, regs, regional_w="block", tau=1e-4, sampler=SAMPLER)
    comp = regional_fit(panel, w, regs, regional_w="block", pooling="complete", sampler=SAMPLER)
    flat = PriorSpec(beta={"dist": "flat"}, theta={"dist": "flat"})
    big = regional_fit(panel, w, regs, regional_w="block", priors=flat,
                       tau={"beta": 1e3, "theta": 1e3, "rho": 1.7, "sigma": 3.0},
                       sampler=SAMPLER)
    sep = regional_fit(panel, w, regs, regional_w="block", pooling="none", priors=flat,
                       sampler=SAMPLER)
    return part0, comp, big, sep


def _mean_sd(post, name):
    v = post[name].values
    v = v.reshape(-1, *v.shape[2:])
    return v.mean(0), v.std(0)


def test_tau_near_zero_is_complete_pooling_full_w(fits_full):
    part0, comp = fits_full
    pp, pc = part0.posterior, comp.posterior
    for name in ("rho", "sigma2"):
        m1, s1 = _mean_sd(pp, name)
        m2, _ = _mean_sd(pc, name)
        _close(m1, m2, s1)
    for name in ("beta", "theta"):
        m1, s1 = _mean_sd(pp, name)  # (region, coef)
        m2, _ = _mean_sd(pc, name)  # (coef)
        _close(m1, np.broadcast_to(m2, m1.shape), s1)
        assert np.allclose(m1[0], m1[1], atol=1e-2)  # the regions share the coefficients
    # region effects of the pooled model match too
    e1, s1 = _mean_sd(pp, "effects")
    e2, _ = _mean_sd(pc, "effects")
    _close(e1, e2, s1)


def test_tau_near_zero_is_complete_pooling_block_w(fits_block):
    part0, comp = fits_block[:2]
    pp, pc = part0.posterior, comp.posterior
    m1, s1 = _mean_sd(pp, "rho")
    m2, _ = _mean_sd(pc, "rho")
    _close(m1, np.broadcast_to(m2, m1.shape), s1)
    m1, s1 = _mean_sd(pp, "sigma2")
    m2, _ = _mean_sd(pc, "sigma2")
    _close(m1, np.broadcast_to(m2, m1.shape), s1)
    for name in ("beta", "theta"):
        m1, s1 = _mean_sd(pp, name)
        m2, _ = _mean_sd(pc, name)
        _close(m1, np.broadcast_to(m2, m1.shape), s1)


def test_tau_large_is_separate_fits(fits_block):
    big, sep = fits_block[2:]
    pb, ps = big.posterior, sep.posterior
    for name in ("rho", "beta", "theta", "sigma2"):
        m1, s1 = _mean_sd(pb, name)
        m2, _ = _mean_sd(ps, name)
        _close(m1, m2, s1)
    e1, s1 = _mean_sd(pb, "effects")
    e2, _ = _mean_sd(ps, "effects")
    _close(e1, e2, s1)
    # and the separate fits differ from complete pooling where the truth differs
    comp = fits_block[1].posterior
    mb, sb = _mean_sd(ps, "beta")
    mc, _ = _mean_sd(comp, "beta")
    assert np.abs(mb[1, 1] - mc[1]) > 0.5 * sb[1, 1] or np.abs(mb[0, 1] - mc[1]) > 0.5 * sb[0, 1]


def test_tables_and_dims(fits_full, fits_block):
    part0 = fits_full[0]
    post = part0.posterior
    assert post["effects"].dims == ("chain", "draw", "region", "effect", "coef")
    assert post["spillovers"].dims == ("chain", "draw", "from_region", "to_region", "coef")
    eff = part0.effects_table()
    assert list(eff.columns) == EFFECTS_COLUMNS and len(eff) == 2 * 2 * 3
    summ = part0.summary_table()
    assert list(summ.columns) == SUMMARY_COLUMNS
    assert set(summ.loc[summ.parameter == "rho", "region"]) == {""}
    assert set(summ.loc[summ.parameter == "beta[x1]", "region"]) == {"r0", "r1"}
    con = part0.contrasts_table()
    assert list(con.columns) == CONTRAST_COLUMNS and set(con.contrast) == {"r0 - r1"}
    sp = part0.spillovers_table()
    assert list(sp.columns) == SPILLOVER_COLUMNS and len(sp) == 2 * 2 * 2
    # contrast = difference of the region effects, draw by draw
    d = post["effects"].sel(region="r0") - post["effects"].sel(region="r1")
    row = con[(con.variable == "x2") & (con.effect == "total")].iloc[0]
    assert row["mean"] == pytest.approx(float(d.sel(coef="x2", effect="total").mean()))
    assert row["prob_positive"] == pytest.approx(float((d.sel(coef="x2", effect="total") > 0)
                                                       .mean()))
    # block W: no spillover table; pooling none stacks the regions' separate fits
    sep = fits_block[3]
    assert sep.spillovers_table().empty
    assert sep.posterior["rho"].dims == ("chain", "draw", "region")
    assert list(sep.summary_table().region.unique()) == ["r0", "r1"]
    assert sep.diagnostics().per_parameter.shape[0] > 0


# ------------------------------------------------------------------------------------------
# slow tier: recovery of known regional truth over replications
# ------------------------------------------------------------------------------------------
SLOW_SAMPLER = SamplerSpec(draws=500, tune=500, chains=2, seed=5, nuts_sampler="pymc", cores=1)


def coverage_study(n_reps: int = 20, seed: int = 2026, sampler: SamplerSpec = SLOW_SAMPLER):
    """Full-W DGP with region-specific beta_g, theta_g (drawn around common means) fitted by
    the partially pooled full-W model: the share of 94% HDIs of the regional effects (origin
    perspective) that cover the true effects (dense S_k), over replications."""
    rng = np.random.default_rng(seed)
    hits, rows = [], []
    for rep in range(n_reps):
        beta = np.array([1.0, -0.5]) + 0.3 * rng.standard_normal((3, 2))
        theta = np.array([0.5, 0.3]) + 0.3 * rng.standard_normal((3, 2))
        panel, w, regs = simulate(sizes=(10, 7, 5), T=8, seed=int(rng.integers(1 << 30)),
                                  rho=0.3, beta=beta, theta=theta, sigma=0.5)
        fit = regional_fit(panel, w, regs, regional_w="full",
                           sampler=SamplerSpec(**{**sampler.__dict__, "seed": sampler.seed + rep}))
        idx = fit.regional_model.regions.index
        truth, _ = dense_regional_effects(0.3, beta[idx], theta[idx], np.asarray(w.matrix), idx)
        tab = fit.effects_table()
        g = {r: i for i, r in enumerate(fit.regional_model.regions.names)}
        e = {eff: j for j, eff in enumerate(("direct", "indirect", "total"))}
        k = {x: j for j, x in enumerate(panel.x_names)}
        tv = np.array([truth[g[r], e[ef], k[x]] for r, x, ef in
                       zip(tab.region, tab.variable, tab.effect, strict=True)])
        hit = (tab["hdi_3%"].to_numpy() <= tv) & (tv <= tab["hdi_97%"].to_numpy())
        hits.append(hit)
        rows.append(int(fit.idata["sample_stats"]["diverging"].sum()))
    hits = np.concatenate(hits)
    return {"coverage": float(hits.mean()), "n_intervals": int(hits.size),
            "divergences": int(np.sum(rows))}


def small_region_study(n_reps: int = 20, seed: int = 7, sampler: SamplerSpec = SLOW_SAMPLER):
    """Block-W DGP (each region its own SDM, coefficients around common means, the last
    region small): error of the smallest region's effects, hierarchical vs separate fits."""
    rng = np.random.default_rng(seed)
    err = {"partial": [], "none": []}
    for rep in range(n_reps):
        beta = np.array([1.0, -0.5]) + 0.15 * rng.standard_normal((3, 2))
        theta = np.array([0.5, 0.3]) + 0.15 * rng.standard_normal((3, 2))
        rhos = 0.3 + 0.05 * rng.standard_normal(3)
        panel, w, regs = simulate(sizes=(12, 10, 4), T=6, seed=int(rng.integers(1 << 30)),
                                  beta=beta, theta=theta, sigma=0.5, block=True, rhos=rhos)
        s = SamplerSpec(**{**sampler.__dict__, "seed": sampler.seed + rep})
        for pooling in ("partial", "none"):
            fit = regional_fit(panel, w, regs, regional_w="block", pooling=pooling, sampler=s)
            b = fit.regional_model.blocks[2]
            truth = dense_effects(rhos[2], beta[2], theta[2], np.asarray(b.w.matrix))
            est = fit.posterior["effects"].sel(region="r2").mean(("chain", "draw")).values
            err[pooling].append(np.sqrt(np.mean((est - truth) ** 2)))
    return {k: float(np.sqrt(np.mean(np.square(v)))) for k, v in err.items()}


@pytest.mark.slow
def test_regional_effects_hdi_coverage():
    res = coverage_study()
    print("regional 94% HDI coverage", res)
    assert 0.88 <= res["coverage"] <= 0.99


@pytest.mark.slow
def test_hierarchy_beats_separate_fits_for_the_smallest_region():
    res = small_region_study()
    print("smallest-region RMSE of effects", res)
    assert res["partial"] < res["none"]
