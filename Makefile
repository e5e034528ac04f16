PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
GRAPHAD_DATA ?= $(abspath ../shared/datasets)
export GRAPHAD_DATA
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# torch's OpenMP threads spin while waiting; on a busy 2-core box that costs 10x.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: demo test venv bench bench-quick clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/graphad demo --out out/demo

# the tests also run Ray Data scoring in local mode (the graphad[ray] extra)
TEST_STAMP := $(VENV)/.test-installed
$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[ray]'
	touch $(TEST_STAMP)

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q

BENCH_STAMP := $(VENV)/.bench-installed
BENCH_ARGS ?=

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/graphad bench detectors --out out/bench $(BENCH_ARGS)

bench-quick: $(BENCH_STAMP)
	$(BIN)/graphad bench detectors --quick --out out/bench-quick

clean:
	rm -rf $(VENV) out .pytest_cache
