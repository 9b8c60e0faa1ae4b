#!/usr/bin/python
# -*- coding: utf-8 -*-
"""upkeep_log_scan: error rate, latency percentiles and error signatures from a host's log files."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upkeep_log_scan
short_description: Scan a host's log files for error rate, latency percentiles and new error signatures
description:
  - Reads the log files of each source over the O(window_days) ending at O(window_end) (default now) and the
    O(baseline_days) before it (current and rotated files, gzip-compressed or not, found by glob patterns), in one pass.
  - A file is skipped only when its content says so - its newest line, read from the end, is older than the
    baseline, or its oldest line is after an explicit O(window_end) - never for its modification time; each
    skip is listed with its reason. Year-less stamps (BSD syslog, a custom time format without a year) get the
    year that puts them at most a day after the file's modification time, and the evidence says so.
  - Formats C(combined) (nginx/Apache combined or common access logs, with an optional request time as
    a number ending the line after the quoted user agent, or as C(rt=)/C(request_time=) anywhere after
    the request; blocks of ordinary lines are counted whole, at several times the speed of a line
    parser, with the same figures), C(json) (JSON lines with configurable field names), C(syslog) (plain syslog-style
    text), C(postgres) (PostgreSQL stderr logs, SQLSTATE from C(log_error_verbosity=verbose) or a
    C(sqlstate=) prefix), C(postgres_csv) (PostgreSQL csvlog), C(apache_error) (Apache httpd 2.2 and 2.4
    error logs), C(nginx_error), C(custom) (O(sources[].pattern) and O(sources[].time_format)) and C(auto)
    (the format that reads most of the first 200 lines of the first file; reported as C(format) with
    C(format_detected)).
  - Emits C(log.errors) per source (requests or entries, error rate, errors by category and severity,
    unparseable lines; for request logs also per status code, the top paths of 404 and 5xx responses,
    distinct and top clients, bytes served and requests per hour), C(log.latency) per request log
    (p50/p95/p99 from a streaming log-bucketed sketch, each within 1 % of the exact percentile as numpy
    computes it by default - linear interpolation between the closest ranks - memory bounded whatever the
    volume; C(unknown), "no response times in this log", when the format has no request time), and one
    C(log.signatures) (top error signatures with numbers, UUIDs, IPs, hashes, path ids, quoted
    and secret-looking values masked; new, regressed and spiking ones against the baseline window).
  - Never C(ok) about lines it did not read - a source whose files hold no line of the window (it says how many
    lines they hold and the newest one's time), whose lines no format reads ("format not recognised") or that
    cannot be read is C(unknown), and so is C(log.signatures) beside it. More than 5 % of unparsed lines is a
    warning with sample line numbers.
  - A first scan whose baseline window holds no lines records a baseline (trend C(baseline)) instead of calling
    every signature new; "new" needs a baseline window with lines or an earlier scan kept in O(state_path).
  - Lines that cannot be parsed are counted and sampled; a binary, unreadable or truncated file is
    recorded and the scan goes on.
  - Runs on the host (standard library only). The task fails only for parameters it cannot use.
version_added: "0.1.0"
author: upkeep maintainers
attributes:
  check_mode:
    support: full
    details: Scans normally in check mode but writes neither O(state_path) nor O(report_path); never reports a change.
  diff_mode:
    support: none
options:
  sources:
    description: The log sources to scan.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Label of the source, the target of its checks. Unique.
        type: str
        required: true
      format:
        description: Log format; C(auto) picks the one that reads the file's head best.
        type: str
        required: true
        choices: [auto, combined, json, syslog, postgres, postgres_csv, apache_error, nginx_error, custom]
      paths:
        description: Glob patterns of the files, e.g. C(/var/log/nginx/access.log*) for the current and rotated ones.
        type: list
        elements: str
        required: true
      pattern:
        description:
          - For C(custom) (and only for it), a Python regular expression matched at the start of each line, with
            named groups among C(time), C(level), C(message), C(status), C(duration), C(client), C(method),
            C(path), C(bytes) (at least one of time, level, status, message). Other parts are unnamed groups.
          - A line it does not match is unparsed (an indented one continues the entry before it). Level comes from
            C(level), else from C(status) (5xx error, 4xx warning), else from the message's words; a 5xx is an
            error whatever the level says. A source with C(status) is a request log.
        type: str
      time_format:
        description:
          - For C(custom), how the C(time) group is written - C(iso8601) (default), C(epoch), C(epoch_ms) or a
            strptime format such as C(%Y-%m-%d %H:%M:%S.%f). Local time unless the format has C(%z).
        type: str
      fields:
        description:
          - For C(json), the field holding each role, dotted for nested fields. Roles C(timestamp),
            C(level), C(message), C(status), C(duration), C(route), C(error_type).
          - A role not given is looked up under common names (pino, bunyan, winston, ECS).
        type: dict
      request_time_unit:
        description: For C(combined), the unit of the request time field (nginx C($request_time) is s, Apache C(%D) is us).
        type: str
        choices: [s, ms, us]
        default: s
      duration_unit:
        description: For C(json) and C(custom), the unit of the duration field.
        type: str
        choices: [s, ms, us]
        default: ms
      latency_path_prefix:
        description: Only requests whose path starts with this count for latency (e.g. C(/api/)); default all.
        type: str
      error_rate_warning_pct:
        description: Error rate warning threshold for this source (default O(error_rate_warning_pct)).
        type: float
      error_rate_critical_pct:
        description: Error rate critical threshold for this source (default O(error_rate_critical_pct)).
        type: float
      latency_warning_ms:
        description: p95 warning threshold for this source (default O(latency_warning_ms)).
        type: float
      latency_critical_ms:
        description: p95 critical threshold for this source (default O(latency_critical_ms)).
        type: float
  window_days:
    description: Length of the window reviewed, ending at O(window_end).
    type: float
    default: 7
  window_end:
    description:
      - The end of the window, to review a past period or an archived log - ISO 8601 (C(2026-11-28T12:00:00Z);
        a date alone is its midnight UTC, a time without zone is UTC) or epoch seconds. Default now.
      - With it, lines after it are outside the window; without it, a line stamped a little ahead of this host's
        clock still counts.
    type: str
  baseline_days:
    description:
      - Length of the baseline window just before the reviewed one (default O(window_days)), e.g. O(window_days=1)
        and O(baseline_days=1) for "this day against the day before".
    type: float
  error_rate_warning_pct:
    description: Error rate (5xx share, or error-level share) at or above which a source is a warning.
    type: float
    default: 1
  error_rate_critical_pct:
    description: Error rate at or above which a source is critical.
    type: float
    default: 5
  latency_warning_ms:
    description: p95 latency at or above which a source is a warning (the guide's API target).
    type: float
    default: 500
  latency_critical_ms:
    description: p95 latency at or above which a source is critical (the guide's slow-response alert).
    type: float
    default: 3000
  top_n:
    description: Signatures listed in the result (the full list goes to O(report_path)).
    type: int
    default: 10
  spike_factor:
    description: A signature at least this many times its previous-window count is spiking.
    type: float
    default: 3
  spike_min_count:
    description: A signature needs at least this many occurrences to count as spiking.
    type: int
    default: 10
  state_path:
    description:
      - JSON file on the host keeping the known signatures between runs (for new and regressed).
        Not written in check mode. Without it the previous window in the logs is the only baseline.
    type: path
  max_state_signatures:
    description: Signatures kept in the state file (the most recently seen).
    type: int
    default: 5000
  report_path:
    description: JSON file on the host receiving every signature and per-file detail; its path is returned as C(detail_path).
    type: path
  workers:
    description:
      - Processes that scan the files of a source at the same time (current and rotated files in parallel;
        a plain file of 32 MiB or more in any format but C(postgres_csv) is cut into byte ranges, so one big file uses every worker).
        Used only when a source's files add up to 32 MiB or more; 1 scans serially.
    type: int
    default: 2
"""

