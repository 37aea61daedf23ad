"""bayes_sdm.convergence against arviz_stats: R-hat, bulk/tail ESS, MCSE and HDIs of real draws
(the exact sampler's on cigar, a random-walk Metropolis chain of cigar's rho) agree to 1e-10
(in practice bit for bit), and the summary's rows carry the right labels."""

import numpy as np
import pytest

from bayes_sdm import convergence as cv

STATS = ("ess_bulk", "ess_tail", "r_hat", "mcse_mean", "mcse_sd")


@pytest.fixture(scope="module")
def cigar_fit(cigar):
    from bayes_sdm import api
    from bayes_sdm.spec import PriorSpec, SamplerSpec

    prep = api.prepare(*cigar, "sdm", "twoway")
    res = api.fit(prep, sampler=SamplerSpec(kind="exact", draws=500, chains=4, seed=3),
                  priors=PriorSpec.preset("flat"), progressbar=False)
    return prep, res


def metropolis_rho(prep, chains=4, draws=600, seed=0):
    """Random-walk Metropolis draws (chain, draw) of cigar's rho from its exact marginal
    posterior (interpolated on the grid): autocorrelated draws with chains that start apart."""
    from bayes_sdm.exact import rho_posterior_grid

    x, lp = rho_posterior_grid(prep.stats, prep.logdet, prep.family)
    rng = np.random.default_rng(seed)
    cur = np.linspace(x[0], x[-1], chains + 2)[1:-1]
    cur_lp = np.interp(cur, x, lp)
    out = np.empty((chains, draws))
    for t in range(draws):
        prop = cur + 0.01 * rng.standard_normal(chains)
        plp = np.where((prop > x[0]) & (prop < x[-1]), np.interp(prop, x, lp), -np.inf)
        acc = np.log(rng.uniform(size=chains)) < plp - cur_lp
        cur, cur_lp = np.where(acc, prop, cur), np.where(acc, plp, cur_lp)
        out[:, t] = cur
    return out


def assert_like_arviz(post, tail_prob):
    """Every statistic of every scalar parameter of ``post`` (a Dataset) equals arviz_stats'."""
    import arviz_stats as az

    ref = {"ess_bulk": az.ess(post), "ess_tail": az.ess(post, method="tail", prob=tail_prob),
           "r_hat": az.rhat(post), "mcse_mean": az.mcse(post),
           "mcse_sd": az.mcse(post, method="sd"), "hdi": az.hdi(post, prob=0.94),
           "mean": az.mean(post, round_to="none"), "sd": az.std(post, round_to="none")}
    n = 0
    for v in post.data_vars:
        other = [d for d in post[v].dims if d not in ("chain", "draw")]
        for name, x in cv.scalar_draws(post[v]):
            labels = name[len(v) + 1:-1].split(", ") if other else []
            sel = dict(zip(other, labels, strict=True))
            got = cv.describe(x, 0.94, tail_prob)
            for k in (*STATS, "mean", "sd"):
                want = float(ref[k][v].sel(sel))
                np.testing.assert_allclose(got[k], want, rtol=1e-10, err_msg=f"{name} {k}")
            h = ref["hdi"][v].sel(sel).values
            np.testing.assert_allclose([got["hdi_lb"], got["hdi_ub"]], h, rtol=1e-10)
            n += 1
    return n


def test_exact_sampler_draws_match_arviz(cigar_fit):
    """rho, beta, theta, sigma2 and the 2-D effects of the exact sampler on cigar."""
    post = cigar_fit[1]["posterior"].to_dataset()
    assert assert_like_arviz(post, 0.89) == 1 + 2 + 2 + 2 + 6  # sigma too
    assert assert_like_arviz(post[["rho", "effects"]], 0.95) == 7


def test_metropolis_draws_match_arviz(cigar_fit):
    """Autocorrelated draws (ESS far below the draw count), chains that disagree at first
    (R-hat above 1), draws rounded to give ties in the ranks, one chain, a short run."""
    import xarray as xr

    x = metropolis_rho(cigar_fit[0])
    post = xr.Dataset({"rho": (("chain", "draw"), x), "ties": (("chain", "draw"), np.round(x, 2))})
    assert assert_like_arviz(post, 0.89) == 2
    burned = xr.Dataset({"rho": (("chain", "draw"), x[:, :40])})
    assert assert_like_arviz(burned, 0.89) == 1
    assert cv.ess_bulk(x) < 0.5 * x.size and cv.rhat(x[:, :40]) > 1.01
    one = xr.Dataset({"rho": (("chain", "draw"), x[:1])})
    assert assert_like_arviz(one, 0.89) == 1
    assert np.isnan(cv.rhat(x[:1]))


