"""The table checksum (sum-hash64/2, per-column hashes) against a real PostgreSQL: every column of
every row contributes, row order does not, and backups made with the /1 definition still verify."""

from __future__ import annotations

import json

import pytest

from ansible.module_utils.upkeep import backup, backup_manifest, restore
from ansible.module_utils.upkeep.pg import connect

# One change per column of the fixture's tables (tests/unit/backup/support.py), each to a value
# of the same type; NULL and back covers the coalesce.
CHANGES = [
    ("categories", "name = 'category 1 '", 1),
    ("products", "category_id = 3", 1),
    ("products", "name = 'Product 1'", 1),
    ("products", "price = 1.26", 1),
    ("products", "tags = ARRAY['t1', 'x', 'y']", 1),
    ("products", "created = created + interval '1 microsecond'", 1),
    ("products", "ratio = ratio * (1 + 1e-15)", 1),
    ("products", "image = image || '\\x00'::bytea", 1),
    ("products", "attrs = '{\"g\": 1, \"even\": false }'::json", 1),
    ("products", "price = NULL", 1),
    ("leads", "status = 'won'", 1),
    ("leads", "note = 'lead 1.'", 1),
    ("leads", "at = at + 1", 1),
    ("leads", "product_id = 3", 1),
]


def _checksum(conn, table):
    columns = backup_manifest.table_columns(conn, "public." + table)
    return conn.execute(backup_manifest.table_checksum_sql("public." + table, "columns", columns)).fetchone()


@pytest.fixture
def conn(source_db):
    with connect(source_db, statement_timeout_ms=0, autocommit=False) as handle:
        backup_manifest.pin_row_text(handle)
        yield handle
        handle.rollback()


@pytest.mark.parametrize("table,assignment,row_id", CHANGES, ids=[c[1].split(" =")[0] + "@" + c[0] for c in CHANGES])
def test_a_single_changed_value_changes_the_checksum(conn, table, assignment, row_id):
    before = _checksum(conn, table)
    assert conn.execute("UPDATE %s SET %s WHERE id = %%s" % (table, assignment), [row_id]).rowcount == 1
    after = _checksum(conn, table)
    assert after[0] == before[0] and after[1] != before[1]


def test_values_swapped_between_columns_or_rows_are_seen(conn):
    conn.execute("CREATE TEMP TABLE pairs (id int, a text, b text)")
    conn.execute("INSERT INTO pairs VALUES (1, 'x', 'y'), (2, 'u', 'v')")
    columns = backup_manifest.table_columns(conn, "pairs")
    sql = backup_manifest.table_checksum_sql("pairs", "columns", columns)
    original = conn.execute(sql).fetchone()[1]
    conn.execute("UPDATE pairs SET a = b, b = a WHERE id = 1")  # across columns of one row
    across_columns = conn.execute(sql).fetchone()[1]
    conn.execute("UPDATE pairs SET a = b, b = a WHERE id = 1")
    conn.execute("UPDATE pairs SET a = CASE id WHEN 1 THEN 'u' ELSE 'x' END")  # one column across rows
    across_rows = conn.execute(sql).fetchone()[1]
    assert len({original, across_columns, across_rows}) == 3


def test_row_order_and_dropped_columns_do_not_count(conn):
    """The same rows in another physical order, in a table whose dropped column shifted attnum."""
    conn.execute("CREATE TEMP TABLE copy (gone int, id int, category_id int, name text, price numeric(10,2), "
                 "tags text[], created timestamptz, ratio float8, image bytea, attrs json)")
    conn.execute("ALTER TABLE copy DROP COLUMN gone")
    conn.execute("INSERT INTO copy SELECT * FROM products ORDER BY id DESC")
    columns = backup_manifest.table_columns(conn, "copy")
    assert _checksum(conn, "products") == conn.execute(
        backup_manifest.table_checksum_sql("copy", "columns", columns)).fetchone()


def test_timestamps_hash_the_same_whatever_the_session_time_zone(source_db):
    results = []
    for zone in ("UTC", "Asia/Kolkata"):
        with connect(source_db, statement_timeout_ms=0, autocommit=False) as handle:
            handle.execute("SET TimeZone = '%s'" % zone)
            backup_manifest.pin_row_text(handle)  # what every fingerprint connection does
            results.append(_checksum(handle, "products"))
    assert results[0] == results[1]


def _backup(source, directory):
    check, details = backup.make_backup(dict(source, directory=str(directory), backup_name="app"))
    assert check["status"] == "ok", check
    return details


def _rewrite_manifest(path, change):
    with open(path) as handle:
        data = json.load(handle)
    change(data["content"])
    backup_manifest.write_json(path, data)


def test_a_backup_made_with_the_previous_definition_still_verifies(source_db, restore_server, tmp_path):
    """A /1 manifest (whole-row methods per table) is verified with its own methods, and a wrong
    /1 checksum is still caught."""
    details = _backup(source_db, tmp_path)
    old = {"public.categories": "record", "public.products": "text", "public.leads": "text"}
    old_sums = backup_manifest.table_contents(lambda: connect(source_db, statement_timeout_ms=0, autocommit=False),
                                              list(old), methods=old)
    assert {name: t["method"] for name, t in old_sums.items()} == old

    def as_v1(content):
        content["checksum_algorithm"] = "sum-hash64/1"
        content["tables"] = old_sums

    _rewrite_manifest(details["manifest_path"], as_v1)
    ok = restore.restore_and_verify(details["manifest_path"], restore_server, record=False)["check"]
    assert ok["status"] == "ok", ok

    def tamper(content):
        content["tables"]["public.leads"]["checksum"] = "1"

    _rewrite_manifest(details["manifest_path"], tamper)
    bad = restore.restore_and_verify(details["manifest_path"], restore_server, record=False)["check"]
    assert bad["status"] == "critical"
    assert any(f["title"].startswith("public.leads: content differs from the backup") for f in bad["findings"])


def test_a_manifest_with_an_unknown_algorithm_is_not_compared(source_db, restore_server, pg_cluster, tmp_path):
    from tests.unit.backup.support import database_names

    details = _backup(source_db, tmp_path)
    _rewrite_manifest(details["manifest_path"], lambda content: content.update(checksum_algorithm="sum-hash64/99"))
    before = database_names(pg_cluster)
    check = restore.restore_and_verify(details["manifest_path"], restore_server, record=False)["check"]
    assert check["status"] == "unknown"
    assert "checksum algorithm sum-hash64/99 is unknown to this upkeep" in check["summary"]
    assert database_names(pg_cluster) == before


def test_an_old_server_without_a_hash_function_falls_back_to_the_row_text(conn, monkeypatch):
    """Mocked fault: a hash function missing on the server (an old version) cannot be produced on
    this PostgreSQL, so the int4 column's expression is pointed at a function that does not exist;
    the table is then hashed by its row text and the manifest says so."""
    monkeypatch.setitem(backup_manifest.COLUMN_HASHES, "int4", ("no_such_hash_function", None))
    result = backup_manifest._checksum_one(conn, "public.categories")
    assert result["method"] == "text" and result["rows"] == 5
