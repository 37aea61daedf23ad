"""Spec round trip, validation, and the netCDF save/load contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bayes_sdm.errors import InputError
from bayes_sdm.io import atomic_write, save_fit
from bayes_sdm.result import load_fit
from bayes_sdm.spec import ModelSpec, PriorSpec, SamplerSpec

ROOT = Path(__file__).resolve().parent.parent


def test_spec_yaml_round_trip(tmp_path):
    s = ModelSpec.from_yaml(ROOT / "models" / "seed_study.yaml")
    assert s.model == "sdm" and s.fe == "twoway" and s.data.x[1] == "jacobs"
    p = tmp_path / "s.yaml"
    p.write_text(s.to_yaml())
    s2 = ModelSpec.from_yaml(p)
    assert s2.to_dict() == s.to_dict() and s2.hash() == s.hash()


def test_all_bundled_specs_parse():
    for f in (ROOT / "models").glob("*.yaml"):
        ModelSpec.from_yaml(f)


def test_spec_rejects_unknown_fields_and_values():
    with pytest.raises(InputError, match="unknown spec field"):
        ModelSpec.from_dict({"modle": "sdm"})
    with pytest.raises(InputError, match="unknown model"):
        ModelSpec.from_dict({"model": "sdx"})
    with pytest.raises(InputError, match="prior for 'beta'"):
        ModelSpec.from_dict({"priors": {"beta": {"dist": "cauchy"}}})
    with pytest.raises(InputError, match="positive"):
        ModelSpec.from_dict({"priors": {"beta": {"scale": -1}}})


def test_prior_override_merges_with_defaults():
    s = ModelSpec.from_dict({"priors": {"beta": {"scale": 5.0}}})
    assert s.priors.beta == {"dist": "normal", "scale": 5.0, "mu": 0.0}
    assert PriorSpec.preset("flat").sigma["dist"] == "jeffreys"


def test_save_load_refuses_mismatch(tmp_path):
    import arviz as az

    dt = az.from_dict({"posterior": {"rho": np.zeros((2, 5))}})
    dt.attrs.update({"bayes_sdm_version": "x", "data_hash": "abc", "spec_hash": "def",
                     "spec": ModelSpec(sampler=SamplerSpec(chains=2, draws=5)).to_yaml()})
    save_fit(dt, tmp_path / "p.nc")
    assert load_fit(tmp_path / "p.nc", data_hash="abc", spec_hash="def").attrs["data_hash"] == \
        "abc"
    with pytest.raises(InputError, match="data hash"):
        load_fit(tmp_path / "p.nc", data_hash="zzz")
    with pytest.raises(InputError, match="spec hash"):
        load_fit(tmp_path / "p.nc", spec_hash="zzz")


def test_atomic_write_leaves_no_partial_file(tmp_path):
    def boom(p):
        Path(p).write_text("partial")
        raise RuntimeError("fail")

    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "out.csv", boom)
    assert list(tmp_path.iterdir()) == []


def test_options_that_would_be_ignored_are_refused():
    """Nothing silently dropped: random effects with dynamic:/variance:, and intercept: false
    with fixed effects (which hold their own intercept), are refused by name."""
    for kw in ({"dynamic": True}, {"variance": "period"}):
        with pytest.raises(InputError, match="fe: random is not implemented yet with dynamic"):
            ModelSpec(model="sar", fe="random", **kw).validate()
    with pytest.raises(InputError, match="intercept: false applies to fe: none"):
        ModelSpec(model="sar", fe="twoway", intercept=False).validate()
    ModelSpec(model="sar", fe="none", intercept=False).validate()
