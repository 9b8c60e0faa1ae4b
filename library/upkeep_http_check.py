#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Probe HTTP(S) endpoints from the controller and return one upkeep check per endpoint."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upkeep_http_check
short_description: Probe HTTP(S) endpoints and judge status, content and latency
description:
  - Sends O(samples) requests to each endpoint, all endpoints concurrently, and returns one
    check per endpoint (id C(http.<check>)) in the upkeep check contract.
  - An endpoint that refuses connections, does not resolve, fails TLS verification, times out,
    answers with an unexpected status or fails an assertion is C(critical); a p95 latency over
    the thresholds is C(warning) or C(critical). The task itself only fails when the top-level
    parameters are invalid or httpx is missing.
  - An endpoint with unusable options, or whose response cannot be evaluated at all, gives an
    C(unknown) check of its own whose summary names the option (for a fleet item its host, then
    C(upkeep_http_endpoints[1].url)) or the unexpected error's type; the other endpoints are
    still probed.
  - Meant to run once for the whole fleet (delegated to localhost, run once) with each
    endpoint tagged with O(endpoints[].inventory_host); checks carry that host.
  - Header values are secrets and never appear in a result; nor do the URL's userinfo or query.
version_added: "0.1.0"
author: upkeep
requirements:
  - httpx >= 0.28 on the host that runs the module (the controller)
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same probes in check mode and never reports changed.
  diff_mode:
    support: none
