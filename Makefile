# Two commands a newcomer needs: `make run` (serve the emulator) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit image bench node-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -m pip install --quiet -e '.[test,science]' 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -c 'import emulator.cli, openai, dashscope, RestrictedPython'
	touch $(STAMP)

## run: serve on 127.0.0.1:8000 with the builtin model and the best sandbox available
run: $(STAMP)
	$(BIN)/emulator serve

## test: format check, lint, type check, then the whole pytest suite
test: $(STAMP) lint typecheck node-deps
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff format --check emulator sandbox_image tests benchmarks
	$(BIN)/ruff check emulator sandbox_image tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy emulator

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

## node-deps: the Node openai SDK for the seed's Node examples (npm registry)
node-deps:
	@if command -v npm >/dev/null 2>&1; then \
		mkdir -p .cache/node && cd .cache/node && \
		{ test -f package.json || echo '{"name":"emulator-node-tests","private":true,"type":"module"}' > package.json; } && \
		{ test -d node_modules/openai || npm install --silent --no-audit --no-fund openai@latest; }; \
	fi

## image: build the Docker sandbox image (offline fallback: debootstrap + docker import)
image: $(STAMP)
	$(BIN)/emulator image build

## bench: sandbox benchmarks, results written to benchmarks/results/
bench: $(STAMP)
	$(BIN)/python benchmarks/sandbox.py

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache
