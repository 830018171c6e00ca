# `make demo` sets everything up in .venv and runs the default job; `make test` runs the test suite.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test clean

$(BIN)/activate:
	$(PY) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/activate pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt torch torchvision
	# [ray]: the --ray paths are tested too (adds ~40 s and ~0.5 GB: Ray, pyarrow, pandas; docs/scale.md).
	$(BIN)/pip install -q -c constraints.txt -e ".[test,ray]"
	# mediapipe 0.10.21 pulls opencv-contrib-python and jax; it needs neither for FaceMesh, so no deps.
	$(BIN)/pip install -q --no-deps mediapipe==0.10.21
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/laanet demo --out demo-output

test: install
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) demo-output
