# -*- coding: utf-8 -*-
"""Write upkeep's report from plain ansible-playbook and AWX runs.

A notification callback that loads without being enabled (it sits next to the playbooks, and
ansible-runner and AWX override ``callback_plugins``), never replaces the stdout callback, and
does nothing unless a report dir is configured. It feeds the same collector the ``upkeep``
wrapper uses and writes the same files and history row.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: upkeep_report
type: notification
short_description: Write upkeep reports (JSON, Markdown, HTML, JUnit) and history for a cadence run
description:
  - Collects the C(checks) every upkeep module returns, files each under its inventory host, and at the end of the
    playbook writes C(REPORT_DIR/<cadence>-<UTC timestamp>/) with C(report.json), C(report.md), C(report.html) and
    C(junit.xml), points C(REPORT_DIR/latest) at it and appends the run to C(REPORT_DIR/history.sqlite).
  - Before writing, the report is compared with the history store as the wrapper does it (metric trends, finding
    fingerprints and "new since last run", the weekly KPI section, the DR section of a drill).
  - The cadence is the playbook file name (C(playbooks/daily.yml) is C(daily)).
  - Always prints the verdict, the counts per host and the problems at the end of the run. Writes the report files
    when a report dir is configured (option O(report_dir), set in the repo's C(ansible.cfg), or the extra var
    C(upkeep_report_dir), which an AWX survey can expose). Does nothing when the C(upkeep) wrapper drives the run (it
    sets E(UPKEEP_WRAPPER) and writes the report itself).
  - Writing goes through the same end-of-run step as the wrapper (C(upkeep.report.publish)); a file that cannot be
    written (a full disk) is named, and the verdict is still printed.
  - A failed task without checks is reported as an C(unknown) check, an unreachable host as C(host.reachable) unknown.
  - With the extra var C(upkeep_prometheus_textfile) or E(UPKEEP_PROMETHEUS_TEXTFILE) set (a directory, or a path
    ending in C(.prom)), the run also writes a Prometheus textfile for node_exporter (C(upkeep.report.prometheus)).
  - Loads without being enabled (it is found next to the playbooks) and leaves the stdout callback alone.
requirements:
  - the upkeep checkout's C(src/) directory (added to the Python path from this file's location) or the C(upkeep)
    package installed, and C(jinja2)
options:
  report_dir:
    description:
      - Directory receiving the run directories, the C(latest) link and C(history.sqlite).
      - The extra var C(upkeep_report_dir) takes precedence when set.
    type: path
    env:
      - name: UPKEEP_REPORT_DIR
    ini:
      - section: callback_upkeep_report
        key: report_dir
  history:
    description: History store; default C(history.sqlite) in the report dir.
    type: path
    env:
      - name: UPKEEP_HISTORY
    ini:
      - section: callback_upkeep_report
        key: history
"""

import atexit
import os
import signal
import sys

from ansible import context
from ansible.plugins.callback import CallbackBase

