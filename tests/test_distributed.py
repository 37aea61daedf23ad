"""Scale-out on Dask (bayes_sdm.distributed): out-of-core Gram matrix and posterior equal to the
in-memory path, a memory-limited cluster that never holds the panel, the distributed Chebyshev
interpolant, SBC ranks on the cluster, a worker killed mid-batch, and no Dask without a cluster.

The default tier shares one 2-worker LocalCluster (module fixture)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

from bayes_sdm.errors import InputError  # noqa: E402
from bayes_sdm.weights import knn  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def client():
    from bayes_sdm.distributed.cluster import connect

    with connect("local:2", quiet=True) as c:
        yield c


def write_panel(folder, n=300, t=5, k=2, seed=1, by_period=True, offset=50.0):
    """A random panel (unit effects with a large mean, so demeaning matters) as Parquet with
    coordinates; returns (frame, coords, ids)."""
    rng = np.random.default_rng(seed)
    coords = rng.uniform(size=(n, 2))
    ids = np.arange(1000, 1000 + n)
    mu = offset + 3.0 * rng.standard_normal(n)
    rows = []
    for s in range(t):
        x = rng.standard_normal((n, k)) + 0.1 * mu[:, None]
        df = pd.DataFrame({"id": ids, "year": 2000 + s, "y": mu + s + rng.standard_normal(n),
                           "cx": coords[:, 0], "cy": coords[:, 1]})
        for j in range(k):
            df[f"x{j + 1}"] = x[:, j]
        rows.append(df)
    frame = pd.concat(rows, ignore_index=True).sample(frac=1.0, random_state=0)
    if by_period:
        frame.to_parquet(folder, partition_cols=["year"])
    else:
        os.makedirs(folder, exist_ok=True)
        b = np.linspace(0, len(frame), 4).round().astype(int)
        for i in range(3):
            frame.iloc[b[i]:b[i + 1]].to_parquet(os.path.join(folder, f"part{i}.parquet"),
                                                 index=False)
    return frame, coords, ids


def _rel(a, b):
    d = np.sqrt(np.outer(np.diag(b), np.diag(b)))
    return float(np.max(np.abs(a - b) / d))


def test_gram_and_hash_equal_in_memory(client, tmp_path):
    from bayes_sdm.distributed.stats import ParquetPanel, parquet_stats
    from bayes_sdm.likelihood import sufficient_stats
    from bayes_sdm.panel import panel_from_frame

    frame, coords, ids = write_panel(tmp_path / "ds")
    w = knn(coords, tuple(ids.tolist()), 5)
    panel = panel_from_frame(frame, "id", "year", "y", ["x1", "x2"], units=w.ids)
    pp = ParquetPanel(str(tmp_path / "ds"), "id", "year", "y", ("x1", "x2"))
    for fe, conv in [("twoway", "QWy"), ("twoway", "WQy"), ("unit", "QWy"), ("time", "WQy"),
                     ("none", "QWy")]:
        st, meta = parquet_stats(client, pp, w, fe, lag_convention=conv, with_hash=fe == "none")
        ref = sufficient_stats(panel, w, fe, lag_convention=conv)
        assert _rel(st.gram, ref.gram) < 1e-12, (fe, conv)
        np.testing.assert_allclose(st.x_sd, ref.x_sd, rtol=1e-12, err_msg=f"{fe} {conv}")
        np.testing.assert_allclose(st.wx_sd, ref.wx_sd, rtol=1e-12, err_msg=f"{fe} {conv}")
        assert abs(st.y_sd / ref.y_sd - 1) < 1e-12
        assert (meta.N, meta.T, meta.x_names) == (panel.N, panel.T, panel.x_names)
    assert meta.data_hash() == panel.data_hash()


def test_exact_posterior_from_parquet_equals_in_memory(client, tmp_path):
    """Same seed, same uniforms: the draws differ only through the Gram matrix's rounding."""
    from bayes_sdm import api
    from bayes_sdm.distributed.stats import ParquetPanel
    from bayes_sdm.panel import panel_from_frame
    from bayes_sdm.spec import PriorSpec, SamplerSpec

    frame, coords, ids = write_panel(tmp_path / "ds", by_period=False)
    w = knn(coords, tuple(ids.tolist()), 5)
    panel = panel_from_frame(frame, "id", "year", "y", ["x1", "x2"], units=w.ids)
    pp = ParquetPanel(str(tmp_path / "ds"), "id", "year", "y", ("x1", "x2"))
    p1 = api.prepare(pp, w, "sdm", "twoway", client=client)
    p0 = api.prepare(panel, w, "sdm", "twoway")
    assert p1.data_hash == p0.data_hash
    s = SamplerSpec(kind="exact", draws=300, chains=2, seed=11)
    flat = PriorSpec.preset("flat")
    d0 = api.fit(p0, sampler=s, priors=flat, progressbar=False).idata["posterior"]
    d1 = api.fit(p1, sampler=s, priors=flat, progressbar=False).idata["posterior"]
    for v in ("rho", "beta", "theta", "sigma2"):
        np.testing.assert_allclose(d1[v].values, d0[v].values, rtol=1e-10, atol=1e-12)


