# -*- coding: utf-8 -*-
"""Error signatures across windows: new, regressed and spiking, with a state file on the host.

The state file keeps, per signature, its template, when it was first and last seen and its count
in the last scanned window. A signature is
- new: not in the state and absent from the previous window of the logs;
- regressed: in the state, but quiet for at least a whole window before coming back;
- spiking: at least ``spike_factor`` times its previous-window count (and ``spike_min_count``);
- baseline: first seen with nothing to compare with. "New" needs a baseline that covered time
  with lines in it: the baseline window in the logs holding lines of the source, or an earlier
  scan of the source recorded in the state (``sources``: when it was scanned, how many entries).
  A first run against an empty baseline records one instead of calling every signature new.

Standard library only: shipped to managed hosts.
"""

from __future__ import annotations

import json
import os
import tempfile
import time

STATE_SCHEMA = "upkeep.log_scan_state/1"


def load_state(path):
    """(signatures dict, scanned sources dict, problem or None); a missing file is an empty
    state, a broken one too. A state written before sources were recorded has none."""
    if not path or not os.path.exists(path):
        return {}, {}, None
    try:
        with open(path, "r", encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        return {}, {}, "state file %s unreadable (%s); compared with the logs only" % (path, exc)
    if not isinstance(data, dict) or data.get("schema") != STATE_SCHEMA or not isinstance(data.get("signatures"), dict):
        return {}, {}, "state file %s has an unknown layout; compared with the logs only" % path
    sources = data.get("sources")
    return data["signatures"], sources if isinstance(sources, dict) else {}, None


def baseline_covered(all_stats, scanned, window):
    """Per source name, what something can be called new against: "logs" when its baseline
    window in the logs holds lines, "state" when only the state records an earlier scan of it
    that read entries, None when nothing does."""
    covered = {}
    for stats in all_stats:
        name = stats.source["name"]
        earlier = scanned.get(name) or {}
        covered[name] = "logs" if stats.previous_entries > 0 else "state" if (
            earlier.get("entries") and earlier.get("window_end", window.end) <= window.end) else None
    return covered


def updated_sources(scanned, all_stats, window):
    """The state's record of scanned sources after this scan (kept when this one read nothing)."""
    merged = dict(scanned)
    for stats in all_stats:
        if stats.entries:
            merged[stats.source["name"]] = {"window_end": int(window.end), "entries": stats.entries}
    return merged


def baseline_notes(signatures, state_written):
    """What the summary says about signatures seen with nothing to compare with."""
    sources = sorted({e["source"] for e in signatures.values() if e.get("trend") == "baseline"})
    if not sources:
        return []
    if state_written:
        return ["baseline recorded for %s (no earlier window with lines to compare with)" % ", ".join(sources)]
    return ["no baseline for %s: the window before holds no lines and no state file keeps one" % ", ".join(sources)]


def classify(signatures, known, window_start, previous_start, spike_factor, spike_min_count, previous_covered):
    """Set ``trend`` (new, regressed, spiking, known) and ``baseline`` on each current signature.

    ``signatures`` maps key -> dict with count, previous_count; ``known`` is the state's
    signatures; ``previous_covered`` says whether the signature's source has a baseline with
    lines (baseline_covered); if not, the state's last count is the baseline, and without one the
    trend is "baseline", never "new".
    """
    for key, entry in signatures.items():
        if not entry["count"]:
            entry["trend"] = "gone"
            continue
        seen = known.get(key)
        baseline = entry["previous_count"]
        if previous_covered.get(entry["source"], "logs") != "logs" and seen and seen.get("last_seen", 0) >= previous_start:
            baseline = max(baseline, int(seen.get("last_count", 0)))
        entry["baseline"] = baseline
        if baseline == 0 and not seen and not previous_covered.get(entry["source"], False):
            entry["trend"] = "baseline"
        elif baseline == 0 and not seen:
            entry["trend"] = "new"
        elif baseline == 0 and seen and seen.get("last_seen", 0) < previous_start:
            entry["trend"] = "regressed"
        elif baseline > 0 and entry["count"] >= spike_min_count and entry["count"] >= spike_factor * baseline:
            entry["trend"] = "spiking"
        else:
            entry["trend"] = "known"


def updated_state(known, signatures, max_signatures):
    """The state to write after a scan: current signatures merged into the known ones."""
    merged = dict(known)
    # Signatures seen only in the previous window are kept too: if they come back after a quiet
    # window they are regressions, not new.
    for key, entry in signatures.items():
        old = merged.get(key, {})
        merged[key] = {
            "source": entry["source"],
            "template": entry["template"],
            "first_seen": min(old.get("first_seen", entry["first_seen"]), entry["first_seen"]),
            "last_seen": max(old.get("last_seen", 0), entry["last_seen"]),
            "last_count": entry["count"],
        }
    if len(merged) > max_signatures:
        newest = sorted(merged.items(), key=lambda item: item[1].get("last_seen", 0), reverse=True)
        merged = dict(newest[:max_signatures])
    return merged


def write_json_atomic(path, data, mode=0o600):
    """Write ``data`` as JSON to ``path`` through a temporary file in the same directory."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=".upkeep-", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1, sort_keys=True)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_state(path, signatures, sources=None):
    write_json_atomic(path, {"schema": STATE_SCHEMA, "updated_at": int(time.time()), "signatures": signatures,
                             "sources": sources or {}})
