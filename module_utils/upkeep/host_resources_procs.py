# -*- coding: utf-8 -*-
"""Processes found by name in /proc, for ``host.services`` on hosts without a running systemd
(containers, old init systems, apps run by pm2 or by hand). Standard library only."""

from __future__ import annotations

import os


def _read_bytes(path):
    with open(path, "rb") as handle:
        return handle.read()


def process_matches(comm, argv, process=None, cmdline=None):
    """Whether one process is the one looked for.

    ``process`` is a program name: equal to the kernel's comm (which it truncates to 15
    characters) or to the base name of argv[0] (what ``exec -a`` and process managers set, and
    what ps shows for interpreters like node). ``cmdline`` is text the whole command line must
    contain (``server.js`` tells the app's node from any other). Both given: both must hold."""
    if process:
        first = os.path.basename(argv[0]) if argv else ""
        if comm != process[:15] and first != process:
            return False
    if cmdline:
        if cmdline not in " ".join(argv):
            return False
    return bool(process or cmdline)


def find_processes(process=None, cmdline=None, proc_dir="/proc"):
    """PIDs (sorted) of the processes that match, this one excluded. Raises OSError when
    ``proc_dir`` cannot be listed; a process that ends or hides while being read is skipped."""
    own = os.getpid()
    found = []
    for entry in os.listdir(proc_dir):
        if not entry.isdigit() or int(entry) == own:
            continue
        base = os.path.join(proc_dir, entry)
        try:
            comm = _read_bytes(os.path.join(base, "comm")).decode("utf-8", "replace").rstrip("\n")
            raw = _read_bytes(os.path.join(base, "cmdline"))
        except OSError:
            continue
        argv = [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]
        if process_matches(comm, argv, process, cmdline):
            found.append(int(entry))
    return sorted(found)


def proc_hidden(proc_dir="/proc", mounts_path="/proc/self/mounts"):
    """Why other users' processes may be invisible here (a /proc mounted with hidepid and a
    caller that is not root), or None: a process not found must not be called missing then."""
    if os.geteuid() == 0:
        return None
    try:
        with open(mounts_path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        return "whether %s hides processes is unknown (%s unreadable: %s)" % (proc_dir, mounts_path, exc.strerror)
    for line in lines:
        fields = line.split()
        if len(fields) >= 4 and fields[1] == proc_dir and fields[2] == "proc":
            options = fields[3].split(",")
            if any(option.startswith("hidepid=") and option not in ("hidepid=0", "hidepid=off") for option in options):
                return "%s is mounted with %s: other users' processes are hidden from this user" % (
                    proc_dir, next(option for option in options if option.startswith("hidepid=")))
    return None
