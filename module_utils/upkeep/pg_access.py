# -*- coding: utf-8 -*-
"""upkeep_pg_access_review: who can do what in a PostgreSQL database (quarterly).

Five review checks, each one set-based catalog query: privileged roles, login roles without
password expiry, PUBLIC grants and default privileges, tables without row-level security in
the schemas an API exposes (Supabase exposes ``public`` through PostgREST), SECURITY DEFINER
functions and owner-privileged views there. Objects that belong to an extension are the
extension's business and are left out. Findings are fingerprinted and acknowledgeable (ack.py).
"""

from __future__ import annotations

from .pg_review import run_review
from .pg_review_common import fetch, qualified, quote_ident

ACCESS_DEFAULTS = {
    "exposed_schemas": ["public"],
    "max_findings": 50,
}

_NOT_EXTENSION_MEMBER = ("NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{catalog}'::regclass "
                         "AND d.objid = {oid} AND d.deptype = 'e')")

PRIVILEGED_SQL = """
SELECT r.rolname AS role, r.oid = 10 AS bootstrap, r.rolcanlogin AS can_login,
       r.rolsuper, r.rolbypassrls, r.rolreplication, r.rolcreaterole, r.rolcreatedb
FROM pg_roles r
WHERE r.rolname NOT LIKE 'pg\\_%%'
  AND (r.rolsuper OR r.rolbypassrls OR r.rolreplication OR r.rolcreaterole OR r.rolcreatedb)
ORDER BY r.rolname"""

LOGIN_ROLES_SQL = """
SELECT r.rolname AS role, r.rolvaliduntil AS valid_until, r.oid = 10 AS bootstrap,
       EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.usesysid = r.oid) AS connected_now,
       now() AS now
FROM pg_roles r
WHERE r.rolcanlogin AND r.rolname NOT LIKE 'pg\\_%%'
ORDER BY r.rolname"""

SCHEMA_GRANTS_SQL = """
SELECT n.nspname AS schema, a.privilege_type AS privilege
FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) AS a
WHERE a.grantee = 0 AND a.privilege_type = 'CREATE'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'"""

TABLE_GRANTS_SQL = """
SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind, string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) AS privileges
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL aclexplode(c.relacl) AS a
WHERE c.relacl IS NOT NULL AND a.grantee = 0 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'
  AND """ + _NOT_EXTENSION_MEMBER.format(catalog="pg_class", oid="c.oid") + """
GROUP BY n.nspname, c.relname, c.relkind
ORDER BY n.nspname, c.relname"""

DEFAULT_ACL_SQL = """
SELECT pg_get_userbyid(d.defaclrole) AS owner, coalesce(n.nspname, '') AS schema, d.defaclobjtype AS objtype,
       string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) AS privileges
FROM pg_default_acl d
LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
CROSS JOIN LATERAL aclexplode(d.defaclacl) AS a
WHERE a.grantee = 0
GROUP BY d.defaclrole, n.nspname, d.defaclobjtype"""

RLS_SQL = """
SELECT n.nspname AS schema, c.relname AS name, c.relrowsecurity AS rls_enabled,
       EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid) AS has_policies
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%(schemas)s) AND NOT c.relispartition
  AND (NOT c.relrowsecurity OR NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid))
  AND """ + _NOT_EXTENSION_MEMBER.format(catalog="pg_class", oid="c.oid") + """
ORDER BY n.nspname, c.relname"""

