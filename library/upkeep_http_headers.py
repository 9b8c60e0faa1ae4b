#!/usr/bin/python
# -*- coding: utf-8 -*-
"""upkeep_http_headers: security headers and cookie flags of web pages."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upkeep_http_headers
short_description: Check the security headers and cookie flags of web pages
description:
  - For each page (one GET, redirects followed) emits a C(headers.security) check (RV(checks)) - HSTS on HTTPS
    (max-age of at least 180 days), an enforced Content-Security-Policy without C('unsafe-inline') scripts
    (O(forbid_unsafe_inline)), C(X-Content-Type-Options nosniff), CSP C(frame-ancestors) or C(X-Frame-Options),
    a C(Referrer-Policy) that does not leak full URLs, and C(Secure), C(HttpOnly), C(SameSite) on every cookie.
  - Each gap is a warning finding; a page that cannot be fetched is critical. Cookie values never reach a result.
  - Fleet mode, one call for the whole play; pages are fetched concurrently.
version_added: "0.1.0"
author: upkeep maintainers
requirements:
  - httpx (on the controller)
attributes:
  check_mode:
    support: full
    details: Read-only; runs normally in check mode and never reports a change.
  diff_mode:
    support: none
options:
  pages:
    description: The pages; unset values come from the top-level options.
    type: list
    elements: dict
    required: true
    suboptions:
      url:
        description: The http(s) URL of the page.
        type: str
        required: true
      name:
        description: Label used as the check target; default the URL without userinfo, query or fragment.
        type: str
      inventory_host:
        description: Inventory host the page belongs to.
        type: str
      timeout_s:
        description: Request deadline in seconds.
        type: float
      validate_certs:
        description: Verify the TLS certificate.
        type: bool
      ca_file:
        description: CA bundle to verify against.
        type: path
      require_csp:
        description: A missing Content-Security-Policy is a gap.
        type: bool
      forbid_unsafe_inline:
        description: C('unsafe-inline') in the script policy is a gap (unless nonces or hashes are present).
        type: bool
  timeout_s:
    description: Default request deadline in seconds.
    type: float
    default: 10
  validate_certs:
    description: Default for verifying certificates.
    type: bool
    default: true
  ca_file:
    description: Default CA bundle.
    type: path
  require_csp:
    description: Default for requiring a CSP.
    type: bool
    default: true
  forbid_unsafe_inline:
    description: Default for forbidding C('unsafe-inline') scripts.
    type: bool
    default: true
  concurrency:
    description: Pages fetched at once.
    type: int
    default: 8
"""

EXAMPLES = r"""
- name: Check the security headers of every host's pages
  upkeep_http_headers:
    pages: "{{ hostvars | upkeep_fleet(ansible_play_hosts, 'upkeep_http_headers_pages') }}"
  delegate_to: localhost
  run_once: true
  register: upkeep_http_headers_result
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
  description: One C(headers.security) check per page.
  returned: always
  type: list
  elements: dict
  contains:
    metrics:
      description: status_code, gaps_count, cookies_count, cookies_insecure_count.
      type: dict
    findings:
      description: One warning per missing or weak header and per cookie lacking a flag.
      type: list
      elements: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.upkeep.headers import page_spec, run_header_checks
from ansible.module_utils.upkeep.http import HTTPX_IMPORT_ERROR
from ansible.module_utils.upkeep.result import ParameterError, module_result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pages=dict(type="list", elements="dict", options=page_spec(), required=True),
            timeout_s=dict(type="float", default=10),
            validate_certs=dict(type="bool", default=True),
            ca_file=dict(type="path"),
            require_csp=dict(type="bool", default=True),
            forbid_unsafe_inline=dict(type="bool", default=True),
            concurrency=dict(type="int", default=8),
        ),
        supports_check_mode=True,
    )
    if HTTPX_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("httpx"), exception=HTTPX_IMPORT_ERROR)
    try:
        checks = run_header_checks(module.params)
    except ParameterError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**module_result(checks))


if __name__ == "__main__":
    main()
