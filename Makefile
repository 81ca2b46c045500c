# Two entry points (see README.md):
#   make run   the course loop: data, release, example submissions, grading, report
#   make test  run every test
#   make hub CLASS_LIST=class.csv   the course on a JupyterHub on this machine (README)
# Each creates the virtual environment .venv/ first when it is missing or out of date.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(abspath $(VENV)/bin)
READY := $(VENV)/.ready
# nbgrader runs the `alembic` executable: the environment's bin/ must be on PATH.
export PATH := $(BIN):$(PATH)

.PHONY: run test hub system-packages

# Debian packages the grader and its tests use: bubblewrap sandboxes graded kernels,
# PostgreSQL serves the multi-grader gradebook test, Chromium runs the browser tests
# (Playwright cannot download a browser here). Installed when missing and root.
SYSTEM_COMMANDS := bwrap:bubblewrap pg_ctlcluster:postgresql chromium:chromium
system-packages:
	@missing=""; for pair in $(SYSTEM_COMMANDS); do \
	  command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "warning: please install$$missing (apt-get install$$missing)"; fi; fi

# Installed by pip as an optional extra (jupyter-events asks for jsonschema[format-nongpl]) and
# never used here: on import it compiles a grammar, 1.2 CPU-seconds in every process that
# imports nbformat (each nbgrader command, each grading batch, each Jupyter server). Without
# it jsonschema skips checking the "iri" string format, which no schema of ours uses.
UNUSED_SLOW_IMPORTS := rfc3987-syntax

$(READY): requirements.txt pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip uninstall --quiet --yes $(UNUSED_SLOW_IMPORTS)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# JupyterHub's proxy, from npm (pinned), into the environment: `course hub` runs it from there.
PROXY := $(VENV)/proxy/node_modules/.bin/configurable-http-proxy
$(PROXY):
	@command -v npm >/dev/null || { echo "error: npm is needed for JupyterHub's proxy (apt-get install npm)"; exit 1; }
	npm install --silent --no-audit --no-fund --prefix $(VENV)/proxy configurable-http-proxy@5.3.0

run: $(READY) system-packages
	$(BIN)/python -m course run

test: $(READY) system-packages $(PROXY)
	$(BIN)/python -m pytest

CLASS_LIST ?= class.csv
hub: $(READY) system-packages $(PROXY)
	$(BIN)/python -m course hub --class-list $(CLASS_LIST)
