# The two commands: `make serve` (run the subgraph on the embedded SQLite store) and
# `make test` (lint, the fast tests on the oldest dependencies pyproject.toml allows, then the
# whole suite with every server it needs, the fault suite last).  Both set up .venv/.
# `make test-faults` runs the fault suite alone (tests/faults/README.md); `make test-min-deps`
# the oldest-dependencies run alone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The lowest versions pyproject.toml allows (scripts/lowest-requirements), in their own venv.
MIN_VENV := .venv-min
MIN_STAMP := $(MIN_VENV)/.installed

.PHONY: test test-min-deps test-faults serve lint schema bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Both runs happen even when the first fails; either failing fails `make test`.
test: $(STAMP) lint $(MIN_STAMP)
	@status=0; $(MIN_TESTS) || status=$$?; bash scripts/run-tests || status=$$?; exit $$status

$(MIN_STAMP): pyproject.toml scripts/lowest-requirements | $(STAMP)
	rm -rf $(MIN_VENV)
	$(PYTHON) -m venv $(MIN_VENV)
	$(PY) scripts/lowest-requirements pyproject.toml > $(MIN_VENV)/requirements.txt
	$(MIN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MIN_VENV)/bin/python -m pip install --quiet -r $(MIN_VENV)/requirements.txt
	touch $(MIN_STAMP)

# The oldest ruff lints, then the fast tests run from this directory (the project is not
# installed there), SQLite only: every SUBGRAPH_* setting, test servers' addresses among them,
# is removed.
MIN_TESTS = $(MIN_VENV)/bin/ruff check --no-cache . && \
	env $$(env | sed -n 's/^\(SUBGRAPH_[A-Za-z0-9_]*\)=.*/-u \1/p') \
	$(MIN_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/unit tests/subgraph

test-min-deps: $(MIN_STAMP)
	$(MIN_TESTS)

test-faults: $(STAMP)
	bash scripts/run-faults

# `make serve PORT=4005 HOST=::1`: HOST only from the command line, since some shells (tcsh)
# export HOST as the machine's name; PORT also from the environment.  Unset, the CLI's
# defaults (SUBGRAPH_HOST / SUBGRAPH_PORT, else 127.0.0.1:4001) apply.
SERVE_ARGS = $(if $(filter command line,$(origin HOST)),--host '$(HOST)') \
	$(if $(filter command line environment,$(origin PORT)),--port '$(PORT)')

serve: $(STAMP)
	@[ "$${SUBGRAPH_AUTH:-none}" != none ] || echo "Authentication is off (loopback only)." \
	  "To require bearer JWTs: SUBGRAPH_AUTH=jwt SUBGRAPH_JWKS=<JWKS file or https URL>" \
	  "SUBGRAPH_JWT_ISSUER=<iss> SUBGRAPH_JWT_AUDIENCE=<aud> make serve"
	$(PY) -m subgraph serve --demo $(SERVE_ARGS)

schema: $(STAMP)
	$(PY) -m subgraph export-schema > schema.graphql

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(MIN_VENV) .run .pytest_cache .ruff_cache
