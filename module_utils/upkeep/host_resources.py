# -*- coding: utf-8 -*-
"""``host.*``: the app host's own resources (maintenance guide, "System Resources: CPU, memory,
disk usage") and its key services.

- ``host.load``: the 5-minute load average per core (/proc/loadavg, os.cpu_count()).
- ``host.memory``: MemAvailable against MemTotal, and swap in use (/proc/meminfo).
- ``host.disk``: per real filesystem (/proc/self/mounts), blocks and inodes in use (os.statvfs).
  The fill-date estimate needs history, which a host does not have: the report adds it
  (src/upkeep/report/forecast.py) from the ``disk_used_bytes`` series.
- ``host.services``: each configured service up, as a systemd unit (``systemctl is-active``)
  where systemd runs, else as processes found by name in /proc. A missing one is critical.

Host side: standard library only. A file that cannot be read is an ``unknown`` check naming it,
never ``ok``: DESIGN.md's "a check never says ok about data it did not read".
"""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess

from .result import CRITICAL, OK, UNKNOWN, WARNING, ParameterError, Stopwatch, check, finding, judge, \
    thresholds, worst
from .host_resources_procs import find_processes, proc_hidden

CHECKS = ("load", "memory", "disk", "services")
DEFAULTS = {
    # Per core, on the 5-minute average: the 1-minute one jumps with every cron job and a daily
    # snapshot should not turn on that.
    "load_warning_per_core": 1.5, "load_critical_per_core": 3.0,
    "memory_warning_pct": 85.0, "memory_critical_pct": 95.0,
    "swap_warning_pct": 50.0, "swap_critical_pct": 80.0,
    "disk_warning_pct": 80.0, "disk_critical_pct": 90.0,
    "inodes_warning_pct": 80.0, "inodes_critical_pct": 90.0,
    "mounts_include": [], "mounts_exclude": [], "services": [], "checks": list(CHECKS),
    "timeout_s": 10.0,
}

# Filesystems that hold no data of their own (kernel views, memory, container layers, read-only
# images that are full by construction). tmpfs and overlay are left out by default too: a tmpfs
# is memory (host.memory covers it) and an overlay is a container's view of a disk checked
# elsewhere; name a mount point in mounts_include to check one anyway.
PSEUDO_FSTYPES = frozenset((
    "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts", "devtmpfs", "efivarfs",
    "fusectl", "hugetlbfs", "mqueue", "nsfs", "overlay", "proc", "pstore", "ramfs", "rpc_pipefs", "securityfs",
    "selinuxfs", "squashfs", "sysfs", "tmpfs", "tracefs", "iso9660", "udf", "nfsd", "fuse.lxcfs",
    "fuse.gvfsd-fuse", "fuse.portal", "fuse.snapfuse", "shm",
))

_OCTAL = re.compile(r"\\([0-7]{3})")


