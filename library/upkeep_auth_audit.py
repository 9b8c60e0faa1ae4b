#!/usr/bin/python
# -*- coding: utf-8 -*-
"""upkeep_auth_audit: failed logins, brute force, credential stuffing and suspicious successes, from
auth logs and Supabase Auth's audit table, with new login countries when a GeoIP database is set."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upkeep_auth_audit
short_description: Audit logins (auth logs, Supabase Auth) for brute force, a success after failures, new countries
description:
  - Reads sshd login lines from syslog-style auth logs (C(auth.log), C(secure); current, rotated and
    gzip files by glob), the application's auth events from JSON logs (event names configurable)
    and, with O(database), the login rows of Supabase Auth's C(auth.audit_log_entries) over the
    O(window_days) ending at O(window_end) (default now) and the O(baseline_days) before it. All sources are merged into one stream, so a success recorded in the database
    after a burst of failures in the sshd or app logs from the same IP is caught; the evidence
    names the source of each event.
  - Files are chosen by their content, as upkeep_log_scan chooses them - skipped only when the newest line
    (read from the end) is older than the baseline, or the oldest after an explicit O(window_end) - and each skip
    says why. Year-less syslog stamps get the year that puts them at most a day after the file's modification
    time (the files list says C(year_inferred)).
  - A log source with no line in the window is never read as "0 failed logins" - the checks are C(unknown) with
    how many lines the files hold and the newest one's time (C(unread) names the source).
  - sshd failures are counted by method (password, publickey, keyboard-interactive/pam, hostbased); C(Failed none)
    is a client asking which methods exist, reported as C(method_probes) and never counted as a failure or toward
    brute force. Failures for names sshd does not know and for existing users are counted apart, and each
    accepted sshd login is listed with user, source address and method (C(access_patterns)); the app's and the
    table's logins, customers' e-mail addresses, are only counted.
  - Emits C(auth.failed_logins) (failures, successes, invalid user names, top IPs and users),
    C(auth.brute_force) (an IP with O(brute_force_failures) failures within O(brute_force_window_s),
    or failures for O(stuffing_users) different users - credential stuffing; warning) and
    C(auth.compromise) (a successful login from an IP after O(burst_failures) failures from it within
    O(brute_force_window_s); critical, a possible compromise). Suspicious IPs come with their evidence.
  - C(auth.audit_log) says whether the audit table was read; psycopg missing, a connection that
    fails, the table absent or not readable make it C(unknown) with the reason, and the log sources
    still report. GoTrue writes audit rows only for actions that happened (a wrong password leaves
    no row), so the table contributes successes by default (O(database.failure_actions) is empty).
  - With O(geoip_database) (local MaxMind-format C(.mmdb) files such as GeoLite2-Country and
    GeoLite2-ASN), C(auth.new_sources) compares the countries and networks of successful logins
    with those remembered in O(state_path) from earlier runs and warns about new ones. Without it
    nothing about countries is claimed.
  - Addresses in O(allowlist) are counted but never flagged.
  - Runs on the host, standard library only (the C(.mmdb) reader is part of upkeep). psycopg is
    needed only with O(database); O(mode=collect) on the controller plus O(collected) on the host
    splits the database read from the log read (the upkeep_auth_audit role does that).
version_added: "0.1.0"
author: upkeep maintainers
attributes:
  check_mode:
    support: full
    details: Read-only; runs normally in check mode and never reports a change.
  diff_mode:
    support: none
options:
  mode:
    description:
      - C(audit) judges the events; C(collect) only reads the sources (typically just O(database), on a
        machine with psycopg) and returns them as RV(collected) for an C(audit) run elsewhere.
    type: str
    choices: [audit, collect]
    default: audit
  collected:
    description:
      - The RV(collected) result of a O(mode=collect) run, merged with this run's own sources
        (its source records become C(auth.audit_log) checks).
      - Two optional keys, set by the role when several hosts share one database - C(report_sources) (bool,
        default true; false leaves the C(auth.audit_log) check to another host while the events are still
        judged here) and C(shared_by) (the hosts sharing the read, copied into C(auth.audit_log)).
      - Neither the events nor the e-mail addresses and IPs in them are echoed in the invocation or in an error.
    type: dict
  sources:
    description: The auth log sources.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Label of the source.
        type: str
        required: true
      format:
        description: C(syslog) for sshd lines in syslog text, C(json) for application auth events.
        type: str
        required: true
        choices: [syslog, json]
      paths:
        description: Glob patterns of the files, e.g. C(/var/log/auth.log*).
        type: list
        elements: str
        required: true
      fields:
        description: For C(json), the (dotted) field of each role C(timestamp), C(event), C(ip), C(user); common names otherwise.
        type: dict
      failure_events:
        description: For C(json), event names that are failed logins (default common names such as C(login_failed)).
        type: list
        elements: str
      success_events:
        description: For C(json), event names that are successful logins (default common names such as C(login_success)).
        type: list
        elements: str
  database:
    description:
      - The PostgreSQL database of Supabase Auth whose C(auth.audit_log_entries) is read (read-only
        transaction, statement timeout, server-side cursor, at most O(database.max_events) rows, the
        most recent kept). Connection options as in the other upkeep PostgreSQL modules; unset ones
        come from libpq's environment (PGHOST, PGPASSFILE, ...).
      - The role needs USAGE on schema C(auth) and SELECT on the table.
    type: dict
    suboptions:
      name:
        description: Name of this source in the evidence and the C(auth.audit_log) check's target.
        type: str
        default: supabase-auth
      dsn:
        description: libpq connection string or URI. Treated as a secret.
        type: str
      host:
        description: Host name, IP address or unix socket directory.
        type: str
      port:
        description: Port, 1-65535.
        type: int
      user:
        description: Role.
        type: str
      password:
        description: Password.
        type: str
      database:
        description: Database name (C(postgres) on Supabase).
        type: str
      sslmode:
        description: libpq sslmode.
        type: str
        choices: [disable, allow, prefer, require, verify-ca, verify-full]
      sslrootcert:
        description: CA bundle for verify-ca/verify-full.
        type: path
      connect_timeout_s:
        description: Connect timeout in seconds (default 5).
        type: int
      passfile:
        description: libpq password file (mode 0600).
        type: path
      application_name:
        description: application_name reported to the server (default C(upkeep)).
        type: str
      success_actions:
        description:
          - Payload C(action) values that are successful logins. Default C(login) (every sign-in grant -
            password, OTP, magic link, OAuth, SSO) and C(mfa_code_login); C(token_refreshed) is a session
            renewing itself, not a login.
        type: list
        elements: str
      failure_actions:
        description:
          - Payload C(action) values that are failed logins. Default none, since GoTrue does not audit
            failures; list the action a fork or an auth hook writes for them.
        type: list
        elements: str
      max_events:
        description: Most rows read (the most recent are kept; the check says when the cap was hit). Default 5000.
        type: int
      statement_timeout_ms:
        description:
          - statement_timeout of the read (default 30000; the table has no index on created_at), sent at
            connection start and again with C(SET LOCAL) (poolers may drop startup options).
          - The client gives up on a round trip that gets no answer within this plus 1000 ms.
        type: int
  geoip_database:
    description:
      - Local MaxMind DB files (C(.mmdb)) on the machine that runs the audit - a Country or City database
        gives countries, an ASN database networks. Enables C(auth.new_sources).
      - Any other type (ISP, Anonymous-IP, ...), an unreadable or corrupt file, or a failed lookup makes
        C(auth.new_sources) C(unknown) with the reason; the other checks still report.
    type: list
    elements: path
    default: []
  state_path:
    description:
      - JSON file remembering the countries and networks of earlier runs (for C(auth.new_sources)). The
        first run records a baseline; check mode reads it and writes nothing.
    type: path
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
  allowlist:
    description: IP addresses and networks (CIDR) never flagged, e.g. the office and the monitoring hosts.
    type: list
    elements: str
    default: []
  brute_force_failures:
    description: Failures from one IP within O(brute_force_window_s) that make it a brute force.
    type: int
    default: 10
  brute_force_window_s:
    description: The sliding window (seconds) for brute force and for a success after failures.
    type: float
    default: 600
  stuffing_users:
    description: Distinct user names failing from one IP in the window that make it credential stuffing.
    type: int
    default: 5
  burst_failures:
    description: Failures from an IP within O(brute_force_window_s) before a success from it that make the success suspicious.
    type: int
    default: 5
  failed_logins_warning:
    description: Failed logins in the window at or above which C(auth.failed_logins) is a warning; omit to only report.
    type: int
  failed_logins_critical:
    description: Failed logins in the window at or above which C(auth.failed_logins) is critical; omit to only report.
    type: int
"""

