# The README's two commands (`make run`, `make test`) and helpers. Each target sets up .venv itself:
# it is (re)installed when missing or when pyproject.toml or the lock file changed (the stamp holds their hash).
# The environment comes from requirements/lock.txt (the exact versions that passed CI, Linux x86-64, CPU).
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements/lock.txt
STAMP := $(VENV)/.labkit-$(shell cat pyproject.toml $(LOCK) | sha256sum | cut -c1-16)
PROFILE ?= quick
DEVICE ?= auto
NOTEBOOKS ?=
PYTEST_ARGS ?=
# This machine's pip configuration warns once per package about absent local mirrors; keep real errors.
QUIET_PIP := { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: run test lint format unit notebooks refresh lab report clean venv java browser book binder-check lock upgrade-check

venv: $(STAMP) java

# TorchServe (notebook 10) runs a Java frontend: install a Java 17 runtime from Debian's packages when
# `java` is missing (openjdk-17 where the release has it, else the release's default JRE).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
java:
	@if ! command -v java >/dev/null 2>&1 && [ -z "$$JAVA_HOME" ]; then \
		echo "Installing a Java runtime for TorchServe (apt-get) ..."; \
		export DEBIAN_FRONTEND=noninteractive; \
		{ $(SUDO) apt-get update -qq && \
		  { $(SUDO) apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless || \
		    $(SUDO) apt-get install -y -qq --no-install-recommends default-jre-headless; }; } >/dev/null \
		|| echo "WARNING: could not install Java; notebook 10 (TorchServe) will fail until a Java 17 runtime is on PATH."; \
	fi

# The website's browser test drives Chromium: install Debian's package when no Chromium is on PATH.
browser:
	@if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 && \
		! command -v google-chrome >/dev/null 2>&1 && [ -z "$$LABKIT_CHROMIUM" ]; then \
		echo "Installing Chromium for the website's browser test (apt-get) ..."; \
		export DEBIAN_FRONTEND=noninteractive; \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends chromium; } >/dev/null \
		|| echo "WARNING: could not install Chromium; tests/test_book.py will fail until one is on PATH (or LABKIT_CHROMIUM names one)."; \
	fi

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing the locked environment ($(LOCK), torch 2.13.0 CPU) and labkit into $(VENV) ..."
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | $(QUIET_PIP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r $(LOCK) 2>&1 | $(QUIET_PIP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e . 2>&1 | $(QUIET_PIP)
	$(BIN)/python -m pip check
	@rm -f $(VENV)/.labkit-* && touch $@

run: $(STAMP) java
	$(BIN)/labkit run --profile $(PROFILE) --device $(DEVICE) --report $(NOTEBOOKS)

test: $(STAMP) java browser
	$(BIN)/ruff check labkit tests notebooks conftest.py
	$(BIN)/ruff format --check labkit tests notebooks conftest.py
	$(BIN)/mypy labkit
	@rc=0; $(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax --nbval-cell-timeout=600 \
		tests notebooks $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: nothing to run is not a pass"; exit 1; fi; \
	exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check labkit tests notebooks conftest.py
	$(BIN)/ruff format --check labkit tests notebooks conftest.py
	$(BIN)/mypy labkit
	$(BIN)/labkit params --check-cells

format: $(STAMP)
	$(BIN)/ruff format labkit tests notebooks conftest.py

# The inner loop: no notebooks, no server processes, nothing slow (under 2 minutes on 2 cores); no apt-get.
unit: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests -m "not notebook and not slow and not server"

notebooks: $(STAMP) java
	$(BIN)/python -m pytest -q --nbval-lax --nbval-cell-timeout=600 notebooks

refresh: $(STAMP) java
	$(BIN)/labkit refresh

report: $(STAMP)
	$(BIN)/labkit report

# The website: the committed notebooks (never re-executed), the instructor guide and the run's report, built
# offline into results/book/html with Sphinx, myst-nb and sphinx-book-theme. `labkit book --check` also opens
# every page in headless Chromium.
book: $(STAMP)
	$(BIN)/labkit book

# binder/overrides.json: JupyterLab's settings for this project (no news prompt, no update check).
lab: $(STAMP)
	install -D -m 644 binder/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	$(BIN)/jupyter lab notebooks

clean:
	rm -rf results .pytest_cache .ruff_cache .mypy_cache

# Maintainers: re-resolve the lock from pyproject.toml's ranges (pip-tools). The extras are named one by one
# (`all` names labkit itself, which would pin this checkout's path). torch is written without its local
# label: `torch==2.13.0` takes the CPU wheel where one is offered (this machine's wheel folder, PyTorch's CPU
# index on Binder). Then `make test` must pass before the new lock is committed.
lock: $(STAMP)
	$(BIN)/pip-compile --quiet --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
		--extra keras --extra torch --extra serve --extra lab --extra runtimes --extra ray --extra docs --extra dev --output-file $(LOCK) pyproject.toml
	sed -i -e 's/^torch==\([0-9.]*\)+cpu$$/torch==\1/' $(LOCK)
	! grep -n "@ file:" $(LOCK)

# The newest versions pyproject.toml allows, in a scratch venv: run the series there and name, for each
# notebook that broke, the upgraded packages its error points at. Nothing here touches .venv or the lock.
UPGRADE_VENV ?= /tmp/labkit-upgrade-venv
upgrade-check: $(STAMP)
	rm -rf $(UPGRADE_VENV) && $(PYTHON) -m venv $(UPGRADE_VENV)
	$(UPGRADE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade --upgrade-strategy eager \
		"torch==2.13.0" -e ".[all,dev]" 2>&1 | $(QUIET_PIP)
	rm -rf $(UPGRADE_VENV)/results
	LABKIT_RESULTS_DIR=$(UPGRADE_VENV)/results $(UPGRADE_VENV)/bin/labkit run --no-progress $(NOTEBOOKS) || true
	$(UPGRADE_VENV)/bin/python -m labkit.workbook.upgrades --lock $(LOCK) --results $(UPGRADE_VENV)/results

# What Binder (repo2docker) does with binder/, without Docker: the Python of runtime.txt, the Debian packages
# of apt.txt (a dry run, or already installed), a fresh venv with `pip install -r binder/requirements.txt`
# from the repository root, binder/postBuild, then the dataset checksums and notebook 00 run with that environment.
BINDER_VENV ?= /tmp/labkit-binder-venv
binder-check:
	@want=$$(sed -n 's/^python-//p' binder/runtime.txt); have=$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	test "$$want" = "$$have" || { echo "binder/runtime.txt asks for Python $$want; $(PYTHON) is $$have"; exit 1; }
	@for pkg in $$(grep -v '^#' binder/apt.txt); do \
		dpkg -s $$pkg >/dev/null 2>&1 && echo "apt: $$pkg installed" || \
		{ apt-get install --dry-run -qq $$pkg >/dev/null && echo "apt: $$pkg installable"; } || \
		{ echo "apt: $$pkg cannot be installed"; exit 1; }; done
	rm -rf $(BINDER_VENV) && $(PYTHON) -m venv $(BINDER_VENV)
	$(BINDER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --retries 1 --timeout 5 -r binder/requirements.txt 2>&1 | $(QUIET_PIP)
	PATH=$(BINDER_VENV)/bin:$$PATH binder/postBuild
	test -f $(BINDER_VENV)/share/jupyter/lab/settings/overrides.json
	$(BINDER_VENV)/bin/labkit datasets
	LABKIT_RESULTS_DIR=$(BINDER_VENV)/results $(BINDER_VENV)/bin/labkit run 00 --no-progress