# A partition read directly is checked against its own row-level security, never its parent's:
# a role the parent's policies limit to a few rows reads every row of a partition it may SELECT
# from (GRANT ... ON ALL TABLES IN SCHEMA grants the partitions too). Per partition (any depth)
# below a parent with RLS enabled, the roles that (a) may SELECT the partition, (b) read all of it
# (no RLS there, or they own it and it is not forced) and (c) are restricted on the parent: not
# superuser or BYPASSRLS, not its owner unless RLS is forced, and no permissive policy reading
# every row (USING true) applies to them. Predefined pg_* roles are left out, as elsewhere.
PARTITION_BYPASS_SQL = """
WITH guarded AS (
  SELECT DISTINCT ON (p.oid) p.oid AS part, anc.relid AS parent
  FROM pg_class p
  CROSS JOIN LATERAL pg_partition_ancestors(p.oid) WITH ORDINALITY AS anc(relid, depth)
  JOIN pg_class a ON a.oid = anc.relid AND a.oid <> p.oid AND a.relrowsecurity
  WHERE p.relispartition
  ORDER BY p.oid, anc.depth
)
SELECT n.nspname AS schema, p.relname AS name, pn.nspname AS parent_schema, a.relname AS parent_name,
       p.relrowsecurity AS partition_rls, string_agg(quote_ident(r.rolname), ', ' ORDER BY r.rolname) AS roles
FROM guarded g
JOIN pg_class p ON p.oid = g.part JOIN pg_namespace n ON n.oid = p.relnamespace
JOIN pg_class a ON a.oid = g.parent JOIN pg_namespace pn ON pn.oid = a.relnamespace
JOIN pg_roles r ON r.rolname NOT LIKE 'pg\\_%%' AND NOT r.rolsuper AND NOT r.rolbypassrls
WHERE has_table_privilege(r.oid, p.oid, 'SELECT')
  AND (NOT p.relrowsecurity OR (pg_has_role(r.oid, p.relowner, 'USAGE') AND NOT p.relforcerowsecurity))
  AND NOT (pg_has_role(r.oid, a.relowner, 'USAGE') AND NOT a.relforcerowsecurity)
  AND NOT EXISTS (
    SELECT 1 FROM pg_policy po
    WHERE po.polrelid = a.oid AND po.polpermissive AND po.polcmd IN ('r', '*')
      AND pg_get_expr(po.polqual, po.polrelid) = 'true'
      AND (0 = ANY (po.polroles) OR EXISTS (SELECT 1 FROM unnest(po.polroles) AS pr(oid)
                                            WHERE pr.oid <> 0 AND pg_has_role(r.oid, pr.oid, 'MEMBER'))))
  AND """ + _NOT_EXTENSION_MEMBER.format(catalog="pg_class", oid="p.oid") + """
GROUP BY n.nspname, p.relname, pn.nspname, a.relname, p.relrowsecurity
ORDER BY n.nspname, p.relname"""

DEFINER_FUNCTIONS_SQL = """
SELECT n.nspname AS schema, p.proname AS name, pg_get_function_identity_arguments(p.oid) AS arguments,
       pg_get_userbyid(p.proowner) AS owner,
       coalesce(EXISTS (SELECT 1 FROM unnest(p.proconfig) AS c WHERE c LIKE 'search\\_path=%%'), false) AS pins_search_path
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.prosecdef AND n.nspname = ANY(%(schemas)s)
  AND """ + _NOT_EXTENSION_MEMBER.format(catalog="pg_proc", oid="p.oid") + """
ORDER BY n.nspname, p.proname"""

OWNER_VIEWS_SQL = """
SELECT n.nspname AS schema, c.relname AS name, pg_get_userbyid(c.relowner) AS owner
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'v' AND n.nspname = ANY(%(schemas)s)
  AND NOT coalesce(c.reloptions @> ARRAY['security_invoker=true'] OR c.reloptions @> ARRAY['security_invoker=on'], false)
  AND """ + _NOT_EXTENSION_MEMBER.format(catalog="pg_class", oid="c.oid") + """
ORDER BY n.nspname, c.relname"""

_ATTRIBUTES = (  # column, attribute, severity, what it allows
    ("rolsuper", "SUPERUSER", "critical", "bypasses every permission check, can read files and run programs"),
    ("rolbypassrls", "BYPASSRLS", "warning", "ignores every row-level security policy"),
    ("rolreplication", "REPLICATION", "warning", "can stream a copy of the whole cluster"),
    ("rolcreaterole", "CREATEROLE", "warning", "can create roles and grant itself their memberships"),
    ("rolcreatedb", "CREATEDB", "info", "can create databases"),
)


