# Cadenza: `make demo` and `make test` set everything up on a fresh machine.
#
# torch is installed first and pinned to the local CPU wheel: an unpinned
# torch (asked for by lightning or transformers) would pull a multi-GB CUDA build.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
TORCH := torch==2.13.0
NODEPS := tinysoundfont==0.3.7 torchcrepe==0.0.24

.PHONY: setup demo test test-fast lint bench docs clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH)
	$(PIP) install --quiet -e '.[all,dev]'
	# Without their dependencies: tinysoundfont's pyaudio needs PortAudio headers
	# (only its live playback uses it); torchcrepe's torchaudio does not load
	# with this torch (only its audio loader uses it).
	$(PIP) install --quiet --no-deps $(NODEPS)
	touch $(STAMP)

demo: setup
	$(VENV)/bin/cadenza demo --out demo-output

# One torch thread a test worker: two workers on two cores, each with torch's default threads,
# contend so badly that a small training test ran 20x slower (77 s against 3.7 s).
test: setup
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n 2 --dist loadfile

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks scripts

test-fast: setup
	$(PY) -m pytest -q -x -m "not slow"

bench: setup
	$(PY) benchmarks/run.py

# The tutorials (docs/tutorials/*.py, jupytext) executed and rendered with the docs into site/
# (mkdocs; open site/index.html from the disk, offline). A few minutes on a laptop CPU.
DOCS_STAMP := $(VENV)/.installed-docs

$(DOCS_STAMP): $(STAMP)
	$(PIP) install --quiet -e '.[all,docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(PY) scripts/build_tutorials.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache .test-cache site build/docs