EXAMPLES = r"""
- name: Audit the logins of the last week
  upkeep_auth_audit:
    sources:
      - name: sshd
        format: syslog
        paths: [/var/log/auth.log*]
      - name: app
        format: json
        paths: [/var/log/app/app.log*]
        failure_events: [auth.login_failed]
        success_events: [auth.login_succeeded]
    allowlist: [192.0.2.0/24]
  register: upkeep_auth_audit_result

- name: Include Supabase Auth's audit table and new login countries (host with psycopg)
  upkeep_auth_audit:
    sources:
      - name: sshd
        format: syslog
        paths: [/var/log/auth.log*]
    database:
      host: db.example.supabase.co
      user: upkeep_monitor
      password: "{{ vault_db_password }}"
      database: postgres
      sslmode: verify-full
    geoip_database: [/var/lib/GeoIP/GeoLite2-Country.mmdb, /var/lib/GeoIP/GeoLite2-ASN.mmdb]
    state_path: /var/lib/upkeep/auth-audit-state.json

- name: Read the audit table on the controller (psycopg there) ...
  upkeep_auth_audit:
    mode: collect
    database:
      host: db.example.supabase.co
      user: upkeep_monitor
      password: "{{ vault_db_password }}"
      database: postgres
  delegate_to: localhost
  register: upkeep_auth_audit_collected

- name: ... and judge it with the host's logs on the host
  upkeep_auth_audit:
    sources:
      - name: sshd
        format: syslog
        paths: [/var/log/auth.log*]
    collected: "{{ upkeep_auth_audit_collected.collected }}"
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
  description:
    - C(auth.failed_logins), C(auth.brute_force), C(auth.compromise) (all unknown when no auth log and no audit
      table could be read), one C(auth.audit_log) per database source, and C(auth.new_sources) with
      O(geoip_database). None with O(mode=collect).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The check id.
      type: str
    status:
      description: ok, warning, critical or unknown.
      type: str
    metrics:
      description:
        - auth.failed_logins - failed_logins (real authentication failures), successful_logins,
          invalid_user_attempts, source_ips, users_tried, allowlisted_failures, baseline_failed_logins,
          baseline_successful_logins, method_probes, failed_invalid_users, failed_existing_users and
          failed_<method> (failed_password, failed_publickey, failed_keyboard_interactive_pam, failed_hostbased).
        - auth.brute_force - brute_force_ips, credential_stuffing_ips.
        - auth.compromise - success_after_failures_ips.
        - auth.audit_log - audit_log_events, audit_log_truncated (1 when O(database.max_events) was hit).
        - auth.new_sources - new_sources, source_countries, source_networks, geoip_lookup_errors.
      type: dict
    findings:
      description: One per suspicious IP, with the evidence and what to do.
      type: list
      elements: dict
    top_ips:
      description: auth.failed_logins - the IPs with the most failures.
      type: list
      elements: dict
      returned: for auth.failed_logins when a log was read
    failures_by_method:
      description: auth.failed_logins - sshd failures per method (probes with C(none) left out).
      type: dict
      returned: for auth.failed_logins when a log was read
    access_patterns:
      description:
        - auth.failed_logins - accepted sshd logins grouped by user, source address and method, with the count
          and the first and last time (at most 50).
      type: list
      elements: dict
      returned: for auth.failed_logins when a log was read
    unread:
      description: Per log source that gave nothing about the window, why (no file, empty, no line in the window).
      type: dict
      returned: for the three log checks
    events_by_source:
      description: auth.failed_logins - per source name, the count of each event kind (fail, success, invalid_user).
      type: dict
      returned: for auth.failed_logins when a source was read
suspicious_ips:
  description:
    - Flagged IPs with reasons (brute_force, credential_stuffing, success_after_failures) and evidence, including
      C(sources), C(failures_by_source) and the source of each success after failures.
  returned: in audit mode
  type: list
  elements: dict
window:
  description: The audited window - epoch C(start), C(end), C(baseline_start), C(days), C(baseline_days).
  returned: in audit mode
  type: dict
collected:
  description:
    - With O(mode=collect), what was read - C(sources) (one record per database with C(status) ok or unknown and
      the C(reason), never a password) and C(events) ([epoch, kind, ip, user, source]) - for O(collected).
  returned: in collect mode
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.upkeep.auth_audit import audit, source_spec
from ansible.module_utils.upkeep.auth_audit_db import database_spec
from ansible.module_utils.upkeep.result import ParameterError, module_result


def argument_spec():
    return dict(
        mode=dict(type="str", choices=["audit", "collect"], default="audit"),
        collected=dict(type="dict"),
        sources=dict(type="list", elements="dict", default=[], options=source_spec()),
        database=dict(type="dict", options=database_spec()),
        geoip_database=dict(type="list", elements="path", default=[]),
        state_path=dict(type="path"),
        window_days=dict(type="float", default=7),
        window_end=dict(type="str"),
        baseline_days=dict(type="float"),
        allowlist=dict(type="list", elements="str", default=[]),
        brute_force_failures=dict(type="int", default=10),
        brute_force_window_s=dict(type="float", default=600),
        stuffing_users=dict(type="int", default=5),
        burst_failures=dict(type="int", default=5),
        failed_logins_warning=dict(type="int"),
        failed_logins_critical=dict(type="int"),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    # The handed-over events are in the result already (collect run) or judged here: echoing them
    # in the invocation would double the result's size (ansible-runner blanks results past ~700 kB)
    # and put every login's e-mail address and IP in the task output. On failure too.
    collected = module.params.get("collected") or {}
    events = collected.get("events") or []
    args = dict(module.params, collected=dict(collected, events="%d events" % len(events) if isinstance(events, list)
                                              else "not a list") if collected else None)
    try:
        checks, extra = audit(module.params, check_mode=module.check_mode)
    except ParameterError as exc:
        module.fail_json(msg=str(exc), invocation={"module_args": args})
    module.exit_json(invocation={"module_args": args}, **module_result(checks, **extra))


if __name__ == "__main__":
    main()
