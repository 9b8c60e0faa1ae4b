# -*- coding: utf-8 -*-
"""Supabase's own backups, read from the Management API.

``GET {api_url}/v1/projects/{ref}/database/backups`` with a bearer access token answers
``{region, walg_enabled, pitr_enabled, backups: [{is_physical_backup, status, inserted_at}],
physical_backup_data: {earliest_physical_backup_date_unix, latest_physical_backup_date_unix}}``.
With point-in-time recovery the newest restorable point is ``latest_physical_backup_date_unix``;
otherwise the newest COMPLETED backup. The token never reaches a result or a message.
"""

from __future__ import annotations

import datetime
import ssl

from .result import CRITICAL, OK, UNKNOWN, check, finding, unknown_check

try:
    import httpx

    HAS_HTTPX = True
except ImportError:
    httpx = None
    HAS_HTTPX = False

COMPLETED = "COMPLETED"


def fetch_backups(settings):
    """The API's JSON answer; raises RuntimeError with a reason a person can act on."""
    url = "%s/v1/projects/%s/database/backups" % (str(settings["api_url"]).rstrip("/"), settings["project_ref"])
    verify = ssl.create_default_context(cafile=settings["ca_file"]) if settings.get("ca_file") else True
    try:
        with httpx.Client(verify=verify, timeout=float(settings["timeout_s"])) as client:
            response = client.get(url, headers={"Authorization": "Bearer " + settings["access_token"],
                                                "Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise RuntimeError("cannot reach the Supabase Management API: %s" % type(exc).__name__)
    if response.status_code in (401, 403):
        raise RuntimeError("the Management API rejected the access token (HTTP %d)" % response.status_code)
    if response.status_code != 200:
        raise RuntimeError("the Management API answered HTTP %d" % response.status_code)
    try:
        data = response.json()
    except ValueError:
        raise RuntimeError("the Management API answered something that is not JSON")
    if not isinstance(data, dict) or not isinstance(data.get("backups"), list):
        raise RuntimeError("unexpected answer: no 'backups' list")
    return data


def _when(text):
    return datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(datetime.timezone.utc)


def check_supabase(settings, now=None):
    from .backup_check import freshness_check

    label, host = settings["label"], settings.get("inventory_host")
    if not HAS_HTTPX:
        return [unknown_check("backup.freshness", label, "httpx is not installed", host=host)]
    try:
        data = fetch_backups(settings)
    except RuntimeError as exc:
        return [unknown_check(cid, label, str(exc), host=host,
                              remediation="Check api_url, project_ref and the access token's scope.")
                for cid in ("backup.freshness", "backup.integrity")]
    backups = [b for b in data["backups"] if isinstance(b, dict) and b.get("inserted_at")]
    completed = sorted((b for b in backups if b.get("status") == COMPLETED), key=lambda b: _when(b["inserted_at"]),
                       reverse=True)
    newest = _when(completed[0]["inserted_at"]) if completed else None
    physical = data.get("physical_backup_data") or {}
    what = "backup"
    if data.get("pitr_enabled") and physical.get("latest_physical_backup_date_unix"):
        newest = datetime.datetime.fromtimestamp(int(physical["latest_physical_backup_date_unix"]), datetime.timezone.utc)
        what = "point-in-time recovery point"
    checks = [freshness_check(label, newest, settings, host, now=now, what=what)]
    latest_attempt = max(backups, key=lambda b: _when(b["inserted_at"])) if backups else None
    failed = [b for b in backups if b.get("status") not in (COMPLETED, "PENDING", "REMOVED", "ARCHIVED")]
    findings = [finding(CRITICAL if b is latest_attempt else "info", "Backup of %s ended %s" % (b["inserted_at"], b.get("status")),
                        label, "", "Check the project's backup page and Supabase status.") for b in failed]
    if latest_attempt is None:
        status, summary = UNKNOWN, "the project lists no backups"
    else:
        status = CRITICAL if latest_attempt in failed else OK
        summary = "newest backup %s: %s; %d of %d listed completed (region %s, PITR %s)" % (
            latest_attempt["inserted_at"], latest_attempt.get("status"), len(completed), len(backups),
            data.get("region", "?"), "on" if data.get("pitr_enabled") else "off")
    checks.append(check("backup.integrity", label, status, summary, findings=findings, host=host,
                        metrics={"backups": len(backups), "completed_backups": len(completed)},
                        pitr_enabled=bool(data.get("pitr_enabled")), walg_enabled=bool(data.get("walg_enabled"))))
    return checks
