# -*- coding: utf-8 -*-
"""What a database holds, computed in the database, and the manifest that records it beside a dump.

The *content fingerprint* of a database is what ``upkeep_pg_backup`` records and
``upkeep_restore_verify`` proves again on the restored copy:

- per table: the row count and an order-independent checksum, the sum over the rows of a 64-bit
  row hash, computed by PostgreSQL, so no row ever reaches Python and memory stays flat however
  large a table grows. The row hash (``sum-hash64/2``) XORs one hash per column, each seeded with
  the column's position, from the type's own extended hash function where SQL can call it
  directly and from the value's text otherwise; see ``row_hash_sql`` for the trade-offs;
- the schema fingerprint (backup_schema.py): a sha256 per object (table, view, sequence,
  function, type, domain, extension) over a normalized description from the catalogs, and one
  sha256 over them all; whether each materialized view is populated;
- sequences (read from the dump itself by ``backup.py``, since sequences are not transactional).

Row text depends on session settings (DateStyle, TimeZone, float digits, bytea output): every
fingerprint connection pins them (``ROW_TEXT_SETTINGS``), so source and restore agree.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re

from .backup_schema import SCHEMA_VERSION, USER_REL as _USER_REL, read_matviews, schema_fingerprint  # noqa: F401

MANIFEST_FORMAT = "upkeep.backup/1"
MANIFEST_SUFFIX = ".manifest.json"
VERIFY_SUFFIX = ".verify.json"
# /1: hash_record_extended of the whole row (method "record") or the hash of the row text
# ("text"), per table; /2: per-column hashes ("columns"). Each manifest table records its method,
# so a verification hashes exactly as its backup did, old manifests included.
CHECKSUM_ALGORITHM = "sum-hash64/2"
SUPPORTED_CHECKSUM_ALGORITHMS = ("sum-hash64/1", CHECKSUM_ALGORITHM)
ROW_TEXT_SETTINGS = {"DateStyle": "ISO, MDY", "TimeZone": "UTC", "IntervalStyle": "postgres",
                     "extra_float_digits": "1", "bytea_output": "hex"}

TABLES_SQL = """
SELECT format('%I.%I', n.nspname, c.relname) AS qualified, pg_relation_size(c.oid) AS size_bytes
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence <> 't' AND """ + _USER_REL + """
ORDER BY 2 DESC, 1"""

# A table's columns in order, each with its type (a domain's base type) when pg_catalog owns it.
COLUMNS_SQL = """
SELECT quote_ident(a.attname), CASE WHEN b.typnamespace = 'pg_catalog'::regnamespace THEN b.typname END
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum"""

# Per-column hash of a value by (base) type: the type's own extended hash function, called
# directly (it hashes the value; stable across versions since hash partitioning depends on it; no
# text conversion), after a cast where the function is declared for a binary-equal type; text
# types under the "C" collation so a nondeterministic collation cannot hide a change of case.
# Every other type (date, bytea, arrays, enums, json, composites, ...) hashes its text under the
# pinned ROW_TEXT_SETTINGS: stable on a restored copy, where an enum's or a composite's hash
# function would hash OIDs the restore changes. Everything is schema-qualified, so a user's
# function or operator of the same name cannot stand in.
# Equal values of a type hash equally, so a change between equal values goes unseen, as with
# hash_record_extended before: 1.0 and 1.00 (numeric), 0.0 and -0.0 (float), '1 day' and
# '24 hours' (interval); int8 and timestamps fold their two 32-bit halves together (a change is
# missed when both halves change by the same bits).
COLUMN_HASHES = {  # type: (function, cast to)
    "int2": ("hashint2extended", None), "int4": ("hashint4extended", None), "int8": ("hashint8extended", None),
    "bool": ("hashint4extended", "int4"), "float4": ("hashfloat4extended", None),
    "float8": ("hashfloat8extended", None), "numeric": ("hash_numeric_extended", None),
    "text": ("hashtextextended", None), "varchar": ("hashtextextended", None), "bpchar": ("hashbpcharextended", None),
    "name": ("hashnameextended", None), "char": ("hashcharextended", None), "uuid": ("uuid_hash_extended", None),
    "jsonb": ("jsonb_hash_extended", None), "inet": ("hashinetextended", None), "cidr": ("hashinetextended", "inet"),
    "macaddr": ("hashmacaddrextended", None), "macaddr8": ("hashmacaddr8extended", None),
    "interval": ("interval_hash_extended", None), "time": ("time_hash_extended", None),
    "timetz": ("timetz_hash_extended", None), "timestamp": ("timestamp_hash_extended", None),
    # The same microseconds: TimeZone is pinned to UTC (ROW_TEXT_SETTINGS), so the cast shifts nothing.
    "timestamptz": ("timestamp_hash_extended", "timestamp"),
}
TEXT_HASH = ("hashtextextended", "text")
COLLATED = ("text", "varchar", "bpchar")


def column_hash_sql(column, kind, seed):
    """Hash of one column's value (``column`` quoted) of pg_catalog type ``kind`` (None: another)."""
    function, cast = COLUMN_HASHES.get(kind, TEXT_HASH)
    value = "upkeep_row.%s" % column
    if cast:
        value = "(%s)::pg_catalog.%s" % (value, cast)
    if cast == "text" or kind in COLLATED:
        value += ' COLLATE pg_catalog."C"'
    return "pg_catalog.%s(%s, %d)" % (function, value, seed)


