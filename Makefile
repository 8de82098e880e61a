# Two entry points: `make run` (main job) and `make test` (whole suite). Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean notebooks

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/sim run scenarios/stage1.yaml --out out/stage1

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# The planners' notebooks executed and exported: out/notebooks/NAME.ipynb (with outputs) and NAME.html. Smoke mode
# unless CAPPLAN_QUICK=0 (full mode); one notebook: make notebooks NOTEBOOKS=notebooks/growth_planning.py
NOTEBOOKS ?= $(wildcard notebooks/*.py)
notebooks: $(STAMP)
	mkdir -p out/notebooks
	set -e; for source in $(NOTEBOOKS); do \
		built=out/notebooks/$$(basename $$source .py).ipynb; \
		$(BIN)/jupytext --to ipynb --output $$built $$source; \
		$(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=-1 $$built; \
		$(BIN)/jupyter nbconvert --to html --template-file notebooks/offline.html.j2 $$built; \
	done

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) out
