#!/usr/bin/python
# -*- coding: utf-8 -*-
"""upkeep_npm_audit: known vulnerabilities of npm projects under an audit policy."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upkeep_npm_audit
short_description: Audit npm projects for known vulnerabilities (npm audit or an offline OSV database)
description:
  - For each project, reads the vulnerabilities of its installed dependencies and emits one C(npm.audit)
    check (RV(checks)) with counts by severity, direct and transitive, advisory ids, whether a fix is
    available and whether it is a semver-major upgrade.
  - C(npm) mode runs C(npm audit --json) in the project and reads the npm 7+ report. A lockfile is required.
    When npm cannot produce a report (the registry refuses the bulk advisory endpoint with HTTP 405, no
    network, npm missing) the check is C(unknown) with the reason, never "0 vulnerabilities".
  - C(osv) mode matches the lockfile (v1 C(dependencies), v2/v3 C(packages)) against a local directory of
    OSV JSON records; C(auto) tries npm first and falls back to O(osv_dir), saying so in a finding.
  - npm aliases (a dependency C(x) declared as C(npm:marked@0.3.5)) are matched under the real package name (the
    lockfile entry's C(name), or the C(npm:NAME@VERSION) version of a v1 lockfile); the finding's resource is the
    alias's folder.
  - "Severity of an OSV advisory, first match wins - GitHub's C(database_specific.severity) label (what C(npm audit)
    reports, so every mode agrees); else the OSV C(severity) field's newest CVSS vector (CVSS_V4, CVSS_V3,
    CVSS_V2) scored by the C(cvss) package and rated None/Low/Medium/High/Critical = info/low/moderate/high/critical;
    else moderate. The finding's detail says when a vector decided."
  - Unknown, with the reason, never "no vulnerable packages" - a lockfile that lists no packages while package.json
    declares dependencies (in every mode); an OSV directory without records, or without npm records (a failed
    advisory sync); a package.json, lockfile or OSV record that is not valid JSON or has the wrong shape (the
    message names the file and the field; the host's other projects still report); and, unless the check is
    critical anyway, an advisory range whose bound is not a semantic version or a CVSS vector that cannot be
    scored (C(cvss) missing on the host, or a malformed vector) - each also a warning finding.
  - Policy - vulnerabilities at or above O(audit_level) count unless every advisory behind them is on
    O(allowlist) with an unexpired date. Counted high or critical ones make the check critical, counted
    low or moderate ones a warning; the others are info findings. An expired allowlist entry counts again
    and is itself a warning finding.
  - Host side, standard library only; the optional C(cvss) package scores CVSS vectors (see above).
version_added: "0.1.0"
author: upkeep maintainers
requirements:
  - npm 7 or later on the host for C(npm) mode
  - cvss (optional, on the host) for OSV records rated only by a CVSS vector
attributes:
  check_mode:
    support: full
    details: Read-only (npm audit without fix); runs normally in check mode and never reports a change.
  diff_mode:
    support: none
options:
  projects:
    description: The projects to audit; unset values come from the top-level options.
    type: list
    elements: dict
    suboptions:
      path:
        description: Project directory (holding package.json and the lockfile).
        type: path
        required: true
      name:
        description: Label used as the check target; default the path.
        type: str
      mode:
        description: C(npm), C(osv) or C(auto).
        type: str
        choices: [npm, osv, auto]
      osv_dir:
        description: Directory of OSV JSON records (searched recursively).
        type: path
      audit_level:
        description: Lowest severity that counts.
        type: str
        choices: [info, low, moderate, high, critical, none]
      omit_dev:
        description: Leave devDependencies out.
        type: bool
  path:
    description: The single project to audit when O(projects) is omitted.
    type: path
  name:
    description: Label of the single project.
    type: str
  mode:
    description: Default source of advisories.
    type: str
    choices: [npm, osv, auto]
    default: npm
  osv_dir:
    description: Default OSV directory.
    type: path
  audit_level:
    description: Default lowest severity that counts (the guide runs C(npm audit --audit-level moderate)).
    type: str
    choices: [info, low, moderate, high, critical, none]
    default: moderate
  omit_dev:
    description: Default for leaving devDependencies out.
    type: bool
    default: false
  allowlist:
    description: Accepted advisories; each needs a reason and an expiry date, after which it counts again.
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description: Advisory id (C(GHSA-...)) or npm advisory number.
        type: str
        required: true
      reason:
        description: Why the risk is accepted.
        type: str
        required: true
      expires:
        description: Date C(YYYY-MM-DD) after which the entry no longer applies.
        type: str
        required: true
      package:
        description: Limit the entry to this package.
        type: str
  timeout_s:
    description: Deadline for one C(npm audit) run, in seconds.
    type: int
    default: 120
seealso:
  - name: OSV schema
    description: The advisory format of the offline mode.
    link: https://ossf.github.io/osv-schema/
"""

EXAMPLES = r"""
- name: Audit the app at the guide's level
  upkeep_npm_audit:
    path: /srv/app
    audit_level: moderate
    allowlist:
      - id: GHSA-rvg8-pwq2-xj7q
        reason: base64url only decodes our own tokens; upgrade planned
        expires: "2026-12-31"

- name: Audit offline when the registry refuses the audit endpoint
  upkeep_npm_audit:
    projects:
      - path: /srv/app
    mode: auto
    osv_dir: /var/lib/upkeep/osv
"""

RETURN = r"""
status:
  description: Worst status of all checks.
  returned: always
  type: str
counts:
  description: Number of checks per status.
  returned: always
  type: dict
checks:
  description: One C(npm.audit) check per project.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: C(npm.audit).
      type: str
    status:
      description: ok, warning, critical, or unknown when no audit could be made (reason in summary).
      type: str
    metrics:
      description:
        - vulnerabilities_total and vulnerabilities_<severity> (all, as found), counted_total (after policy),
          direct_count, transitive_count, fix_available_count, semver_major_fix_count, allowlisted_count,
          dependencies_total, unscored_advisories_count, unevaluated_ranges_count.
      type: dict
    findings:
      description: One per vulnerable package (ids, advisory titles, fix), expired allowlist entries, notes.
      type: list
      elements: dict
    source:
      description: C(npm) or C(osv:<dir>), the source that answered.
      type: str
      returned: when evaluated
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.upkeep.npm import MODES, AUDIT_LEVELS, allowlist_spec, audit_projects, project_spec
from ansible.module_utils.upkeep.result import ParameterError, module_result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            projects=dict(type="list", elements="dict", options=project_spec()),
            path=dict(type="path"),
            name=dict(type="str"),
            mode=dict(type="str", choices=list(MODES), default="npm"),
            osv_dir=dict(type="path"),
            audit_level=dict(type="str", choices=list(AUDIT_LEVELS), default="moderate"),
            omit_dev=dict(type="bool", default=False),
            allowlist=dict(type="list", elements="dict", options=allowlist_spec(), default=[]),
            timeout_s=dict(type="int", default=120),
        ),
        mutually_exclusive=[("projects", "path")],
        supports_check_mode=True,
    )
    try:
        checks = audit_projects(module.params, module.get_bin_path("npm"))
    except ParameterError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**module_result(checks))


if __name__ == "__main__":
    main()
