# Two commands do all set-up on a fresh machine:
#   make demo  - create .venv if absent, install recbandit, run the main job on the embedded default:
#                every agent on language-model (all-MiniLM-L6-v2) contexts, the context-reading
#                agents again on bag-of-words contexts, then the table and the plot of all runs
#   make test  - same install, then ruff, mypy and the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.recbandit-installed
DEMO_AGENTS := random,eps-greedy,ucb1,ts,linucb-disjoint,lints-disjoint,linucb-shared,lints-shared
DEMO_BOW_AGENTS := linucb-shared,lints-shared
DEMO_RUN := $(VENV)/bin/recbandit run --env recbandit/Synthetic-v0 --seeds 3 --horizon 20000 --workers 2 \
	--out runs/demo --no-plot --no-table

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
	# MiniLM contexts: the catalogue is encoded once into the embedding cache, every run reads it.
	$(DEMO_RUN) --env-arg encoder=minilm --agents $(DEMO_AGENTS)
	$(DEMO_RUN) --env-arg encoder=bow --agents $(DEMO_BOW_AGENTS)
	# Keep the per-seed records beside the README's table: `git diff` shows what this rerun changed.
	mkdir -p benchmarks/results/demo/records && cp runs/demo/*.json benchmarks/results/demo/records/
	$(VENV)/bin/recbandit summary runs/demo
	$(VENV)/bin/recbandit plot runs/demo

test: $(STAMP)
	$(VENV)/bin/ruff check recbandit tests benchmarks
	$(VENV)/bin/mypy recbandit
	# Two pytest workers (the machine's 2 cores); a module's tests stay in one worker, so its
	# fixtures are built once.
	$(PY) -m pytest -q -n 2 --dist loadscope

bench: $(STAMP)
	$(PY) benchmarks/throughput.py

clean:
	rm -rf runs .pytest_cache
