"""The sandbox's security-audit targets (issue 5): an npm project with real vulnerable
dependencies and an offline OSV advisory directory for it, PostgreSQL serving TLS with a
certificate near expiry, and the inventory variables of the TLS, npm and header checks.

The near-expiry TLS endpoint is the sandbox's own PostgreSQL: ``ssl = on`` through ALTER SYSTEM
and a reload, with a certificate from the sandbox CA that has ~10 of its 90 days left (a warning
under the lifetime-relative rule). No extra process is started, so ``upkeep sandbox down`` stops
it with the cluster and nothing is left running.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import pwd

from upkeep.sandbox import inventory, manager, pki

NAME = "security"
NEAR_EXPIRY_DAYS = 90
NEAR_EXPIRY_AGE_DAYS = 80  # ~10 days left: under 30 (warning), above 7 (critical)
PROJECT_NAME = "platform-web"

# Packages of the npm project's lockfile (v3): name -> (version, integrity). Versions, tarballs and
# integrity hashes are the real ones from the recorded audit-ci fixtures (see tests/data/osv/README.md).
_PACKAGES = {
    "base64url": ("2.0.0", "sha1-6sFuA+oUOO/5Qj1puqNiYu0fcLs="),
    "call-bind": ("1.0.2", "sha512-7O+FbCihrB5WGbFYesctwmTKae6rOiIzmz1icreWJ+0aA7LJfuqhEso2T9ncpcFtzMQtzXf2QGGueWJGTYsqrA=="),
    "function-bind": ("1.1.1", "sha512-yIovAzMX49sF8Yl58fSCWJ5svSLuaibPxXQJFLmBObTuCr0Mf1KiPopGM9NiFjiYBCbfaa2Fh6breQ6ANVTI0A=="),
    "get-intrinsic": ("1.2.1", "sha512-2DcsyfABl+gVHEfCOaTrWgyt+tb6MSEGmKq+kI5HwLbIYgjgmMcV8KQ41uaKz1xxUcn9tJtgFbQUEVcEbd0FYw=="),
    "has": ("1.0.3", "sha512-f2dvO0VU6Oej7RkWJGrehjbzMAjFp5/VKPp5tTpWIV4JHHZK1/BxbFRtf/siA2SWTe09caDmVtYYzWEIbBS4zw=="),
    "has-proto": ("1.0.1", "sha512-7qE+iP+O+bgF9clE5+UoBFzE65mlBiVj3tKCrlNQ0Ogwm0BjpT/gK4SlLYDMybDh5I3TCTKnPPa0oMG7JDYrhg=="),
    "has-symbols": ("1.0.3", "sha512-l3LCuF6MgDNwTDKkdYGEihYjt5pRPbEg46rtlmnSPlUbgmB8LOIrKJbYYFBSbnPaJexMKtiPO8hmeRjRz2Td+A=="),
    "object-inspect": ("1.12.3", "sha512-geUvdk7c+eizMNUDkRpW1wJwgfOiOeHbxBR/hLXK1aT6zmVSO0jsQcs7fj6MGw89jC/cjGfLcNOrtMYtGqm81g=="),
    "qs": ("6.10.2", "sha512-mSIdjzqznWgfd4pMii7sHtaYF8rx8861hBO80SraY5GT0XQibWZWJSid0avzHGkDIZLImux2S5mXO0Hfct2QCw=="),
    "side-channel": ("1.0.4", "sha512-q5XPytqFEIKHkGdiMIrY10mvLRvnQh42/+GoBlFW3b2LXLE2xxJpZFdm94we0BaoV3RwJyGqg5wS7epxTv0Zvw=="),
}
_DIRECT = {"qs": "6.10.2", "base64url": "2.0.0"}
_REQUIRES = {
    "call-bind": {"function-bind": "^1.1.1", "get-intrinsic": "^1.0.2"},
    "get-intrinsic": {"function-bind": "^1.1.1", "has": "^1.0.3", "has-proto": "^1.0.1", "has-symbols": "^1.0.3"},
    "has": {"function-bind": "^1.1.1"},
    "qs": {"side-channel": "^1.0.4"},
    "side-channel": {"call-bind": "^1.0.0", "get-intrinsic": "^1.0.2", "object-inspect": "^1.9.0"},
}
# Real GitHub advisories (facts as npm reported them; tests/data/osv holds the same records).
_ADVISORIES = (
    ("GHSA-hrpp-h998-j3pp", "qs", "qs vulnerable to Prototype Pollution", "HIGH", "6.10.0", "6.10.3"),
    ("GHSA-rvg8-pwq2-xj7q", "base64url", "Out-of-bounds Read in base64url", "MODERATE", "0", "3.0.0"),
    ("GHSA-28xh-wpgr-7fm8", "open", "Command Injection in open", "CRITICAL", "0", "6.0.0"),
)


def write_npm_project(directory: pathlib.Path) -> pathlib.Path:
    """package.json and package-lock.json (v3) of a small project with a high and a moderate advisory."""
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {"name": PROJECT_NAME, "version": "1.0.0", "private": True, "dependencies": _DIRECT}
    packages = {"": {"name": PROJECT_NAME, "version": "1.0.0", "dependencies": _DIRECT}}
    for name, (version, integrity) in sorted(_PACKAGES.items()):
        entry = {"version": version, "resolved": "https://registry.npmjs.org/%s/-/%s-%s.tgz" % (name, name, version),
                 "integrity": integrity}
        if name in _REQUIRES:
            entry["dependencies"] = _REQUIRES[name]
        packages["node_modules/" + name] = entry
    lock = {"name": PROJECT_NAME, "version": "1.0.0", "lockfileVersion": 3, "requires": True, "packages": packages}
    (directory / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (directory / "package-lock.json").write_text(json.dumps(lock, indent=2) + "\n")
    return directory


def write_osv_dir(directory: pathlib.Path) -> pathlib.Path:
    (directory / "npm").mkdir(parents=True, exist_ok=True)
    for ghsa, package, summary, severity, introduced, fixed in _ADVISORIES:
        record = {"schema_version": "1.6.0", "id": ghsa, "modified": "2026-11-28T00:00:00Z", "summary": summary,
                  "affected": [{"package": {"ecosystem": "npm", "name": package},
                                "ranges": [{"type": "SEMVER", "events": [{"introduced": introduced}, {"fixed": fixed}]}]}],
                  "references": [{"type": "ADVISORY", "url": "https://github.com/advisories/%s" % ghsa}],
                  "database_specific": {"severity": severity}}
        (directory / "npm" / ("%s.json" % ghsa)).write_text(json.dumps(record, indent=2) + "\n")
    return directory


def _days_left(cert_file: pathlib.Path) -> float | None:
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except (OSError, ValueError):
        return None
    return (cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)).total_seconds() / 86400


def near_expiry_cert(ca: pki.CertFiles, directory: pathlib.Path) -> pki.CertFiles:
    """A loopback certificate with 8-25 days left, reissued when it drifts out of that window."""
    files = pki.CertFiles(directory / "near-expiry.pem", directory / "near-expiry.key")
    left = _days_left(files.cert)
    if left is None or not 8 <= left <= 25 or not files.key.is_file():
        files = pki.issue_cert(ca, directory, "near-expiry", days=NEAR_EXPIRY_DAYS,
                               not_before_days_ago=NEAR_EXPIRY_AGE_DAYS)
    return files


def enable_pg_tls(cluster, cert: pki.CertFiles, directory: pathlib.Path) -> None:
    """Serve TLS from the running ``cluster`` with ``cert`` (copied where its OS user can read it)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / "server.pem", directory / "server.key"
    cert_file.write_bytes(cert.cert.read_bytes())
    key_file.write_bytes(cert.key.read_bytes())
    os.chmod(directory, 0o755)
    cert_file.chmod(0o644)
    key_file.chmod(0o600)  # PostgreSQL refuses a key others can read
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (directory, cert_file, key_file):
            os.chown(path, user.pw_uid, user.pw_gid)
    with cluster.connect() as conn:
        conn.execute("ALTER SYSTEM SET ssl_cert_file = '%s'" % str(cert_file).replace("'", "''"))
        conn.execute("ALTER SYSTEM SET ssl_key_file = '%s'" % str(key_file).replace("'", "''"))
        conn.execute("ALTER SYSTEM SET ssl = on")
        conn.execute("SELECT pg_reload_conf()")
    with cluster.connect() as conn:  # a reload that cannot load the key keeps ssl off: say so
        if conn.execute("SHOW ssl").fetchone()[0] != "on":
            raise RuntimeError("PostgreSQL did not enable ssl with %s; see %s" % (cert_file, cluster.log_file))


