# bayes_sdm -- set-up, run, test.  `make run` and `make test` work on a fresh clone.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# A Python >= 3.12: pyenv's .python-version first, then python3.12, python3.13, python3.
PYTHON_BOOT := $(shell \
  for c in "$$(command -v pyenv >/dev/null 2>&1 && pyenv which python 2>/dev/null)" \
           "$$(command -v pyenv >/dev/null 2>&1 && ls -d $$(pyenv root)/versions/$$(cat .python-version 2>/dev/null)*/bin/python 2>/dev/null | head -n1)" \
           python3.12 python3.13 python3; do \
    [ -n "$$c" ] || continue; \
    if command -v "$$c" >/dev/null 2>&1 && "$$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then \
      command -v "$$c"; break; fi; \
  done)

.PHONY: run test test-slow bench sbc lint venv clean help
help:
	@echo "make run        create .venv, install, fit the hierarchical seed-study spec on the bundled synthetic panel"
	@echo "make test       default test tier (fast);  make test-slow: long sampling / SBC / notebooks"
	@echo "make bench      benchmarks -> benchmarks/results.{csv,md};  make sbc: calibration"
	@echo "make lint       ruff"

$(STAMP): pyproject.toml constraints.txt
	@if [ -z "$(PYTHON_BOOT)" ]; then \
	  echo "error: bayes_sdm needs Python >= 3.12 (install it, e.g. 'pyenv install 3.12', or put python3.12 on PATH)" >&2; exit 1; fi
	@echo "using $(PYTHON_BOOT)"
	@[ -x $(PY) ] || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test,fast,dask]"
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(PY) scripts/fit_region.py --spec models/seed_study_regional.yaml $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(PY) benchmarks/run_all.py $(ARGS)

sbc: $(STAMP)
	$(PY) -m bayes_sdm.sbc $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check bayes_sdm scripts tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
