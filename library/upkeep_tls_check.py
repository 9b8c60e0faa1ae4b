#!/usr/bin/python
# -*- coding: utf-8 -*-
"""upkeep_tls_check: certificate, protocol and HSTS checks of TLS endpoints (HTTPS, SMTP, PostgreSQL)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upkeep_tls_check
short_description: Check the TLS certificates, protocol versions and HSTS of HTTPS, SMTP and PostgreSQL endpoints
description:
  - For each endpoint, connects (HTTPS directly, SMTP with STARTTLS, PostgreSQL with its SSLRequest), reads
    the chain the server sends and emits C(tls.certificate), C(tls.protocols) (unless O(check_protocols) is
    false) and, for HTTPS, C(tls.hsts) checks (RV(checks)).
  - "Expiry relative to the lifetime - warning when days left < min(O(warning_days), lifetime/3), critical when
    < min(O(critical_days), lifetime/10): a 47-day certificate warns in its last 15.7 days, a 398-day one 30 days ahead."
  - Critical - untrusted chain (system store or O(ca_file)), missing intermediate, host-name mismatch, not yet
    valid, expired, self-signed, RSA under 2048 bits, SHA-1 or MD5 signature. Warning - TLS 1.0 or 1.1 accepted
    (a version this machine's OpenSSL will not offer is reported as could not test), HSTS missing or short.
  - "A chain that does not reach the trust store is told apart (RV(checks[].chain_problem)): C(untrusted_root) - the
    server sends a complete chain (its intermediates, perhaps its root) whose root the store does not hold, a private
    CA; C(missing_intermediate) - the server sends its certificate without the intermediate that issued it. When the
    server sends only its certificate, the missing issuer is fetched from the certificate's caIssuers URL (AIA, usually plain
    HTTP from the controller, within O(timeout_s)): self-signed means a root, anything else an intermediate left out;
    with O(ca_file) and no URL, an issuer not in O(ca_file) is a missing intermediate. With neither, the finding says
    it cannot tell a private root from an omitted intermediate (C(untrusted_issuer))."
  - A certificate that changed since the last run is an info finding; fingerprints live in O(state_path)
    on the controller, which check mode does not write.
  - Fleet mode, one call for the whole play; endpoints are probed concurrently. An item's O(endpoints[].inventory_host)
    becomes its checks' C(host).
version_added: "0.1.0"
author: upkeep maintainers
requirements:
  - cryptography (on the controller)
attributes:
  check_mode:
    support: full
    details: Read-only; runs normally in check mode, does not update O(state_path), never reports a change.
  diff_mode:
    support: none
options:
  endpoints:
    description: The TLS endpoints; unset values come from the top-level options.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Label used as the check target; default server_name:port.
        type: str
      host:
        description: Host name or address to connect to.
        type: str
        required: true
      port:
        description: Port; default 443, 587 or 5432 by O(endpoints[].kind).
        type: int
      kind:
        description: How TLS starts.
        type: str
        choices: [https, smtp_starttls, postgres]
        default: https
      server_name:
        description: Name sent as SNI and matched against the certificate; default O(endpoints[].host).
        type: str
      ca_file:
        description: CA bundle (PEM) to validate against instead of the system store.
        type: path
      inventory_host:
        description: Inventory host the endpoint belongs to.
        type: str
      warning_days:
        description: Upper bound of the warning window in days.
        type: float
      critical_days:
        description: Upper bound of the critical window in days.
        type: float
      timeout_s:
        description: Timeout of each connection, in seconds.
        type: float
      check_protocols:
        description: Probe TLS 1.0 to 1.3 one by one.
        type: bool
      check_hsts:
        description: Read the Strict-Transport-Security header (HTTPS only).
        type: bool
      hsts_path:
        description: Path requested for the HSTS header.
        type: str
  ca_file:
    description: Default CA bundle.
    type: path
  warning_days:
    description: Default upper bound of the warning window in days.
    type: float
    default: 30
  critical_days:
    description: Default upper bound of the critical window in days.
    type: float
    default: 7
  timeout_s:
    description: Default connection timeout in seconds.
    type: float
    default: 10
  check_protocols:
    description: Default for probing protocol versions.
    type: bool
    default: true
  check_hsts:
    description: Default for the HSTS check.
    type: bool
    default: true
  hsts_path:
    description: Default path requested for the HSTS header.
    type: str
    default: /
  state_path:
    description: JSON file keeping each endpoint's last certificate fingerprint; unset disables the changed-certificate finding.
    type: path
  max_workers:
    description: Endpoints probed at once.
    type: int
    default: 16
"""

EXAMPLES = r"""
- name: Check every TLS endpoint of the play
  upkeep_tls_check:
    endpoints: "{{ hostvars | upkeep_fleet(ansible_play_hosts, 'upkeep_tls_endpoints') }}"
    state_path: "{{ lookup('env', 'HOME') }}/.upkeep/tls-state.json"
  delegate_to: localhost
  run_once: true
  register: upkeep_tls_result
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
  description: C(tls.certificate), then C(tls.protocols) and C(tls.hsts) when evaluated, per endpoint.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: C(tls.certificate), C(tls.protocols) or C(tls.hsts).
      type: str
    metrics:
      description: days_left_days, lifetime_days, key_size_bits, chain_length_count; old_protocols_accepted_count; max_age_s.
      type: dict
    certificate:
      description: subject, issuer, not_before, not_after, sha256, signature_hash, key_type, self_signed, protocol, cipher.
      type: dict
      returned: on tls.certificate when the handshake succeeded
    protocols:
      description: Per version accepted, rejected or could_not_test.
      type: dict
      returned: on tls.protocols
    chain_problem:
      description:
        - Why the chain does not reach the trust store - untrusted_root, missing_intermediate or untrusted_issuer
          (cannot tell); null when the chain is trusted or fails for another reason.
      type: str
      returned: on tls.certificate when the handshake succeeded
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.upkeep.result import ParameterError, module_result
from ansible.module_utils.upkeep.tls import CRYPTOGRAPHY_IMPORT_ERROR, endpoint_spec, run_tls_checks


def main():
    module = AnsibleModule(
        argument_spec=dict(
            endpoints=dict(type="list", elements="dict", options=endpoint_spec(), required=True),
            ca_file=dict(type="path"),
            warning_days=dict(type="float", default=30),
            critical_days=dict(type="float", default=7),
            timeout_s=dict(type="float", default=10),
            check_protocols=dict(type="bool", default=True),
            check_hsts=dict(type="bool", default=True),
            hsts_path=dict(type="str", default="/"),
            state_path=dict(type="path"),
            max_workers=dict(type="int", default=16),
        ),
        supports_check_mode=True,
    )
    if CRYPTOGRAPHY_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    try:
        checks = run_tls_checks(module.params, check_mode=module.check_mode)
    except ParameterError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**module_result(checks))


if __name__ == "__main__":
    main()
