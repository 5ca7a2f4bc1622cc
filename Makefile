# Two entry points a new user needs: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
# Test processes (pytest-xdist); each test file runs whole in one of them, so its fixtures are built once.
WORKERS ?= 2
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/edgedepth demo --out runs/demo $(ARGS)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist loadfile

# Everything but the tests marked slow (real conversions, training) or e2e (whole CLI chains): under a minute.
test-fast: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist loadfile -m "not slow and not e2e"

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_student.py --out runs/bench

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
