# Two commands do all set-up on a fresh machine with only python3:
#   make demo   - runs the demo (writes into out/)
#   make test   - runs the test suite (make test-long: property tests at full size)
# Both create and use .venv/ at the repo root.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.kernex-installed

.PHONY: demo test test-long bench venv clean

# test workers (pytest-xdist); `make test PYTEST_WORKERS=0` runs in one process
PYTEST_WORKERS ?= auto

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,demo,bench]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal

# the property tests at their full example counts (make test runs 15% of them) and the tests marked `long`
test-long: $(STAMP)
	KERNEX_LONG=1 KERNEX_PROPERTY_SCALE=1 $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal

demo: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
