"""Exceptions raised by bayes_sdm.

Every user-facing entry point raises :class:`InputError` for bad input, with a message that
names the problem and where it is (column, unit, period).  The CLI maps it to exit code 2.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input: the message says what is wrong and where."""


class DiagnosticsFailed(RuntimeError):
    """A model was fitted but its convergence diagnostics failed their thresholds."""