def provision(layout, state: dict) -> None:
    from upkeep.sandbox.pgcluster import PgCluster

    base = layout.dir / "security"
    project = write_npm_project(base / "npm-project")
    osv_dir = write_osv_dir(base / "osv")
    ca = pki.CertFiles(pathlib.Path(state["ca_file"]), layout.pki / "ca.key")
    cert = near_expiry_cert(ca, layout.pki)
    enable_pg_tls(PgCluster(layout.pg), cert, layout.pg / "tls")
    state.setdefault("artifacts", {})[NAME] = {
        "npm_project": str(project), "osv_dir": str(osv_dir), "pg_tls_cert": str(cert.cert),
        "pg_tls_days_left": round(_days_left(cert.cert) or 0, 1)}


def host_vars(state: dict) -> dict:
    made = state.get("artifacts", {}).get(NAME)
    if not made:
        return {}
    components, ca_file = state["components"], state["ca_file"]
    web, smtp, pg = components["webapp"], components["smtp"], components["postgres"]
    base = web["url"].rstrip("/")
    return {
        "upkeep_tls_endpoints": [
            {"name": "app-https", "host": web["host"], "port": web["port"], "kind": "https", "server_name": "localhost",
             "ca_file": ca_file},
            {"name": "app-smtp", "host": smtp["host"], "port": smtp["port"], "kind": "smtp_starttls",
             "server_name": "localhost", "ca_file": ca_file},
            {"name": "app-db", "host": pg["host"], "port": pg["port"], "kind": "postgres", "server_name": "localhost",
             "ca_file": ca_file},
        ],
        "upkeep_npm_projects": [{"name": PROJECT_NAME, "path": made["npm_project"], "mode": "auto",
                                 "osv_dir": made["osv_dir"]}],
        "upkeep_http_headers_pages": [{"name": "app-home", "url": base + "/", "ca_file": ca_file},
                                      {"name": "app-products", "url": base + "/products", "ca_file": ca_file}],
    }


manager.PROVISIONERS[NAME] = provision
inventory.HOST_VARS[NAME] = host_vars
