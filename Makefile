# The README's commands. Each sets itself up on first use (virtual environment, dependencies,
# the embedded ComfyUI) and reuses that set-up afterwards.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ainfluencer-ready
DEMO_INPUT := assets/examples/portrait_talking_source.mp4

.PHONY: setup demo test lint format serve bench browser clean

$(READY): pyproject.toml requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	$(BIN)/ainfluencer comfy install
	@touch $(READY)

setup: $(READY)

demo: setup
	$(BIN)/ainfluencer run color_grade_film_grain_v1 --input video=$(DEMO_INPUT)

# Debian's chromium drives the converter's oracle test; installed when we may, required in CI.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; browser tests will fail"; \
	  else echo "warning: chromium is missing (apt-get install chromium); browser tests will fail"; fi; }

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: setup lint browser
	$(BIN)/python -m pytest

# Benchmarks (not tests): each bench/bench_*.py against its real peer, figures in bench/results.json.
bench: setup
	$(BIN)/python bench/run.py $(BENCH)

serve: setup
	$(BIN)/ainfluencer serve --port 8188

clean:
	rm -rf $(VENV) .runtime .pytest_cache .ruff_cache
