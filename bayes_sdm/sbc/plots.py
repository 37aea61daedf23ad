"""Rank-ECDF-difference plots of an SBC run (Saeilynoja, Burkner & Vehtari 2022)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .uniformity import ECDFBand, ecdf_band, pit_values

if TYPE_CHECKING:
    from .result import SBCResult


def _band_for(res: SBCResult) -> ECDFBand:
    c = res.config
    return ecdf_band(len(res.ranks), alpha=c.alpha, n_grid=min(c.n_rank_draws + 1, 100),
                     seed=c.seed + 7)


def _draw_ecdf_diff(ax, pit: np.ndarray, band: ECDFBand, title: str, p: float,
                    passed: bool, alpha: float = 0.01) -> None:
    u = np.sort(pit)
    grid = np.concatenate([[0.0], band.z, [1.0]])
    f = np.searchsorted(u, grid, side="right") / band.n
    ax.fill_between(band.z, band.lower - band.z, band.upper - band.z, step="mid",
                    color="0.85", label=f"{100 * (1 - alpha):.0f}% simultaneous band")
    ax.step(grid, f - grid, where="post", color="C0" if passed else "C3", lw=1.4)
    ax.axhline(0.0, color="0.4", lw=0.8, ls="--")
    ax.set_title(f"{title}\np_min={p:.2g}", fontsize=9)
    ax.tick_params(labelsize=8)


def plot_rank_ecdf(res: SBCResult, out_dir: str | Path) -> list[Path]:
    """One rank-ECDF-difference plot per quantity (ECDF of the PIT minus the uniform CDF, with
    the simultaneous band) and one overview grid; returns the PNG paths."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    u = res.uniformity().set_index("quantity")
    band = _band_for(res)
    c = res.config
    paths = []
    qs = list(res.ranks.columns)
    for j, q in enumerate(qs):
        pit = pit_values(res.ranks[q].to_numpy(), c.n_rank_draws, seed=c.seed + j)
        fig, ax = plt.subplots(figsize=(4.2, 3.2), layout="constrained")
        _draw_ecdf_diff(ax, pit, band, f"{c.label}: {q}", u.loc[q, "p_min"], u.loc[q, "passed"],
                        c.alpha)
        ax.legend(loc="lower center", fontsize=7, frameon=False)
        ax.set_xlabel("fractional rank", fontsize=9)
        ax.set_ylabel("ECDF - uniform CDF", fontsize=9)
        safe = q.replace("[", "_").replace("]", "").replace(", ", "_").replace(" ", "")
        p = out / f"rank_ecdf_{safe}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    ncol = 4
    nrow = int(np.ceil(len(qs) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow), sharey=True,
                             layout="constrained", squeeze=False)
    for j, q in enumerate(qs):
        pit = pit_values(res.ranks[q].to_numpy(), c.n_rank_draws, seed=c.seed + j)
        _draw_ecdf_diff(axes.flat[j], pit, band, q, u.loc[q, "p_min"], u.loc[q, "passed"],
                        c.alpha)
    for ax in list(axes.flat)[len(qs):]:
        ax.set_visible(False)
    verdict = "calibrated" if res.passed else "NOT calibrated"
    fig.suptitle(f"SBC {c.label}: {len(res.ranks)} simulations, N={c.N}, T={c.T}, "
                 f"L={c.n_rank_draws} - {verdict}", fontsize=11)
    fig.supxlabel("fractional rank", fontsize=9)
    fig.supylabel("ECDF - uniform CDF", fontsize=9)
    p = out / "rank_ecdf_all.png"
    fig.savefig(p, dpi=100)
    plt.close(fig)
    paths.append(p)
    return paths
