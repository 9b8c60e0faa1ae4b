"""host.* logic on this machine: the real /proc, real statvfs, a real tmpfs filled to 95 %, real
processes started here; and the parsers on /proc-shaped text written by the test (an old
kernel's meminfo, a mounts file with bind mounts, tmpfs, overlay and escaped spaces)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from ansible.module_utils.upkeep.host_resources import (parse_meminfo, parse_mounts, prepare, run_host_checks,
                                                          select_mounts)
from ansible.module_utils.upkeep.host_resources_procs import find_processes
from ansible.module_utils.upkeep.result import ParameterError
from tests.support.tmpfs import PAGE, fill, tmpfs

OLD_KERNEL_MEMINFO = """\
MemTotal:        2048000 kB
MemFree:          100000 kB
Buffers:           50000 kB
Cached:           250000 kB
SwapCached:            0 kB
SwapTotal:       1000000 kB
SwapFree:         100000 kB
"""

MOUNTS = r"""/dev/sda1 / ext4 rw,relatime 0 0
proc /proc proc rw,nosuid 0 0
tmpfs /run tmpfs rw,nosuid,size=403000k 0 0
/dev/sda1 /var/lib/docker/bind ext4 rw,relatime 0 0
overlay /var/lib/docker/overlay2/abc/merged overlay rw,lowerdir=/x:/y 0 0
/dev/sdb1 /srv/My\040Data ext4 rw 0 0
/dev/loop3 /snap/core/123 squashfs ro 0 0
server:/export /mnt/nfs nfs4 rw 0 0
tmpfs /run/user/0 tmpfs rw 0 0
"""


def by_id(checks):
    return {(item["id"], item["target"]): item for item in checks}


def test_the_real_machine_is_read_and_judged():
    checks = run_host_checks({"checks": ["load", "memory", "disk"]})
    load, memory = by_id(checks)[("host.load", "load")], by_id(checks)[("host.memory", "memory")]
    assert load["status"] in ("ok", "warning", "critical")
    assert load["metrics"]["cpu_cores"] == os.cpu_count() and load["metrics"]["load_5m"] >= 0
    assert load["thresholds"] == {"load_per_core_5m": {"warning": 1.5, "critical": 3.0}}
    with open("/proc/meminfo") as handle:
        total_kib = int(handle.readline().split()[1])
    assert memory["metrics"]["memory_total_bytes"] == total_kib * 1024 and memory["estimated"] is False
    root = by_id(checks)[("host.disk", "/")]
    stat = os.statvfs("/")
    assert root["metrics"]["disk_total_bytes"] == stat.f_blocks * stat.f_frsize
    assert root["status"] != "unknown" and 0 < root["metrics"]["disk_used_pct"] < 100
    # tmpfs, proc, cgroup ... are no disks
    assert {item["target"] for item in checks if item["id"] == "host.disk"} >= {"/"}
    assert not [item for item in checks if item["id"] == "host.disk" and item["target"].startswith(("/proc", "/sys"))]


def test_old_kernel_meminfo_estimates_available_memory(tmp_path):
    (tmp_path / "meminfo").write_text(OLD_KERNEL_MEMINFO)
    (tmp_path / "loadavg").write_text("7.50 6.00 1.00 3/103 13437\n")
    checks = by_id(run_host_checks({"checks": ["load", "memory"]}, proc_dir=str(tmp_path)))
    memory = checks[("host.memory", "memory")]
    # available = free + buffers + cached = 400000 kB of 2048000: 80.5 % used; swap 90 % used.
    assert memory["metrics"]["memory_available_bytes"] == 400000 * 1024 and memory["metrics"]["memory_used_pct"] == 80.5
    assert memory["estimated"] is True and "estimated" in memory["summary"]
    assert memory["metrics"]["swap_used_pct"] == 90.0 and memory["status"] == "critical"
    assert [item["title"] for item in memory["findings"]] == ["Swap 90.0 % in use"]
    assert checks[("host.load", "load")]["metrics"]["load_5m"] == 6.0


def test_unreadable_proc_files_are_unknown_with_the_reason(tmp_path):
    checks = run_host_checks({"checks": ["load", "memory", "disk"]}, proc_dir=str(tmp_path / "none"),
                             mounts_path=str(tmp_path / "none" / "mounts"))
    assert [item["status"] for item in checks] == ["unknown"] * 3
    assert all("cannot read %s" % (tmp_path / "none") in item["summary"] for item in checks)
    (tmp_path / "meminfo").write_text("garbage\n")
    (tmp_path / "loadavg").write_text("")
    checks = run_host_checks({"checks": ["load", "memory"]}, proc_dir=str(tmp_path))
    assert [item["status"] for item in checks] == ["unknown", "unknown"]
    assert "not /proc/loadavg content" in checks[0]["summary"] and "holds no MemTotal" in checks[1]["summary"]


def test_mounts_parsing_and_selection():
    mounts = parse_mounts(MOUNTS)
    assert mounts[5]["mount_point"] == "/srv/My Data"
    chosen = [item["mount_point"] for item in select_mounts(mounts)]
    # the bind mount of /dev/sda1, tmpfs, overlay, proc and the squashfs snap are left out
    assert chosen == ["/", "/srv/My Data", "/mnt/nfs"]
    assert [item["mount_point"] for item in select_mounts(mounts, include=["/run"], exclude=["/mnt/*"])] == [
        "/", "/run", "/srv/My Data"]


def test_a_real_tmpfs_filled_to_95_percent_is_critical(tmp_path):
    with tmpfs(100) as mount:
        fill(mount, leave_bytes=5 * PAGE)
        checks = by_id(run_host_checks({"checks": ["disk"], "mounts_include": [str(mount)]}))
        disk = checks[("host.disk", str(mount))]
        assert disk["status"] == "critical", disk
        assert disk["metrics"]["disk_used_pct"] == 95.0 and disk["metrics"]["disk_free_bytes"] == 5 * PAGE
        assert disk["findings"][0]["severity"] == "critical" and str(mount) in disk["findings"][0]["title"]
        # not included, a tmpfs is memory and is not listed as a disk
        assert str(mount) not in {target for _, target in by_id(run_host_checks({"checks": ["disk"]}))}
    missing = by_id(run_host_checks({"checks": ["disk"], "mounts_include": [str(tmp_path) + "/"]}))[("host.disk", str(tmp_path))]
    assert missing["status"] == "unknown" and "is not a mount point" in missing["summary"]


def test_inodes_are_judged_too(tmp_path):
    with tmpfs(1000) as mount:
        subprocess.run(["mount", "-o", "remount,nr_inodes=20", str(mount)], check=True)
        for index in range(19):
            (mount / str(index)).touch()
        disk = by_id(run_host_checks({"checks": ["disk"], "mounts_include": [str(mount)]}))[("host.disk", str(mount))]
        assert disk["metrics"]["inodes_used_pct"] >= 90 and disk["status"] == "critical"
        assert [item["title"].split(" ")[0] for item in disk["findings"]] == ["Inodes"]


@pytest.fixture
def renamed_sleep():
    name = "upkeep-test-svc-%d" % os.getpid()
    proc = subprocess.Popen(["bash", "-c", "exec -a %s sleep 300" % name])
    try:
        deadline = time.monotonic() + 5
        while not find_processes(name) and time.monotonic() < deadline:
            time.sleep(0.05)
        yield name, proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_a_running_process_is_found_by_name_and_a_missing_one_is_critical(renamed_sleep):
    name, pid = renamed_sleep
    services = [{"name": "node app", "process": name}, {"name": "python", "process": os.path.basename(sys.executable),
                                                           "cmdline": "upkeep-marker-%d" % pid},
                {"name": "web server", "process": "nginx-not-here"}]
    marker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "upkeep-marker-%d" % pid])
    try:
        time.sleep(0.3)
        checks = by_id(run_host_checks({"checks": ["services"], "services": services}))
    finally:
        marker.kill()
        marker.wait()
    found = checks[("host.services", "node app")]
    assert found["status"] == "ok" and found["pids"] == [pid] and found["metrics"] == {"up": 1, "processes_count": 1}
    assert checks[("host.services", "python")]["pids"] == [marker.pid]
    missing = checks[("host.services", "web server")]
    assert missing["status"] == "critical" and missing["summary"] == "no process nginx-not-here running"
    assert missing["findings"][0]["title"] == "Service web server is not running"


def test_a_unit_without_systemd_falls_back_to_the_process_or_says_why_not():
    if os.path.isdir("/run/systemd/system"):
        pytest.skip("systemd runs here: units are asked for real")
    services = [{"name": "db", "unit": "postgresql.service", "process": "no-such-proc"},
                {"name": "web", "unit": "nginx.service"}]
    checks = by_id(run_host_checks({"checks": ["services"], "services": services}, systemctl=shutil.which("systemctl")))
    assert checks[("host.services", "db")]["status"] == "critical"
    web = checks[("host.services", "web")]
    assert web["status"] == "unknown" and "no running systemd here" in web["summary"]


@pytest.mark.parametrize("params, message", [
    ({"disk_warning_pct": 95, "disk_critical_pct": 90}, "disk_warning_pct: must not exceed disk_critical_pct"),
    ({"load_warning_per_core": "x"}, "load_warning_per_core: must be a number >= 0, got 'x'"),
    ({"checks": ["cpu"]}, "checks: unknown check 'cpu'"),
    ({"services": [{"name": "x"}]}, "services[0]: needs a unit, a process or a cmdline"),
    ({"services": [{"name": "x", "proces": "y"}]}, "services[0]: unsupported option proces"),
    ({"mounts_exclude": "/snap"}, "mounts_exclude: must be a list"),
])
def test_bad_parameters_are_named(params, message):
    with pytest.raises(ParameterError, match=None) as raised:
        prepare(params)
    assert str(raised.value).startswith(message)


def test_meminfo_units():
    assert parse_meminfo("MemTotal: 10 kB\nHugePages_Total: 3\n") == {"MemTotal": 10240, "HugePages_Total": 3}
