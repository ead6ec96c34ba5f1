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
	rm -rf $(VENV) .run .pytest_cache .ruff_cache
