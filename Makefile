# Two commands do all set-up on a fresh machine:
#   make demo  - create .venv if absent, install recbandit, run the main job on the embedded default
#   make test  - same install, then the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.recbandit-installed
DEMO_AGENTS := random,eps-greedy,ucb1,ts,linucb-disjoint,lints-disjoint,linucb-shared,lints-shared

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The pinned CPU wheel first: an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/recbandit run --env recbandit/Synthetic-v0 --agents $(DEMO_AGENTS) \
		--seeds 3 --horizon 20000 --workers 2 --out runs/demo

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/throughput.py

clean:
	rm -rf runs .pytest_cache