def test_out_of_core_checks_name_the_problem(client, tmp_path):
    from bayes_sdm.distributed.stats import ParquetPanel, parquet_stats

    frame, coords, ids = write_panel(tmp_path / "ok", n=60, t=3)
    w = knn(coords, tuple(ids.tolist()), 4)
    bad = frame.copy()
    bad.loc[(bad.id == 1007) & (bad.year == 2001), "x2"] = np.nan
    bad.to_parquet(tmp_path / "nan", partition_cols=["year"])
    with pytest.raises(InputError, match=r"'x2'.*unit 1007 period 2001"):
        parquet_stats(client, ParquetPanel(str(tmp_path / "nan"), "id", "year", "y",
                                           ("x1", "x2")), w, with_hash=False)
    drop = frame[~((frame.id == 1003) & (frame.year == 2002))]
    drop.to_parquet(tmp_path / "unbal", partition_cols=["year"])
    with pytest.raises(InputError, match=r"unbalanced panel: period 2002.*1003"):
        parquet_stats(client, ParquetPanel(str(tmp_path / "unbal"), "id", "year", "y",
                                           ("x1", "x2")), w, with_hash=False)
    ti = frame.copy()
    ti["x2"] = ti["id"] * 0.5
    ti.to_parquet(tmp_path / "absorbed", partition_cols=["year"])
    with pytest.raises(InputError, match=r"'x2' is time-invariant"):
        parquet_stats(client, ParquetPanel(str(tmp_path / "absorbed"), "id", "year", "y",
                                           ("x1", "x2")), w, with_hash=False)
    with pytest.raises(InputError, match=r"unknown column"):
        parquet_stats(client, ParquetPanel(str(tmp_path / "ok"), "id", "year", "y",
                                           ("x1", "nope")), w)


def test_weights_blockwise_equal_in_memory(client, tmp_path):
    import scipy.sparse as sp

    from bayes_sdm.distributed.stats import ParquetPanel
    from bayes_sdm.distributed.weights import load_weights
    from bayes_sdm.inputs import build_weights

    frame, coords, ids = write_panel(tmp_path / "ds", n=400, t=3)
    pp = ParquetPanel(str(tmp_path / "ds"), "id", "year", "y", ("x1", "x2"))
    w_d, pp2 = load_weights(client, "knn:5:cx,cy", pp)
    w_m = build_weights("knn:5:cx,cy", frame, "id")
    assert w_d.ids == w_m.ids and pp2.constant_cols == ("cx", "cy")
    assert (w_d.matrix != w_m.matrix).nnz == 0
    c = sp.coo_array(w_m.raw_base())
    edges = pd.DataFrame({"i": np.array(w_m.ids)[c.row], "j": np.array(w_m.ids)[c.col],
                          "w": c.data})
    edges.iloc[:700].to_parquet(tmp_path / "e1.parquet")
    edges.iloc[700:].to_parquet(tmp_path / "e2.parquet")
    w_e, _ = load_weights(client, str(tmp_path / "e*.parquet"), pp)
    assert w_e.ids == w_m.ids and abs(w_e.matrix - w_m.matrix).max() < 1e-15
    edges.iloc[:3].to_parquet(tmp_path / "e3.parquet")
    with pytest.raises(InputError, match="is given 2 times"):
        load_weights(client, str(tmp_path / "e*.parquet"), pp)


