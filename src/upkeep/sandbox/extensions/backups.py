"""The sandbox's database backups, made with upkeep's own backup code against the sandbox database.

Under ``.sandbox/backups/`` (mode 0700):

- ``app/``: two upkeep backups of the app database (``backup_name`` app-db), the older one
  unencrypted, the newest encrypted for the sandbox recipient key (``keys/``). The source
  requires encryption, so the weekly encryption check is critical for the older plain one, while
  freshness, integrity and size are ok and the daily restore-verify of the newest (decrypting it)
  proves it equal to its manifest;
- ``legacy/``: a foreign ``pg_dump -Fc`` file three days old: breaks the 24 h RPO (critical);
- ``corrupt/``: an upkeep backup with one byte flipped after it was written: integrity critical.

The restore server is the sandbox cluster itself (its superuser, as for the DR drill): restores
go only into ``upkeep_scratch_`` databases that upkeep_restore_verify creates and drops.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import time

from upkeep.sandbox import inventory, manager
from upkeep.sandbox.pgcluster import SUPERUSER as PG_SUPERUSER

NAME = "backups"
BACKUP_NAME = "app-db"
LEGACY_AGE_HOURS = 72
_REPO = pathlib.Path(__file__).resolve().parents[4]


def _module_utils():
    """upkeep's module_utils (the backup code the modules run), importable as Ansible names it."""
    import ansible.module_utils

    path = str(_REPO / "module_utils")
    if path not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(path)
    from ansible.module_utils.upkeep import backup, backup_crypto

    return backup, backup_crypto


def _source(state: dict, layout: manager.Layout) -> dict:
    pg = state["components"]["postgres"]
    return {"host": pg["host"], "port": pg["port"], "user": pg["user"], "database": pg["database"],
            "password": layout.secret("db_password").read_text().strip()}


def make_backups(base: pathlib.Path, source: dict) -> dict:
    """Build the three backup directories under ``base`` from the database ``source``; returns paths."""
    backup, backup_crypto = _module_utils()
    base.mkdir(mode=0o700, parents=True)
    keys, app, legacy, corrupt = (base / name for name in ("keys", "app", "legacy", "corrupt"))
    for directory in (keys, app, legacy, corrupt):
        directory.mkdir(mode=0o700)
    private, public = keys / "recipient.pem", keys / "recipient.pub"
    backup_crypto.generate_keypair(str(private), str(public))

    def make(directory, **extra):
        check, details = backup.make_backup(dict(source, directory=str(directory), backup_name=BACKUP_NAME,
                                                 apply_retention=False, **extra))
        if check["status"] != "ok":
            raise RuntimeError("sandbox backup failed: %s" % check["summary"])
        return details

    make(app)
    time.sleep(1.1)  # file names carry the second
    make(app, encrypt_to=str(public))
    broken = make(corrupt)
    with open(broken["dump_path"], "r+b") as handle:
        handle.seek(os.path.getsize(broken["dump_path"]) // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    nightly = legacy / "nightly-app.dump"
    subprocess.run([backup.find_tool("pg_dump"), "-Fc", "-f", str(nightly), "-h", source["host"], "-p",
                    str(source["port"]), "-U", source["user"], source["database"]],
                   env=dict(os.environ, PGPASSWORD=source["password"]), check=True, capture_output=True, timeout=300)
    stamp = time.time() - LEGACY_AGE_HOURS * 3600
    os.utime(nightly, (stamp, stamp))
    return {"base": str(base), "app": str(app), "legacy": str(legacy), "corrupt": str(corrupt),
            "private_key": str(private), "public_key": str(public)}


def provision(layout: manager.Layout, state: dict) -> None:
    base = layout.dir / "backups"
    record = state.setdefault("artifacts", {}).get(NAME)
    if record and all(pathlib.Path(record[key]).is_dir() for key in ("app", "legacy", "corrupt")):
        return
    if base.exists():
        shutil.rmtree(base)  # half made: start afresh
    state["artifacts"][NAME] = make_backups(base, _source(state, layout))


def host_vars(state: dict) -> dict:
    record = state.get("artifacts", {}).get(NAME)
    if not record:
        return {}
    pg, secrets = state["components"]["postgres"], state["secrets"]
    source = {"name": "app-db", "host": pg["host"], "port": pg["port"], "user": pg["user"],
              "password": inventory.secret_lookup(secrets["db_password"]), "database": pg["database"]}
    return {
        "upkeep_backup_sources": [
            {"name": "app-db-backups", "path": record["app"], "backup_name": BACKUP_NAME, "rpo_hours": 24,
             "encryption_required": True, "decrypt_key_file": record["private_key"]},
            {"name": "legacy-nightly-dumps", "path": record["legacy"], "pattern": "*.dump", "rpo_hours": 24},
            {"name": "offsite-copy", "path": record["corrupt"], "backup_name": BACKUP_NAME, "rpo_hours": 24},
        ],
        "upkeep_backup_restore_verify": [
            {"name": "sandbox-staging", "host": pg["host"], "port": pg["port"], "user": PG_SUPERUSER,
             "password": inventory.secret_lookup(secrets["pg_superuser_password"]), "database": "postgres",
             "backup": record["app"], "backup_name": BACKUP_NAME, "decrypt_key_file": record["private_key"],
             "source": source},
        ],
        "upkeep_dr_drill_backup": record["app"],
        "upkeep_dr_drill_backup_name": BACKUP_NAME,
        "upkeep_dr_drill_decrypt_key_file": record["private_key"],
    }


manager.PROVISIONERS[NAME] = provision
inventory.HOST_VARS[NAME] = host_vars
