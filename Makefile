# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# Salt 3006 LTS, the oldest Salt the extension supports, in an environment of its own.
SALT_LTS := 3006.29
LTS_VENV := .venv-$(SALT_LTS)
LTS_INSTALLED := $(LTS_VENV)/.installed
# What runs on Salt 3006 LTS as well: the modules and states under Salt's loader, the installed wheel and
# its entry point, the file_roots route without the package, and the end-to-end tests marked every_salt
# (a state run, its events and its return through a real master and minion, masterless salt-call and the
# lease's keeper), all in one pytest run so that the quick tests fill the processes the daemons' tests
# leave idle. The other end-to-end tests exercise nothing of Salt that differs between versions; the
# simulator's tests do not involve Salt.
LTS_TESTS := tests/unit tests/loader tests/test_installation.py tests/test_packaging.py tests/test_file_roots.py
# Three at a time on two cores: the end-to-end tests mostly wait on their fake cells and daemons. A file's
# tests stay together, so each process starts a file's master and minions once; the longest files start
# first, in the order tests/conftest.py gives them (its pytest_collection_modifyitems), not in
# pytest-xdist's (the files with the most tests first). The ten slowest tests are printed at the end.
PYTEST := python -m pytest -n 3 --dist loadfile --no-loadscope-reorder --durations=10
# The project's own modules compiled before the tests: each fake minion, job and stub tool is a process of
# its own, and where PYTHONDONTWRITEBYTECODE is set (as on these machines) each would compile them anew.
COMPILE = $(1)/python -m compileall -q _modules _states _utils _runners _output _beacons simulator tests

.PHONY: demo demo-rolling demo-upgrade demo-upgrade-appliance demo-precheck demo-ssh demo-manual test test-all test-lts test-faults check-sshd check-chromium lint docs bench serve clean

demo: $(INSTALLED)
	$(BIN)/python -m demo

# Three fake cells taken through maintenance one at a time by salt-run state.orchestrate orch.vcd_rolling.
demo-rolling: $(INSTALLED)
	$(BIN)/python -m demo --rolling

# A server group of three fake cells upgraded to a new vCD by salt-run state.orchestrate orch.vcd_upgrade.
demo-upgrade: $(INSTALLED)
	$(BIN)/python -m demo --upgrade

# vCD appliances (primary, standby, cell) upgraded on the appliance route of orch.vcd_upgrade.
demo-upgrade-appliance: $(INSTALLED)
	$(BIN)/python -m demo --upgrade-appliance

# The prechecks of a ready server group, then of one with three problems planted: both reports shown.
demo-precheck: $(INSTALLED)
	$(BIN)/python -m demo --precheck

# A fake cell drained over salt-ssh through a throwaway OpenSSH server: no salt-minion, no salt-master.
demo-ssh: $(INSTALLED) check-sshd
	$(BIN)/python -m demo --ssh

# The same procedure done by hand with the stub tools, as operators do it today.
demo-manual: $(INSTALLED)
	$(BIN)/python -m simulator manual-drain

# The lint, the docs, every test on the default Salt (3008), then what differs on Salt 3006 LTS; the time
# it all took, environments included, at the end. The Salt 3006 environment is made while the lint, the
# docs and the first tests run (pip waits on the package index and uses one core of two), its output
# printed once those are done; it starts after the default environment, as both write the package's
# metadata into the clone.
LTS_INSTALL_LOG := $(LTS_VENV).install.log
test:
	@start=$$(date +%s); status=0; \
	$(MAKE) --no-print-directory check-sshd check-chromium $(INSTALLED) || status=$$?; \
	if [ $$status = 0 ]; then \
	  $(MAKE) --no-print-directory $(LTS_INSTALLED) > $(LTS_INSTALL_LOG) 2>&1 & lts=$$!; \
	  $(MAKE) --no-print-directory lint docs test-all || status=$$?; \
	  wait $$lts || status=$$?; cat $(LTS_INSTALL_LOG); \
	fi; \
	[ $$status != 0 ] || $(MAKE) --no-print-directory test-lts || status=$$?; \
	echo "make test: $$( [ $$status = 0 ] && echo passed || echo FAILED ) in $$(( $$(date +%s) - start )) s"; \
	exit $$status

test-all: $(INSTALLED) check-sshd check-chromium
	@$(call COMPILE,$(BIN))
	$(BIN)/$(PYTEST)

test-lts: $(LTS_INSTALLED) check-sshd
	@$(call COMPILE,$(LTS_VENV)/bin)
	$(LTS_VENV)/bin/$(PYTEST) -m "not e2e or every_salt" $(LTS_TESTS) tests/e2e

# The fault matrix (tests/faults/): every orchestration x route x step x moment x fault kind, each case run,
# cleared and run again as an operator would; CASE=<id or prefix> runs those only (e.g.
# CASE=upgrade/linux/drain). `make test` runs a sample of it, rotating with the commit. Prints the case
# count and the time at the end. Four at a time on two cores: with three, the cases that wait out a hang,
# an outage or a slow reboot left a core idle about a tenth of the time; four took the twelve kinds' matrix
# 29 min 21 s instead of 30 min 44 s (it is bound by the CPU its fake cells and minions use). With the
# window's kinds and the ssh plans it took 43 min 24 s (docs/topics/safety.md).
test-faults: $(INSTALLED)
	@$(call COMPILE,$(BIN))
	FAULT_CASES=$(or $(CASE),all) $(BIN)/python -m pytest -n 4 -rfs --durations=10 tests/faults

# The salt-ssh tests and demo start OpenSSH's server (on 127.0.0.1, with throwaway keys): checked first,
# so a machine without it learns at once what to install.
SSHD_MISSING := make test and make demo-ssh need OpenSSH's server (sshd) for the salt-ssh tests. Install it, \
then run make again: Debian/Ubuntu: sudo apt-get update && sudo apt-get install -y openssh-server; \
Fedora/RHEL: sudo dnf install -y openssh-server; SUSE: sudo zypper install -y openssh-server
check-sshd:
	@command -v sshd >/dev/null 2>&1 || test -x /usr/sbin/sshd || { echo "$(SSHD_MISSING)" >&2; exit 2; }

# The runs' reports are checked as a browser draws them, in headless Chromium (the distribution's).
CHROMIUM_MISSING := make test needs headless Chromium for the report tests. Install it, then run make again: \
Debian: sudo apt-get update && sudo apt-get install -y chromium; Ubuntu: sudo apt-get install -y chromium-browser; \
Fedora/RHEL: sudo dnf install -y chromium
check-chromium:
	@for name in chromium chromium-browser google-chrome google-chrome-stable; do \
	  command -v $$name >/dev/null 2>&1 && exit 0; done; echo "$(CHROMIUM_MISSING)" >&2; exit 2

# Style and SLS best practice; part of `make test`.
lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/salt-lint states/vcd/*.sls states/orch/*.sls tests/e2e/sls/*.sls

# The guides and the reference (from the docstrings) in docs/_build/html; warnings are errors.
docs: $(INSTALLED)
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html

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

$(LTS_INSTALLED): pyproject.toml
	test -x $(LTS_VENV)/bin/python || $(PYTHON) -m venv $(LTS_VENV)
	$(LTS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LTS_VENV)/bin/python -m pip install --quiet -e '.[test]' 'salt==$(SALT_LTS)'
	touch $@

clean:
	rm -rf $(VENV) $(LTS_VENV) $(LTS_INSTALL_LOG) .pytest_cache .hypothesis *.egg-info docs/_build
