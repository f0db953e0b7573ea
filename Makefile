# `make run` and `make test` are the two commands a fresh clone needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-deps run test lint clean eval-faces bench-faces

install: $(STAMP) system-deps

# Debian packages: headless Chromium prints the case report to PDF (and the tests open the report
# in it); poppler-utils' pdftoppm renders PDF pages to PNG. Skipped when already there.
system-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v pdftoppm >/dev/null 2>&1; then \
		if command -v apt-get >/dev/null 2>&1; then \
			SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
			$$SUDO apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
				chromium poppler-utils fonts-dejavu-core; \
		else \
			echo "warning: install chromium and poppler-utils (pdftoppm) for PDF reports" >&2; \
		fi; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/imint demo --workspace ./imint-demo

test: install
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

eval-faces: install
	$(BIN)/imint eval faces ../shared/data/faces --json eval-faces.json
	$(BIN)/imint eval faces ../shared/data/faces-field --json eval-faces-field.json

clean:
	rm -rf $(VENV) imint-data imint-demo .pytest_cache

bench-faces: install
	$(BIN)/pip install -q --no-deps face_recognition==1.3.0
	$(BIN)/python benchmarks/faces.py --data ../shared/data/faces --json benchmarks/results/faces.json
