# Two commands do all the set-up: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint unit install sandbox-down clean bench

install: $(STAMP)

# Reinstall only when the declared dependencies change.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# Brings the sandbox up (it stays up for more runs until `upkeep sandbox down`), runs the daily
# cadence and says where the report is. Succeeds whenever a report was written, whatever the
# checks found: the exit code of the run is the checks' verdict, not the demo's.
demo: $(STAMP)
	$(BIN)/upkeep sandbox up
	@$(BIN)/upkeep run daily; rc=$$?; \
	if [ ! -f reports/latest/report.json ]; then echo "demo: no report was written (upkeep exited $$rc)"; exit 1; fi; \
	echo ""; \
	echo "Daily run finished with exit code $$rc (0 ok, 1 warning, 2 critical, 3 unknown)."; \
	echo "Report: $$(cd reports/latest && pwd -P)/report.html"; \
	echo "        (also report.json, report.md, junit.xml; reports/latest points at the newest run)"; \
	echo "Stop the sandbox with: $(BIN)/upkeep sandbox down"

lint: $(STAMP)
	$(BIN)/ansible-lint --profile production roles playbooks

test: $(STAMP) lint
	$(BIN)/pytest -q -p no:cacheprovider

sandbox-down: $(STAMP)
	$(BIN)/upkeep sandbox down

bench: $(STAMP)
	$(BIN)/python benchmarks/daily_fleet.py

clean:
	-$(BIN)/upkeep sandbox down
	rm -rf $(VENV) reports .sandbox
