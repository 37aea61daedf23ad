#!/usr/bin/env python
"""Model selection for a spatial panel: Moran's I, LM / LR / Wald tests and posterior model
probabilities; see `python scripts/select_model.py --help`.

Thin wrapper: the logic lives in bayes_sdm.selection so that tests can call it.  With no data
arguments it runs on the bundled synthetic study panel.  Exit codes: 0 ok, 2 bad input.
"""

import sys

from bayes_sdm.selection import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
