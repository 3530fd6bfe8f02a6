# Two commands a newcomer needs: `make run` (serve the emulator) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit image bench node-deps openai2 clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -m pip install --quiet -e '.[test,science]' 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -c 'import emulator.cli, openai, dashscope, RestrictedPython'
	touch $(STAMP)

## run: serve on 127.0.0.1:8000 with the builtin model and the best sandbox available
run: $(STAMP)
	$(BIN)/emulator serve

## test: format check, lint, type check, the whole pytest suite, then the openai surfaces on openai 2.x
test: $(STAMP) lint typecheck node-deps
	$(BIN)/python -m pytest
	$(MAKE) openai2

## openai2: the previous openai major (2.x) against the Chat and Responses surfaces, beside the latest
OPENAI2 := .cache/openai2
openai2: $(STAMP)
	test -d $(OPENAI2)/openai || $(BIN)/python -m pip install --quiet --no-deps --target $(OPENAI2) 'openai>=2,<3' distro tqdm 2>&1 | grep -v '^WARNING: Location' || true
	PYTHONPATH=$(OPENAI2) $(BIN)/python -c 'import openai, sys; v = openai.__version__; print("openai", v); sys.exit(v[0] != "2")'
	PYTHONPATH=$(OPENAI2) $(BIN)/python -m pytest -q tests/contract/test_chat_seed.py tests/contract/test_chat_api.py \
		tests/contract/test_parity.py tests/contract/test_responses_seed.py tests/contract/test_responses_api.py \
		tests/unit/test_chat_render.py tests/unit/test_responses_render.py

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
	$(BIN)/python benchmarks/e2e.py

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache
