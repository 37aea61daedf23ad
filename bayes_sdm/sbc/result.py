"""The result of an SBC run: ranks, truths, uniformity table, verdict, files."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .core import SBCConfig
from .uniformity import uniformity_table


@dataclass
class SBCResult:
    """Ranks and uniformity of one run."""

    config: SBCConfig
    ranks: pd.DataFrame
    truth: pd.DataFrame
    divergences: np.ndarray
    compile_s: float
    wall_s: float
    _uniformity: pd.DataFrame | None = None
    #: simulations whose fit failed on a cluster (left out of the ranks)
    failed: list = field(default_factory=list)

    def uniformity(self) -> pd.DataFrame:
        if self._uniformity is None:
            c = self.config
            self._uniformity = uniformity_table(self.ranks, c.n_rank_draws, c.bins, c.alpha,
                                                c.seed)
        return self._uniformity

    @property
    def passed(self) -> bool:
        """Calibrated: no quantity's smallest p-value under alpha / (quantities x tests)."""
        return bool(self.uniformity()["passed"].all())

    def to_dict(self) -> dict:
        u = self.uniformity()
        cfg = asdict(self.config)
        return {
            "label": self.config.label, "passed": self.passed, "config": cfg,
            "n_sims": int(len(self.ranks)), "compile_s": round(self.compile_s, 3),
            "wall_s": round(self.wall_s, 3),
            "s_per_sim": round((self.wall_s - self.compile_s) / max(len(self.ranks), 1), 4),
            "sims_with_divergences": int((self.divergences > 0).sum()),
            "divergences": int(self.divergences.sum()),
            "min_p": float(u["p_min"].min()),
            "failed_quantities": u.loc[~u["passed"], "quantity"].tolist(),
            **({"failed_simulations": list(self.failed)} if self.failed else {}),
            "uniformity": json.loads(u.to_json(orient="records")),
        }

    def write(self, out_dir: str | Path, plots: bool = True) -> list[Path]:
        """ranks.csv, truth.csv, uniformity.csv, sbc.json and the rank-ECDF plots."""
        from ..io import write_csv, write_json

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_csv(out / "ranks.csv", self.ranks)
        write_csv(out / "truth.csv", self.truth)
        write_csv(out / "uniformity.csv", self.uniformity())
        write_json(out / "sbc.json", self.to_dict())
        paths = [out / "ranks.csv", out / "truth.csv", out / "uniformity.csv", out / "sbc.json"]
        if plots:
            from .plots import plot_rank_ecdf

            paths += plot_rank_ecdf(self, out)
        return paths
