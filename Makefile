# Two commands on a fresh machine (Python 3.11+, Node 20+, make):
#   make run    set up, synthesize the default model's stack and print its plan and cost
#   make test   set up with the test extras (compiles llama-cpp-python once) and run the tests
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
MODEL ?= llama3-8b
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
# llama.cpp built for any x86-64/arm64 CPU, not only this one (a native build dies with SIGILL
# on a host without the build machine's instructions)
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

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

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(BIN)/tierwise plan $(MODEL)

test: install-test
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) cdk.out node_modules
