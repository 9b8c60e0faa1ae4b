"""The generated sandbox inventory: valid YAML in the shape the roles read, no secret in the
file, and secret lookups that real ansible-core resolves at run time."""

from __future__ import annotations

import sys

import pytest
import yaml

from tests.support.playbook import run_tasks
from upkeep.sandbox import inventory

SECRETS = {"db_password": "db-Secret-1f9a", "smtp_password": "smtp-Secret-77c2", "whatsapp_token": "wa-Token-e41d"}


@pytest.fixture
def state(tmp_path):
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir(mode=0o700)
    paths = {}
    for name, value in SECRETS.items():
        (secrets_dir / name).write_text(value + "\n")
        paths[name] = str(secrets_dir / name)
    ca = tmp_path / "ca.pem"
    ca.write_text("not a real CA; the inventory only names the file\n")
    return {
        "sandbox_dir": str(tmp_path),
        "ca_file": str(ca),
        "secrets": paths,
        "components": {
            "webapp": {"url": "https://127.0.0.1:8443", "slow_ms": 1200, "host": "127.0.0.1", "port": 8443},
            "smtp": {"host": "127.0.0.1", "port": 2525, "username": "mailer@almazahir.com"},
            "postgres": {"host": "127.0.0.1", "port": 5433, "database": "almazahir", "user": "almazahir_app"},
        },
    }


def _host_vars(path):
    document = yaml.safe_load(path.read_text())
    return document["all"]["children"]["platform"]["hosts"]["sandbox"]


def test_written_inventory_is_valid_yaml_with_the_sandbox_host(state, tmp_path):
    path = inventory.write_inventory(tmp_path / "inventory.yml", state)
    host = _host_vars(path)
    assert host["ansible_connection"] == "local"
    assert host["ansible_python_interpreter"] == sys.executable
    endpoints = {e["name"]: e for e in host["upkeep_http_endpoints"]}
    assert set(endpoints) == {"app-api-health", "app-home-page", "app-products-page", "app-api-slow",
                              "whatsapp-business-api", "email-provider-status"}
    assert endpoints["app-api-health"]["url"] == "https://127.0.0.1:8443/api/health"
    assert 'status == "healthy"' in endpoints["app-api-health"]["json_assertions"]
    assert all(e["ca_file"] == state["ca_file"] for e in endpoints.values())
    assert {name: e["check"] for name, e in endpoints.items()} == {
        "app-api-health": "health", "app-home-page": "page", "app-products-page": "page", "app-api-slow": "endpoint",
        "whatsapp-business-api": "whatsapp", "email-provider-status": "email"}
    smtp, = host["upkeep_smtp_servers"]
    assert (smtp["port"], smtp["tls_mode"], smtp["username"]) == (2525, "starttls_required", "mailer@almazahir.com")
    db, = host["upkeep_postgres_databases"]
    assert (db["port"], db["database"], db["user"]) == (5433, "almazahir", "almazahir_app")


def test_slow_endpoint_is_a_warning_not_a_critical(state, tmp_path):
    host = _host_vars(inventory.write_inventory(tmp_path / "inventory.yml", state))
    slow, = [e for e in host["upkeep_http_endpoints"] if e["name"] == "app-api-slow"]
    assert slow["latency_warning_ms"] < 1200 < slow["latency_critical_ms"]
    # Room for a loaded CI machine before the sleep plus overhead reaches critical.
    assert slow["latency_critical_ms"] - 1200 >= 2000


def test_no_secret_value_is_in_the_file(state, tmp_path):
    text = inventory.write_inventory(tmp_path / "inventory.yml", state).read_text()
    for value in SECRETS.values():
        assert value not in text
    for name in SECRETS:
        assert "lookup(\"ansible.builtin.file\", \"%s\")" % state["secrets"][name] in text


def test_secret_lookups_resolve_in_a_real_playbook_run(state, tmp_path):
    """ansible-core 2.19 resolves the file lookups through hostvars and the upkeep_fleet filter,
    exactly as the roles read them."""
    path = inventory.write_inventory(tmp_path / "inventory.yml", state)
    tasks = [{
        "name": "Resolve the fleet lists",
        "ansible.builtin.set_fact": {
            "smtp_password": "{{ (hostvars | upkeep_fleet(ansible_play_hosts, 'upkeep_smtp_servers'))[0].password }}",
            "db_password": "{{ (hostvars | upkeep_fleet(ansible_play_hosts, 'upkeep_postgres_databases'))[0]"
                           ".password }}",
            "auth": "{{ (hostvars | upkeep_fleet(ansible_play_hosts, 'upkeep_http_endpoints'))"
                    " | selectattr('name', 'equalto', 'whatsapp-business-api') | map(attribute='headers')"
                    " | map(attribute='Authorization') | first }}",
        },
    }]
    run = run_tasks(tasks, hosts="platform", inventory=yaml.safe_load(path.read_text()), tmp_path=tmp_path / "run")
    facts = run.one("Resolve the fleet lists").res["ansible_facts"]
    assert facts == {"smtp_password": SECRETS["smtp_password"], "db_password": SECRETS["db_password"],
                     "auth": "Bearer " + SECRETS["whatsapp_token"]}
