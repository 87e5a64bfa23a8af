# The four commands: make demo, make test, make bench, make lint.
# Each sets up what it needs (a virtualenv with the package and its tools) on a fresh machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test bench lint setup clean postgresql pango chromium wrk

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

# `make demo` ends by serving the demo operation (Ctrl-C stops it); `make demo SERVE=0` does not.
SERVE ?= 1
PORT  ?= 8000

demo: $(STAMP) pango
	PATH="$(CURDIR)/$(BIN):$$PATH" SERVE=$(SERVE) PORT=$(PORT) bash scripts/demo.sh demo-out

test: $(STAMP) postgresql pango chromium
	$(BIN)/python -m pytest

# The tests start their own throwaway PostgreSQL server from Debian's package (tests/postgres.py);
# install it when no version is there (as root, as on CI).
postgresql:
	@if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then \
		echo "PostgreSQL is missing: installing Debian's postgresql package for the tests"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends postgresql; \
	fi

# The PDF sitrep (WeasyPrint) needs Pango and a font; the browser tests need Debian's Chromium
# (Playwright drives /usr/bin/chromium; it never downloads a browser). Installed when missing.
pango:
	@if ! ldconfig -p | grep -q 'libpangoft2-1.0.so.0' || ! fc-list 2>/dev/null | grep -qi dejavu; then \
		echo "Pango or the DejaVu fonts are missing: installing Debian's packages for the PDF sitrep"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
			libpango-1.0-0 libpangoft2-1.0-0 fontconfig fonts-dejavu-core; \
	fi

chromium:
	@if ! test -x /usr/bin/chromium; then \
		echo "Chromium is missing: installing Debian's chromium package for the browser tests"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends chromium; \
	fi

bench: $(STAMP) postgresql wrk
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	$(BIN)/python bench/run.py --out docs/benchmarks.md
	$(BIN)/python bench/run.py --only fuzz --workdir bench-out
	$(BIN)/python bench/server.py --out docs/benchmarks.md --fuzz bench-out/fuzz.json

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy

clean:
	rm -rf $(VENV) demo-out bench-out test-artifacts .pytest_cache .mypy_cache .ruff_cache .hypothesis

# The server benchmark also loads the server from wrk, a client in C that leaves the cores to
# the server (bench/server.py, bench/register.lua). Installed when missing.
wrk:
	@if ! command -v wrk >/dev/null 2>&1; then \
		echo "wrk is missing: installing Debian's wrk package for the server benchmark"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends wrk; \
	fi
