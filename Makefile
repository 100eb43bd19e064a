# The two commands a newcomer types. Both are idempotent: the venv is created once and
# the install step re-runs only when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell $(PYTHON) -c 'import hashlib,sys;print(hashlib.sha256(open("pyproject.toml","rb").read()).hexdigest()[:12])')

.PHONY: demo test lint install clean screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# The demo's state is kept in .samband-demo/ (made anew each run) so its trail can be browsed:
# the last lines say how (`samband console`, docs/console.md).
demo: install
	rm -rf .samband-demo
	$(BIN)/samband demo --keep .samband-demo

test: lint
	$(BIN)/python -m pytest -q

# The console's pictures in docs/console/, taken by its browser tests.
screenshots: install
	SAMBAND_SCREENSHOTS=docs/console $(BIN)/python -m pytest -q tests/console/test_console_browser.py

# ruff, then mypy over every package. mypy reads a tree of links that names each top-level
# folder by its installed name (samband.router -> router/), since it does not read package-dir.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@rm -rf .mypy-tree/samband && mkdir -p .mypy-tree/samband
	@for f in samband/*; do case $$f in *__pycache__) ;; *) ln -s ../../$$f .mypy-tree/samband/ ;; esac; done
	@for d in schemas observability broker_config router adapters; do ln -s ../../$$d .mypy-tree/samband/$$d; done
	cd .mypy-tree && ../$(BIN)/mypy --config-file ../pyproject.toml -p samband

clean:
	rm -rf $(VENV) .samband .samband-demo .mypy-tree
