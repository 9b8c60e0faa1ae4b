# -*- coding: utf-8 -*-
"""Proving a restored database equal to what was backed up, with findings that name the table.

``fingerprint_restored`` computes on the restored copy exactly what backup.py recorded in the
manifest (backup_manifest.py); ``compare_with_manifest`` turns every difference into a critical
finding; ``compare_foreign`` compares a restore of a foreign dump (no manifest) with the live
source, where a difference is drift since the dump was taken: information, not failure, unless
the restore itself failed.
"""

from __future__ import annotations

from . import backup_manifest
from .result import CRITICAL, WARNING, finding


def fingerprint_restored(open_connection, jobs=2, methods=None, schema_version=backup_manifest.SCHEMA_VERSION):
    """``{"tables", "sequences", "schema", "matviews"}`` of a restored database (nobody else writes
    to it); the schema fingerprint as ``schema_version`` (the manifest's) describes it."""
    conn = open_connection()
    try:
        backup_manifest.pin_row_text(conn)
        schema = backup_manifest.schema_fingerprint(conn, schema_version)
        matviews = backup_manifest.read_matviews(conn)
        listed = backup_manifest.list_tables(conn)
        sequences = backup_manifest.read_sequences(conn)
        conn.rollback()
    finally:
        conn.close()
    # A table keeps the method the backup used (the manifest's); others get the safe one.
    chosen = dict({name: method for name, _, method in listed}, **(methods or {}))
    contents = backup_manifest.table_contents(open_connection, [t[0] for t in listed], jobs=jobs, methods=chosen)
    return {"tables": contents, "sequences": sequences, "schema": schema, "matviews": matviews}


def compare_with_manifest(expected, restored):
    """Critical findings for every table, sequence, schema object and materialized view state that
    differs."""
    found = []
    want, got = expected.get("tables", {}), restored["tables"]
    for table in sorted(set(want) | set(got)):
        if table not in got:
            found.append(finding(CRITICAL, "%s: missing from the restored database (%d rows in the backup)"
                                 % (table, want[table]["rows"]), table, "",
                                 "The archive lacks this table's definition or data: check pg_restore's errors.",
                                 kind="emptied"))
        elif table not in want:
            found.append(finding(WARNING, "%s: in the restored database but not in the manifest" % table, table))
        elif want[table]["rows"] != got[table]["rows"]:
            found.append(finding(CRITICAL, "%s: %d rows restored, %d in the backup" % (
                table, got[table]["rows"], want[table]["rows"]), table, "",
                "The restore lost or duplicated rows: check pg_restore's errors and the archive.",
                **({"kind": "emptied"} if got[table]["rows"] == 0 else {})))
        elif want[table]["checksum"] != got[table]["checksum"]:
            found.append(finding(CRITICAL, "%s: content differs from the backup (same %d rows, checksum %s instead of %s)"
                                 % (table, got[table]["rows"], got[table]["checksum"], want[table]["checksum"]), table, "",
                                 "At least one row's values differ from what was backed up."))
    want_seq, got_seq = expected.get("sequences", {}), restored["sequences"]
    for name in sorted(set(want_seq) | set(got_seq)):
        if want_seq.get(name) != got_seq.get(name):
            found.append(finding(CRITICAL, "sequence %s: restored %s, backup %s" % (
                name, _seq(got_seq.get(name)), _seq(want_seq.get(name))), name, "",
                "A wrong sequence value makes new rows collide with existing keys."))
    want_schema, got_schema = expected.get("schema", {}), restored["schema"]
    if want_schema.get("fingerprint") != got_schema["fingerprint"]:
        objects_want, objects_got = want_schema.get("objects", {}), got_schema["objects"]
        for obj in sorted(set(objects_want) | set(objects_got)):
            if obj not in objects_got:
                found.append(finding(CRITICAL, "schema: %s missing from the restored database" % obj, obj))
            elif obj not in objects_want:
                found.append(finding(CRITICAL, "schema: %s in the restored database but not in the backup" % obj, obj))
            elif objects_want[obj] != objects_got[obj]:
                found.append(finding(CRITICAL, "schema: %s differs from the backup (%s)" % (obj, _PARTS.get(
                    obj.split(" ", 1)[0], "its definition")), obj))
    # Manifests made before materialized views' state was recorded have no "matviews": they verify
    # with what they recorded.
    if "matviews" in expected:
        want_mv, got_mv = expected["matviews"], restored.get("matviews", {})
        for name in sorted(set(want_mv) & set(got_mv)):
            if want_mv[name]["populated"] != got_mv[name]["populated"]:
                found.append(finding(CRITICAL, "materialized view %s: %s" % (name, _populated(want_mv[name], got_mv[name])),
                                     name, "", "A view that lost its data fails every query on it (REFRESH MATERIALIZED "
                                     "VIEW failed during the restore: see its errors); one that gained data was not "
                                     "in that state in the backup."))
    return found


