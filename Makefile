# `make run` and `make test` are the two commands a fresh clone needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-deps run test test-long lint clean eval-faces bench-faces vendor-web

DLIB_ONNX := src/imint/faces/dlib_resnet.onnx

install: $(STAMP) system-deps $(DLIB_ONNX)

# dlib's face descriptor network as ONNX, converted here from the CC0 weights of the
# face-recognition-models wheel (22 MB, so it is built, not committed; 6 s, checked against dlib).
$(DLIB_ONNX): training/faces/convert_dlib_resnet.py | $(STAMP)
	$(BIN)/python training/faces/convert_dlib_resnet.py --out $@

# Debian packages: headless Chromium prints the case report to PDF (and the tests open the report
# in it); poppler-utils' pdftoppm renders PDF pages to PNG; chromium-driver lets the web UI's browser
# tests (tests/browser, Selenium) drive Chromium. Skipped when already there.
system-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v pdftoppm >/dev/null 2>&1 \
		|| ! command -v chromedriver >/dev/null 2>&1; then \
		if command -v apt-get >/dev/null 2>&1; then \
			SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
			$$SUDO apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
				chromium chromium-driver poppler-utils fonts-dejavu-core; \
		else \
			echo "warning: install chromium, chromium-driver and poppler-utils (pdftoppm)" >&2; \
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
	$(BIN)/ruff check src tests benchmarks scripts training
	$(BIN)/pytest -q -m "not long"

# Full-size fuzzing (1,000+ inputs per decoder) and every kill point of the fault tests.
test-long: install
	$(BIN)/pytest -q -m long

lint: install
	$(BIN)/ruff check src tests benchmarks scripts training
	$(BIN)/ruff format --check src tests benchmarks scripts training

eval-faces: install
	$(BIN)/imint eval faces ../shared/data/faces --json eval-faces.json
	$(BIN)/imint eval faces ../shared/data/faces-field --json eval-faces-field.json

clean:
	rm -rf $(VENV) imint-data imint-demo .pytest_cache

bench-faces: install
	$(BIN)/pip install -q --no-deps face_recognition==1.3.0
	$(BIN)/python benchmarks/faces.py --data ../shared/data/faces --json benchmarks/results/faces.json

# Re-vendor the web UI's JS/CSS from the npm registry (the files are committed; run only to upgrade).
HTMX_VERSION := 2.0.4
LEAFLET_VERSION := 1.9.4
VENDOR := src/imint/web/static/vendor
vendor-web:
	rm -rf build/npm && mkdir -p build/npm && cd build/npm && npm pack -q htmx.org@$(HTMX_VERSION) leaflet@$(LEAFLET_VERSION)
	cd build/npm && tar xzf htmx.org-$(HTMX_VERSION).tgz && mv package htmx && tar xzf leaflet-$(LEAFLET_VERSION).tgz && mv package leaflet
	cp build/npm/htmx/dist/htmx.min.js $(VENDOR)/ && cp build/npm/htmx/LICENSE $(VENDOR)/htmx-LICENSE.md
	cp build/npm/leaflet/dist/leaflet.js build/npm/leaflet/dist/leaflet.css $(VENDOR)/ && cp build/npm/leaflet/dist/images/*.png $(VENDOR)/images/
	cp build/npm/leaflet/LICENSE $(VENDOR)/leaflet-LICENSE.md
