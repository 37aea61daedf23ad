#!/usr/bin/env python
"""Fit a Bayesian spatial Durbin panel; see `python scripts/fit_region.py --help`.

Thin wrapper: the logic lives in bayes_sdm.cli so that tests can call it.
"""

import sys

from bayes_sdm.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