EXAMPLES = r"""
- name: Review the last week of logs
  upkeep_log_scan:
    sources:
      - name: nginx
        format: combined
        paths: [/var/log/nginx/access.log*]
        latency_path_prefix: /api/
      - name: app
        format: json
        paths: [/var/log/app/app.log*]
        fields: {timestamp: time, level: level, message: msg, error_type: err.type}
      - name: postgresql
        format: postgres
        paths: [/var/log/postgresql/postgresql-*.log*]
    state_path: /var/lib/upkeep/log-scan-state.json
    report_path: /var/lib/upkeep/log-scan-report.json
  register: upkeep_logs_result

- name: Review the last day of an archived month against the day before, formats detected or described
  upkeep_log_scan:
    window_end: "2026-10-31T23:59:59Z"
    window_days: 1
    baseline_days: 1
    sources:
      - name: apache
        format: auto
        paths: [/srv/archive/apache2/error.log*]
      - name: api
        format: custom
        paths: [/var/log/api/service.log*]
        # 2026-11-28 12:00:00.123 2931 INFO api.wsgi [req-1f2e] 10.0.0.8 "GET /v1/items HTTP/1.1" status: 200 len: 512 time: 0.031
        pattern: >-
          (?P<time>\S+ \S+) \d+ (?P<level>[A-Z]+) \S+ \[[^\]]*\]
          (?:(?P<client>\S+) "(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" status: (?P<status>\d+) len: (?P<bytes>\d+)
          time: (?P<duration>[0-9.]+)|(?P<message>.*))
        time_format: "%Y-%m-%d %H:%M:%S.%f"
        duration_unit: s
"""

