# The two commands: `make serve` (run the subgraph on the embedded SQLite store) and
# `make test` (lint, then the whole suite with every server it needs, the fault suite last).
# Both set up .venv/.  `make test-faults` runs the fault suite alone (tests/faults/README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test test-faults serve lint schema bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP) lint
	bash scripts/run-tests

test-faults: $(STAMP)
	bash scripts/run-faults

serve: $(STAMP)
	@[ "$${SUBGRAPH_AUTH:-none}" != none ] || echo "Authentication is off (127.0.0.1 only)." \
	  "To require bearer JWTs: SUBGRAPH_AUTH=jwt SUBGRAPH_JWKS=<JWKS file or https URL>" \
	  "SUBGRAPH_JWT_ISSUER=<iss> SUBGRAPH_JWT_AUDIENCE=<aud> make serve"
	$(PY) -m subgraph serve --demo

schema: $(STAMP)
	$(PY) -m subgraph export-schema > schema.graphql

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) .run .pytest_cache .ruff_cache