def test_distributed_chebyshev_identical(client):
    from bayes_sdm.distributed.logdet import DaskChebyshevLogDet, probe_traces
    from bayes_sdm.logdet import ChebyshevLogDet, StochasticLogDet

    rng = np.random.default_rng(3)
    w = knn(rng.uniform(size=(1500, 2)), tuple(range(1500)), 6)
    a = ChebyshevLogDet(w, cache=False)
    b = DaskChebyshevLogDet(w, client, cache=False)
    assert b.degree == a.degree and len(b.node_seconds) == a.n_factorisations
    assert np.array_equal(b.coef, a.coef) and np.array_equal(b.node_values, a.node_values)
    r = np.linspace(-0.9, 0.99, 7)
    assert np.array_equal(b.value(r), a.value(r))
    import pickle

    assert np.array_equal(pickle.loads(pickle.dumps(b)).value(r), a.value(r))
    s = StochasticLogDet(w, probes=6, terms=20, block=4)
    est = probe_traces(client, w, probes=6, terms=20, block=4)
    assert np.array_equal(est.mean(axis=1)[4:], s.trace_estimates[4:])


def _sbc_config(n):
    from bayes_sdm.sbc import SBCConfig

    return SBCConfig(n_sims=n, N=9, T=3, K=1, draws=40, tune=60, chains=1, n_rank_draws=39,
                     bins=10, sampler="pymc", seed=7)


def test_sbc_on_cluster_same_ranks_small(client):
    from bayes_sdm.distributed.cluster import cache_builds
    from bayes_sdm.sbc import run_sbc

    cfg = _sbc_config(2)
    a = run_sbc(cfg)
    b = run_sbc(cfg, client=client)
    assert a.ranks.equals(b.ranks) and a.truth.equals(b.truth)
    assert np.array_equal(a.divergences, b.divergences)
    builds = client.run(cache_builds)  # each worker built (compiled) the model at most once
    assert all(v == 1 for per in builds.values() for k, v in per.items() if "sbc" in k)


@pytest.mark.slow
def test_sbc_on_cluster_same_ranks_20(client):
    from bayes_sdm.sbc import run_sbc

    cfg = _sbc_config(20)
    assert run_sbc(cfg).ranks.equals(run_sbc(cfg, client=client).ranks)