options:
  endpoints:
    description: The endpoints to probe. Options left unset take the top-level value.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Label used as the check's target. Defaults to the URL without userinfo, query or fragment.
        type: str
      url:
        description: The C(http://) or C(https://) URL to request.
        type: str
        required: true
      method:
        description: HTTP method.
        type: str
        default: GET
      headers:
        description: Request headers. Values are treated as secrets (for example a bearer token).
        type: dict
      body:
        description: Request body, sent as is.
        type: str
      expected_status:
        description: Status codes that count as success.
        type: list
        elements: int
        default: [200]
      json_assertions:
        description:
          - Assertions on the JSON body, C(<path> <operator> [<JSON value>]), for example
            C(status == "healthy"), C(checks.database == "ok"), C(uptime_s > 0), C(items.0.id exists).
          - Operators are C(==), C(!=), C(<), C(<=), C(>), C(>=), C(contains), C(exists), C(missing).
            A list index is a path segment of digits.
        type: list
        elements: str
      body_contains:
        description: Text the response body must contain.
        type: str
      latency_warning_ms:
        description: p95 latency at or above which the check is a warning. Default from the top level.
        type: float
      latency_critical_ms:
        description: p95 latency at or above which the check is critical. Default from the top level.
        type: float
      samples:
        description: Requests sent in sequence to measure p50/p95/max latency. Default from the top level.
        type: int
      validate_certs:
        description: Verify the server's TLS certificate. Default from the top level.
        type: bool
      ca_file:
        description: PEM file of the CA(s) to verify the server against instead of the default store.
        type: path
      timeout_s:
        description: Deadline in seconds for each request as a whole. Default from the top level.
        type: float
      follow_redirects:
        description: Follow redirects. Default from the top level.
        type: bool
      max_redirects:
        description: Most redirects followed before the check is critical. Default from the top level.
        type: int
      check:
        description: Suffix of the check id, C(health) giving C(http.health).
        type: str
        default: endpoint
      inventory_host:
        description: Inventory host the endpoint belongs to; its check carries it as C(host).
        type: str
  latency_warning_ms:
    description: Default p95 warning threshold (the guide's API response target).
    type: float
    default: 500
  latency_critical_ms:
    description: Default p95 critical threshold (the guide's slow-response alert).
    type: float
    default: 3000
  samples:
    description: Default number of requests per endpoint.
    type: int
    default: 3
  timeout_s:
    description: Default per-request deadline in seconds (connect, TLS, send and the whole response).
    type: float
    default: 10
  validate_certs:
    description: Default for TLS certificate verification.
    type: bool
    default: true
  ca_file:
    description: Default CA file for TLS verification.
    type: path
  follow_redirects:
    description: Default for following redirects.
    type: bool
    default: true
  max_redirects:
    description: Default redirect limit.
    type: int
    default: 5
  concurrency:
    description: Endpoints probed at the same time. httpx slows down past a few dozen; keep it modest.
    type: int
    default: 20
notes:
  - Each sample after the first may reuse the kept-alive connection, as a browser would.
"""

EXAMPLES = r"""
- name: Probe the platform's health endpoint and the WhatsApp Business API
  upkeep_http_check:
    endpoints:
      - url: https://almazahir.com/api/health
        check: health
        json_assertions:
          - status == "healthy"
          - checks.database == "ok"
      - url: "https://graph.facebook.com/v17.0/{{ whatsapp_phone_number_id }}"
        check: whatsapp
        headers:
          Authorization: "Bearer {{ whatsapp_token }}"
        json_assertions:
          - id exists
  delegate_to: localhost
  run_once: true
  register: upkeep_http_result

- name: Probe every host's endpoints in one call
  upkeep_http_check:
    endpoints: "{{ hostvars | upkeep_fleet(ansible_play_hosts, 'upkeep_http_endpoints') }}"
    latency_warning_ms: 500
    latency_critical_ms: 3000
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
checks:
  description: One check per endpoint, in the order given (see the upkeep check contract).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: C(http.<check>).
      type: str
      sample: http.health
    target:
      description: The endpoint's name, or its URL without userinfo, query or fragment.
      type: str
      sample: https://almazahir.com/api/health
    host:
      description: The endpoint's O(endpoints[].inventory_host), when given.
      type: str
      sample: web1
    status:
      description: ok, warning, critical, or unknown when the endpoint's options are unusable.
      type: str
      sample: ok
    summary:
      description: One line for people.
      type: str
      sample: HTTP 200, p95 42 ms over 3 samples
    metrics:
      description: >-
        latency_p50_ms, latency_p95_ms, latency_max_ms, samples_count, and when a response came
        status_code, response_bytes and (when following redirects) redirects_count.
      type: dict
      sample: {latency_p50_ms: 38.2, latency_p95_ms: 41.9, latency_max_ms: 42.3, samples_count: 3,
               status_code: 200, response_bytes: 90, redirects_count: 0}
    thresholds:
      description: The p95 latency thresholds applied.
      type: dict
      sample: {latency_p95_ms: {warning: 500, critical: 3000}}
    findings:
      description: What failed and what to do (severity, title, resource, detail, remediation).
      type: list
      elements: dict
    duration_ms:
      description: Time spent on the endpoint, all samples included.
      type: float
status:
  description: Worst status over all checks.
  returned: always
  type: str
  sample: ok
counts:
  description: Number of checks per status.
  returned: always
  type: dict
  sample: {ok: 2, warning: 0, critical: 0, unknown: 0}
"""

from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.upkeep.http import HTTPX_IMPORT_ERROR, public_url, run_http_checks
from ansible.module_utils.upkeep.result import ParameterError, module_result

ENDPOINT_OPTIONS = dict(
    name=dict(type="str"),
    url=dict(type="str", required=True),
    method=dict(type="str", default="GET"),
    headers=dict(type="dict", no_log=True),
    body=dict(type="str"),
    expected_status=dict(type="list", elements="int", default=[200]),
    json_assertions=dict(type="list", elements="str"),
    body_contains=dict(type="str"),
    latency_warning_ms=dict(type="float"),
    latency_critical_ms=dict(type="float"),
    samples=dict(type="int"),
    validate_certs=dict(type="bool"),
    ca_file=dict(type="path"),
    timeout_s=dict(type="float"),
    follow_redirects=dict(type="bool"),
    max_redirects=dict(type="int"),
    check=dict(type="str", default="endpoint"),
    inventory_host=dict(type="str"),
)

ARGUMENT_SPEC = dict(
    endpoints=dict(type="list", elements="dict", required=True, options=ENDPOINT_OPTIONS),
    latency_warning_ms=dict(type="float", default=500),
    latency_critical_ms=dict(type="float", default=3000),
    samples=dict(type="int", default=3),
    timeout_s=dict(type="float", default=10),
    validate_certs=dict(type="bool", default=True),
    ca_file=dict(type="path"),
    follow_redirects=dict(type="bool", default=True),
    max_redirects=dict(type="int", default=5),
    concurrency=dict(type="int", default=20),
)


def _shown_arguments(module):
    """The arguments echoed back as ``invocation``: URLs without userinfo or query, header
    values hidden. URL passwords also join the values Ansible masks in every output."""
    endpoints = []
    for endpoint in module.params["endpoints"]:
        try:
            password = urlsplit(endpoint["url"]).password
        except ValueError:
            password = None
        if password:
            module.no_log_values.add(password)
        headers = endpoint["headers"]
        if headers:
            headers = {name: "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" for name in headers}
        endpoints.append(dict(endpoint, url=public_url(endpoint["url"]), headers=headers))
    return {"module_args": dict(module.params, endpoints=endpoints)}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if HTTPX_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("httpx"), exception=HTTPX_IMPORT_ERROR)
    invocation = _shown_arguments(module)
    options = {key: value for key, value in module.params.items() if key != "endpoints"}
    try:
        checks = run_http_checks(module.params["endpoints"], **options)
    except ParameterError as exc:
        module.fail_json(msg=str(exc), invocation=invocation)
    module.exit_json(invocation=invocation, **module_result(checks))


if __name__ == "__main__":
    main()
