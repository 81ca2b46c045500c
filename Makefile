# Two entry points (see README.md):
#   make run   build the data set and write its preview picture
#   make test  run every test
# Each creates the virtual environment .venv/ first when it is missing or out of date.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(abspath $(VENV)/bin)
READY := $(VENV)/.ready
# nbgrader runs the `alembic` executable: the environment's bin/ must be on PATH.
export PATH := $(BIN):$(PATH)

.PHONY: run test

$(READY): requirements.txt pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

run: $(READY)
	$(BIN)/python -m roadscenes generate --preview data/preview.png
	$(BIN)/python -m roadscenes check data

test: $(READY)
	$(BIN)/python -m pytest
