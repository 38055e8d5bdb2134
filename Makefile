# `make test` sets everything up from nothing but Python and runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Numba's compile cache lives inside the checkout so a second run loads, not compiles.
export NUMBA_CACHE_DIR := $(CURDIR)/.numba_cache

.PHONY: setup test clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

test: setup
	$(PY) -m pytest tests

clean:
	rm -rf $(VENV) .numba_cache .hypothesis .pytest_cache *.egg-info
