#!/usr/bin/env python
"""The seed study's five tables in one command: Moran's I, specification tests, SLM/SEM/SDM,
effects (ML and posterior), regions (separate fits and the hierarchy); see
`python scripts/replicate_study.py --help`.

Thin wrapper: the logic lives in bayes_sdm.study so that tests can call it.  With no data
arguments it runs on the bundled synthetic study panel.  Exit codes: 0 ok, 1 the tables were
written but a Bayesian fit's diagnostics failed, 2 bad input, 3 numerical failure, 130
interrupted.
"""

import sys

from bayes_sdm.study.command import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
