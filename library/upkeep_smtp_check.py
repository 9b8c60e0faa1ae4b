#!/usr/bin/python
# -*- coding: utf-8 -*-
"""upkeep_smtp_check: check that mail servers answer, speak TLS and accept the credentials."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upkeep_smtp_check
short_description: Check SMTP servers - connect, EHLO, STARTTLS or implicit TLS, optional AUTH - with timings
description:
  - For each server, connects and reads the banner, sends EHLO, negotiates TLS (STARTTLS when
    offered or required, or implicit TLS), optionally authenticates, and ends with QUIT. It never
    sends mail.
  - Emits one C(smtp.service) check per server (RV(checks)) with the time of each phase, the
    advertised extensions (STARTTLS, AUTH mechanisms, SIZE) and the negotiated TLS version and cipher.
  - A refused connection, a timeout, a certificate that does not verify, STARTTLS required but
    not offered, or rejected credentials give a C(critical) check with a finding; the task does not
    fail. It fails only on unusable top-level parameters, with a message naming the parameter.
  - An item of O(servers) with unusable options gives an C(unknown) check of its own whose summary
    names the option (for a fleet item its host, then C(upkeep_smtp_servers[0].port)); the other
    servers are still checked.
  - A password is never sent over an unencrypted session unless O(allow_plaintext_auth) is set;
    without it, credentials on a server that offers no TLS are a critical finding and no AUTH is attempted.
  - Fleet mode, one call for the whole play; every server in O(servers) is checked concurrently.
    An item's O(servers[].inventory_host) becomes its check's C(host).
  - Options not set on an item fall back to the top-level option of the same name. Without
    O(servers) the top-level options describe a single server.
version_added: "0.1.0"
author: upkeep maintainers
attributes:
  check_mode:
    support: full
    details: Read-only (no mail is sent); runs normally in check mode and never reports a change.
  diff_mode:
    support: none
options:
  servers:
    description:
      - The servers to check; unset values come from the top-level options.
      - Omit it to check the single server the top-level options describe; an empty list checks nothing.
    type: list
    elements: dict
    suboptions:
      inventory_host:
        description: The inventory host this server belongs to; its check carries it as C(host).
        type: str
      name:
        description: Label used as the check's target. Default host:port.
        type: str
      host:
        description: Server name or address. Required (here or at the top level).
        type: str
      port:
        description: Port. Default 587 for the STARTTLS modes, 465 for C(implicit), 25 for C(none).
        type: int
      tls_mode:
        description:
          - C(starttls_auto) upgrades when the server offers STARTTLS (not offering it is a warning);
            C(starttls_required) makes a missing STARTTLS critical; C(implicit) speaks TLS from the first byte
            (SMTPS, port 465); C(none) never negotiates TLS.
        type: str
        choices: [starttls_auto, starttls_required, implicit, none]
      validate_certs:
        description: Verify the server certificate and host name.
        type: bool
      ca_file:
        description: CA certificates (PEM) to verify against instead of the system store.
        type: path
      ehlo_name:
        description: Name sent in EHLO. Default this machine's host name.
        type: str
      username:
        description: Account to authenticate as; without it no AUTH is attempted.
        type: str
      password:
        description: Password of O(servers[].username).
        type: str
      allow_plaintext_auth:
        description: Allow sending the credentials over an unencrypted session (reported as a warning).
        type: bool
      timeout_s:
        description: Socket timeout in seconds for each step.
        type: float
      connect_warning_ms:
        description: Connect-and-banner time at or above which the check is a warning.
        type: float
      connect_critical_ms:
        description: Connect-and-banner time at or above which the check is critical.
        type: float
      total_warning_ms:
        description: Whole-conversation time at or above which the check is a warning.
        type: float
      total_critical_ms:
        description: Whole-conversation time at or above which the check is critical.
        type: float
  name:
    description: Label of the single server (when O(servers) is omitted).
    type: str
  host:
    description: Server of the single-server form, or a default host for items.
    type: str
  port:
    description: Default port (see O(servers[].port)).
    type: int
  tls_mode:
    description: Default TLS mode.
    type: str
    choices: [starttls_auto, starttls_required, implicit, none]
    default: starttls_auto
  validate_certs:
    description: Default for certificate verification.
    type: bool
    default: true
  ca_file:
    description: Default CA file.
    type: path
  ehlo_name:
    description: Default EHLO name.
    type: str
  username:
    description: Default account.
    type: str
  password:
    description: Default password.
    type: str
  allow_plaintext_auth:
    description: Default for sending credentials without TLS.
    type: bool
    default: false
  timeout_s:
    description: Default socket timeout in seconds.
    type: float
    default: 10
  connect_warning_ms:
    description: Default connect warning threshold (ms).
    type: float
    default: 1000
  connect_critical_ms:
    description: Default connect critical threshold (ms).
    type: float
    default: 5000
  total_warning_ms:
    description: Default whole-conversation warning threshold (ms).
    type: float
    default: 3000
  total_critical_ms:
    description: Default whole-conversation critical threshold (ms).
    type: float
    default: 10000
  max_workers:
    description: Servers checked at the same time (1-256).
    type: int
    default: 16
"""

