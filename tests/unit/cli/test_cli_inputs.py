"""Input checks the CLI makes before Ansible starts: cadence dispatch, inventory, -e values."""

from __future__ import annotations

import pathlib

import pytest

from upkeep import cadences, cli
from upkeep.runner import UsageError, parse_extra_vars, resolve_inventory

FIXTURE_PLAYBOOKS = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "playbooks"


@pytest.fixture
def playbook_dir(tmp_path, monkeypatch):
    for name in ("daily", "weekly", "monthly", "extra_one"):
        (tmp_path / (name + ".yml")).write_text("- hosts: all\n  roles: [upkeep_%s]\n" % name)
    monkeypatch.setenv("UPKEEP_PLAYBOOK_DIR", str(tmp_path))
    return tmp_path


def test_each_cadence_dispatches_to_its_own_playbook(playbook_dir):
    # The guide's master script read TASK=$1 and switched on $task: every name fell through.
    for name in ("daily", "weekly", "monthly", "extra_one"):
        assert cadences.playbook_for(name) == playbook_dir / (name + ".yml")
    assert cadences.known_cadences() == ["daily", "weekly", "monthly", "quarterly", "extra_one"]


def test_unknown_cadence_lists_the_known_ones_and_a_missing_standard_playbook_is_named(playbook_dir):
    with pytest.raises(cadences.CadenceError, match=r"unknown cadence 'dialy' \(known: daily, weekly"):
        cadences.playbook_for("dialy")
    with pytest.raises(cadences.CadenceError, match="missing playbook for cadence 'quarterly'"):
        cadences.playbook_for("quarterly")
    with pytest.raises(cadences.CadenceError, match="unknown cadence"):
        cadences.playbook_for("../daily")


def test_roles_and_declared_checks_are_listed(monkeypatch):
    monkeypatch.setenv("UPKEEP_PLAYBOOK_DIR", str(FIXTURE_PLAYBOOKS))
    [daily] = [info for info in cadences.describe() if info.name == "daily"]
    assert [r.name for r in daily.roles] == ["upkeep_fake", "upkeep_summary"]
    assert [c["id"] for c in daily.roles[0].checks] == ["fake.health", "fake.local"]


def test_roles_of_reads_roles_and_include_role(tmp_path):
    book = tmp_path / "p.yml"
    book.write_text("- hosts: all\n  roles: [a, {role: b}]\n  tasks:\n    - block:\n"
                    "        - ansible.builtin.include_role: {name: c}\n")
    assert cadences.roles_of(book) == ["a", "b", "c"]


def test_extra_vars_parse_yaml_values_and_files(tmp_path):
    secrets = tmp_path / "secrets.yml"
    secrets.write_text("token: s3cret\n")
    values, files = parse_extra_vars(["a=1", "b=true", "c=hello world", "d=[1, 2]", "e=", "f=x=y", "@" + str(secrets)])
    assert values == {"a": 1, "b": True, "c": "hello world", "d": [1, 2], "e": "", "f": "x=y"}
    assert files == [secrets]


@pytest.mark.parametrize("item, message", [
    ("novalue", "expected KEY=VALUE"), ("1x=2", "expected KEY=VALUE"), ("=3", "expected KEY=VALUE"),
    ("@/nonexistent/vars.yml", "cannot read"),
])
def test_bad_extra_vars_are_usage_errors(item, message):
    with pytest.raises(UsageError, match=message):
        parse_extra_vars([item])


def test_extra_vars_file_must_be_a_mapping(tmp_path):
    bad = tmp_path / "list.yml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(UsageError, match="must hold a YAML mapping"):
        parse_extra_vars(["@" + str(bad)])


def test_inventory_checks(tmp_path):
    good = tmp_path / "inv.yml"
    good.write_text("all:\n  hosts:\n    web1:\n")
    assert resolve_inventory(str(good), tmp_path) == good.resolve()
    ini = tmp_path / "hosts"
    ini.write_text("[web]\nweb1\n")
    assert resolve_inventory(str(ini), tmp_path) == ini.resolve()
    assert resolve_inventory(str(tmp_path), tmp_path) == tmp_path.resolve()  # an inventory directory
    cases = {
        "broken.yml": ("all:\n  hosts: [\n", "not valid YAML at line"),
        "list.yml": ("- web1\n- web2\n", "must be a YAML mapping of groups"),
        "empty.yml": ("", "got nothing"),
        "group.yml": ("all: web1\n", "group 'all' must be a mapping"),
        "hosts.yml": ("all:\n  hosts: [web1]\n", "all.hosts must be a mapping"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(UsageError, match=message):
            resolve_inventory(str(tmp_path / name), tmp_path)
    with pytest.raises(UsageError, match="does not exist"):
        resolve_inventory(str(tmp_path / "nope.yml"), tmp_path)


def test_default_inventory_is_the_sandbox_one(tmp_path):
    with pytest.raises(UsageError, match=r"no inventory: pass -i or run `upkeep sandbox up`"):
        resolve_inventory(None, tmp_path)
    (tmp_path / ".sandbox").mkdir()
    (tmp_path / ".sandbox" / "inventory.yml").write_text("all:\n  hosts: {web1: {}}\n")
    assert resolve_inventory(None, tmp_path) == (tmp_path / ".sandbox" / "inventory.yml").resolve()


def test_argparse_errors_exit_64_not_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["run"])
    assert exc.value.code == 64
    with pytest.raises(SystemExit) as exc:
        cli.main(["run", "daily", "--timeout", "soon"])
    assert exc.value.code == 64
    assert "invalid int value" in capsys.readouterr().err