def privileged_roles(conn, ctx):
    check_id = "pg.privileged_roles"
    findings = []
    for row in fetch(conn, PRIVILEGED_SQL):
        granted = [(attribute, severity, allows) for column, attribute, severity, allows in _ATTRIBUTES if row[column]]
        if row["bootstrap"]:
            # The cluster's bootstrap superuser cannot lose its attributes: only its use can be limited.
            findings.append(ctx.finding(
                check_id, "info", "Role %s is the bootstrap superuser" % row["role"], row["role"], "bootstrap",
                "%s has %s and cannot lose them." % (row["role"], ", ".join(item[0] for item in granted)),
                "Restrict who may log in as it (pg_hba.conf: local peer only); give applications their own roles."))
            continue
        for attribute, severity, allows in granted:
            findings.append(ctx.finding(
                check_id, severity, "Role %s has %s" % (row["role"], attribute), row["role"], attribute.lower(),
                "%s %s (%s)%s." % (row["role"], attribute, allows, "" if row["can_login"] else "; cannot log in"),
                "ALTER ROLE %s NO%s;  -- if nothing needs it" % (quote_ident(row["role"]), attribute)))
    roles = len({found["resource"] for found in findings})
    summary = "%d role(s) with elevated attributes (%d attribute grant(s))" % (roles, len(findings))
    return ctx.review_check(check_id, summary, findings, metrics={"privileged_roles": roles})


def password_expiry(conn, ctx):
    check_id = "pg.password_expiry"
    findings, connected = [], 0
    for row in fetch(conn, LOGIN_ROLES_SQL):
        role, valid_until = row["role"], row["valid_until"]
        connected += 1 if row["connected_now"] else 0
        activity = ("connected now" if row["connected_now"] else
                    "no session now; PostgreSQL does not record last logins (enable log_connections to know)")
        if valid_until is not None and valid_until.year < 9999 and valid_until <= row["now"]:
            findings.append(ctx.finding(check_id, "info", "Login role %s has an expired password" % role, role,
                                        "expired", "rolvaliduntil %s; %s." % (valid_until.isoformat(), activity),
                                        "ALTER ROLE %s NOLOGIN;  -- if it is no longer used" % quote_ident(role)))
        elif valid_until is None or valid_until.year >= 9999:
            findings.append(ctx.finding(
                check_id, "info" if row["bootstrap"] else "warning", "Login role %s has no password expiry" % role,
                role, "no_expiry", "rolvaliduntil is %s; %s." % ("infinity" if valid_until else "not set", activity),
                "ALTER ROLE %s VALID UNTIL 'YYYY-MM-DD';  -- and rotate the password before then" % quote_ident(role)))
    summary = "%d login role(s) without a password expiry or with an expired one; %d connected now" % (
        len(findings), connected)
    return ctx.review_check(check_id, summary, findings, metrics={"login_roles_flagged": len(findings)},
                            activity_source="pg_stat_activity (current sessions only; last login is not recorded)")