# Whole-row methods of sum-hash64/1, kept so a backup made before /2 still verifies.
METHODS = {
    "record": "hash_record_extended(upkeep_row.*, 0)",
    "text": "hashtextextended(ROW(upkeep_row.*)::text, 0)",
}


def row_hash_sql(columns):
    """The ``columns`` method's row hash over ``[(quoted_name, pg_catalog_type_or_None)]``.

    Why per column (sum-hash64/2) rather than hash_record_extended(row): on pgbench data it costs
    about half the CPU (no whole-row datum built and deformed again per row), and while pg_dump
    runs that CPU is taken from pg_dump on a busy server. The price is a combination we define
    ourselves: XOR of per-column hashes seeded with the column's position (1, 2, ... over the
    columns a restore recreates, so dropped columns do not shift it), a NULL contributing its
    position instead. Every column of every row still contributes; the position seed keeps values
    swapped between columns visible; XOR within the row and a sum across rows keep it
    order-independent across rows; one changed value changes its column hash and so the sum
    (barring a 64-bit collision)."""
    parts = ["coalesce(%s, %d)" % (column_hash_sql(name, kind, position), position)
             for position, (name, kind) in enumerate(columns, 1)]
    return " OPERATOR(pg_catalog.#) ".join(parts) or "0"


def table_columns(conn, qualified):
    """``[(quoted_name, pg_catalog_type_or_None)]`` of a table, in column order."""
    return [(row[0], row[1]) for row in conn.execute(COLUMNS_SQL, [qualified]).fetchall()]


def table_checksum_sql(qualified, method="columns", columns=None):
    """Row count and order-independent checksum of one table (``qualified`` comes from
    format('%I.%I') in the database, so it is quoted safely; ``columns`` from table_columns for
    the ``columns`` method). The sum is numeric: no overflow, no wrap-around to reason about
    (int8 sums accumulate in 128 bits, so it costs no more than bit_xor)."""
    expression = row_hash_sql(columns or []) if method == "columns" else METHODS[method]
    return "SELECT count(*), coalesce(sum(%s), 0)::text FROM ONLY %s AS upkeep_row" % (expression, qualified)


def pin_row_text(conn):
    """Pin the settings a row's text depends on, for this session."""
    for name, value in ROW_TEXT_SETTINGS.items():
        conn.execute("SELECT set_config(%s, %s, false)", [name, value])


def list_tables(conn):
    """``[(qualified_name, size_bytes, method)]`` of the user tables, biggest first; ``method`` is
    the checksum method a new fingerprint uses (``columns``)."""
    return [(row[0], int(row[1]), "columns") for row in conn.execute(TABLES_SQL).fetchall()]


def _checksum_one(conn, table, method=None):
    """``{"rows", "checksum", "method"}`` with ``method`` (a manifest's), else ``columns``; falls
    back to the row text's hash when a hash function is missing (an old server)."""
    method = method or "columns"
    if method not in METHODS and method != "columns":
        raise ValueError("unknown checksum method %r (a manifest from a newer upkeep?)" % method)
    columns = table_columns(conn, table) if method == "columns" else None
    for candidate in ([method] if method == "text" else [method, "text"]):
        conn.execute("SAVEPOINT upkeep_sum")
        try:
            count, checksum = conn.execute(table_checksum_sql(table, candidate, columns)).fetchone()
        except Exception:  # psycopg.Error: no such hash function (hash_record_extended needs PostgreSQL 14)
            conn.execute("ROLLBACK TO SAVEPOINT upkeep_sum")
            if candidate == "text":
                raise
            continue
        conn.execute("RELEASE SAVEPOINT upkeep_sum")
        return {"rows": int(count), "checksum": str(checksum), "method": candidate}


