"""Stage progress on stderr: one line per stage with its time (the user layer's reporter).

A run is a sequence of stages -- reading the data, building W, the log-determinant, the
sufficient statistics, compiling and sampling, the effects, the predictive checks, writing --
and a user who waits wants to know which one is running and how long it will take.
:class:`Stages` prints, for each stage, ``  <label> ... <seconds> s`` on one line (the label
when the stage starts, the time when it ends), an estimate of the duration where one is known
(``about 26 s``), and a last line with the whole process's time beside the fit's.

Numerics modules never print: they take an optional callback (``notify``) that the user layer
points at :meth:`Stages.note`; :mod:`bayes_sdm.api` and :mod:`bayes_sdm.cli` open the stages.
``Stages(quiet=True)`` records the times and prints nothing (``--quiet``, and the Python API
unless ``progress=True`` is passed).

>>> stages = Stages()                                   # doctest: +SKIP
>>> with stages.stage("log-determinant: eigenvalues of W", estimate=26.0):   # doctest: +SKIP
...     ld = make_logdet(w)
  log-determinant: eigenvalues of W (about 26 s) ... 24.8 s
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager

_IMPORTED_AT = time.perf_counter()


def process_seconds() -> float:
    """Seconds since this process started (Linux ``/proc``; elsewhere since this module was
    imported, which the package does early)."""
    try:
        with open("/proc/self/stat") as fh:
            start_ticks = float(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _IMPORTED_AT


def _fmt_seconds(s: float) -> str:
    if s < 10:
        return f"{s:.1f} s"
    if s < 120:
        return f"{s:.0f} s"
    return f"{s / 60:.1f} min"


class Stages:
    """Reporter of a run's stages (module docstring).

    Parameters
    ----------
    quiet : print nothing (times are still recorded in :attr:`times`)
    stream : where to print (default ``sys.stderr``, looked up at each write)

    Attributes
    ----------
    times : seconds per stage label, in order (a label met twice accumulates)
    """

    def __init__(self, quiet: bool = False, stream=None):
        self.quiet = quiet
        self._stream = stream
        self.times: dict[str, float] = {}
        self._open: str | None = None  # the label of a stage whose line awaits its time
        self._depth = 0

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stderr

    @property
    def on_terminal(self) -> bool:
        """Whether the reporter prints to a terminal (where progress bars draw)."""
        try:
            return not self.quiet and self.stream.isatty()
        except (AttributeError, ValueError):
            return False

    def _write(self, text: str) -> None:
        if self.quiet:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed stream must not fail the run
            pass

    def _close_line(self) -> None:
        if self._open is not None:
            self._write("\n")
            self._open = None

    @contextmanager
    def stage(self, label: str, estimate: float | None = None, own_output: bool = False):
        """Time the block as one stage.

        Parameters
        ----------
        label : what the stage does (``"sampling (nutpie-pyfunc, 4 x 1000 draws)"``)
        estimate : expected seconds, shown as ``about N s`` when at least one second
        own_output : the stage prints on its own (a sampler's progress bar): the label line is
            ended at once and the time comes on a line of its own
        """
        self._close_line()  # a stage inside a stage: the outer line is ended first
        est = f" (about {_fmt_seconds(estimate)})" if estimate is not None and estimate >= 1 \
            else ""
        indent = "  " * (self._depth + 1)
        self._write(f"{indent}{label}{est} ...")
        if own_output:
            self._write("\n")
        else:
            self._open = label
        self._depth += 1
        t0 = time.perf_counter()
        try:
            yield self
        except BaseException:
            self._depth -= 1
            if self._open == label:
                self._write(" stopped\n")
                self._open = None
            raise
        dt = time.perf_counter() - t0
        self._depth -= 1
        self.times[label] = self.times.get(label, 0.0) + dt
        if self._open == label:
            self._write(f" {_fmt_seconds(dt)}\n")
            self._open = None
        else:
            self._write(f"{indent}{label}: {_fmt_seconds(dt)}\n")

    def note(self, message: str) -> None:
        """A message during a stage (a cost warning from the numerics), on its own line."""
        self._close_line()
        self._write(f"{'  ' * (self._depth + 1)}{message}\n")

    def finish(self, message: str) -> None:
        """The last line: ``message`` and the whole process's time."""
        self._close_line()
        self._write(f"{message} (whole process {_fmt_seconds(process_seconds())})\n")


def as_stages(progress) -> Stages:
    """``None``/``False`` -> a silent reporter, ``True`` -> one on stderr, a :class:`Stages`
    -> itself."""
    if isinstance(progress, Stages):
        return progress
    return Stages(quiet=not progress)
