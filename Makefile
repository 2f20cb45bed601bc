# ssmlab — two commands set up everything: `make run` (the lab) and `make test`.
# Each creates the virtualenv in .venv and installs what it needs on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test fuzz lint certs clean install bench test-tools docs cluster fleet

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(STAMP)

## run: the lab — lab PKI, a cloud SSM and a Smart Agent whose product instance registers
run: $(STAMP)
	$(BIN)/ssmlab run $(ARGS)

## test: the whole test suite (with the browser tests and the benchmark's smoke run: see test-tools)
test: $(STAMP) test-tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## test-tools: Debian's chromium (page tests), wrk (benchmark) and postgresql (the store's second engine),
## installed when run as root on Debian
TOOLS := chromium wrk postgresql
test-tools:
	@missing=""; for t in $(TOOLS); do \
	  if [ $$t = postgresql ]; then ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing $$t"; \
	  else command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; fi; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's$$missing for the tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "note: missing$$missing: those tests skip (install them; with CI set they fail)"; fi; \
	fi

## fuzz: the property and schemathesis suites with many more examples (SSMLAB_FUZZ_EXAMPLES, default 500)
fuzz: $(STAMP)
	SSMLAB_FUZZ_EXAMPLES=$${SSMLAB_FUZZ_EXAMPLES:-500} $(BIN)/python -m pytest -p no:cacheprovider \
		tests/shared/test_codec_properties.py tests/server/test_plane_properties.py \
		tests/server/test_openapi_fuzz.py tests/agent/test_api_fuzz.py $(PYTEST_ARGS)

## bench: the performance figures (several minutes); writes bench/RESULTS.md
bench: $(STAMP) test-tools
	$(BIN)/python -m bench $(BENCH_ARGS)

## fleet: the Locust fleet's optional dependencies (.[fleet])
FLEET := $(VENV)/.fleet-stamp
$(FLEET): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,fleet]'
	@touch $@
fleet: $(FLEET)

## cluster: PostgreSQL, the SSM with 1 then 2 workers on it, Locust (master + 2 workers) against each:
## reports/s and p99 side by side, every acknowledged report stored once (about 2 minutes)
cluster: $(FLEET) test-tools
	$(BIN)/python -m bench.cluster $(CLUSTER_ARGS)

## lint: ruff and mypy (strict on shared/)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy shared server agent plumbing lab bench ssmlab_pytest

## docs: the manual (README.md's map, docs/*.md) as a site in var/site/ (strict: a broken link fails)
docs: $(STAMP)
	$(BIN)/mkdocs build --strict
	@echo "the manual: var/site/index.html"

## certs: create (or complete) the lab PKI in certs/
certs: $(STAMP)
	$(BIN)/ssm-server pki init --out certs

## clean: remove the virtualenv, the lab state and the generated PKI
clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
	find certs -type f ! -name README.md ! -name .gitignore -delete
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
