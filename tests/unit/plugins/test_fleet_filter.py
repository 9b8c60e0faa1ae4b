"""The fleet filters: per-host lists into one fleet list, keeping only what a module takes."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("upkeep_fleet_filter", REPO / "plugins" / "filter" / "upkeep_fleet.py")
fleet = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fleet)


def test_items_are_tagged_and_trimmed_to_the_modules_options():
    keys = fleet.upkeep_module_item_keys("upkeep_pg_ping", "databases")
    assert {"host", "password", "inventory_host", "query_warning_ms"} <= set(keys)
    assert "bloat_warning_pct" not in keys  # the review's option, not the ping's
    hostvars = {"db1": {"upkeep_postgres_databases": [{"name": "a", "query_warning_ms": 9, "bloat_warning_pct": 40}]},
                "db2": {}}
    items = fleet.upkeep_fleet(hostvars, ["db1", "db2"], "upkeep_postgres_databases", keys)
    assert items == [{"name": "a", "query_warning_ms": 9, "inventory_host": "db1"}]


def test_review_keys_come_from_the_review_module():
    assert "bloat_warning_pct" in fleet.upkeep_module_item_keys("upkeep_pg_review", "databases")


def test_an_unknown_module_or_option_is_a_clear_error():
    with pytest.raises(ValueError, match="no module upkeep_nope"):
        fleet.upkeep_module_item_keys("upkeep_nope", "databases")
    with pytest.raises(ValueError, match="no list option 'nope'"):
        fleet.upkeep_module_item_keys("upkeep_pg_ping", "nope")
