# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo demo-rolling demo-upgrade demo-manual test lint bench serve clean

demo: $(INSTALLED)
	$(BIN)/python -m demo

# Three fake cells taken through maintenance one at a time by salt-run state.orchestrate orch.vcd_rolling.
demo-rolling: $(INSTALLED)
	$(BIN)/python -m demo --rolling

# A server group of three fake cells upgraded to a new vCD by salt-run state.orchestrate orch.vcd_upgrade.
demo-upgrade: $(INSTALLED)
	$(BIN)/python -m demo --upgrade

# The same procedure done by hand with the stub tools, as operators do it today.
demo-manual: $(INSTALLED)
	$(BIN)/python -m simulator manual-drain

test: lint
	$(BIN)/python -m pytest

# Style and SLS best practice; part of `make test`.
lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/salt-lint states/vcd/*.sls states/orch/*.sls tests/e2e/sls/*.sls

# Benchmarks: medians, side by side; not part of `make test`.
bench: $(INSTALLED)
	$(BIN)/python -m bench

# A fake cell in the foreground, for trying the tools by hand (see README).
serve: $(INSTALLED)
	$(BIN)/python -m simulator serve --port 8443 --jobs 3 --job-seconds 60

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info
