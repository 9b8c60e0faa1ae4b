#!/usr/bin/env bash
# `make test-pythons`: proves upkeep installs and works on the newer Pythons it supports
# (pyproject.toml: requires-python >=3.11,<3.14, the range ansible-core 2.19 supports; `make test`
# covers 3.11 in .venv). For each version: a venv of its own (.venv-X.Y, gitignored, rebuilt
# when pyproject.toml or the interpreter changes), the project with its test extra from the pinned
# requirements, then a fast subset that exercises that interpreter for real: the report,
# contract, CLI, plugin, log and npm logic in-process, and real ansible-playbook runs through the
# wrapper and the callback plugin on that Python. A version that is not installed is skipped
# with a line saying so, never a failure: not every machine has every Python.
#
# UPKEEP_TEST_PYTHONS="3.12 3.13" chooses the versions.
set -uo pipefail
cd "$(dirname "$0")/.."

VERSIONS=${UPKEEP_TEST_PYTHONS:-3.12 3.13}
SUBSET=(
  tests/unit/report tests/unit/cli tests/unit/plugins tests/unit/logs tests/unit/npm
  tests/unit/smtp  # aiosmtpd and a TLS server on loopback: the controller-side network stack
  # One wrapper run through ansible-runner and one plain ansible-playbook run with the callback:
  # the interpreter runs the modules, the callback and the report end to end.
  "tests/e2e/test_wrapper_run.py::test_exit_code_follows_the_worst_check[critical-2]"
  tests/e2e/test_wrapper_callback.py::test_plain_ansible_playbook_writes_the_same_report_as_the_wrapper
)

# The interpreter for version $1, or nothing. A candidate must really run and be that version:
# a pyenv shim on PATH answers to python3.12 even when pyenv has no 3.12 selected.
find_python() {
  local version=$1 candidate
  for candidate in "$(command -v "python$version" 2>/dev/null)" \
                   $(ls -d "$HOME"/.pyenv/versions/"$version".*/bin/"python$version" 2>/dev/null | sort -V -r); do
    [ -n "$candidate" ] || continue
    if [ "$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$version" ]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

failed=()
summary=()
for version in $VERSIONS; do
  python=$(find_python "$version") || {
    echo "skipped: python$version not found (looked for python$version on PATH and under ~/.pyenv/versions/$version.*)"
    summary+=("python$version: skipped (not found)")
    continue
  }
  venv=.venv-$version
  started=$SECONDS
  echo "== python$version: $python ($("$python" --version 2>&1)) in $venv"
  # The stamp names the interpreter: a venv of another patch release (pyenv replaced 3.12.1) is rebuilt too.
  if [ "$(cat "$venv/.installed-stamp" 2>/dev/null)" != "$python" ] || [ pyproject.toml -nt "$venv/.installed-stamp" ]; then
    rm -rf "$venv"
    if ! { "$python" -m venv "$venv" &&
           "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip &&
           "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test]'; }; then
      echo "FAILED: python$version: the project and its test extra did not install (pip's message above)"
      failed+=("$version")
      summary+=("python$version: install FAILED")
      continue
    fi
    echo "$python" > "$venv/.installed-stamp"
  fi
  # The compiled dependencies load on this Python (psycopg's bundled libpq, which the subset does
  # not reach without a PostgreSQL cluster; cryptography), and which versions were installed.
  if ! "$venv/bin/python" - <<'PY'
import importlib.metadata as md, psycopg
from cryptography import x509  # noqa: F401
import aiosmtpd, ansible_runner, cvss, httpx, jinja2, rich  # noqa: F401
assert psycopg.pq.__impl__ == "binary", "psycopg uses %s libpq, not psycopg[binary]'s" % psycopg.pq.__impl__
print("   ", ", ".join("%s %s" % (name, md.version(name)) for name in
                     ("ansible-core", "ansible-runner", "psycopg-binary", "cryptography", "httpx", "jsonschema")))
PY
  then
    echo "FAILED: python$version: a dependency does not load (message above)"
    failed+=("$version")
    summary+=("python$version: dependencies FAILED")
    continue
  fi
  # -p no:cacheprovider: no .pytest_cache written by a second interpreter into the checkout.
  if "$venv/bin/python" -m pytest -q -p no:cacheprovider "${SUBSET[@]}"; then
    summary+=("python$version: passed in $((SECONDS - started)) s")
  else
    failed+=("$version")
    summary+=("python$version: tests FAILED after $((SECONDS - started)) s")
  fi
done

echo ""
printf '%s\n' "${summary[@]}"
[ ${#failed[@]} -eq 0 ]