def test_degenerate_draws_follow_arviz():
    """NaN draws, fewer than 4 draws: NaN statistics; constant draws: ESS = draw count."""
    x = np.random.default_rng(1).standard_normal((2, 50))
    bad = x.copy()
    bad[0, 3] = np.nan
    assert all(np.isnan(f(bad)) for f in (cv.rhat, cv.ess_bulk, cv.mcse_mean, cv.mcse_sd))
    assert np.isnan(cv.ess_tail(bad, 0.9)) and np.isnan(cv.ess_bulk(x[:, :3]))
    assert cv.ess_bulk(np.ones((2, 50))) == 100


def test_next_fast_len_is_fftpacks():
    from scipy.fftpack import next_fast_len

    assert [cv._next_fast_len(n) for n in range(1, 3000)] == \
        [next_fast_len(n) for n in range(1, 3000)]


def test_flat_summary_labels_its_rows(cigar_fit):
    """Each row of a 2-D variable is that element's (arviz-stats 1.3's summary mislabels
    them), and the summary's columns are ArviZ's."""
    from bayes_sdm.reporting import SUMMARY_STATS, flat_summary

    res = cigar_fit[1]
    s = flat_summary(res, ["rho", "beta", "effects"]).set_index("parameter")
    assert list(s.columns) == list(SUMMARY_STATS)
    eff = res["posterior"]["effects"]
    for e in eff.coords["effect"].values:
        for c in eff.coords["coef"].values:
            x = eff.sel(effect=e, coef=c)
            assert s.loc[f"effects[{e}, {c}]", "mean"] == pytest.approx(float(x.mean()),
                                                                         rel=1e-12)
            assert s.loc[f"effects[{e}, {c}]", "ess_bulk"] == cv.ess_bulk(x.values)


def test_regional_tables_match_arviz():
    """The regional summary's R-hat / ESS and the regional effects' HDIs (per region and
    coefficient, autocorrelated draws) are arviz_stats' numbers."""
    import arviz_stats as az
    import xarray as xr
    from arviz_base import rcParams

    from bayes_sdm.reporting import regional_effects_table, regional_summary_table

    rng = np.random.default_rng(0)

    def ar(shape):
        x = rng.standard_normal(shape)
        for t in range(1, shape[1]):
            x[:, t] = 0.7 * x[:, t - 1] + 0.71 * x[:, t]
        return x

    post = xr.Dataset({"rho": (("chain", "draw", "region"), ar((4, 300, 3))),
                       "beta": (("chain", "draw", "region", "coef"), ar((4, 300, 3, 2))),
                       "effects": (("chain", "draw", "region", "coef", "effect"),
                                   ar((4, 300, 3, 2, 3)))},
                      coords={"region": ["a", "b", "c"], "coef": ["x1", "x2"],
                              "effect": ["direct", "indirect", "total"]})
    dt = xr.DataTree.from_dict({"posterior": post})
    s = regional_summary_table(dt)
    ref = {"r_hat": az.rhat(post), "ess_bulk": az.ess(post),
           "ess_tail": az.ess(post, method="tail", prob=rcParams["stats.ci_prob"])}
    for r in s.itertuples():
        v = r.parameter.split("[")[0]
        sel = {"region": r.region, **({"coef": r.parameter[5:-1]} if v == "beta" else {})}
        for k, want in ref.items():
            assert getattr(r, k) == pytest.approx(float(want[v].sel(sel)), rel=1e-10)
    e = regional_effects_table(dt)
    h = az.hdi(post[["effects"]], prob=0.94)["effects"]
    for r in e.itertuples():
        lo, hi = h.sel(region=r.region, coef=r.variable, effect=r.effect).values
        assert (r._6, r._7) == (pytest.approx(lo, rel=1e-10), pytest.approx(hi, rel=1e-10))
