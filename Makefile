# Two commands for a newcomer: `make run` (generate an image offline) and `make test`.
# CI (.ci/run) calls `make test`, exactly as the README says.
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --quiet --disable-pip-version-check

.PHONY: install run serve test lint bench bench-install audit clean doctor

$(BIN)/python:
	python3 -m venv $(VENV)

# One stamp per set of extras, inside the venv (`make clean` removes both): `make run` installs
# the local stack only; `make test` after it installs what `run` left out. A newer
# pyproject.toml outdates every stamp.
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(PIP) -e ".[$*]"
	touch $@

# Everything includes the local stack and the infrastructure program: mark them installed too.
$(VENV)/.installed-all: pyproject.toml | $(BIN)/python
	$(PIP) -e ".[all]"
	touch $@ $(VENV)/.installed-local $(VENV)/.installed-infra

install: $(VENV)/.installed-all

run: $(VENV)/.installed-local
	$(BIN)/imagegen generate "a lighthouse at dusk, watercolor" --out generated

serve: $(VENV)/.installed-local
	$(BIN)/imagegen serve

lint: $(VENV)/.installed-all
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest

bench: $(VENV)/.installed-all
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.edits
	$(BIN)/python -m bench.masks
	$(BIN)/python -m bench.jobs
	$(BIN)/python -m bench.data_dir

# Installed size and install time of each extra, in fresh venvs (docs/benchmarks.md).
bench-install: $(VENV)/.installed-all
	$(BIN)/python -m bench.install_size

# Pre-deploy checks with your AWS credentials: `make doctor STACK=prod`. Generates one image per
# allowed model (cost printed first); `ARGS=--no-invoke` skips that. It reads the stacks' Pulumi
# YAML, so it installs the 'infra' extra, which `pulumi up` needs next anyway.
doctor: $(VENV)/.installed-infra
	$(BIN)/python -m preflight --stack $(or $(STACK),dev) $(ARGS)

# Needs the PyPI/OSV vulnerability databases (not reachable from every build machine).
audit: $(VENV)/.installed-all
	$(BIN)/pip install --quiet pip-audit==2.10.1
	$(BIN)/pip freeze --exclude-editable > .audit-requirements.txt
	$(BIN)/pip-audit --strict --progress-spinner off -r .audit-requirements.txt; \
	  status=$$?; rm -f .audit-requirements.txt; exit $$status

clean:
	rm -rf $(VENV) generated .pytest_cache .ruff_cache
