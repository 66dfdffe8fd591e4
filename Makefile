# Two commands on a fresh machine (Python 3.11+, Node 20+, make):
#   make run    set up, synthesize the default model's stack (cdk synth, no AWS account needed)
#               and print its plan and the cost review of what was synthesized
#   make test   set up with the test extras (compiles llama-cpp-python once) and run the tests
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
MODEL ?= llama3-8b
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
# llama.cpp built for any x86-64/arm64 CPU, not only this one (a native build dies with SIGILL
# on a host without the build machine's instructions)
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

# checkov, the second IaC scanner, in a venv of its own (pyproject.toml's "scan" extra says why)
SCAN_VENV := .venv-scan
CHECKOV := $(SCAN_VENV)/bin/checkov

CDK := node_modules/.bin/cdk
# cdk.json runs "python app.py": the venv's python must come first on PATH
CDK_ENV := PATH="$(CURDIR)/$(VENV)/bin:$$PATH"

.PHONY: run test install install-test bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install --quiet -e ".[test,runtime]"
	@touch $@

$(CHECKOV): pyproject.toml
	$(PY) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/pip install --quiet "$$($(PY) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["scan"])')"
	@touch $@

$(CDK): package.json package-lock.json
	npm ci --no-audit --no-fund --no-update-notifier --loglevel=error >/dev/null
	@touch $@

install: $(VENV)/.installed $(CDK)

install-test: $(VENV)/.installed-test $(CHECKOV) $(CDK)

run: install
	$(CDK_ENV) $(CDK) synth -c model=$(MODEL) --output cdk.out --quiet
	$(BIN)/tierwise plan $(MODEL)
	$(BIN)/tierwise cost cdk.out

test: install-test
	$(CDK_ENV) $(BIN)/python -m pytest -q

bench: install-test
	$(BIN)/python benchmarks/runtime_bench.py
	$(BIN)/python benchmarks/hf_folder_bench.py
	$(BIN)/python benchmarks/runtime_load_bench.py
	$(CDK_ENV) $(BIN)/python benchmarks/synth_bench.py

clean:
	rm -rf $(VENV) $(SCAN_VENV) cdk.out node_modules
