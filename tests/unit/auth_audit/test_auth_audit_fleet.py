"""The role's filters that read each distinct Supabase Auth database once per play and hand its
events to the hosts using it (plugins/filter/upkeep_auth_audit.py), and the module side of the
hand-over (``report_sources``, ``shared_by``)."""

from __future__ import annotations

import importlib.util
import pathlib
import time

import pytest

from ansible.module_utils.upkeep.auth_audit import audit
from ansible.module_utils.upkeep.result import ParameterError

REPO = pathlib.Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("upkeep_auth_audit_filter", REPO / "plugins" / "filter" / "upkeep_auth_audit.py")
fleet = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fleet)

NOW = time.time()
DB_A = {"host": "db.a.supabase.co", "port": 5432, "user": "monitor", "password": "s3cret", "database": "postgres"}
DB_B = dict(DB_A, host="db.b.supabase.co")


def _params(**extra):
    params = {"sources": [], "window_days": 7, "allowlist": [], "brute_force_failures": 10,
              "brute_force_window_s": 600, "stuffing_users": 5, "burst_failures": 5, "failed_logins_warning": None,
              "failed_logins_critical": None, "mode": "audit", "collected": None, "database": None,
              "geoip_database": [], "state_path": None}
    params.update(extra)
    return params


def test_distinct_databases_keep_their_hosts_in_play_order():
    items = [dict(DB_A, inventory_host="web2"), dict(DB_B, inventory_host="web1"), dict(DB_A, inventory_host="web3")]
    entries = fleet.upkeep_auth_audit_databases(items)
    assert [(e["database"]["host"], e["hosts"]) for e in entries] == [("db.a.supabase.co", ["web2", "web3"]),
                                                                    ("db.b.supabase.co", ["web1"])]
    assert entries[0]["label"] == "monitor@db.a.supabase.co:5432/postgres"
    assert "inventory_host" not in entries[0]["database"]
    assert all("s3cret" not in e["label"] for e in entries)


def _registered(*results):
    return {"results": list(results), "changed": False}


def test_handover_marks_the_first_host_as_the_reporter():
    entry = {"database": DB_A, "hosts": ["web2", "web3"], "label": "x"}
    collected = {"sources": [{"name": "supabase-auth", "status": "ok", "rows": 1}], "events": [[NOW, "success", "ip", "u", "s"]]}
    registered = _registered({"item": entry, "collected": collected, "changed": False})
    first = fleet.upkeep_auth_audit_handover(registered, "web2")
    second = fleet.upkeep_auth_audit_handover(registered, "web3")
    assert (first["report_sources"], second["report_sources"]) == (True, False)
    assert first["shared_by"] == second["shared_by"] == ["web2", "web3"]
    assert first["events"] == second["events"] == collected["events"]
    assert fleet.upkeep_auth_audit_handover(registered, "web9") is None
    assert fleet.upkeep_auth_audit_handover({"skipped": True, "results": []}, "web2") is None


def test_a_failed_collect_becomes_an_unknown_source_with_the_reason():
    entry = {"database": DB_A, "hosts": ["web1"], "label": "monitor@db.a.supabase.co:5432/postgres"}
    registered = _registered({"item": entry, "failed": True, "msg": "database.max_events and ...: must be at least 1"})
    collected = fleet.upkeep_auth_audit_handover(registered, "web1")
    checks, _ = audit(_params(collected=collected), now=NOW)
    audit_log = next(c for c in checks if c["id"] == "auth.audit_log")
    assert audit_log["status"] == "unknown"
    assert audit_log["summary"].endswith("not collected: database.max_events and ...: must be at least 1")
    assert audit_log["target"] == "monitor@db.a.supabase.co:5432/postgres"


def test_the_other_hosts_judge_the_events_without_reporting_the_read():
    collected = {"sources": [{"name": "supabase-auth", "status": "ok", "rows": 1, "target": "db"}],
                 "events": [[NOW - 60, "success", "192.0.2.9", "a@example.org", "supabase-auth"]],
                 "report_sources": False, "shared_by": ["web1", "web2"]}
    checks, _ = audit(_params(collected=collected), now=NOW)
    assert "auth.audit_log" not in {c["id"] for c in checks}
    assert next(c for c in checks if c["id"] == "auth.failed_logins")["metrics"]["successful_logins"] == 1
    checks, _ = audit(_params(collected=dict(collected, report_sources=True)), now=NOW)
    assert next(c for c in checks if c["id"] == "auth.audit_log")["shared_by"] == ["web1", "web2"]


@pytest.mark.parametrize("event, message", [
    ([NOW, "success", "192.0.2.9", "a@example.org"], "got a list of 4 items"),
    ({"user": "a@example.org"}, "got a dict"),
    ([NOW, "a@example.org", "192.0.2.9", "u", "s"], "unknown kind (must be one of fail, success, invalid_user)"),
])
def test_a_bad_event_is_named_by_its_index_never_echoed(event, message):
    with pytest.raises(ParameterError) as caught:
        audit(_params(collected={"events": [event]}), now=NOW)
    assert str(caught.value).startswith("collected.events[0]: ") and message in str(caught.value)
    assert "a@example.org" not in str(caught.value) and "192.0.2.9" not in str(caught.value)