def test_worker_killed_mid_batch_every_result(client, tmp_path):
    """Eight exact fits as tasks; one worker process is killed while they run; the nanny
    restarts it, Dask reschedules its tasks, and every fit comes back with the draws of an
    undisturbed run."""
    from bayes_sdm.distributed.batch import fit_specs
    from bayes_sdm.spec import DataSpec, ModelSpec, PriorSpec, SamplerSpec

    specs = {f"{m}-{fe}": ModelSpec(model=m, fe=fe, priors=PriorSpec.preset("flat"),
                                    sampler=SamplerSpec(kind="exact", draws=200, chains=2,
                                                        seed=3),
                                    data=DataSpec(dataset="cigar"))
             for m in ("sdm", "sar", "sem", "sdem") for fe in ("twoway", "unit")}
    ref = fit_specs(client, specs, out=tmp_path / "grid")
    assert ref.ok and sorted(os.listdir(tmp_path / "grid")) == sorted(specs)
    assert sorted(os.listdir(tmp_path / "grid" / "sdm-twoway")) == [
        "diagnostics.json", "effects.csv", "posterior.nc", "summary.csv"]
    pids = client.run(os.getpid)
    addr, victim = next(iter(pids.items()))
    killed = {}

    def kill():
        # kill the victim as soon as it is running one of the batch's fits (a fixed delay
        # raced the batch: on a fast machine all eight fits finished within it)
        deadline = time.perf_counter() + 60
        while not client.processing().get(addr) and time.perf_counter() < deadline:
            time.sleep(0.005)
        os.kill(victim, signal.SIGKILL)
        killed["t"] = time.perf_counter()

    t0 = time.perf_counter()
    th = threading.Thread(target=kill)
    th.start()
    again = fit_specs(client, specs)
    th.join()
    assert again.ok, again.summary()
    assert killed["t"] - t0 < again.wall_s  # the kill happened while the batch ran
    client.wait_for_workers(2, timeout=60)
    assert victim not in client.run(os.getpid).values()
    for name in specs:
        np.testing.assert_array_equal(again.results[name].idata["posterior"]["beta"].values,
                                      ref.results[name].idata["posterior"]["beta"].values)


def test_failed_fit_reported_by_name(client):
    from bayes_sdm.distributed.batch import fit_specs
    from bayes_sdm.spec import DataSpec, ModelSpec, PriorSpec, SamplerSpec

    good = ModelSpec(model="sar", priors=PriorSpec.preset("flat"),
                     sampler=SamplerSpec(kind="exact", draws=100, chains=1),
                     data=DataSpec(dataset="cigar"))
    bad = good.copy()
    bad.data.x = ["logp", "no_such_column"]
    res = fit_specs(client, {"good": good, "bad": bad})
    assert list(res.results) == ["good"] and list(res.failures) == ["bad"]
    assert res.failures["bad"].error == "InputError"
    assert "no_such_column" in res.failures["bad"].message


def test_ppc_moran_chunks_equal_single_process(client):
    """Replicated panels (here random ones; the check is of the chunking) through
    residual_moran_draws in one process and in 3 tasks: the same rows."""
    import xarray as xr

    from bayes_sdm import api
    from bayes_sdm.datasets import load_dataset
    from bayes_sdm.distributed.batch import ppc_moran_on
    from bayes_sdm.plots import residual_moran_draws
    from bayes_sdm.spec import PriorSpec, SamplerSpec

    ds = load_dataset("cigar")
    prep = api.prepare(ds.panel(), ds.weights, "sdm", "twoway")
    res = api.fit(prep, sampler=SamplerSpec(kind="exact", draws=10, chains=2, seed=1),
                  priors=PriorSpec.preset("flat"), progressbar=False)
    post = res.idata["posterior"].to_dataset()
    p = prep.panel
    rng = np.random.default_rng(0)
    y_rep = xr.DataArray(p.y[None, None] + rng.standard_normal((2, 10, p.T, p.N)),
                         dims=("chain", "draw", "time", "unit"),
                         coords={"chain": post["chain"].values, "draw": post["draw"].values,
                                 "time": list(p.times), "unit": list(p.units)})
    a = residual_moran_draws(prep, post, y_rep)
    b = ppc_moran_on(client, prep, post, y_rep, chunks=3)
    np.testing.assert_allclose(b[0], a[0], rtol=1e-12, atol=1e-15)  # BLAS blocking differs
    np.testing.assert_allclose(b[1], a[1], rtol=1e-12, atol=1e-15)


