# Quick start: `make demo` (set up + fine-tune the embedded model) and `make test` (set up + tests).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: setup demo test test-slow bench clean

setup: $(VENV)/.installed

# torch is pinned to the CPU build on this machine's disk; a bare `torch` pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[models,test]"
	touch $@

demo: setup
	$(BIN)/mentor demo

test: setup
	$(BIN)/pytest -q

test-slow: setup
	$(BIN)/pytest -q -m slow

bench: setup
	$(BIN)/python bench/train_throughput.py

clean:
	rm -rf $(VENV) .mentor .pytest_cache
