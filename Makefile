# ssmlab — two commands set up everything: `make run` (the lab) and `make test`.
# Each creates the virtualenv in .venv and installs what it needs on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test lint certs clean install bench browsers

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(STAMP)

## run: the lab — lab PKI, a cloud SSM and a Smart Agent whose product instance registers
run: $(STAMP)
	$(BIN)/ssmlab run $(ARGS)

## test: the whole test suite (with the browser tests: see browsers)
test: $(STAMP) browsers
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## browsers: Debian's Chromium for the page tests, installed when run as root on Debian
browsers:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: no chromium: the browser tests skip (install Debian's chromium; with CI set they fail)"; fi; }

## bench: the performance figures (several minutes); writes bench/RESULTS.md
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

## lint: ruff and mypy (strict on shared/)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy shared server agent plumbing lab bench

## certs: create (or complete) the lab PKI in certs/
certs: $(STAMP)
	$(BIN)/ssm-server pki init --out certs

## clean: remove the virtualenv, the lab state and the generated PKI
clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
	find certs -type f ! -name README.md ! -name .gitignore -delete
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
