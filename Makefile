# Two commands for a new user on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DATA ?= smsync-data

.PHONY: run test venv test-deps bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -c 'import smsync.plugincache as p; p.refresh()'
	touch $(STAMP)

venv: $(STAMP)

# Debian packages the protocol tests drive (isync, fetchmail, ...): installed when root.
test-deps:
	@sh scripts/test-deps.sh

run: venv
	$(BIN)/smsync init --data $(DATA) --demo --if-missing
	$(BIN)/smsync serve --data $(DATA)

test: venv test-deps
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: venv
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .hypothesis
