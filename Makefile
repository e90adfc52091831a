# Two commands for a newcomer: `make run` (generate an image offline) and `make test`.
# CI (.ci/run) calls `make test`, exactly as the README says.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run serve test lint bench audit clean doctor

$(BIN)/imagegen: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@

install: $(BIN)/imagegen

run: install
	$(BIN)/imagegen generate "a lighthouse at dusk, watercolor" --out generated

serve: install
	$(BIN)/imagegen serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest

bench: install
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.edits

# Pre-deploy checks with your AWS credentials: `make doctor STACK=prod`. Generates one image per
# allowed model (cost printed first); `ARGS=--no-invoke` skips that.
doctor: install
	$(BIN)/python -m preflight --stack $(or $(STACK),dev) $(ARGS)

# Needs the PyPI/OSV vulnerability databases (not reachable from every build machine).
audit: install
	$(BIN)/pip install --quiet pip-audit==2.10.1
	$(BIN)/pip freeze --exclude-editable > .audit-requirements.txt
	$(BIN)/pip-audit --strict --progress-spinner off -r .audit-requirements.txt; \
	  status=$$?; rm -f .audit-requirements.txt; exit $$status

clean:
	rm -rf $(VENV) generated .pytest_cache .ruff_cache
