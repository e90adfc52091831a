# Two commands for a newcomer: `make run` (generate an image offline) and `make test`.
# CI (.ci/run) calls `make test`, exactly as the README says.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run serve test lint bench clean

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

clean:
	rm -rf $(VENV) generated .pytest_cache .ruff_cache
