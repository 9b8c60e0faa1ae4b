# -*- coding: utf-8 -*-
"""upkeep_auth_audit's database source: Supabase Auth's (GoTrue's) ``auth.audit_log_entries``.

GoTrue writes one row per audited action: ``id uuid``, ``payload json`` (``action``,
``actor_id``, ``actor_username`` - the e-mail or phone -, ``log_type``, ``traits``),
``created_at timestamptz`` and ``ip_address varchar(64) NOT NULL DEFAULT ''`` (added in 2022;
older rows hold ''). The rows of the scan window whose action is a configured success or failure
become auth events like the log lines, so one set of detectors sees every source.

Default actions, from GoTrue's own names (internal/models/audit_log_entry.go):
- successes: ``login`` (every sign-in grant: password, OTP, magic link, OAuth/ID token, SSO,
  PKCE) and ``mfa_code_login``. Not ``token_refreshed`` (a session renewing itself, not a
  credential check: counting it would bury the real logins), not ``verification_attempted`` (the
  MFA step of a login already counted), not ``user_signedup`` / ``user_repeated_signup`` /
  ``user_recovery_requested`` (account events, not logins).
- failures: none. GoTrue audits only what happened: the password grant answers
  ``invalid_credentials`` before any audit row is written, and a wrong TOTP code returns before
  its ``verification_attempted`` row. Failed logins therefore come from the logs (or a fork/hook
  that writes its own failure action: list it in ``failure_actions``); the table's successes are
  what matters here - a login after a burst of failures in the logs from the same IP.

Read-only transaction, statement_timeout (as startup options and again with ``SET TRANSACTION
READ ONLY`` / ``SET LOCAL statement_timeout``, for poolers that drop startup options), a
client-side deadline on every round trip (statement_timeout plus pg_ping's margin: a server that
stops answering after login is cut off rather than waited on for ever), a server-side cursor, and
at most ``max_events`` rows (the most recent): a week of logins is small, but the table also
holds every token refresh.
psycopg is imported only when a database is configured (through .pg, which guards the import):
without it, or without the table or the right to read it, this source is ``unknown`` with the
reason while the log sources still report. Standard library otherwise: shipped to hosts.
"""

from __future__ import annotations

import time

from .result import OK, UNKNOWN, WARNING, ParameterError, check, finding

# The kinds of auth event every source yields (auth_audit imports them from here).
FAIL, SUCCESS, INVALID = "fail", "success", "invalid_user"
SOURCE_NAME = "supabase-auth"
TABLE = "auth.audit_log_entries"
DEFAULT_SUCCESS_ACTIONS = ["login", "mfa_code_login"]
DEFAULT_FAILURE_ACTIONS = []
DEFAULT_MAX_EVENTS = 5000
DEFAULT_STATEMENT_TIMEOUT_MS = 30000
FETCH_ROWS = 2000

_TABLE_INFO = """
SELECT has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT'),
       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'ip_address'
               AND NOT a.attisdropped)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'auth' AND c.relname = 'audit_log_entries' AND c.relkind IN ('r', 'p', 'v')
"""
# Most recent first, so a capped read keeps the end of the window (where an attack ends).
_EVENTS = """
SELECT extract(epoch FROM created_at)::float8, payload->>'action', {ip}, payload->>'actor_username',
       payload->>'actor_id'
FROM auth.audit_log_entries
WHERE created_at >= to_timestamp(%s) AND created_at <= to_timestamp(%s) AND payload->>'action' = ANY(%s)
ORDER BY created_at DESC
LIMIT %s
"""


def database_spec():
    """Suboptions of the module's ``database`` option: the shared connection options plus the table's knobs."""
    from .pg import pg_connection_spec

    spec = pg_connection_spec()
    spec.update(
        name=dict(type="str", default=SOURCE_NAME),
        success_actions=dict(type="list", elements="str"),
        failure_actions=dict(type="list", elements="str"),
        max_events=dict(type="int"),
        statement_timeout_ms=dict(type="int"),
    )
    return spec


def _source(status, label, reason, **extra):
    item = {"name": extra.pop("name", SOURCE_NAME), "kind": "database", "table": TABLE, "target": label,
            "status": status, "reason": reason}
    item.update(extra)
    return item


