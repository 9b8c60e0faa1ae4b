# -*- coding: utf-8 -*-
"""An npm project's own files - package.json and its lockfile - read, checked for shape, and
turned into the list of installed packages the audit matches.

Files on a host are not always what their name promises: a lockfile truncated to ``[]`` by a
broken deploy script, a ``packages`` map whose entries are strings, a package.json that is an
array. Each is a ProjectFileError naming the file and the JSON path of the problem, so the
project's check is ``unknown`` with that reason instead of the whole task failing.

npm aliases (``"x": "npm:marked@0.3.5"`` in package.json) install the real package under the
alias's folder; advisories name the real package, so each installed package is reported under
its real name: the lockfile v2/v3 entry's ``name``, or the ``npm:NAME@VERSION`` text a v1
lockfile keeps as the version.

Standard library only: it runs on the app host.
"""

from __future__ import annotations

import json

DEPENDENCY_KEYS = ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies")
# peerDependencies are left out: npm 7+ installs them, but older npm did not, so declaring one
# does not promise that the lockfile lists it.
DECLARED_KEYS = ("dependencies", "devDependencies", "optionalDependencies")
_ALIAS_PREFIX = "npm:"


class ProjectFileError(ValueError):
    """package.json or the lockfile cannot be used; the message names the file and the problem."""


def _kind(value):
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number",
            type(None): "null"}.get(type(value), type(value).__name__)


def read_json_object(path):
    """The JSON object in ``path``; ProjectFileError when unreadable, not JSON, or not an object."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise ProjectFileError("cannot read %s: %s" % (path, exc.strerror or exc))
    except ValueError as exc:  # includes UnicodeDecodeError
        raise ProjectFileError("%s is not valid JSON: %s" % (path, exc))
    if not isinstance(data, dict):
        raise ProjectFileError("%s holds %s where npm writes an object" % (path, _kind(data)))
    return data


def _expect(value, kind, path, where):
    if not isinstance(value, kind) or isinstance(value, bool):
        wanted = "an object" if kind is dict else "a string"
        raise ProjectFileError("%s: %s must be %s, got %s" % (path, where, wanted, _kind(value)))


def declared_dependencies(manifest, path):
    """Names package.json declares in dependencies, devDependencies and optionalDependencies."""
    names = []
    for key in DEPENDENCY_KEYS:
        block = manifest.get(key)
        if block is None:
            continue
        _expect(block, dict, path, key)
        if key in DECLARED_KEYS:
            names.extend(name for name in block if name not in names)
    return names


def _alias_target(text):
    """(real name, version) of an ``npm:NAME@VERSION`` alias, or None for any other text."""
    if not text.startswith(_ALIAS_PREFIX):
        return None
    name, at, version = text[len(_ALIAS_PREFIX):].rpartition("@")
    if not at or not name or name == "@":  # "npm:marked" (no version) or "npm:@scope/x" (no version)
        return None
    return name, version


def installed_packages(lockfile, path, manifest=None):
    """[(name, version text, is_direct, is_dev, node path)] installed according to a parsed lockfile.

    ``name`` is the real package name (an alias resolved); ``path`` is the lockfile's path, for
    errors. ``manifest`` (package.json) names the direct dependencies for lockfile v1, which does not.
    """
    packages = lockfile.get("packages")
    if packages is not None:
        _expect(packages, dict, path, "packages")
    if packages:
        root = packages.get("")
        if root is not None:
            _expect(root, dict, path, 'packages[""]')
        direct = set(declared_dependencies(root or {}, path + ' packages[""]')) | set(
            (root or {}).get("peerDependencies") or {})
        found = []
        for node, entry in packages.items():
            if not node:
                continue
            where = "packages[%s]" % json.dumps(node)
            _expect(entry, dict, path, where)
            if entry.get("link") or "node_modules/" not in node:
                continue  # workspace links and the workspace folders themselves: not from the registry
            folder = node.rsplit("node_modules/", 1)[1]
            name = entry.get("name", folder)
            version = entry.get("version", "")
            _expect(name, str, path, where + ".name")
            _expect(version, str, path, where + ".version")
            found.append((name, version, node == "node_modules/" + folder and folder in direct,
                          bool(entry.get("dev")), node))
        return found
    direct = set(declared_dependencies(manifest or {}, "package.json")) | set((manifest or {}).get("peerDependencies") or {})
    found = []

    def walk(tree, prefix, top, where):
        _expect(tree, dict, path, where)
        for folder, entry in sorted(tree.items()):
            here = "%s[%s]" % (where, json.dumps(folder))
            _expect(entry, dict, path, here)
            version = entry.get("version", "")
            _expect(version, str, path, here + ".version")
            name, version = _alias_target(version) or (folder, version)
            node = prefix + "node_modules/" + folder
            found.append((name, version, top and folder in direct, bool(entry.get("dev")), node))
            if entry.get("dependencies") is not None:
                walk(entry["dependencies"], node + "/", False, here + ".dependencies")

    if lockfile.get("dependencies") is not None:
        walk(lockfile["dependencies"], "", True, "dependencies")
    return found


def read_project(lockfile_path, manifest_path):
    """(installed packages, declared dependency names) of one project; ProjectFileError if unusable.

    package.json may be missing (declared is then empty); the lockfile may not.
    """
    lockfile = read_json_object(lockfile_path)
    manifest, declared = None, []
    if manifest_path is not None:
        manifest = read_json_object(manifest_path)
        declared = declared_dependencies(manifest, manifest_path)
    return installed_packages(lockfile, lockfile_path, manifest), declared
