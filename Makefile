# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

$(BIN)/scraperwatch: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

.PHONY: demo test
demo: $(BIN)/scraperwatch  ## scan the shipped sample logs and print the offenders
	$(BIN)/scraperwatch scan sample_logs/ --robots sample_logs/meta/robots.txt --canary /hidden/6f3a2c

test: $(BIN)/scraperwatch  ## lint and type-check, then every test (real nginx, Caddy, HAProxy, Chromium)
	$(BIN)/ruff format --check scraperwatch tests corpus benchmarks
	$(BIN)/ruff check scraperwatch tests corpus benchmarks
	$(BIN)/mypy scraperwatch
	$(BIN)/pytest -q -m "not slow" -p no:cacheprovider