def read_events(database, window_start, now):
    """(source record, events) of ``database`` (the module's ``database`` dict) for the window.

    Events are (ts, kind, ip, user, source name) like the log events. The source record says
    whether the table was read (status ok) or why not (status unknown, with the reason); it never
    holds a password. Raises ParameterError for options libpq rejects.
    """
    name = database.get("name") or SOURCE_NAME
    successes = database.get("success_actions")
    failures = database.get("failure_actions")
    successes = list(DEFAULT_SUCCESS_ACTIONS if successes is None else successes)
    failures = list(DEFAULT_FAILURE_ACTIONS if failures is None else failures)
    overlap = sorted(set(successes) & set(failures))
    if overlap:
        raise ParameterError("database.failure_actions: %s also listed in success_actions" % ", ".join(overlap))
    limit = DEFAULT_MAX_EVENTS if database.get("max_events") is None else database["max_events"]
    timeout_ms = (DEFAULT_STATEMENT_TIMEOUT_MS if database.get("statement_timeout_ms") is None
                  else database["statement_timeout_ms"])
    if limit < 1 or timeout_ms < 1:
        raise ParameterError("database.max_events and database.statement_timeout_ms: must be at least 1")
    from . import pg  # noqa: PLC0415 (psycopg is imported only when a database is configured)
    from .pg_ping import query_deadline_ms  # noqa: PLC0415 (imports .pg)

    target = dict({key: database.get(key) for key in pg.CONNECTION_OPTIONS}, where="database.")
    label = pg.target_label(target)
    started = time.monotonic()

    def elapsed():
        return round((time.monotonic() - started) * 1000, 1)

    if not pg.HAS_PSYCOPG:
        return _source(UNKNOWN, label, "psycopg is not installed where this runs (%s); run the database part on "
                       "the controller" % (pg.PSYCOPG_IMPORT_ERROR,), name=name), []
    secrets = pg.secrets_of(target)
    try:
        conn = pg.connect(target, statement_timeout_ms=timeout_ms, read_only=True, autocommit=False)
    except pg.PgConnectError as exc:
        return _source(UNKNOWN, label, "cannot connect: %s" % exc.reason, detail=exc.detail,
                       remediation=exc.remediation, duration_ms=elapsed(), name=name), []
    events, truncated = [], False
    info = None
    deadline_ms = query_deadline_ms(timeout_ms)
    deadline = None

    def answer(run):
        """``run()`` under a client-side deadline: a server (or pooler) that stops answering after
        login would otherwise block the audit for ever; statement_timeout is the server's own."""
        nonlocal deadline
        with pg.client_deadline(conn, deadline_ms / 1000.0) as deadline:
            return run()

    # close() rather than ``with conn``: after a cut-off the latter would try a ROLLBACK on the
    # dead connection and log a warning to stderr. Nothing is written, so nothing is committed.
    try:
        # The startup options already ask for both; a transaction pooler (PgBouncer, Supavisor)
        # may drop them, so the transaction says so itself.
        answer(lambda: conn.execute("SET TRANSACTION READ ONLY"))
        answer(lambda: conn.execute("SET LOCAL statement_timeout = %d" % int(timeout_ms)))
        info = answer(lambda: conn.execute(_TABLE_INFO).fetchone())
        if info is None:
            return _source(UNKNOWN, label, "%s does not exist in this database (not a Supabase Auth database?)"
                           % TABLE, duration_ms=elapsed(), name=name), []
        if not info[0]:
            return _source(UNKNOWN, label, "permission denied: the role cannot read %s" % TABLE,
                           remediation="GRANT USAGE ON SCHEMA auth and SELECT ON %s to the monitoring role."
                           % TABLE, duration_ms=elapsed(), name=name), []
        query = _EVENTS.format(ip="ip_address" if info[1] else "''::text")
        kinds = dict([(action, FAIL) for action in failures] + [(action, SUCCESS) for action in successes])
        # A named cursor streams the rows from the server FETCH_ROWS at a time, each fetch under the deadline.
        cursor = conn.cursor(name="upkeep_auth_audit")
        answer(lambda: cursor.execute(query, (window_start, now, sorted(kinds), limit + 1)))
        while not truncated:
            rows = answer(lambda: cursor.fetchmany(FETCH_ROWS))
            if not rows:
                break
            for ts, action, ip, user, actor_id in rows:
                if len(events) == limit:
                    truncated = True
                    break
                events.append((float(ts), kinds[action], (ip or "").strip() or "-",
                               str(user or actor_id or "-"), name))
    except pg.psycopg.Error as exc:
        if deadline is not None and deadline.expired:
            return _source(UNKNOWN, label, "reading %s failed: no answer within %d ms (statement_timeout_ms=%d plus "
                           "a margin): the server or a pooler stopped answering after login" % (TABLE, deadline_ms,
                                                                                              timeout_ms),
                           sqlstate=None, duration_ms=elapsed(), name=name), []
        reason = pg.redact(" ".join(str(exc).split()), secrets)[:300]
        sqlstate = getattr(exc, "sqlstate", None)
        if sqlstate == "57014":
            reason = "no answer within statement_timeout_ms=%d: %s" % (timeout_ms, reason)
        return _source(UNKNOWN, label, "reading %s failed: %s" % (TABLE, reason), sqlstate=sqlstate,
                       duration_ms=elapsed(), name=name), []
    finally:
        conn.close()
    events.reverse()
    return _source(OK, label, "", rows=len(events), truncated=truncated, max_events=limit,
                   success_actions=successes, failure_actions=failures, duration_ms=elapsed(),
                   ip_column=bool(info[1]), name=name), events


def source_check(source, days, host=None):
    """The ``auth.audit_log`` check of one database source record."""
    if source.get("status") != OK:
        reason = source.get("reason") or "unknown reason"
        findings = [finding(WARNING, "Supabase Auth audit log not read", source.get("target") or TABLE,
                            reason + (" (%s)" % source["detail"] if source.get("detail") else ""),
                            source.get("remediation") or "")]
        return check("auth.audit_log", source.get("target") or TABLE, UNKNOWN, "%s not read: %s" % (TABLE, reason),
                     findings=findings, duration_ms=source.get("duration_ms"), host=host, source=source.get("name"),
                     **_shared(source))
    rows = source.get("rows", 0)
    summary = "%d login events read from %s in %g days%s" % (
        rows, TABLE, days, " (capped at max_events=%d: the most recent kept)" % source["max_events"]
        if source.get("truncated") else "")
    return check("auth.audit_log", source.get("target") or TABLE, OK, summary,
                 metrics={"audit_log_events": rows, "audit_log_truncated": int(bool(source.get("truncated")))},
                 duration_ms=source.get("duration_ms"), host=host, source=source.get("name"),
                 success_actions=source.get("success_actions"), failure_actions=source.get("failure_actions"),
                 **_shared(source))


def _shared(source):
    # The hosts whose audits used this one read (reported on the first of them only).
    return {"shared_by": source["shared_by"]} if source.get("shared_by") else {}
