# Two entry points on a fresh machine: `make demo` and `make test`. Each installs what it
# needs into .venv (idempotent: re-running skips what is installed and up to date).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE ?= 1
export GRADIO_ANALYTICS_ENABLED := False
# Test workers (pytest-xdist): one per core; whole files go to one worker, so a file's fixtures are
# built once. On 2 cores this is ~1.5x faster than one process (BENCHMARKS.md, "The test suite").
PYTEST_WORKERS ?= auto
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadfile

.PHONY: demo test test-fast install bench assets clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first, from the CPU wheel on disk, then everything else constrained to that torch.
$(VENV)/.runtime: requirements.txt requirements-nodeps.txt constraints.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install --quiet -c constraints.txt --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/pip install --quiet -c constraints.txt -r requirements-dev.txt
	touch $@

# The browser player's JavaScript and the glTF validator, from the npm registry, pinned by
# web/package-lock.json (skipped with a note where npm is missing: the player then offers only the
# .glb download, and the validator tests skip unless CI requires them).
web/node_modules/.installed: web/package.json web/package-lock.json
	@if command -v npm > /dev/null; then npm ci --prefix web --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "note: npm not found; the avatar player and the glTF validator are not installed"; fi

install: $(VENV)/.runtime

demo: $(VENV)/.runtime web/node_modules/.installed
	$(BIN)/python app.py

# Everything, the few long end-to-end tests (marked slow) included: what CI runs.
test: $(VENV)/.dev web/node_modules/.installed
	$(BIN)/python -m pytest -q -ra $(PYTEST_PARALLEL)

# The contributor's loop: all but the tests marked slow (under 5 minutes on 2 cores).
test-fast: $(VENV)/.dev web/node_modules/.installed
	$(BIN)/python -m pytest -q -ra -m "not slow" $(PYTEST_PARALLEL)

bench: $(VENV)/.dev requirements-bench.txt
	$(BIN)/pip install --quiet -c constraints.txt -r requirements-bench.txt
	$(BIN)/python benchmarks/body.py
	$(BIN)/python benchmarks/photo_inversion.py
	$(BIN)/python benchmarks/photo_real.py

assets: $(VENV)/.runtime
	$(BIN)/aniportrait build-assets --overwrite \
	  --report aniportrait_hub/body/data/open_body_face_report.json

clean-venv:
	rm -rf $(VENV)
