# Two commands do all the set-up on a machine with Python 3.11+ and make:
#   make run   -> creates .venv, installs orderflow, runs `orderflow up`
#   make test  -> same set-up, runs the whole test suite (notebooks included)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= dev,notebook,postgres,otel
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: venv run test lab lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

venv: $(STAMP)

run: venv
	$(BIN)/orderflow up

test: venv
	$(BIN)/python -m pytest

# Jupyter refuses to start as root (containers, this kind of dev box) unless told so.
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: venv
	$(BIN)/jupyter lab $(LAB_ROOT) notebooks/

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check orderflow
	$(BIN)/mypy

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format orderflow

clean:
	rm -rf $(VENV) .orderflow .pytest_cache
