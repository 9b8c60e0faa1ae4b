"""Every host's variables checked once for the fleet against a role's meta/argument_specs.yml
(upkeep_fleet_problems), and the fleet lists leaving out what the spec rejects (upkeep_fleet with
role=...). This replaces Ansible's per-host argument-spec task in the daily roles, so it has to
catch what that task caught, name the host and the variable, and never echo a secret."""

from __future__ import annotations

import importlib.util
import pathlib

import jinja2
import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("upkeep_fleet_filter", REPO / "plugins" / "filter" / "upkeep_fleet.py")
fleet = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fleet)

DAILY_ROLES = ("upkeep_http", "upkeep_smtp", "upkeep_postgres", "upkeep_backup", "upkeep_host_resources", "upkeep_summary")


def _yaml(path):
    return yaml.safe_load((REPO / path).read_text()) or {}


def _summaries(problems):
    return [(item["host"], item["target"], item["summary"]) for item in problems]


@pytest.mark.parametrize("role", DAILY_ROLES)
def test_each_roles_defaults_and_the_example_inventory_pass_its_spec(role):
    """Ansible's per-host task validated the role defaults on every run; a default that drifts
    from the spec must fail here instead. The example production inventory must pass too."""
    defaults = _yaml("roles/%s/defaults/main.yml" % role)
    assert fleet.upkeep_fleet_problems({}, ["h"], role, "h", defaults) == []
    production = dict(_yaml("inventory/group_vars/all/upkeep.yml"), **_yaml("inventory/host_vars/production.yml"))
    assert fleet.upkeep_fleet_problems({"production": production}, ["production"], role) == []


def test_a_bad_item_is_named_by_host_variable_and_index_and_left_out_of_the_fleet():
    hostvars = {
        "web1": {"upkeep_http_endpoints": [{"url": "https://a/"}]},
        "web2": {"upkeep_http_endpoints": [
            {"url": "https://b/", "bogus": 1},
            {"url": "https://c/", "samples": "many"},
            {"url": "https://d/"},
            {"samples": 2},
            "https://e/",
        ]},
    }
    problems = fleet.upkeep_fleet_problems(hostvars, ["web1", "web2"], "upkeep_http")
    assert {item["id"] for item in problems} == {"task.upkeep_http"}
    assert {item["status"] for item in problems} == {"unknown"}
    found = _summaries(problems)
    assert [(host, target) for host, target, _ in found] == [
        ("web2", "upkeep_http_endpoints[0]"), ("web2", "upkeep_http_endpoints[1]"),
        ("web2", "upkeep_http_endpoints[3]"), ("web2", "upkeep_http_endpoints[4]")]
    assert found[0][2].startswith("web2: upkeep_http_endpoints[0]: unsupported option bogus.")
    assert found[1][2] == "web2: upkeep_http_endpoints[1]: samples: must be a whole number, got 'many'"
    assert found[2][2] == "web2: upkeep_http_endpoints[3]: missing required arguments: url"
    assert found[3][2] == "web2: upkeep_http_endpoints[4]: must be a dict, got str"
    assert "roles/upkeep_http/meta/argument_specs.yml" in problems[0]["findings"][0]["remediation"]

    items = fleet.upkeep_fleet(hostvars, ["web1", "web2"], "upkeep_http_endpoints", role="upkeep_http")
    assert items == [{"url": "https://a/", "inventory_host": "web1"}, {"url": "https://d/", "inventory_host": "web2"}]


def test_choices_types_and_whole_variables_are_checked_per_host():
    hostvars = {
        "mail1": {"upkeep_smtp_servers": [{"host": "smtp", "tls_mode": "sometimes"}], "upkeep_smtp_tls_mode": "nope"},
        "mail2": {"upkeep_smtp_servers": {"host": "smtp"}},  # a dict where the spec wants a list
        "mail3": {"upkeep_smtp_servers": [{"host": "smtp", "port": 25}]},
    }
    found = _summaries(fleet.upkeep_fleet_problems(hostvars, list(hostvars), "upkeep_smtp"))
    assert found == [
        ("mail1", "upkeep_smtp_servers[0]", "mail1: upkeep_smtp_servers[0]: value of tls_mode must be one of: "
                                            "starttls_auto, starttls_required, implicit, none, got: sometimes"),
        ("mail1", "upkeep_smtp_tls_mode", "mail1: upkeep_smtp_tls_mode: value of upkeep_smtp_tls_mode must be one of: "
                                          "starttls_auto, starttls_required, implicit, none, got: nope"),
        ("mail2", "upkeep_smtp_servers", "mail2: upkeep_smtp_servers: must be a list of dicts, got dict"),
    ]
    items = fleet.upkeep_fleet(hostvars, list(hostvars), "upkeep_smtp_servers", role="upkeep_smtp")
    assert items == [{"host": "smtp", "port": 25, "inventory_host": "mail3"}]


