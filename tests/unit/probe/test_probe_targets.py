"""The probe plan's rules: which secrets may be cached (as lookup recipes only) and how the
``upkeep_probe`` variable is read."""

from __future__ import annotations

import pytest

from upkeep.probe_targets import DEFAULTS, ProbeConfigError, parse_options, recipe_of, reveal


@pytest.mark.parametrize("raw, recipe", [
    ("{{ lookup('file', '/etc/upkeep/db') }}", [{"file": "/etc/upkeep/db"}]),
    ('Bearer {{ lookup("ansible.builtin.file", "/s/token") }}', ["Bearer ", {"file": "/s/token"}]),
    ("{{ lookup('env', 'DB_PASSWORD') }}", [{"env": "DB_PASSWORD"}]),
    ("literal-password", None),                           # the secret itself: never copied
    ("{{ vault_db_password }}", None),                    # needs Ansible (and the vault secret)
    ("{{ lookup('file', 'relative/path') }}", None),      # Ansible's search path decides: not guessed
    ("{{ lookup('file', '/a') }}{{ other }}", None),
    ("{{ lookup('password', '/tmp/x length=8') }}", None),
    (None, None),
])
def test_only_file_and_env_lookups_become_recipes(raw, recipe):
    assert recipe_of(raw) == recipe


def test_a_recipe_is_carried_out_at_run_time(tmp_path, monkeypatch):
    secret = tmp_path / "token"
    secret.write_text("tok-123\n")
    monkeypatch.setenv("UPKEEP_TEST_PW", "pw-9")
    plan_item = {"headers": {"Authorization": {"__secret__": ["Bearer ", {"file": str(secret)}]}},
                 "password": {"__secret__": [{"env": "UPKEEP_TEST_PW"}]}, "port": 5432}
    assert reveal(plan_item) == {"headers": {"Authorization": "Bearer tok-123"}, "password": "pw-9", "port": 5432}


def test_the_defaults_and_an_override():
    assert parse_options(None) == dict(DEFAULTS, timeout_s=5.0)
    options = parse_options({"samples": 2, "retention": {"raw_days": 7}})
    assert options["samples"] == 2 and options["retention"] == {"raw_days": 7, "hourly_days": 365}


@pytest.mark.parametrize("value, message", [
    ([], "upkeep_probe must be a mapping"),
    ({"timeout_s": 0}, "upkeep_probe.timeout_s: must be a number of seconds above 0"),
    ({"smtp": "yes"}, "upkeep_probe.smtp: must be true or false, got 'yes'"),
    ({"retention": {"raw_days": 0}}, "upkeep_probe.retention.raw_days: must be an integer from 1"),
    ({"retention": {"days": 3}}, "upkeep_probe.retention: must be a mapping with raw_days and/or hourly_days"),
    ({"concurrency": True}, "upkeep_probe.concurrency: must be an integer from 1 to 100, got True"),
])
def test_a_bad_value_is_named(value, message):
    with pytest.raises(ProbeConfigError) as raised:
        parse_options(value)
    assert message in str(raised.value)
