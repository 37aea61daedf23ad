"""``python -m bayes_sdm.sbc``: simulation-based calibration (see :mod:`bayes_sdm.sbc`)."""

import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
