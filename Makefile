# Leadtide - every command a person runs. Needs only python3 (3.11) on the machine.
PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo serve test lint template-check build bench openapi clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(SAM_VENV)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet -r requirements-sam.txt
	touch $(SAM_VENV)/.installed

## The main job on the embedded local stack: capture real sample deliveries, score, print the leads.
demo: $(STAMP)
	$(BIN)/leadtide demo

## The API on http://127.0.0.1:3000 until interrupted.
serve: $(STAMP)
	$(BIN)/leadtide local serve --port 3000

## Every check: the template (cfn-lint, sam validate --lint), a Docker-free `sam build` with the 250 MB
## package-size check, then every test: unit, integration (moto), end-to-end (local runtime over HTTP).
test: $(STAMP) $(SAM_VENV)/.installed
	$(MAKE) --no-print-directory template-check
	$(MAKE) --no-print-directory build
	$(BIN)/pytest -q tests

template-check: $(SAM_VENV)/.installed
	$(SAM_VENV)/bin/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --region us-east-1

build: $(SAM_VENV)/.installed
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam build --region us-east-1
	$(BIN)/python infra/check_package_sizes.py .aws-sam/build

lint: $(STAMP)
	$(BIN)/ruff check shared functions infra tests
	$(BIN)/ruff format --check shared functions infra tests
	$(BIN)/mypy shared/leadtide

openapi: $(STAMP)
	$(BIN)/python -m leadtide_local.openapi > docs/openapi.json

bench: $(STAMP)
	$(BIN)/python tests/benchmarks/bench_capture.py --write docs/benchmarks.md
	$(BIN)/python tests/benchmarks/bench_segments.py --write docs/benchmarks.md
	$(BIN)/python tests/benchmarks/bench_duplicates.py --write docs/benchmarks.md
	$(BIN)/python tests/benchmarks/bench_scoring.py --write docs/benchmarks.md
	$(BIN)/python tests/benchmarks/bench_exports.py --write docs/benchmarks.md
	$(BIN)/python tests/benchmarks/bench_import.py --write docs/benchmarks.md
	$(BIN)/python tests/benchmarks/bench_ml_serving.py --write docs/benchmarks.md
	@if [ -d ../shared/data ]; then $(BIN)/leadtide model evaluate --dataset all --write docs/benchmarks.md; \
	else echo "skipping leadtide model evaluate: ../shared/data not found"; fi

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache
