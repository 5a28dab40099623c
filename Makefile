# Colony's one entry point: a target for each thing a developer (or CI) does.
# Every target installs what it needs first, so each works from a fresh clone.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
# Touched after a successful install: pip runs again only when these inputs change.
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

# The first interpreter that is Python 3.11 or newer (pyenv shims of absent versions fail
# the check and are skipped). Override with `make PYTHON=/path/to/python3.12`.
PYTHON ?= $(shell for candidate in python3 python3.13 python3.12 python3.11; do \
	if $$candidate -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then \
	echo $$candidate; break; fi; done)

# Extra arguments: `make test ARGS="-k transfer -x"`, `make run ARGS=--no-demo`.
ARGS ?=

.PHONY: help venv install node run test protos lint audit bench loadtest clean distclean

help:
	@echo "Colony — make targets:"
	@echo "  run        start mongod, the five services and the gateway, load demo data"
	@echo "             (Ctrl-C stops all; ARGS=--no-demo skips the demo data)"
	@echo "  test       the whole pytest suite against an embedded mongod (ARGS=... for pytest)"
	@echo "  lint       lock check, ruff, ruff format --check, mypy, buf lint, bindings drift check,"
	@echo "             hadolint (Dockerfile), compose-spec schema, rendered k8s overlays (kubernetes-validate)"
	@echo "  protos     regenerate the Python bindings from protos/"
	@echo "  audit      ledger invariants; escrow, wealth and loan accounts reconciled (make run's data)"
	@echo "  bench      ledger benchmarks: raw transaction, spread vs hot merchant, risk rules"
	@echo "  loadtest   Locust against the platform (started if none runs), then the audits"
	@echo "             (ARGS=\"--shape double11 --users 40 --seconds 300\")"
	@echo "  venv       create .venv and install the pinned dependencies (also: install)"
	@echo "  clean      remove var/ (local data) and caches; distclean also .venv, node_modules"

venv install: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml constraints.txt
	@if [ ! -x $(VENV_PYTHON) ]; then \
		if [ -z "$(PYTHON)" ]; then \
			echo "Colony needs Python 3.11 or newer as python3 (or make PYTHON=...)" >&2; exit 1; \
		fi; \
		echo "creating $(VENV) with $(PYTHON)"; \
		$(PYTHON) -m venv $(VENV); \
	fi
	$(VENV_PYTHON) -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

node: $(NODE_STAMP)

# buf (the proto linter) comes from npm at the version package-lock.json pins.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

run: $(VENV_STAMP)
	$(VENV_PYTHON) -m infra.run $(ARGS)

# pytest exits 5 when it collected no test: that is a failure here, said plainly.
test: $(VENV_STAMP)
	@$(VENV_PYTHON) -m pytest $(ARGS) || { status=$$?; \
		if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
		exit $$status; }

audit: $(VENV_STAMP)
	$(VENV_PYTHON) -m infra.cli audit

bench: $(VENV_STAMP)
	$(VENV_PYTHON) -m loadtests.bench_ledger $(ARGS)

loadtest: $(VENV_STAMP)
	$(VENV_PYTHON) -m loadtests.run_loadtest $(ARGS)

protos: $(VENV_STAMP)
	$(VENV_PYTHON) -m infra.gen_protos

# The lock check: every package installed in .venv carries its exact pin in constraints.txt
# (a dependency added to pyproject.toml without one would install whatever is newest).
lint: $(VENV_STAMP) $(NODE_STAMP)
	@unpinned=$$($(VENV_PYTHON) -m pip freeze --exclude-editable | grep '==' \
		| grep -vixF -f constraints.txt || true); \
	if [ -n "$$unpinned" ]; then \
		echo "installed but not pinned in constraints.txt (add these lines):" >&2; \
		echo "$$unpinned" >&2; exit 1; \
	fi
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	cd protos && ../node_modules/.bin/buf lint
	$(VENV_PYTHON) -m infra.gen_protos --check
	$(VENV)/bin/hadolint infra/docker/Dockerfile
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.compose-spec infra/compose/compose.yaml
	$(VENV_PYTHON) -m infra.k8s.check

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist
	find . -path ./$(VENV) -prune -o -path ./node_modules -prune -o \
		-name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) node_modules *.egg-info
