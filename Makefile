# Two commands do all the set-up: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-pythons lint unit install sandbox-down clean bench

install: $(STAMP)

# Reinstall only when the declared dependencies change.
# pip speaks only when something goes wrong: no progress bars, no upgrade notices.
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check --no-input
$(STAMP): pyproject.toml
	@echo "Installing upkeep and its pinned stack into $(VENV) (a minute or two the first time)..."
	@$(PYTHON) -m venv $(VENV)
	@PIP_PROGRESS_BAR=off $(PIP) install --upgrade pip
	@PIP_PROGRESS_BAR=off $(PIP) install -e '.[test]'
	@touch $@

# Brings the sandbox up (it stays up for more runs until `upkeep sandbox down`), runs the daily
# cadence and says where the report is. Succeeds whenever a report was written, whatever the
# checks found: the exit code of the run is the checks' verdict, not the demo's.
demo: $(STAMP)
	$(BIN)/upkeep sandbox up
	@$(BIN)/upkeep run daily --report-dir reports; rc=$$?; \
	if [ ! -f reports/latest/report.json ]; then echo "demo: no report was written (upkeep exited $$rc)"; exit 1; fi; \
	echo ""; \
	echo "Daily run finished with exit code $$rc (0 ok, 1 warning, 2 critical, 3 unknown): the report above"; \
	echo "is also in reports/latest/ (report.md, junit.xml too). Stop the sandbox with: $(BIN)/upkeep sandbox down"

lint: $(STAMP)
	$(BIN)/ansible-lint --profile production roles playbooks

test: $(STAMP) lint
	$(BIN)/pytest -q -p no:cacheprovider

# The supported Pythons besides .venv's 3.11 (3.12, 3.13): each in its own .venv-X.Y, the install
# and a fast subset; a Python that is not installed is skipped with a line saying so.
test-pythons:
	tests/pythons.sh

sandbox-down: $(STAMP)
	$(BIN)/upkeep sandbox down

bench: $(STAMP)
	$(BIN)/python benchmarks/daily_fleet.py

clean:
	-$(BIN)/upkeep sandbox down
	rm -rf $(VENV) .venv-3.* reports .sandbox
