"""A real, tiny filesystem for full-disk tests: a tmpfs mounted for the test and filled to the
brim. Mounting needs root (this machine and CI run the suite as root); elsewhere the test skips."""

from __future__ import annotations

import contextlib
import os
import pathlib
import subprocess
import tempfile

import pytest

PAGE = 4096


@contextlib.contextmanager
def tmpfs(pages: int):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = pathlib.Path(tempfile.mkdtemp(prefix="upkeep-full-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % (pages * PAGE), "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        mount.rmdir()


def fill(mount: pathlib.Path, leave_bytes: int = 0) -> None:
    """Fill ``mount`` until at most ``leave_bytes`` are free."""
    stat = os.statvfs(mount)
    free = stat.f_bavail * stat.f_frsize
    with open(mount / "ballast", "wb") as handle:
        try:
            handle.write(b"\0" * max(free - leave_bytes, 0))
        except OSError:
            pass  # full: exactly what was wanted
