"""The access-log review keeps its memory flat: past MAX_CLIENTS distinct clients it says its
figures are a lower bound instead of growing (a log of scanners' random addresses)."""

from __future__ import annotations

import calendar
import time

from ansible.module_utils.upkeep import logs_review
from ansible.module_utils.upkeep.logs import scan_logs

NOW = calendar.timegm((2026, 11, 28, 12, 0, 0))


def test_many_distinct_clients_are_a_lower_bound_said_so(tmp_path, monkeypatch):
    monkeypatch.setattr(logs_review, "MAX_CLIENTS", 20)
    log = tmp_path / "access.log"
    lines = []
    for index in range(600):
        client = "198.51.100.7" if index % 2 else "192.0.2.%d" % (index % 250)
        lines.append('%s - - [%s] "GET / HTTP/1.1" 200 10 "-" "scanner"' % (
            client, time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(NOW - 3600 + index))))
    log.write_text("\n".join(lines) + "\n")
    params = {"sources": [{"name": "web", "format": "combined", "paths": [str(log)]}], "window_days": 7, "top_n": 3,
              "spike_factor": 3.0, "spike_min_count": 10}
    errors = scan_logs(params, now=NOW)[0][0]
    assert 20 <= errors["metrics"]["distinct_clients"] < 251 and "lower bound" in errors["clients_note"]
    assert errors["top_clients"][0] == {"client": "198.51.100.7", "requests": 300}  # tracked from the start
