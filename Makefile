# The pipeline's stages run `python -m pipeline.<step>`: put the project's venv first on PATH
# so that dvc, pytest and every stage use the pinned environment.
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup demo test repro

setup: $(VENV)/.installed
	@echo "The environment is ready. Enter it with: source $(VENV)/bin/activate"

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $@

# The full pipeline on the built-in synthetic corpus, each model trained with the three seeds of train.seeds:
# offline, about 2.5 minutes on 2 cores (2 min 33 s on 2026-12-04). Its 1,800 training reviews are 1/12 of IMDB's,
# so it allows 10 epochs (early stopping keeps the best).
demo: setup
	dvc exp run -S data.source=synthetic -S train.epochs=10

test: setup
	$(PY) -m pytest

# The full pipeline on the real IMDB reviews (undoes the demo's data.source=synthetic).
repro: setup
	dvc exp run -S data.source=imdb
