# Omnistock developer commands. Every target creates what it needs first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PROTOS := $(shell find protos -name '*.proto')
STAMP := $(VENV)/.installed

.PHONY: run test lint proto docs fuzz chaos bench compose-test browser clean help

help:
	@echo "make run    start PostgreSQL, NATS and the services (embedded unless DATABASE_URL / NATS_URL are set)"
	@echo "make test   run the whole test suite"
	@echo "make lint   ruff, mypy, buf lint and buf breaking"
	@echo "make proto  regenerate Python code and docs/api.md from protos/"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The generated package must exist before the editable install can map it.
$(VENV)/.protoc: | $(BIN)/python
	$(BIN)/pip install --quiet grpcio-tools mypy-protobuf==5.1.0
	touch $@

$(STAMP): pyproject.toml $(PROTOS) | $(VENV)/.protoc
	$(MAKE) --no-print-directory proto
	$(BIN)/pip install --quiet -e '.[dev,embedded]'
	touch $(STAMP)

# Generated into a side directory and swapped in whole, so that processes already running (a test
# run, a stack) never import from a half-written gen/. The descriptor set keeps the comments
# (source info), which the generated modules drop: server reflection and docs/api.md read it.
proto: | $(VENV)/.protoc
	rm -rf gen.next && mkdir -p gen.next/omnistock
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m grpc_tools.protoc -I protos \
		--python_out=gen.next --grpc_python_out=gen.next --mypy_out=quiet:gen.next --mypy_grpc_out=quiet:gen.next \
		--descriptor_set_out=gen.next/omnistock/descriptors.binpb --include_source_info --include_imports $(PROTOS)
	rm -rf gen && mv gen.next gen
	$(MAKE) --no-print-directory docs

# The API reference and the event catalogue, rendered from protos/ (a test fails when either is not current).
docs: | $(VENV)/.protoc
	PYTHONPATH=libs $(BIN)/python -m omnistock_platform.contract docs

run: $(STAMP)
	$(BIN)/omnistock run

# The HTML report is checked in a real headless browser; Debian's chromium is the one.
CHROMIUM := $(shell command -v chromium 2>/dev/null)
browser:
ifeq ($(CHROMIUM),)
	@echo "installing chromium (Debian package) for the report rendering test"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
endif

# Includes one short seeded storm, journey 7 and the replicated bus (tests/chaos, 20 s each);
# `make chaos` runs long ones.
test: $(STAMP) browser
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check libs services tests
	$(BIN)/ruff format --check libs services tests
	$(BIN)/mypy
	cd protos && ../$(BIN)/buf lint
	$(BIN)/python -m omnistock_platform.contract breaking

# The same property-based fuzz `make test` runs (25 examples per RPC there), deeper.
fuzz: $(STAMP)
	OMNISTOCK_FUZZ_EXAMPLES=500 $(BIN)/python -m pytest tests/integration/security -m fuzz

# Ten seeded storms of three minutes (kills, NATS and PostgreSQL restarts, NATS freezes), journey 7
# and the replicated bus (three NATS servers, one killed at a time) under the same seeds; prints
# the counts of every run. CHAOS_SEED=n repeats a run.
CHAOS_RUNS ?= 10
CHAOS_SECONDS ?= 180
chaos: $(STAMP)
	$(BIN)/python -m pytest tests/chaos -m chaos --chaos-runs=$(CHAOS_RUNS) \
		--chaos-seconds=$(CHAOS_SECONDS) --chaos-postgres $(if $(CHAOS_SEED),--chaos-seed=$(CHAOS_SEED))

# The benchmark (docs/benchmark.md): its own stack, several minutes. BENCH_ARGS="--duration 5" etc.
bench: $(STAMP)
	$(BIN)/omnistock bench $(BENCH_ARGS)

# The whole system in containers (deploy/compose.yaml), on a machine with nothing but root and
# Debian: installs and starts a Docker engine when none answers, builds the images (base images
# from Debian's packages when no registry serves them), runs the e2e suite and a fault run against
# the containers (the e2e suite renders a report in chromium, as in `make test`), and removes what
# it started. Steps and variables: deploy/compose-test.sh.
compose-test: $(STAMP) browser
	PYTHON_BIN=$(BIN)/python deploy/compose-test.sh

clean:
	rm -rf $(VENV) gen build *.egg-info