def public_grants(conn, ctx):
    check_id = "pg.public_grants"
    findings = []
    for row in fetch(conn, SCHEMA_GRANTS_SQL):
        schema = quote_ident(row["schema"])
        findings.append(ctx.finding(
            check_id, "warning", "PUBLIC may create objects in schema %s" % schema, schema, "schema_create",
            "Every role can create objects in %s, including functions that shadow others' (search_path attacks)." % schema,
            "REVOKE CREATE ON SCHEMA %s FROM PUBLIC;" % schema))
    for row in fetch(conn, TABLE_GRANTS_SQL):
        name = qualified(row["schema"], row["name"])
        writes = set(row["privileges"].split(", ")) - {"SELECT", "REFERENCES", "TRIGGER"}
        findings.append(ctx.finding(
            check_id, "critical" if writes else "warning", "PUBLIC has %s on %s" % (row["privileges"], name), name,
            "table_grant", "Every role, present and future, has %s on %s." % (row["privileges"], name),
            "REVOKE ALL ON %s FROM PUBLIC;  -- then GRANT to the roles that need it" % name))
    kinds = {"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES", "n": "SCHEMAS"}
    for row in fetch(conn, DEFAULT_ACL_SQL):
        scope = ("IN SCHEMA %s " % quote_ident(row["schema"])) if row["schema"] else ""
        objects = kinds.get(row["objtype"], row["objtype"])
        resource = "default privileges of %s %son %s" % (row["owner"], scope, objects.lower())
        findings.append(ctx.finding(
            check_id, "warning", "New %s get %s for PUBLIC" % (objects.lower(), row["privileges"]), resource,
            "default_acl", "ALTER DEFAULT PRIVILEGES grants %s to PUBLIC on every new %s %s creates%s." % (
                row["privileges"], objects.lower().rstrip("s"), row["owner"], (" " + scope.strip()) if scope else ""),
            "ALTER DEFAULT PRIVILEGES FOR ROLE %s %sREVOKE %s ON %s FROM PUBLIC;" % (
                quote_ident(row["owner"]), scope, row["privileges"], objects)))
    summary = "%d PUBLIC grant(s) on schemas, tables or default privileges" % len(findings)
    return ctx.review_check(check_id, summary, findings, metrics={"public_grants": len(findings)})


def _schemas(ctx):
    return list(ctx.settings["exposed_schemas"] or [])


def rls(conn, ctx):
    check_id = "pg.rls"
    findings = []
    for row in fetch(conn, RLS_SQL, {"schemas": _schemas(ctx)}):
        name = qualified(row["schema"], row["name"])
        if not row["rls_enabled"]:
            findings.append(ctx.finding(
                check_id, "warning", "Table %s in an exposed schema has no row-level security" % name, name,
                "rls_disabled", "%s is reachable through the API that exposes schema %s, and any role with a grant "
                "on it sees every row." % (name, row["schema"]),
                "CREATE POLICY ... ON %s ...; ALTER TABLE %s ENABLE ROW LEVEL SECURITY;  -- policies first: with RLS "
                "on and no policy, non-owners see no rows" % (name, name)))
        else:
            findings.append(ctx.finding(
                check_id, "info", "Table %s has row-level security but no policy" % name, name, "rls_no_policy",
                "Non-owner roles see no rows of %s; if that is not intended, a policy is missing." % name,
                "CREATE POLICY ... ON %s ...;" % name))
    tables = len(findings)
    partitions, notes = _partitions_bypassing_rls(conn, ctx, check_id)
    summary = "%d table(s) in exposed schema(s) %s without row-level security or policy" % (
        tables, ", ".join(_schemas(ctx)) or "(none)")
    if partitions:
        summary += "; %d partition(s) readable directly around their parent's row-level security" % len(partitions)
    return ctx.review_check(check_id, summary, findings + partitions + notes,
                            metrics={"tables_without_rls": tables, "partitions_bypassing_rls": len(partitions)})


