# labfree — two commands on a fresh machine:
#   make book   create .venv, install everything, build the HTML book with every chapter executed
#               (a rebuild re-executes only the chapters whose code, package or results changed)
#   make test   create .venv, install the development extras, run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

# torch: the pinned CUDA build that this offline machine serves from local files on x86_64 Linux;
# elsewhere (macOS, Arm, Colab-like machines) whatever build the package index offers.
ifeq ($(shell uname -sm),Linux x86_64)
TORCH ?= torch==2.14.1 torchvision==0.29.1
else
TORCH ?= torch torchvision
endif

# Caches shared by every process (umap's numba JIT, the generated datasets): one compile, one generation.
export NUMBA_CACHE_DIR ?= $(CURDIR)/.cache/numba
export LABFREE_DATA ?= $(CURDIR)/.cache/data
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: book test sync grade clean

$(VENV)/.base: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH)
	touch $@

# After installing, umap's numba code is compiled into the shared cache (about 30 s on one core; a
# few seconds when the cache already holds it), so that no notebook kernel compiles it.
COMPILE_UMAP := OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 \
	$(PY) -c "from labfree.metrics import compile_reducers; compile_reducers()"

$(VENV)/.book: $(VENV)/.base
	$(PIP) install -q -e '.[book]'
	$(COMPILE_UMAP)
	touch $@

$(VENV)/.dev: $(VENV)/.base
	$(PIP) install -q -e '.[dev]'
	$(COMPILE_UMAP)
	touch $@

# Chapters whose code, package or result files changed run first, two at a time, each kernel on one
# thread (OpenMP/BLAS pools too: idle spinning pool workers stalled torch for minutes), into
# jupyter-book's cache; the build then renders with warnings as errors (tools/book.py).
JOBS ?= 2
book: $(VENV)/.book
	$(PY) -m tools.book build --jobs $(JOBS)
	@echo "Book: $(CURDIR)/_build/html/index.html"

# Lint first (the package at 110 columns; the chapters, as notebooks, at 88), then two workers on
# two cores; each notebook kernel runs on one thread (tests/conftest.py).
test: $(VENV)/.dev
	$(PY) -m ruff check labfree tools tests
	$(PY) -m ruff check notebooks
	$(PY) -m pytest -n 2 --dist worksteal

# Re-pair every book/ source with its notebooks/ twin after editing (outputs stripped).
sync: $(VENV)/.dev
	$(PY) -m tools.pairing sync

# Grade a folder of submitted assignment notebooks offline (nbgrader): one CSV of points per part
# per student, feedback beside it; SUBMISSIONS/<student>/<file>.ipynb or SUBMISSIONS/<student>.ipynb.
# A demo folder: $(PY) -m tools.grade demo DIR [--assignment NAME].
# TIMEOUT bounds a whole notebook, CELL_TIMEOUT one cell: a cell that never ends is interrupted
# and the parts after it are still graded (the longest CI-profile cell takes ~20 s on one thread).
OUT ?= grades.csv
TIMEOUT ?= 300
CELL_TIMEOUT ?= 120
grade: $(VENV)/.dev
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=dir [OUT=grades.csv] [TIMEOUT=300] [CELL_TIMEOUT=120]"; exit 2; }
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1 \
		$(PY) -m tools.grade "$(SUBMISSIONS)" --out "$(OUT)" --timeout $(TIMEOUT) --cell-timeout $(CELL_TIMEOUT)

clean:
	rm -rf _build .pytest_cache
