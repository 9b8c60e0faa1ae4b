"""Fixtures for the host-side log modules: generated sandbox logs and a Python with only the
standard library (a bare app host's interpreter)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from upkeep.sandbox.extensions import logs as sandbox_logs


@pytest.fixture(scope="session")
def stdlib_python(tmp_path_factory) -> str:
    """A venv without pip and without site-packages: modules that import anything beyond the
    standard library fail under it."""
    venv = tmp_path_factory.mktemp("stdlib-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--clear", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    probe = subprocess.run([str(python), "-c", "import yaml"], capture_output=True, timeout=30)
    assert probe.returncode != 0, "the bare interpreter must not see third-party packages"
    return str(python)


@pytest.fixture()
def host_logs(tmp_path) -> pathlib.Path:
    """Two weeks of sandbox host logs ending now, under tmp_path/hostlogs."""
    directory = tmp_path / "hostlogs"
    sandbox_logs.generate(directory)
    return directory
