"""Shared test set-up: make the repo's module_utils importable as Ansible would, and expose the
real-server fixtures every test layer uses."""

from __future__ import annotations

import os
import pathlib
import sys
import tempfile

import ansible.module_utils

REPO = pathlib.Path(__file__).resolve().parent.parent

# Modules import ``ansible.module_utils.upkeep.*``; Ansible finds it through ansible.cfg's
# module_utils path, plain tests through this extension of the package path.
if str(REPO / "module_utils") not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(str(REPO / "module_utils"))
if str(REPO / "library") not in sys.path:
    sys.path.insert(0, str(REPO / "library"))

os.chdir(REPO)

# Plain ansible-playbook runs of the repo's playbooks write a report to the checkout's reports/
# (ansible.cfg), and so does the wrapper by default: tests write theirs to one throwaway
# directory instead, unless a test names its own.
if "UPKEEP_REPORT_DIR" not in os.environ:
    os.environ["UPKEEP_REPORT_DIR"] = tempfile.mkdtemp(prefix="upkeep-test-reports-")

# Every report the tests make is checked against the shipped JSON Schema before it is written
# (src/upkeep/report/contract.py): in-process publish calls, and the wrapper and ansible-playbook's
# callback plugin, which inherit the variable as subprocesses.
os.environ["UPKEEP_VALIDATE_REPORTS"] = "1"

pytest_plugins = [
    "tests.support.fixtures_pki",
    "tests.support.fixtures_http",
    "tests.support.fixtures_pg",
    "tests.support.fixtures_smtp",
]