def table_contents(open_connection, tables, jobs=2, snapshot=None, methods=None, parallel_workers=None):
    """``{table: {"rows": n, "checksum": "..."}}`` for ``tables`` (names from list_tables),
    computed by ``jobs`` connections in parallel, biggest tables first.

    ``open_connection()`` returns a new psycopg connection (autocommit off). With ``snapshot``
    (an id from ``pg_export_snapshot()``) every connection reads exactly that snapshot. ``methods``
    (table -> "columns"|"record"|"text", from a manifest) makes a verification hash exactly as the
    backup did.
    ``parallel_workers`` caps PostgreSQL's parallel query per connection (0 while pg_dump runs
    alongside: the checksums only need to finish before it, not to take its CPU).
    """
    pending = list(tables)
    results = {}

    def worker():
        conn = open_connection()
        try:
            pin_row_text(conn)
            if parallel_workers is not None:
                conn.execute("SELECT set_config('max_parallel_workers_per_gather', %s, false)", [str(int(parallel_workers))])
            conn.commit()
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            if snapshot:
                conn.execute("SET TRANSACTION SNAPSHOT %s" % _literal(snapshot))
            while True:
                try:
                    table = pending.pop(0)  # list.pop is atomic under the GIL
                except IndexError:
                    break
                results[table] = _checksum_one(conn, table, (methods or {}).get(table))
            conn.rollback()
        finally:
            conn.close()

    workers = max(1, min(int(jobs), len(pending)))
    if not pending:
        return results
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="upkeep-sum") as pool:
        for future in [pool.submit(worker) for _ in range(workers)]:
            future.result()
    return {name: results[name] for name in sorted(results)}


def _literal(text):
    if not re.match(r"^[0-9A-Fa-f-]+$", text):
        raise ValueError("not a snapshot id: %r" % text)
    return "'%s'" % text


def read_sequences(conn):
    """``{sequence: {"last_value": n, "is_called": bool}}`` read from each sequence (a restored
    database nobody writes to; the source's come from the dump, see backup.dump_sequences)."""
    names = [row[0] for row in conn.execute(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1").fetchall()]
    found = {}
    for name in names:
        last_value, is_called = conn.execute("SELECT last_value, is_called FROM %s" % name).fetchone()
        found[name] = {"last_value": int(last_value), "is_called": bool(is_called)}
    return found


# -- files and manifests ------------------------------------------------------------------------

def sha256_file(path, chunk_bytes=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_files(path):
    """``[{"path": relative, "size_bytes", "sha256"}]`` of a dump file or a dump directory."""
    if os.path.isdir(path):
        entries = []
        for name in sorted(os.listdir(path)):
            full = os.path.join(path, name)
            if os.path.isfile(full):
                entries.append({"path": os.path.join(os.path.basename(path), name),
                                "size_bytes": os.path.getsize(full), "sha256": sha256_file(full)})
        return entries
    return [{"path": os.path.basename(path), "size_bytes": os.path.getsize(path), "sha256": sha256_file(path)}]


def manifest_path_for(dump_path):
    base = dump_path.rstrip(os.sep)
    for suffix in (".enc", ".dump", ".dir"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return base + MANIFEST_SUFFIX


def write_json(path, data):
    """Write atomically with mode 0640: a reader never sees half a manifest."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)


def read_manifest(path):
    """The manifest at ``path``; ValueError if it is not an upkeep manifest."""
    with open(path) as handle:
        data = json.load(handle)
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise ValueError("%s is not an upkeep backup manifest (format %r)" % (path, data.get("format")
                                                                              if isinstance(data, dict) else None))
    data["manifest_path"] = path
    data["dump_path"] = os.path.join(os.path.dirname(path), data["dump"]["path"])
    return data


def list_manifests(directory, name=None):
    """Every upkeep backup in ``directory`` (optionally of source ``name``), newest first.
    Unreadable manifests are returned as ``{"manifest_path", "error"}`` entries so a check can report them."""
    found = []
    try:
        entries = sorted(os.listdir(directory))
    except OSError:
        return found
    for entry in entries:
        if not entry.endswith(MANIFEST_SUFFIX):
            continue
        path = os.path.join(directory, entry)
        try:
            manifest = read_manifest(path)
        except (OSError, ValueError, KeyError) as exc:
            found.append({"manifest_path": path, "error": str(exc), "finished_at": ""})
            continue
        if name is None or manifest.get("name") == name:
            found.append(manifest)
    found.sort(key=lambda m: m.get("finished_at") or "", reverse=True)
    return found


def verification_record(manifest):
    """The last restore verification recorded for a backup (``{}`` when never verified)."""
    path = manifest["manifest_path"][: -len(MANIFEST_SUFFIX)] + VERIFY_SUFFIX
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}
