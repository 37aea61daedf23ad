"""Interrupting and killing a long fit (slow tier): the output folder is never left holding an
interrupted run's files, the command exits 130 with one line, and a later run cleans up after
a killed one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _start(out: Path, sampler: str) -> subprocess.Popen:
    cmd = [sys.executable, str(ROOT / "scripts" / "fit_region.py"), "--dataset", "cigar",
           "--draws", "40000", "--tune", "1000", "--chains", "4", "--sampler", sampler,
           "--no-progress", "--out", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)


def _wait_for_partial(parent: Path, name: str, proc, timeout: float = 240.0) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if list(parent.glob(f".{name}.*.partial")) and proc.poll() is None:
            time.sleep(8.0)  # well into compilation / sampling
            return
        if proc.poll() is not None:
            pytest.fail(f"the fit ended early: {proc.communicate()}")
        time.sleep(0.5)
    pytest.fail("the fit never started writing")


@pytest.mark.parametrize("sampler", ["pymc", "nutpie-pyfunc"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_leaves_no_result(tmp_path, sampler, sig):
    from bayes_sdm.errors import InputError
    from bayes_sdm.result import load_fit

    out = tmp_path / "run"
    proc = _start(out, sampler)
    _wait_for_partial(tmp_path, "run", proc)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 130, (stdout, stderr)
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not out.exists()
    assert not list(tmp_path.glob(".run.*"))
    with pytest.raises(InputError):
        load_fit(out / "posterior.nc")


def test_kill_leaves_the_previous_run_and_is_cleaned_up(tmp_path):
    out = tmp_path / "run"
    first = subprocess.run([sys.executable, str(ROOT / "scripts" / "fit_region.py"), "--dataset",
                            "cigar", "--sampler", "exact", "--quiet", "--out", str(out)],
                           cwd=ROOT, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    proc = _start(out, "pymc")
    _wait_for_partial(tmp_path, "run", proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    stale = list(tmp_path.glob(".run.*.partial"))
    assert stale  # a killed process cannot clean up ...
    again = subprocess.run([sys.executable, str(ROOT / "scripts" / "fit_region.py"), "--dataset",
                            "cigar", "--sampler", "exact", "--quiet", "--out", str(out)],
                           cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert not list(tmp_path.glob(".run.*.partial"))  # ... the next run does
