# Omnistock developer commands. Every target creates what it needs first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PROTOS := $(shell find protos -name '*.proto')
STAMP := $(VENV)/.installed

.PHONY: run test lint proto fuzz chaos bench compose-test browser clean help

help:
	@echo "make run    start PostgreSQL, NATS and the four services (embedded unless DATABASE_URL / NATS_URL are set)"
	@echo "make test   run the whole test suite"
	@echo "make lint   ruff and mypy"
	@echo "make proto  regenerate Python code from protos/"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The generated package must exist before the editable install can map it.
$(STAMP): pyproject.toml $(PROTOS) | $(BIN)/python
	$(BIN)/pip install --quiet grpcio-tools mypy-protobuf
	$(MAKE) --no-print-directory proto
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

proto: | $(BIN)/python
	rm -rf gen && mkdir -p gen
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m grpc_tools.protoc -I protos \
		--python_out=gen --grpc_python_out=gen --mypy_out=quiet:gen --mypy_grpc_out=quiet:gen $(PROTOS)

run: $(STAMP)
	$(BIN)/omnistock run

# The HTML report is checked in a real headless browser; Debian's chromium is the one.
CHROMIUM := $(shell command -v chromium 2>/dev/null)
browser:
ifeq ($(CHROMIUM),)
	@echo "installing chromium (Debian package) for the report rendering test"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
endif

test: $(STAMP) browser
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check libs services tests
	$(BIN)/ruff format --check libs services tests
	$(BIN)/mypy

fuzz: $(STAMP)
	OMNISTOCK_FUZZ_EXAMPLES=2000 $(BIN)/python -m pytest tests -m fuzz

chaos: $(STAMP)
	$(BIN)/python -m pytest tests/chaos -m chaos --chaos-runs=10

bench: $(STAMP)
	$(BIN)/omnistock bench

# Needs a Docker engine: the whole stack in containers, then the e2e suite against it.
compose-test:
	docker compose -f deploy/compose.yaml up --build --abort-on-container-exit --exit-code-from tests; \
	status=$$?; docker compose -f deploy/compose.yaml down --volumes --remove-orphans; exit $$status

clean:
	rm -rf $(VENV) gen build *.egg-info