RETURN = r"""
status:
  description: Worst status of all checks.
  returned: always
  type: str
counts:
  description: Number of checks per status.
  returned: always
  type: dict
checks:
  description: C(log.errors) and C(log.latency) per source, then one C(log.signatures).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: C(log.errors), C(log.latency) or C(log.signatures).
      type: str
    target:
      description: The source's name (C(error signatures) for log.signatures).
      type: str
    status:
      description: ok, warning, critical, or unknown when no file of the source could be read.
      type: str
    summary:
      description: One line for people.
      type: str
    metrics:
      description:
        - log.errors - requests or entries, errors, error_rate_pct, previous_error_rate_pct, baseline_entries,
          baseline_errors, unparsed_lines, unparsed_pct, files_read, files_skipped, files_with_problems; for request
          logs also status_5xx, status_4xx, status_404, distinct_clients, served_bytes, requests_per_hour_peak,
          requests_per_hour_mean.
        - log.latency - latency_p50_ms, latency_p95_ms, latency_p99_ms, latency_max_ms, latency_samples,
          latency_relative_error_pct (the sketch's stated bound, 1).
        - log.signatures - signatures, signatures_new, signatures_regressed, signatures_spiking, error_events.
      type: dict
    thresholds:
      description: The limits the metrics were judged against.
      type: dict
    findings:
      description: Error rate or latency over a threshold, unreadable files, new, regressed and spiking signatures.
      type: list
      elements: dict
    format:
      description: log.errors - the format read; C(format_detected) true when O(sources[].format=auto) chose it.
      type: str
      returned: for log.errors
    files:
      description:
        - log.errors - each file read (path, lines, problems, C(year_inferred) for year-less stamps) and each file
          skipped with the true reason (C(skipped), C(newest_line_at) or C(oldest_line_at)).
      type: list
      elements: dict
      returned: for log.errors
    status_codes:
      description: log.errors of a request log - requests per status code in the window.
      type: dict
      returned: for request logs
    top_404_paths:
      description: log.errors of a request log - the paths most often answered 404 (query dropped), with counts.
      type: list
      elements: dict
      returned: for request logs
    top_5xx_paths:
      description: log.errors of a request log - the paths most often answered 5xx.
      type: list
      elements: dict
      returned: for request logs
    top_clients:
      description:
        - log.errors of a request log - the clients with the most requests. Past 50 000 distinct clients the
          figures are a lower bound, said in C(clients_note).
      type: list
      elements: dict
      returned: for request logs
    requests_per_hour:
      description: log.errors of a request log - requests per UTC hour of the window (hours without requests left out).
      type: dict
      returned: for request logs
    unparsed_samples:
      description: log.errors - up to 5 lines that did not parse, with their file and line number.
      type: list
      elements: dict
      returned: for log.errors
    top_signatures:
      description: log.signatures - the top signatures (source, template, count, baseline, trend, category, level, example).
      type: list
      elements: dict
      returned: for log.signatures
    detail_path:
      description: log.signatures - where the full report was written (O(report_path)).
      type: str
      returned: when report_path is set
window:
  description:
    - The scanned window - epoch seconds C(start), C(end) and C(baseline_start), C(days) and C(baseline_days),
      and C(end_given) when O(window_end) was set.
  returned: always
  type: dict
state_written:
  description: Whether the state file was updated (false in check mode).
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.upkeep.logs import scan_logs, source_spec
from ansible.module_utils.upkeep.result import ParameterError, module_result


def argument_spec():
    return dict(
        sources=dict(type="list", elements="dict", required=True, options=source_spec()),
        window_days=dict(type="float", default=7),
        window_end=dict(type="str"),
        baseline_days=dict(type="float"),
        error_rate_warning_pct=dict(type="float", default=1),
        error_rate_critical_pct=dict(type="float", default=5),
        latency_warning_ms=dict(type="float", default=500),
        latency_critical_ms=dict(type="float", default=3000),
        top_n=dict(type="int", default=10),
        spike_factor=dict(type="float", default=3),
        spike_min_count=dict(type="int", default=10),
        state_path=dict(type="path"),
        max_state_signatures=dict(type="int", default=5000),
        report_path=dict(type="path"),
        workers=dict(type="int", default=2),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        checks, extra = scan_logs(module.params, check_mode=module.check_mode)
    except ParameterError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**module_result(checks, **extra))


if __name__ == "__main__":
    main()