EXAMPLES = r"""
- name: Check the submission server the application sends mail through
  upkeep_smtp_check:
    host: smtp.example.com
    port: 587
    tls_mode: starttls_required
    username: app@example.com
    password: "{{ vault_smtp_password }}"

- name: Check every host's mail servers in one call
  upkeep_smtp_check:
    servers: "{{ hostvars | upkeep_fleet(ansible_play_hosts, 'upkeep_smtp_servers') }}"
  delegate_to: localhost
  run_once: true
  register: upkeep_smtp_result
"""

RETURN = r"""
status:
  description: Worst status of all checks.
  returned: always
  type: str
  sample: ok
counts:
  description: Number of checks per status.
  returned: always
  type: dict
  sample: {ok: 1, warning: 0, critical: 0, unknown: 0}
checks:
  description: One C(smtp.service) check per server, in the order of O(servers).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: C(smtp.service).
      type: str
    target:
      description: The server's name, or host:port.
      type: str
    host:
      description: The item's inventory_host, when given.
      type: str
      returned: when the item has inventory_host
    status:
      description: ok, warning, critical, or unknown when the item's options are unusable.
      type: str
    summary:
      description: One line for people.
      type: str
    metrics:
      description: connect_ms, ehlo_ms, starttls_ms, auth_ms (the phases that ran), total_ms, max_message_size_bytes (SIZE).
      type: dict
      sample: {connect_ms: 1.2, ehlo_ms: 0.4, starttls_ms: 3.1, auth_ms: 0.9, total_ms: 6.3, max_message_size_bytes: 10485760}
    thresholds:
      description: The limits connect_ms and total_ms were judged against.
      type: dict
    findings:
      description: What is wrong and what to do (refused, timeout, certificate, missing STARTTLS, rejected credentials, unencrypted AUTH).
      type: list
      elements: dict
    duration_ms:
      description: Time spent on this server.
      type: float
    server:
      description: >-
        What the server offered: tls_mode, tls (version, cipher) once TLS is up, starttls_offered,
        extensions, auth_mechanisms, auth_mechanism used, authenticated, max_message_size_bytes.
      type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.upkeep.result import ParameterError, module_result
from ansible.module_utils.upkeep.smtp import TLS_MODES, check_servers, smtp_server_spec


def argument_spec():
    spec = smtp_server_spec()
    spec.update(
        servers=dict(type="list", elements="dict", options=dict(smtp_server_spec(), inventory_host=dict(type="str"))),
        tls_mode=dict(type="str", choices=list(TLS_MODES), default="starttls_auto"),
        validate_certs=dict(type="bool", default=True),
        allow_plaintext_auth=dict(type="bool", default=False),
        timeout_s=dict(type="float", default=10),
        connect_warning_ms=dict(type="float", default=1000),
        connect_critical_ms=dict(type="float", default=5000),
        total_warning_ms=dict(type="float", default=3000),
        total_critical_ms=dict(type="float", default=10000),
        max_workers=dict(type="int", default=16),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        checks = check_servers(module.params)
    except ParameterError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**module_result(checks))


if __name__ == "__main__":
    main()