def test_the_run_once_hosts_values_come_from_its_task_context():
    """Role defaults, play vars and role vars are not in hostvars: the context (the values the
    run-once module calls get) is checked in place of that host's own variables."""
    hostvars = {"a": {"upkeep_backup_jobs": "many"}, "b": {"upkeep_backup_jobs": "few"}}
    context = {"upkeep_backup_jobs": 2, "upkeep_backup_restore_verify_enabled": "maybe",
               "upkeep_backup_unrelated_name": object()}  # not in the spec: ignored
    found = _summaries(fleet.upkeep_fleet_problems(hostvars, ["a", "b"], "upkeep_backup", "a", context))
    assert [(host, target) for host, target, _ in found] == [
        ("a", "upkeep_backup_restore_verify_enabled"), ("b", "upkeep_backup_jobs")]
    assert "upkeep_backup_restore_verify_enabled: must be true or false, got 'maybe'" in found[0][2] and "<class" not in found[0][2]


def test_a_variable_that_cannot_be_templated_is_a_problem_of_its_host_only():
    """Ansible hands a failed template over as an Undefined marker value: that host's variable
    is reported and left out, the other hosts' items still go to the module."""
    hostvars = {"ok": {"upkeep_smtp_servers": [{"host": "smtp"}]},
                "broken": {"upkeep_smtp_servers": [{"host": jinja2.StrictUndefined(name="smtp_host")}]}}
    found = _summaries(fleet.upkeep_fleet_problems(hostvars, ["ok", "broken"], "upkeep_smtp"))
    assert found == [("broken", "upkeep_smtp_servers",
                      "broken: upkeep_smtp_servers: cannot be templated: 'smtp_host' is undefined")]
    assert fleet.upkeep_fleet(hostvars, ["ok", "broken"], "upkeep_smtp_servers", role="upkeep_smtp") == [
        {"host": "smtp", "inventory_host": "ok"}]


def test_backup_items_without_suboptions_only_need_to_be_dicts():
    hostvars = {"h": {"upkeep_backup_sources": [{"name": "nightly", "anything": 1}, "nightly"]}}
    found = _summaries(fleet.upkeep_fleet_problems(hostvars, ["h"], "upkeep_backup"))
    assert len(found) == 1 and found[0][:2] == ("h", "upkeep_backup_sources"), found
    assert fleet.upkeep_fleet(hostvars, ["h"], "upkeep_backup_sources", role="upkeep_backup") == [
        {"name": "nightly", "anything": 1, "inventory_host": "h"}]


def test_secrets_never_appear_in_a_message():
    token, password = "Bearer s3cr3t-token", "pw-never-shown"
    hostvars = {
        "web": {"upkeep_http_endpoints": [{"url": "https://a/", "headers": {"Authorization": token}, "samples": "x"}]},
        "db": {"upkeep_postgres_databases": [{"host": "db", "password": password, "port": "x", "sslmode": "bad"}]},
    }
    problems = (fleet.upkeep_fleet_problems(hostvars, ["web"], "upkeep_http")
                + fleet.upkeep_fleet_problems(hostvars, ["db"], "upkeep_postgres"))
    assert len(problems) == 2
    text = repr(problems)
    assert token not in text and "s3cr3t" not in text and password not in text
    assert "port" in problems[1]["summary"] and "sslmode" in problems[1]["summary"]


def test_postgres_items_may_carry_every_postgres_roles_options():
    database = {"host": "db", "query_warning_ms": 9, "connections_warning_pct": 70, "vacuum_dead_ratio_pct": 15,
                "bloat_warning_pct": 40, "exposed_schemas": ["public"]}
    assert fleet.upkeep_fleet_problems({"db": {"upkeep_postgres_databases": [database]}}, ["db"], "upkeep_postgres") == []


def test_role_options_come_from_the_spec_and_an_unknown_role_is_a_clear_error():
    assert fleet.upkeep_role_options("upkeep_summary") == ["upkeep_fail_on", "upkeep_summary_cadence"]
    assert "upkeep_http_endpoints" in fleet.upkeep_role_options("upkeep_http")
    with pytest.raises(ValueError, match="cannot read the argument spec of role upkeep_nope"):
        fleet.upkeep_role_options("upkeep_nope")


def test_without_a_role_the_fleet_filter_keeps_its_old_behaviour():
    hostvars = {"h": {"upkeep_http_endpoints": {"url": "https://a/", "bogus": 1}}}
    assert fleet.upkeep_fleet(hostvars, ["h"], "upkeep_http_endpoints") == [
        {"url": "https://a/", "bogus": 1, "inventory_host": "h"}]
    with pytest.raises(TypeError, match="upkeep_http_endpoints on host h must be a list of dicts"):
        fleet.upkeep_fleet({"h": {"upkeep_http_endpoints": "x"}}, ["h"], "upkeep_http_endpoints")