# An AWX project checkout has the code but not the installed package: import it from the repo.
_SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "src"))
if os.path.isdir(os.path.join(_SRC, "upkeep")) and _SRC not in sys.path:
    sys.path.insert(0, _SRC)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "upkeep_report"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._collector = None
        self._cadence = None
        self._playbook = None
        self._extra_report_dir = None
        self._prometheus_textfile = None
        self._extra = {}
        self._done = False
        self._disabled = os.environ.get("UPKEEP_WRAPPER") == "1"

    # -- configuration -------------------------------------------------------------------

    def _report_dir(self):
        if self._extra_report_dir:
            return self._extra_report_dir
        try:
            return self.get_option("report_dir")
        except KeyError:
            return os.environ.get("UPKEEP_REPORT_DIR")

    def _history_path(self, report_dir):
        try:
            configured = self.get_option("history")
        except KeyError:
            configured = None
        return configured or os.path.join(report_dir, "history.sqlite")

    # -- hooks ---------------------------------------------------------------------------

    def v2_playbook_on_start(self, playbook):
        if self._disabled:
            return
        try:
            from upkeep.report.collector import Collector
        except ImportError as exc:
            self._display.warning("upkeep_report: cannot import the upkeep package (%s); no report will be written" % exc)
            self._disabled = True
            return
        name = os.path.basename(getattr(playbook, "_file_name", "") or "adhoc")
        self._cadence = os.path.splitext(name)[0] or "adhoc"
        self._playbook = os.path.abspath(getattr(playbook, "_file_name", "") or name)
        self._collector = Collector(self._cadence)
        atexit.register(self._write_if_unfinished)

    def v2_playbook_on_play_start(self, play):
        if self._collector is None:
            return
        try:
            extra = play.get_variable_manager().extra_vars or {}
        except AttributeError:
            extra = {}
        self._extra = {key: extra.get(key) for key in ("tower_job_id", "awx_job_id") if extra.get(key) is not None}
        if extra.get("upkeep_report_dir"):
            self._extra_report_dir = str(extra["upkeep_report_dir"])
        if extra.get("upkeep_prometheus_textfile"):
            self._prometheus_textfile = str(extra["upkeep_prometheus_textfile"])

    def _feed(self, outcome, result):
        if self._collector is None:
            return
        task = getattr(result, "task", None) or result._task
        host = getattr(result, "host", None) or result._host
        role = getattr(getattr(task, "_role", None), "_role_name", "") or ""
        res = getattr(result, "result", None)
        if res is None:
            res = result._result
        self._collector.task_result(outcome, host.get_name(), task.get_name(), role, dict(res or {}))

    def v2_runner_on_ok(self, result):
        self._feed("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._feed("failed", result)

    def v2_runner_on_unreachable(self, result):
        self._feed("unreachable", result)

    def v2_runner_on_skipped(self, result):
        self._feed("skipped", result)

    def v2_playbook_on_stats(self, stats):
        if self._collector is None:
            return
        self._collector.stats(sorted(stats.processed.keys()))
        rc = 0
        if any(stats.failures.get(h) for h in stats.processed):
            rc = 2
        elif any(stats.dark.get(h) for h in stats.processed):
            rc = 4
        self._write(ansible_rc=rc)

    # -- output --------------------------------------------------------------------------

    def _write_if_unfinished(self):
        """ansible-playbook stopped before its stats (Ctrl-C, a fatal error): write what was seen."""
        if self._collector is not None and not self._done and (self._collector.checks or self._collector.hosts):
            self._write(ansible_rc=None)

    def _write(self, ansible_rc):
        self._done = True
        # A second Ctrl-C while the (partial) report is being written would lose it: hold SIGINT
        # off for the second or two this takes. Only the main thread may touch signal handlers.
        try:
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:
            previous = None
        try:
            self._finish(ansible_rc)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def _finish(self, ansible_rc):
        """The closing lines (always: someone reading a cron mail or an AWX log sees the verdict)
        and, with a report dir, the report written by the end-of-run step the wrapper uses too."""
        try:
            from upkeep.report.summary import summary_text  # no rich: an AWX EE may lack it
            from upkeep.report.collector import run_versions
            from upkeep.report.publish import default_publishers, publish

            args = context.CLIARGS
            report_dir = self._report_dir()
            report = self._collector.report(ansible_rc=ansible_rc, run={
                "playbook": self._playbook,
                "inventory": ",".join(args.get("inventory") or ()),
                "limit": args.get("subset"),
                "tags": ",".join(t for t in args.get("tags") or () if t != "all") or None,
                "skip_tags": ",".join(args.get("skip_tags") or ()) or None,
                "check_mode": bool(args.get("check")),
                "source": "ansible-playbook callback",
                "report_dir": os.path.abspath(report_dir) if report_dir else None,
                **self._extra,
                **run_versions(),
            })
            published = None
            if report_dir:
                published = publish(report, report_dir, self._history_path(report_dir),
                                    default_publishers(self._prometheus_textfile))
                for warning in published.warnings:
                    self._display.warning("upkeep_report: %s" % warning)
                for problem in published.problems:
                    self._display.error("upkeep_report: %s" % problem)
            self._display.display("")
            self._display.display(summary_text(report))
            if published is not None and "report.html" in published.written:
                self._display.display("upkeep report (%s): %s" % (report["status"],
                                                                 os.path.join(str(published.run_dir), "report.html")))
            elif not report_dir:
                self._display.display("upkeep: no report written (set upkeep_report_dir, UPKEEP_REPORT_DIR or "
                                      "[callback_upkeep_report] report_dir in ansible.cfg)")
        except Exception as exc:  # a reporting problem must not turn a finished run into a crash
            self._display.warning("upkeep_report: could not finish the report: %s: %s" % (type(exc).__name__, exc))
