# The README's commands. Each sets itself up on first use (virtual environment, dependencies,
# the embedded ComfyUI) and reuses that set-up afterwards.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ainfluencer-ready
DEMO_INPUT := assets/examples/portrait_talking_source.mp4

.PHONY: setup demo test lint format serve bench sysdeps clean

$(READY): pyproject.toml requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	$(BIN)/ainfluencer comfy install
	@touch $(READY)

setup: $(READY)

demo: setup
	$(BIN)/ainfluencer run color_grade_film_grain_v1 --input video=$(DEMO_INPUT)

# Debian packages the tests and benchmarks drive: chromium (the converter's oracle and the editor
# test), ffmpeg (the polish passes' peer) and curl (the downloader's peer). Installed when we may;
# a test that needs a missing one fails and says what to install.
SYSTEM_TOOLS := chromium ffmpeg curl
sysdeps:
	@missing=""; for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "warning: could not install$$missing; tests that need them will fail"; \
	  else echo "warning: missing$$missing (apt-get install$$missing); tests that need them will fail"; fi; \
	fi

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: setup lint sysdeps
	$(BIN)/python -m pytest

# Benchmarks (not tests): each bench/bench_*.py against its real peer, figures in bench/results.json.
bench: setup sysdeps
	$(BIN)/python bench/run.py $(BENCH)

serve: setup
	$(BIN)/ainfluencer serve --port 8188

clean:
	rm -rf $(VENV) .runtime .pytest_cache .ruff_cache
