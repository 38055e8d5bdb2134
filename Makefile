# `make test` sets everything up from nothing but Python and runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Numba's compile cache lives inside the checkout so a second run loads, not compiles.
# Numba only notices edits to a kernel's own file, so the folder is keyed on
# the kernels' sources: editing a shared helper starts a fresh cache.
KERNELS_HASH := $(shell cat kernels/*.py kernels/cuda/*.py 2>/dev/null | cksum | cut -d' ' -f1)
export NUMBA_CACHE_DIR := $(CURDIR)/.numba_cache/$(KERNELS_HASH)

.PHONY: setup test demo clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

# the demo needs only tinylm and matplotlib (for out/demo/loss.png), not the test tools
$(VENV)/.installed-demo: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[plot]"
	touch $@

# README's main command: a character-level GPT trained on the built-in corpus (about 3 minutes)
demo: $(VENV)/.installed-demo
	$(VENV)/bin/tinylm train --out out/demo

test: setup
	$(PY) -m pytest tests
	# the CUDA kernels and the cuda device, under Numba's CUDA simulator, in a process of their own
	NUMBA_ENABLE_CUDASIM=1 $(PY) -m pytest tests/test_kernels.py tests/test_cuda_*.py

clean:
	rm -rf $(VENV) .numba_cache .hypothesis .pytest_cache *.egg-info out
