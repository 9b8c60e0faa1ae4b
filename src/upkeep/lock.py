"""One run of a cadence at a time: ``upkeep run`` holds ``REPORT_DIR/.lock-<cadence>`` with
``flock`` for as long as it runs.

flock, not a PID file: the kernel drops the lock when the process ends however it ends (kill
-9, a crash, a reboot), so a stale lock never blocks the next timer. The file is never deleted
(deleting a lock file races with a process about to take it); it holds the holder's PID and
start time so the second start can say who is running.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import pathlib
from typing import Iterator

# EX_TEMPFAIL (sysexits.h): "try again later", distinct from every verdict code (0-3) and 64.
EXIT_ALREADY_RUNNING = 75


class AlreadyRunning(RuntimeError):
    """Another process holds the cadence's lock; the message names it."""


def lock_path(report_dir: pathlib.Path, cadence: str) -> pathlib.Path:
    return pathlib.Path(report_dir) / (".lock-%s" % cadence)


@contextlib.contextmanager
def cadence_lock(report_dir: pathlib.Path, cadence: str) -> Iterator[pathlib.Path]:
    """Hold the lock of ``cadence`` under ``report_dir``; AlreadyRunning when another run has it.
    OSError when the lock file cannot be made (the caller decides whether to run without)."""
    path = lock_path(report_dir, cadence)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise AlreadyRunning("%s is already running (%s; lock %s)" % (cadence, holder, path)) from None
        os.ftruncate(fd, 0)
        started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        os.pwrite(fd, ("pid %d since %s\n" % (os.getpid(), started)).encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock
