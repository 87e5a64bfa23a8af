# The four commands: make demo, make test, make bench, make lint.
# Each sets up what it needs (a virtualenv with the package and its tools) on a fresh machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test bench lint setup clean postgresql

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh demo-out

test: $(STAMP) postgresql
	$(BIN)/python -m pytest

# The tests start their own throwaway PostgreSQL server from Debian's package (tests/postgres.py);
# install it when no version is there (as root, as on CI).
postgresql:
	@if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then \
		echo "PostgreSQL is missing: installing Debian's postgresql package for the tests"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends postgresql; \
	fi

bench: $(STAMP) postgresql
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	$(BIN)/python bench/run.py --out docs/benchmarks.md
	$(BIN)/python bench/run.py --only fuzz --workdir bench-out
	$(BIN)/python bench/server.py --out docs/benchmarks.md --fuzz bench-out/fuzz.json

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy

clean:
	rm -rf $(VENV) demo-out bench-out .pytest_cache .mypy_cache .ruff_cache .hypothesis
