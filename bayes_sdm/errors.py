"""Exceptions raised by bayes_sdm, and the command-line exit code of each.

=====================  ====  ==========================================================
exception              exit  meaning
=====================  ====  ==========================================================
(none)                 0     fitted; diagnostics passed
:class:`DiagnosticsFailed`  1  fitted, outputs written, but the convergence diagnostics
                             failed their thresholds (raised by :mod:`bayes_sdm.diagnostics`)
:class:`InputError`    2     bad input: the message names the problem and where (file,
                             column, unit, period, option); nothing is written
:class:`NumericalError`  3   a numerical failure (non-finite likelihood, a singular
                             information matrix at the optimum, a boundary optimum, ...):
                             the message says what failed and where
any other exception    3     an internal error: one line on stderr, the traceback in a log
:class:`Interrupted`   130   SIGINT / SIGTERM: nothing that could pass for a result is left
=====================  ====  ==========================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_DIAGNOSTICS = 1
EXIT_INPUT = 2
EXIT_NUMERICAL = 3
EXIT_INTERRUPTED = 130


class InputError(ValueError):
    """Bad user input: the message says what is wrong and where."""

    exit_code = EXIT_INPUT


class NumericalError(RuntimeError):
    """A numerical failure of a valid input: the message says what failed and where."""

    exit_code = EXIT_NUMERICAL


class DiagnosticsFailed(RuntimeError):
    """A model was fitted but its convergence diagnostics failed their thresholds.

    ``diagnostics`` is the :class:`~bayes_sdm.diagnostics.Diagnostics` that failed.
    """

    exit_code = EXIT_DIAGNOSTICS

    def __init__(self, message: str, diagnostics=None):
        super().__init__(message)
        self.diagnostics = diagnostics


class Interrupted(BaseException):
    """A run was interrupted (SIGINT / SIGTERM); ``stage`` names what was running."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, stage: str = "the run"):
        super().__init__(f"interrupted during {stage}")
        self.stage = stage
