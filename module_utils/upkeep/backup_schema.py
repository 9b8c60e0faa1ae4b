# -*- coding: utf-8 -*-
"""The schema half of a backup's proof: a fingerprint of what the catalogs describe, and whether
each materialized view holds data.

The fingerprint is a sha256 per object (table, view, sequence, function, enum type, domain,
extension) over a normalized description from the catalogs, without OIDs, owners or grants,
which a restore into a scratch database legitimately changes, and one sha256 over them all.

Versions: a manifest records the version its fingerprint was made with, and a verification
recomputes exactly that version, so a backup taken before a version existed still verifies
with what it recorded. 1 (no ``version`` key in old manifests): relations, constraints, indexes,
triggers, views, sequences, functions, enums, extensions. 2: also domains, with their base type,
NOT NULL, default and every constraint (a CHECK added later included, NOT VALID shown as such),
since a column typed by a domain names only the domain.
"""

from __future__ import annotations

import hashlib

SCHEMA_VERSION = 2
SUPPORTED_SCHEMA_VERSIONS = (1, SCHEMA_VERSION)

# User schemas only; objects an extension owns are the extension's (pg_dump skips their data too).
USER_REL = """
  n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
  AND n.nspname NOT LIKE 'pg\\_temp\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype = 'e')"""

_USER_TYPE = """
  n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid
                  AND d.deptype = 'e')"""

# One (object, line) per fact; lines of an object are sorted before hashing, so catalog order
# does not matter, but column position does (it is part of each row's text).
SCHEMA_SQL_V1 = """
SELECT CASE WHEN c.relkind IN ('v', 'm') THEN 'view ' ELSE 'table ' END || format('%I.%I', n.nspname, c.relname),
       'column ' || lpad(row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum)::text, 4, '0') || ' '
       || quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND """ + USER_REL + """
UNION ALL
SELECT 'table ' || format('%I.%I', n.nspname, c.relname), 'constraint ' || quote_ident(co.conname) || ' '
       || pg_get_constraintdef(co.oid)
FROM pg_constraint co JOIN pg_class c ON c.oid = co.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE """ + USER_REL + """
UNION ALL
SELECT 'table ' || format('%I.%I', n.nspname, c.relname), 'index ' || pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE """ + USER_REL + """
UNION ALL
SELECT 'table ' || format('%I.%I', n.nspname, c.relname), 'trigger ' || pg_get_triggerdef(t.oid)
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal AND """ + USER_REL + """
UNION ALL
SELECT 'view ' || format('%I.%I', n.nspname, c.relname), 'definition ' || pg_get_viewdef(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm') AND """ + USER_REL + """
UNION ALL
SELECT 'sequence ' || format('%I.%I', n.nspname, c.relname),
       format('sequence %s start %s increment %s min %s max %s cache %s cycle %s', format_type(s.seqtypid, NULL),
              s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle)
FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE """ + USER_REL + """
UNION ALL
SELECT 'function ' || format('%I.%I', n.nspname, p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       'returns ' || coalesce(pg_get_function_result(p.oid), '') || ' language ' || l.lanname || ' body md5 '
       || md5(coalesce(p.prosrc, ''))
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
UNION ALL
SELECT 'type ' || format('%I.%I', n.nspname, t.typname), 'enum ' || string_agg(quote_literal(e.enumlabel), ','
       ORDER BY e.enumsortorder)
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_enum e ON e.enumtypid = t.oid
GROUP BY n.nspname, t.typname
UNION ALL
SELECT 'extension ' || quote_ident(x.extname), 'extension ' || x.extname
FROM pg_extension x WHERE x.extname <> 'plpgsql'
"""

SCHEMA_SQL_V2 = SCHEMA_SQL_V1 + """
UNION ALL
SELECT 'domain ' || format('%I.%I', n.nspname, t.typname),
       'base ' || format_type(t.typbasetype, t.typtypmod) || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END
       || coalesce(' default ' || coalesce(pg_get_expr(t.typdefaultbin, 0), t.typdefault), '')
       || CASE WHEN t.typcollation <> 0 AND t.typcollation <> b.typcollation
               THEN ' collate ' || (SELECT quote_ident(collname) FROM pg_collation WHERE oid = t.typcollation) ELSE '' END
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_type b ON b.oid = t.typbasetype
WHERE t.typtype = 'd' AND """ + _USER_TYPE + """
UNION ALL
SELECT 'domain ' || format('%I.%I', n.nspname, t.typname), 'constraint ' || quote_ident(co.conname) || ' '
       || pg_get_constraintdef(co.oid)
FROM pg_constraint co JOIN pg_type t ON t.oid = co.contypid JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype = 'd' AND """ + _USER_TYPE + """
"""

SCHEMA_SQL = {1: SCHEMA_SQL_V1, 2: SCHEMA_SQL_V2}

MATVIEWS_SQL = """
SELECT format('%I.%I', n.nspname, c.relname), c.relispopulated
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'm' AND """ + USER_REL + """
ORDER BY 1"""


def schema_fingerprint(conn, version=SCHEMA_VERSION):
    """``{"fingerprint": sha256, "objects": {object: sha256}, "version": n}`` of the database's
    schema, as fingerprint ``version`` describes it (a manifest's, to verify it)."""
    if version not in SCHEMA_SQL:
        raise ValueError("unknown schema fingerprint version %r (a manifest from a newer upkeep?)" % (version,))
    lines = {}
    for obj, line in conn.execute(SCHEMA_SQL[version]).fetchall():
        lines.setdefault(obj, []).append(line)
    objects = {obj: hashlib.sha256("\n".join(sorted(items)).encode("utf-8")).hexdigest()
               for obj, items in lines.items()}
    overall = hashlib.sha256("\n".join("%s %s" % item for item in sorted(objects.items())).encode("utf-8")).hexdigest()
    result = {"fingerprint": overall, "objects": objects}
    if version > 1:  # version 1 manifests carry no key: keep their shape byte for byte
        result["version"] = version
    return result


def read_matviews(conn):
    """``{materialized_view: {"populated": bool}}``. Whether a view holds data is the dump's
    business too: pg_dump refreshes only the views that were populated, and a restore whose
    REFRESH failed leaves a view that every query on it errors on."""
    return {name: {"populated": bool(populated)} for name, populated in conn.execute(MATVIEWS_SQL).fetchall()}
