# Two commands on a fresh machine with Python >= 3.11, make and git:
#   make demo   set up .venv and run the main job on the embedded defaults
#   make test   set up .venv and run the whole suite with the coverage gate (NFR-004)
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	&& { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat constraints.txt pyproject.toml plugins/*/pyproject.toml contrib/*/pyproject.toml | cksum | cut -d" " -f1)
PACKS := $(wildcard plugins/*/pyproject.toml contrib/*/pyproject.toml)
EDITABLES := -e '.[test]' $(foreach p,$(PACKS),-e $(dir $(p)))
DEMO_DIR := $(VENV)/demo-data

.PHONY: install demo test lint bench clean

$(STAMP):
	@test -n "$(PYTHON)" || { echo "error: Python >= 3.11 not found" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt $(EDITABLES)
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/qorch plugins
	$(BIN)/qorch parse examples/circuits/*.qasm
	$(BIN)/qorch parse --emit qasm3 examples/circuits/bell.qasm
	$(BIN)/qorch parse examples/invalid/broken_index.qasm || true
	$(BIN)/qorch db --data-dir $(DEMO_DIR) upgrade
	$(BIN)/qorch db --data-dir $(DEMO_DIR) status

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --cov --cov-report=term --cov-fail-under=80
	$(BIN)/ruff check qorch plugins contrib tests

lint: $(STAMP)
	$(BIN)/ruff check qorch plugins contrib tests
	$(BIN)/ruff format --check qorch plugins contrib tests

bench: $(STAMP)
	$(BIN)/qorch bench cli-startup

clean:
	rm -rf $(VENV) .coverage .hypothesis
