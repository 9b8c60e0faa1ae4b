"""Error messages masked into signature templates; secrets masked in templates and examples."""

from __future__ import annotations

import pytest

from ansible.module_utils.upkeep.logs_signatures import example_of, mask_secrets, template_of


@pytest.mark.parametrize("message, template", [
    ('duplicate key value violates unique constraint "leads_pkey" Key (id)=(4812) already exists',
     'duplicate key value violates unique constraint "<str>" Key (id)=(<n>) already exists'),
    ("lead 9f1c2a3b-1111-2222-3333-444455556666 not found", "lead <uuid> not found"),
    ("upstream 10.0.0.12:4433 timed out after 1532ms", "upstream <ip> timed out after <n>ms"),
    ("request from 2001:db8::1 refused", "request from <ip> refused"),
    ("commit 3f2a9bc0d1e4f5a6b7c8 failed", "commit <hex> failed"),
    ("mail to amal@example.com bounced", "mail to <email> bounced"),
    ("GET /api/products/812/availability", "GET /api/products/<id>/availability"),
    ("at 2026-11-28T20:42:55.123Z the job failed", "at <ts> the job failed"),
    ("Cannot read properties of undefined (reading 'price')", "Cannot read properties of undefined (reading '<str>')"),
])
def test_variable_parts_are_masked(message, template):
    assert template_of(message) == template


def test_same_problem_same_template():
    assert template_of("timeout after 5000 ms on lead 12") == template_of("timeout after 5001 ms on lead 9931")


@pytest.mark.parametrize("message, secret", [
    ("login failed password=hunter2 for bob", "hunter2"),
    ('config {"api_key": "AbCdEf0123456789"} rejected', "AbCdEf0123456789"),
    ("Authorization: Bearer abcDEF123456789xyz", "abcDEF123456789xyz"),
    ("connect postgres://app:s3cr3t-pw@db:5432/app failed", "s3cr3t-pw"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sflKxwRJSMeKKF2QT4fwpM expired", "sflKxwRJSMeKKF2QT4fwpM"),
    ("session 7dQ2kP9zXw4Lr8Tn3Vb6Yh1Mc5Jf0Gs2Ae invalid", "7dQ2kP9zXw4Lr8Tn3Vb6Yh1Mc5Jf0Gs2Ae"),
])
def test_secret_looking_values_never_survive(message, secret):
    assert secret not in template_of(message)
    assert secret not in example_of(message)
    assert secret not in mask_secrets(message)


def test_example_keeps_the_message_but_is_short():
    assert example_of("plain error 42") == "plain error 42"
    assert len(example_of("x" * 5000)) == 300
