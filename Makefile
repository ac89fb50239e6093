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

# One line per stage; pip itself only speaks up for warnings and errors.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "orderflow needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) -V 2>&1)" >&2; exit 1; }
	@test -x $(BIN)/python || { echo "creating $(VENV) ($$($(PYTHON) -V))"; $(PYTHON) -m venv $(VENV); }
	@echo "installing dependencies into $(VENV) (first run only, ~1 min)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	@echo "installing the Jupyter kernel"
	@$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)

venv: $(STAMP)

run: venv
	@echo "starting orderflow: dev server, worker, HTTP API and web console"
	@$(BIN)/orderflow up

test: venv
	@echo "running the test suite (notebooks and browser tests included; several minutes)"
	@$(BIN)/python -m pytest

# Jupyter refuses to start as root (containers, this kind of dev box) unless told so.
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
# In a GitHub codespace the browser reaches JupyterLab at its forwarded address (port 8888).
LAB_ORIGIN := $(if $(CODESPACE_NAME),--ServerApp.allow_origin=https://$(CODESPACE_NAME)-8888.$(GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN),)

lab: venv
	$(BIN)/jupyter lab $(LAB_ROOT) $(LAB_ORIGIN) --port 8888 notebooks/

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check orderflow
	$(BIN)/mypy

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format orderflow

clean:
	rm -rf $(VENV) .orderflow .pytest_cache