def test_cluster_argument_forms():
    from bayes_sdm.distributed.cluster import parse_cluster
    from bayes_sdm.spec import ModelSpec

    assert parse_cluster("local:3") == ("local", 3)
    assert parse_cluster("tcp://10.0.0.1:8786") == ("address", "tcp://10.0.0.1:8786")
    for bad in ("local:0", "local", "http://x:1", "3"):
        with pytest.raises(InputError, match="cluster"):
            parse_cluster(bad)
    spec = ModelSpec.from_dict({"cluster": "local:2"})
    assert spec.cluster == "local:2" and spec.hash() == ModelSpec().hash()
    with pytest.raises(InputError, match="cluster"):
        ModelSpec.from_dict({"cluster": "lokal:2"})
    assert "cluster" not in ModelSpec().to_dict()


def test_cli_out_of_core(tmp_path, capsys):
    """fit_region.py --data <Parquet folder> --cluster local:1: the files of an in-memory fit;
    without --cluster a partitioned dataset is refused (exit 2, naming the remedy)."""
    from bayes_sdm.cli import main

    write_panel(tmp_path / "ds", n=120, t=4)
    args = ["--data", str(tmp_path / "ds"), "--unit", "id", "--time", "year", "--y", "y",
            "--x", "x1", "x2", "--weights", "knn:4:cx,cy", "--sampler", "exact", "--draws",
            "300", "--chains", "2", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "no")]) == 2
    assert "--cluster" in capsys.readouterr().err
    code = main([*args, "--cluster", "local:1", "--out", str(tmp_path / "out")])
    assert code in (0, 1)
    assert {"posterior.nc", "summary.csv", "effects.csv", "diagnostics.json"} <= set(
        os.listdir(tmp_path / "out"))


def test_no_dask_without_a_cluster():
    """Importing bayes_sdm (and its commands) imports no Dask; a fit without a cluster imports
    neither ``distributed`` nor ``bayes_sdm.distributed``.  (xarray itself imports
    ``dask.array`` when it wraps an array and Dask is installed -- its duck-array detection --
    so a fit may show ``dask.array`` in ``sys.modules`` with the extra installed.)"""
    code = (
        "import sys\n"
        "import bayes_sdm, bayes_sdm.cli, bayes_sdm.selection, bayes_sdm.sbc, bayes_sdm.api\n"
        "from bayes_sdm import api, load_dataset\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')]\n"
        "from bayes_sdm.spec import SamplerSpec, PriorSpec\n"
        "ds = load_dataset('cigar')\n"
        "p = api.prepare(ds.panel(), ds.weights, 'sdm', 'twoway')\n"
        "api.fit(p, sampler=SamplerSpec(kind='exact', draws=50, chains=1),"
        " priors=PriorSpec.preset('flat'), progressbar=False)\n"
        "from bayes_sdm.cli import main\n"
        "assert main(['--dataset', 'cigar', '--ml-only', '--quiet', '--out', sys.argv[1]]) == 0\n"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'distributed'"
        " or m.startswith('bayes_sdm.distributed')]\n"
        "print('IMPORTED', bad)\n"
        "sys.exit(1 if bad else 0)\n")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-c", code, os.path.join(tmp, "o")], cwd=ROOT,
                             capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


# ----------------------------------------------------------------------------- memory
def _memory_limited_run(tmp_path, n, t, k, limit_mb):
    """A Parquet panel processed on 2 workers each limited to ``limit_mb``; returns the
    in-memory path's array bytes, the workers' peak RSS and the statistics' error."""
    import resource

    from bayes_sdm.distributed.cluster import connect
    from bayes_sdm.distributed.stats import ParquetPanel, parquet_stats

    rng = np.random.default_rng(5)
    coords = rng.uniform(size=(n, 2))
    w = knn(coords, tuple(range(n)), 4)
    folder = tmp_path / "big"
    folder.mkdir()
    for s in range(t):
        cols = {"id": np.arange(n), "year": np.full(n, 2000 + s), "y": rng.standard_normal(n)}
        for j in range(k):
            cols[f"x{j + 1}"] = rng.standard_normal(n)
        pd.DataFrame(cols).to_parquet(folder / f"p{s}.parquet", index=False)
    ncol = 2 + 3 * k
    # what the in-memory path holds at once: the long table, the Panel (y, X), the raw and the
    # demeaned transformed columns Z (likelihood.sufficient_stats)
    in_memory = n * t * 8 * ((3 + k) + (1 + k) + 2 * ncol)
    with connect("local:2", memory_limit=f"{limit_mb}MiB", quiet=True) as c:
        st, meta = parquet_stats(c, ParquetPanel(str(folder), "id", "year", "y",
                                                 tuple(f"x{j + 1}" for j in range(k))),
                                 w, "twoway", with_hash=False)
        peaks = c.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        limits = [wi["memory_limit"] for wi in c.scheduler_info()["workers"].values()]
    return in_memory, peaks, limits, st, meta