_PARTS = {"table": "columns, constraints, indexes or triggers", "view": "columns or definition",
          "domain": "base type, NOT NULL, default or constraints", "function": "signature, result or body",
          "sequence": "type or bounds", "type": "labels"}


def _populated(want, got):
    if want["populated"]:
        return "not populated in the restored database, populated in the backup"
    return "populated in the restored database, not populated (WITH NO DATA) in the backup"


def _seq(value):
    if value is None:
        return "absent"
    return "%d%s" % (value["last_value"], "" if value["is_called"] else " (not yet called)")


def compare_foreign(restored, open_source, restore_failed=False):
    """Findings for differences between a restored foreign dump and the live source (row counts
    per table, schema objects). The source is read in one read-only repeatable-read transaction.

    After a clean restore a difference is drift since the dump was taken: information. After a
    failed restore, a table the source holds rows of that came back empty or not at all is what
    the failure lost (critical, ``kind: emptied``), not drift."""
    conn = open_source()
    try:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        schema = backup_manifest.schema_fingerprint(conn)
        matviews = backup_manifest.read_matviews(conn)
        counts = {name: int(conn.execute("SELECT count(*) FROM ONLY %s" % name).fetchone()[0])
                  for name, _, _ in backup_manifest.list_tables(conn)}
        conn.rollback()
    finally:
        conn.close()
    found = []
    got = restored["tables"]
    for table in sorted(set(counts) | set(got)):
        if table not in got:
            if restore_failed:
                found.append(finding(CRITICAL, "%s: not restored (%d rows in the source): lost in the failed restore"
                                     % (table, counts[table]), table, "", _LOST, kind="emptied"))
            else:
                found.append(finding("info", "drift: %s exists in the source but not in the backup" % table, table))
        elif table not in counts:
            found.append(finding("info", "drift: %s is in the backup but no longer in the source" % table, table))
        elif restore_failed and got[table]["rows"] == 0 and counts[table] > 0:
            found.append(finding(CRITICAL, "%s: 0 rows restored, %d in the source: lost in the failed restore, not drift"
                                 % (table, counts[table]), table, "", _LOST, kind="emptied"))
        elif counts[table] != got[table]["rows"]:
            found.append(finding("info", "drift: %s has %d rows in the source, %d in the backup (%+d since the dump)"
                                 % (table, counts[table], got[table]["rows"], counts[table] - got[table]["rows"]), table))
    for obj in sorted(set(schema["objects"]) | set(restored["schema"]["objects"])):
        if schema["objects"].get(obj) != restored["schema"]["objects"].get(obj):
            found.append(finding("info", "%s of %s differs between the source and the backup" % (
                "schema (possibly not restored: the restore failed)" if restore_failed else "drift: schema", obj), obj))
    for name in sorted(set(matviews) & set(restored.get("matviews", {}))):
        if matviews[name] != restored["matviews"][name]:
            found.append(finding("info", "drift: materialized view %s is %s in the source, %s in the restored backup" % (
                name, _state(matviews[name]), _state(restored["matviews"][name])), name))
    return found


def _state(matview):
    return "populated" if matview["populated"] else "not populated"


_LOST = "The restore stopped or failed before this table's data: see the restore error; use another backup."


def empty_after_failure(restored):
    """After a failed restore with neither a manifest nor the source to compare with: the tables
    that came back empty. Whether the dump held rows for them cannot be told, so a warning."""
    return [finding(WARNING, "%s: 0 rows restored after the failure" % table, table,
                    "no manifest and no source to say how many rows it should hold",
                    "Give the source database (source) to compare with, or verify an upkeep backup.", kind="emptied")
            for table, content in sorted(restored["tables"].items()) if content["rows"] == 0]