def _partitions_bypassing_rls(conn, ctx, check_id):
    """``(findings, notes)``: partitions (in any schema: a role that logs in reaches every schema it
    has USAGE on) that roles restricted by the parent's policies read in full, critical where an API
    exposes them; notes say what could not be checked."""
    found = []
    exposed = set(_schemas(ctx))
    if ctx.server_version_num < 120000:  # no pg_partition_ancestors() before PostgreSQL 12
        return [], [ctx.finding(check_id, "info", "Partitions not checked against their parent's row-level security",
                            "", "partitions_not_checked", "PostgreSQL before 12 lacks pg_partition_ancestors().",
                            "Upgrade PostgreSQL; until then review partitions' grants by hand.")]
    for row in fetch(conn, PARTITION_BYPASS_SQL):
        name, parent = qualified(row["schema"], row["name"]), qualified(row["parent_schema"], row["parent_name"])
        found.append(ctx.finding(
            check_id, "critical" if {row["schema"], row["parent_schema"]} & exposed else "warning",
            "Partition %s is readable directly by %s, bypassing the row-level security of %s" % (
                name, row["roles"], parent), name, "partition_bypasses_rls",
            "PostgreSQL checks a partition read directly against the partition's own row-level security, not its "
            "parent's; %s %s, so %s see every row of it that the policies of %s would hide." % (
                name, "has RLS but they own it" if row["partition_rls"] else "has no row-level security",
                row["roles"], parent),
            "ALTER TABLE %s ENABLE ROW LEVEL SECURITY;  -- with no policy of its own, direct reads see no rows and "
            "queries through %s keep its policies; or REVOKE SELECT ON %s FROM %s;" % (name, parent, name, row["roles"])))
    return found, []


def security_definer(conn, ctx):
    check_id = "pg.security_definer"
    schemas = {"schemas": _schemas(ctx)}
    findings = []
    for row in fetch(conn, DEFINER_FUNCTIONS_SQL, schemas):
        name = "%s(%s)" % (qualified(row["schema"], row["name"]), row["arguments"])
        pinned = row["pins_search_path"]
        findings.append(ctx.finding(
            check_id, "warning" if pinned else "critical", "SECURITY DEFINER function %s" % name, name, "definer_function",
            "Runs with the privileges of %s for anyone who may execute it, from an exposed schema%s." % (
                row["owner"], "" if pinned else "; it does not pin search_path, so a caller can hijack the objects it "
                "names"),
            "ALTER FUNCTION %s SECURITY INVOKER;  -- or keep it, pin search_path and REVOKE EXECUTE ... FROM PUBLIC"
            % name if pinned else "ALTER FUNCTION %s SET search_path = pg_catalog, pg_temp;  -- and review who may "
            "execute it" % name))
    version_15 = ctx.server_version_num >= 150000
    for row in fetch(conn, OWNER_VIEWS_SQL, schemas):
        name = qualified(row["schema"], row["name"])
        findings.append(ctx.finding(
            check_id, "warning" if version_15 else "info", "View %s runs with its owner's privileges" % name, name,
            "definer_view", "Queries through %s check permissions and row-level security as %s, not as the caller." % (
                name, row["owner"]),
            "ALTER VIEW %s SET (security_invoker = true);" % name if version_15 else
            "PostgreSQL before 15 has no security_invoker: move the view out of the exposed schema or revoke access."))
    summary = "%d SECURITY DEFINER function(s) or owner-privileged view(s) in exposed schema(s)" % len(findings)
    return ctx.review_check(check_id, summary, findings, metrics={"definer_objects": len(findings)})


ACCESS_CHECKS = {
    "privileged_roles": privileged_roles,
    "password_expiry": password_expiry,
    "public_grants": public_grants,
    "rls": rls,
    "security_definer": security_definer,
}


def access_item_spec(with_defaults=False):
    """Access-review settings (argument-spec form): per database without defaults, at the top
    level ``with_defaults``."""
    spec = dict(exposed_schemas=dict(type="list", elements="str"), max_findings=dict(type="int"),
                checks=dict(type="list", elements="str", choices=list(ACCESS_CHECKS)))
    if with_defaults:
        spec["exposed_schemas"]["default"] = list(ACCESS_DEFAULTS["exposed_schemas"])
        spec["max_findings"]["default"] = ACCESS_DEFAULTS["max_findings"]
    return spec


def access_review_databases(params):
    """The pg.* access checks for the databases of one upkeep_pg_access_review call."""
    return run_review(params, ACCESS_CHECKS, ACCESS_DEFAULTS, connect_check_id="pg.access_review")