def _number(params, name):
    value = params.get(name)
    if value is None:
        return DEFAULTS[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ParameterError("%s: must be a number >= 0, got %r" % (name, value))
    return float(value)


def prepare(params):
    """Validated options with defaults filled in; ParameterError names the bad one."""
    options = {key: _number(params, key) for key, value in DEFAULTS.items() if isinstance(value, float)}
    for low, high in (("load_warning_per_core", "load_critical_per_core"), ("memory_warning_pct", "memory_critical_pct"),
                      ("swap_warning_pct", "swap_critical_pct"), ("disk_warning_pct", "disk_critical_pct"),
                      ("inodes_warning_pct", "inodes_critical_pct")):
        if options[low] > options[high]:
            raise ParameterError("%s: must not exceed %s (%s > %s)" % (low, high, options[low], options[high]))
    if not options["timeout_s"] > 0:
        raise ParameterError("timeout_s: must be > 0, got %r" % options["timeout_s"])
    selected = params.get("checks") or list(CHECKS)
    unknown = [name for name in selected if name not in CHECKS]
    if unknown:
        raise ParameterError("checks: unknown check %s (choose from %s)" % (", ".join(map(repr, unknown)), ", ".join(CHECKS)))
    options["checks"] = list(selected)
    for key in ("mounts_include", "mounts_exclude"):
        value = params.get(key) or []
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise ParameterError("%s: must be a list of mount points (or patterns), got %r" % (key, value))
        options[key] = value
    # "/data/" names the mount point "/data": the kernel lists it without the slash.
    options["mounts_include"] = [os.path.normpath(path) for path in options["mounts_include"]]
    options["services"] = [_service(item, index) for index, item in enumerate(params.get("services") or [])]
    return options


def _service(item, index):
    where = "services[%d]" % index
    if isinstance(item, str):
        item = {"name": item, "process": item}
    if not isinstance(item, dict):
        raise ParameterError("%s: must be a mapping with name and unit, process or cmdline, got %r" % (where, item))
    extra = sorted(set(item) - {"name", "unit", "process", "cmdline"})
    if extra:
        raise ParameterError("%s: unsupported option %s (use name, unit, process, cmdline)" % (where, ", ".join(extra)))
    if not any(item.get(key) for key in ("unit", "process", "cmdline")):
        raise ParameterError("%s: needs a unit, a process or a cmdline to look for, got %r" % (where, item))
    name = item.get("name") or item.get("unit") or item.get("process") or item.get("cmdline")
    return {"name": str(name), "unit": item.get("unit"), "process": item.get("process"), "cmdline": item.get("cmdline")}


def _read(path):
    """Text of ``path``, or (None, reason) when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(), None
    except OSError as exc:
        return None, "cannot read %s: %s" % (path, exc.strerror or exc)


# -- parsing (pure functions: tests feed them /proc-shaped text) -------------------------------

def parse_loadavg(text):
    """(1-, 5-, 15-minute load) of /proc/loadavg's text."""
    fields = text.split()
    try:
        return float(fields[0]), float(fields[1]), float(fields[2])
    except (IndexError, ValueError):
        raise ValueError("not /proc/loadavg content: %r" % text[:80])


def parse_meminfo(text):
    """{field: bytes} of /proc/meminfo's text (its kB are KiB)."""
    values = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            try:
                values[name.strip()] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
            except ValueError:
                continue
    return values


def unescape_mount_field(field):
    """A mounts field with the kernel's octal escapes (space as \\040, tab, newline, backslash) undone."""
    return _OCTAL.sub(lambda found: chr(int(found.group(1), 8)), field)


def parse_mounts(text):
    """[{device, mount_point, fstype, options}] of /proc/self/mounts' text, in mount order."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 4:
            mounts.append({"device": unescape_mount_field(fields[0]), "mount_point": unescape_mount_field(fields[1]),
                           "fstype": fields[2], "options": fields[3].split(",")})
    return mounts


def select_mounts(mounts, include=(), exclude=()):
    """The mounts worth a disk check: real filesystems, each device once (a bind mount shows the
    same blocks again under another path), minus ``exclude`` patterns; every mount point named
    in ``include`` is kept whatever its type. Later mounts over the same path win (they hide the
    earlier one)."""
    by_path = {}
    for mount in mounts:
        by_path.pop(mount["mount_point"], None)
        by_path[mount["mount_point"]] = mount
    chosen, devices = [], set()
    for mount in by_path.values():
        path = mount["mount_point"]
        if any(fnmatch.fnmatchcase(path, pattern) for pattern in exclude):
            continue
        if path not in include:
            if mount["fstype"] in PSEUDO_FSTYPES:
                continue
            # A block device (or a network share) mounted twice is one filesystem: the first
            # mount point, usually the shortest, names it.
            key = (mount["device"], mount["fstype"])
            if key in devices:
                continue
            devices.add(key)
        chosen.append(mount)
    return chosen


# -- checks --------------------------------------------------------------------------------------

def load_check(options, proc_dir="/proc", cores=None):
    with Stopwatch() as watch:
        text, reason = _read(os.path.join(proc_dir, "loadavg"))
        cores = cores or os.cpu_count()
        if text is None or not cores:
            return check("host.load", "load", UNKNOWN, reason or "the number of CPU cores is not known",
                         duration_ms=watch.ms)
        try:
            one, five, fifteen = parse_loadavg(text)
        except ValueError as exc:
            return check("host.load", "load", UNKNOWN, str(exc), duration_ms=watch.ms)
    per_core = round(five / cores, 2)
    warn, crit = options["load_warning_per_core"], options["load_critical_per_core"]
    status = judge(per_core, warn, crit)
    findings = [] if status == OK else [finding(
        status, "Load %.2f per core over 5 minutes" % per_core, "load",
        "load averages %.2f / %.2f / %.2f on %d cores" % (one, five, fifteen, cores),
        "Find what keeps the CPUs busy (top, the app's request rate, a runaway job); add cores if it is the traffic.")]
    return check("host.load", "load", status, "load %.2f per core (5 min), %d cores" % (per_core, cores),
                 metrics={"load_1m": one, "load_5m": five, "load_15m": fifteen, "cpu_cores": cores,
                          "load_per_core_5m": per_core, "load_per_core_1m": round(one / cores, 2)},
                 thresholds={"load_per_core_5m": thresholds(warn, crit)}, findings=findings, duration_ms=watch.ms)


def memory_check(options, proc_dir="/proc"):
    with Stopwatch() as watch:
        path = os.path.join(proc_dir, "meminfo")
        text, reason = _read(path)
        if text is None:
            return check("host.memory", "memory", UNKNOWN, reason, duration_ms=watch.ms)
        info = parse_meminfo(text)
    total = info.get("MemTotal")
    if not total:
        return check("host.memory", "memory", UNKNOWN, "%s holds no MemTotal" % path, duration_ms=watch.ms)
    estimated = "MemAvailable" not in info
    # Kernels before 3.14 do not write MemAvailable; free + buffers + page cache (+ reclaimable
    # slab) is what it approximates, and the summary says the figure is an estimate.
    available = info["MemAvailable"] if not estimated else sum(
        info.get(name, 0) for name in ("MemFree", "Buffers", "Cached", "SReclaimable"))
    used_pct = round(100.0 * (total - available) / total, 1)
    swap_total, swap_free = info.get("SwapTotal", 0), info.get("SwapFree", 0)
    swap_used = max(swap_total - swap_free, 0)
    swap_pct = round(100.0 * swap_used / swap_total, 1) if swap_total else 0.0
    o = options
    memory_status = judge(used_pct, o["memory_warning_pct"], o["memory_critical_pct"])
    swap_status = judge(swap_pct, o["swap_warning_pct"], o["swap_critical_pct"]) if swap_total else OK
    findings = []
    if memory_status != OK:
        findings.append(finding(memory_status, "Memory %.1f %% in use" % used_pct, "memory",
                                "%d MiB available of %d MiB" % (available >> 20, total >> 20),
                                "Look for the process that grew (the Node app's heap, PostgreSQL's work_mem "
                                "times connections); restart or resize."))
    if swap_status != OK:
        findings.append(finding(swap_status, "Swap %.1f %% in use" % swap_pct, "swap",
                                "%d MiB of %d MiB swap used" % (swap_used >> 20, swap_total >> 20),
                                "The host is short of memory: find what pushed pages out, add memory."))
    summary = "memory %.1f %% used (%d MiB available%s), swap %s" % (
        used_pct, available >> 20, ", estimated: no MemAvailable in %s" % path if estimated else "",
        "%.1f %% used" % swap_pct if swap_total else "none")
    return check("host.memory", "memory", worst([memory_status, swap_status]), summary,
                 metrics={"memory_total_bytes": total, "memory_available_bytes": available, "memory_used_pct": used_pct,
                          "swap_total_bytes": swap_total, "swap_used_bytes": swap_used, "swap_used_pct": swap_pct},
                 thresholds={"memory_used_pct": thresholds(o["memory_warning_pct"], o["memory_critical_pct"]),
                             "swap_used_pct": thresholds(o["swap_warning_pct"], o["swap_critical_pct"])},
                 findings=findings, duration_ms=watch.ms, estimated=estimated)


def disk_checks(options, mounts_path="/proc/self/mounts"):
    text, reason = _read(mounts_path)
    if text is None:
        return [check("host.disk", "mounts", UNKNOWN, reason)]
    listed = parse_mounts(text)
    mounts = select_mounts(listed, options["mounts_include"], options["mounts_exclude"])
    results = [disk_check(mount["mount_point"], options) for mount in mounts]
    mounted = {mount["mount_point"] for mount in listed}
    for path in options["mounts_include"]:
        if path not in mounted:
            results.append(check("host.disk", path, UNKNOWN, "%s is not a mount point in %s" % (path, mounts_path),
                                 findings=[finding(WARNING, "Configured mount missing", path,
                                                   "mounts_include names it but nothing is mounted there",
                                                   "Mount it, or take it out of mounts_include.")]))
    if not results:
        results.append(check("host.disk", "mounts", UNKNOWN, "no real filesystem in %s" % mounts_path))
    return results


def disk_check(path, options):
    with Stopwatch() as watch:
        try:
            stat = os.statvfs(path)
        except OSError as exc:
            return check("host.disk", path, UNKNOWN, "cannot statvfs %s: %s" % (path, exc.strerror or exc),
                         duration_ms=watch.ms)
    size = stat.f_frsize or stat.f_bsize
    used = (stat.f_blocks - stat.f_bfree) * size
    avail = stat.f_bavail * size
    if used + avail <= 0:
        return check("host.disk", path, UNKNOWN, "%s reports no blocks" % path, duration_ms=watch.ms)
    # As df computes it: blocks reserved for root count neither as used nor as available.
    used_pct = round(100.0 * used / (used + avail), 1)
    o = options
    metrics = {"disk_total_bytes": stat.f_blocks * size, "disk_used_bytes": used, "disk_free_bytes": avail,
               "disk_used_pct": used_pct}
    limits = {"disk_used_pct": thresholds(o["disk_warning_pct"], o["disk_critical_pct"])}
    statuses = [judge(used_pct, o["disk_warning_pct"], o["disk_critical_pct"])]
    findings = []
    if statuses[0] != OK:
        findings.append(finding(statuses[0], "Disk %s %.1f %% full" % (path, used_pct), path,
                                "%d MiB free of %d MiB" % (avail >> 20, metrics["disk_total_bytes"] >> 20),
                                "Free space (old logs, backups, npm caches, build output) or grow the filesystem."))
    inode_text = ""
    if stat.f_files:  # btrfs and some network filesystems have no fixed inode table: nothing to judge
        inodes_used = stat.f_files - stat.f_ffree
        inodes_pct = round(100.0 * inodes_used / stat.f_files, 1)
        metrics.update(inodes_total=stat.f_files, inodes_used=inodes_used, inodes_used_pct=inodes_pct)
        limits["inodes_used_pct"] = thresholds(o["inodes_warning_pct"], o["inodes_critical_pct"])
        statuses.append(judge(inodes_pct, o["inodes_warning_pct"], o["inodes_critical_pct"]))
        inode_text = ", inodes %.1f %%" % inodes_pct
        if statuses[1] != OK:
            findings.append(finding(statuses[1], "Inodes on %s %.1f %% used" % (path, inodes_pct), path,
                                    "%d of %d inodes" % (inodes_used, stat.f_files),
                                    "Many small files (sessions, caches, mail queue): find the directory and clean it."))
    return check("host.disk", path, worst(statuses), "%s %.1f %% used (%d MiB free)%s" % (
        path, used_pct, avail >> 20, inode_text), metrics=metrics, thresholds=limits, findings=findings,
        duration_ms=watch.ms)


def systemd_running():
    """sd_booted(): systemd is PID 1 exactly when this directory exists. A container may have a
    systemctl binary without a systemd to ask."""
    return os.path.isdir("/run/systemd/system")


def service_checks(options, systemctl=None, proc_dir="/proc"):
    results = []
    use_systemd = bool(systemctl) and systemd_running()
    for service in options["services"]:
        with Stopwatch() as watch:
            if service["unit"] and use_systemd:
                results.append(_unit_check(service, systemctl, options["timeout_s"], watch))
            elif service["process"] or service["cmdline"]:
                results.append(_process_check(service, proc_dir, watch))
            else:
                results.append(check("host.services", service["name"], UNKNOWN,
                                     "unit %s cannot be asked (no running systemd here) and no process name is "
                                     "configured to look for instead" % service["unit"], duration_ms=watch.ms))
    return results


def _unit_check(service, systemctl, timeout_s, watch):
    unit = service["unit"]
    try:
        done = subprocess.run([systemctl, "is-active", "--", unit], capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return check("host.services", service["name"], UNKNOWN, "systemctl is-active %s: %s" % (unit, exc),
                     duration_ms=watch.ms)
    state = (done.stdout.strip().splitlines() or ["unknown"])[0]
    if state in ("active", "reloading", "refreshing"):
        return check("host.services", service["name"], OK, "%s is %s" % (unit, state), metrics={"up": 1},
                     duration_ms=watch.ms, unit=unit, state=state)
    return check("host.services", service["name"], CRITICAL, "%s is %s" % (unit, state), metrics={"up": 0},
                 findings=[finding(CRITICAL, "Service %s is not running" % service["name"], unit,
                                   "systemctl is-active: %s" % state,
                                   "systemctl status %s; journalctl -u %s -n 100; then start it." % (unit, unit))],
                 duration_ms=watch.ms, unit=unit, state=state)


def _process_check(service, proc_dir, watch):
    try:
        pids = find_processes(service["process"], service["cmdline"], proc_dir)
    except OSError as exc:
        return check("host.services", service["name"], UNKNOWN, "cannot list processes in %s: %s" % (
            proc_dir, exc.strerror or exc), duration_ms=watch.ms)
    wanted = " ".join(filter(None, ("process %s" % service["process"] if service["process"] else "",
                                    "cmdline containing %r" % service["cmdline"] if service["cmdline"] else "")))
    if pids:
        return check("host.services", service["name"], OK, "%d process%s (%s)" % (
            len(pids), "" if len(pids) == 1 else "es", wanted), metrics={"up": 1, "processes_count": len(pids)},
            duration_ms=watch.ms, pids=pids[:10])
    hidden = proc_hidden(proc_dir)
    if hidden:
        return check("host.services", service["name"], UNKNOWN, "no %s visible, but %s" % (wanted, hidden),
                     duration_ms=watch.ms)
    return check("host.services", service["name"], CRITICAL, "no %s running" % wanted,
                 metrics={"up": 0, "processes_count": 0},
                 findings=[finding(CRITICAL, "Service %s is not running" % service["name"], service["name"],
                                   "no %s in %s" % (wanted, proc_dir),
                                   "Start it (its systemd unit, pm2 or the container) and find out why it stopped.")],
                 duration_ms=watch.ms)


def run_host_checks(params, systemctl=None, proc_dir="/proc", mounts_path="/proc/self/mounts"):
    """Every selected ``host.*`` check of this host. ``systemctl`` is the binary's path (None
    when there is none: services are then looked for as processes)."""
    options = prepare(params)
    results = []
    if "load" in options["checks"]:
        results.append(load_check(options, proc_dir))
    if "memory" in options["checks"]:
        results.append(memory_check(options, proc_dir))
    if "disk" in options["checks"]:
        results.extend(disk_checks(options, mounts_path))
    if "services" in options["checks"]:
        results.extend(service_checks(options, systemctl, proc_dir))
    return results