@pytest.mark.slow
def test_memory_limited_200k_by_10(tmp_path):
    """N = 200,000 x T = 10 (K = 10: Z has 32 columns): every worker is limited to 640 MiB,
    under half of the 1.41 GB of arrays the in-memory path holds (long table, Panel, Z raw and
    demeaned); the statistics come back."""
    in_mem, peaks, limits, st, meta = _memory_limited_run(tmp_path, 200_000, 10, 10, 640)
    assert all(lim <= 640 * 2**20 for lim in limits)
    assert max(limits) < in_mem / 2
    assert all(p < 640 for p in peaks.values())
    assert (meta.N, meta.T) == (200_000, 10) and np.all(np.isfinite(st.gram))


@pytest.mark.slow
def test_memory_limited_small(tmp_path):
    """The same logic at N = 60,000 x T = 10 with K = 12 (Z: 38 columns; the in-memory path's
    arrays: 476 MiB): workers limited to 400 MiB (a bare worker with the numerics loaded takes
    about 250 MiB; measured peaks 378 MiB), each holding one period and one accumulator.  The
    default tier cannot go far below the panel: the worker's own baseline dominates at this
    size; the slow test does it at 200,000 x 10."""
    in_mem, peaks, limits, st, meta = _memory_limited_run(tmp_path, 60_000, 10, 12, 400)
    assert all(lim <= 400 * 2**20 for lim in limits)
    assert all(p < 400 for p in peaks.values())
    assert (meta.N, meta.T) == (60_000, 10) and np.all(np.isfinite(st.gram))


@pytest.mark.slow
def test_study_bayesian_fits_as_tasks_equal_in_process(client):
    """replicate_study --cluster: the pooled, separate-regional and hierarchical fits run as
    three Dask tasks and give the draws of the in-process fits (same seeds).  Slow tier (about
    a minute); it failed once in its first four runs, for a reason that was not captured."""
    from bayes_sdm.datasets import load_dataset
    from bayes_sdm.panel import panel_from_frame
    from bayes_sdm.spec import ModelSpec
    from bayes_sdm.study.compute import compute_bayes
    from bayes_sdm.weights import economic_distance

    f = load_dataset("synthetic_ua").frame
    keep = [c for _, g in f.groupby("region") for c in sorted(g.city.unique())[:8]]
    sub = f[f.city.isin(keep) & (f.year <= 2007)].reset_index(drop=True)
    x = ["mar", "jacobs"]
    w = economic_distance(sub.groupby("city").gdp_pc.mean())
    panel = panel_from_frame(sub, "city", "year", "resi", x, units=w.ids, unit_cols=["region"])
    regions = panel.unit_info["region"].astype(str)
    spec = ModelSpec(model="sdm", fe="twoway")
    kw = dict(draws=30, tune=30, chains=1, seed=11)
    a = compute_bayes(panel, w, regions, spec.copy(), **kw)
    b = compute_bayes(panel, w, regions, spec.copy(), **kw, client=client)
    for part in ("pooled", "separate", "hierarchical"):
        pa, pb = getattr(a, part)["posterior"], getattr(b, part)["posterior"]
        np.testing.assert_array_equal(pa["beta"].values, pb["beta"].values)
