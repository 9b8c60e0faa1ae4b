"""When each cadence runs: the ``upkeep_schedule`` inventory variable, read into one
:class:`Schedule`, and rendered as systemd timers or crontab lines.

A cadence's time is a cron expression (five fields: minute hour day-of-month month
day-of-week), the one syntax both back ends share: cron takes it as it is, and systemd gets the
same set of minutes as an exact ``OnCalendar=`` (every field enumerated, so nothing is lost in
translation). Times are the machine's local time, which every generated file states.

```yaml
upkeep_schedule:
  randomized_delay: 10m                # systemd RandomizedDelaySec (cron has no equivalent)
  daily: "0 2 * * *"                   # a cron expression ...
  weekly: {at: "0 3 * * mon", overdue_after: 7d6h}   # ... or a mapping
  monthly: {enabled: false}
```
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re

# (cron expression, overdue after) per cadence: the guide's times, and a grace that covers the
# randomised delay and a long run (DESIGN.md: "a cadence that did not run on time is a finding").
DEFAULTS = {
    "daily": ("0 2 * * *", 26 * 3600),
    "weekly": ("0 3 * * mon", (7 * 24 + 6) * 3600),
    "monthly": ("0 4 1 * *", 32 * 86400),
    "quarterly": ("0 5 1 jan,apr,jul,oct *", 93 * 86400),
}
DEFAULT_RANDOMIZED_DELAY_S = 600

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_WEEKDAYS = {name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_SYSTEMD_WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
_DURATION_RE = re.compile(r"(\d+)\s*(d|h|m|s)")
_MAPPING_KEYS = ("at", "overdue_after", "enabled")


class ScheduleError(ValueError):
    """A schedule that cannot be used; the message names the variable and the bad value."""


@dataclasses.dataclass(frozen=True)
class CronTimes:
    """The parsed five fields of one cron expression (day of week: 0 = Sunday)."""
    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: tuple[int, ...]
    months: tuple[int, ...]
    weekdays: tuple[int, ...]
    days_restricted: bool
    weekdays_restricted: bool

    def matches_day(self, day: datetime.date) -> bool:
        return (day.month in self.months and day.day in self.days
                and (day.isoweekday() % 7) in self.weekdays)

    def next_after(self, moment: datetime.datetime) -> datetime.datetime:
        """The first time strictly after ``moment`` (naive local time) this expression fires."""
        start = moment.replace(second=0, microsecond=0)
        for offset in range(0, 366 * 8 + 1):  # 29 February on a Monday comes round within 28 years; 8 covers any leap day
            day = start.date() + datetime.timedelta(days=offset)
            if not self.matches_day(day):
                continue
            for hour in self.hours:
                for minute in self.minutes:
                    candidate = datetime.datetime.combine(day, datetime.time(hour, minute))
                    if candidate > moment:
                        return candidate
        raise ScheduleError("cron expression %r never fires (no such date)" % self.expression)

    def on_calendar(self) -> str:
        """The systemd ``OnCalendar=`` value firing at exactly the same minutes."""
        weekdays = "" if not self.weekdays_restricted else ",".join(_SYSTEMD_WEEKDAYS[d] for d in self.weekdays) + " "
        month = "*" if len(self.months) == 12 else ",".join("%02d" % m for m in self.months)
        day = "*" if not self.days_restricted else ",".join("%02d" % d for d in self.days)
        return "%s*-%s-%s %s:%s:00" % (weekdays, month, day, ",".join("%02d" % h for h in self.hours),
                                       ",".join("%02d" % m for m in self.minutes))


@dataclasses.dataclass(frozen=True)
class CadenceSchedule:
    cadence: str
    times: CronTimes
    overdue_after_s: int


@dataclasses.dataclass(frozen=True)
class Schedule:
    cadences: tuple[CadenceSchedule, ...]
    randomized_delay_s: int

    def get(self, cadence: str) -> CadenceSchedule | None:
        return next((c for c in self.cadences if c.cadence == cadence), None)


def parse_cron(expression: str, where: str) -> CronTimes:
    """Parse a five-field cron expression; ScheduleError naming ``where`` when it does not parse."""
    if not isinstance(expression, str):
        raise ScheduleError("%s: expected a cron expression string, got %r" % (where, expression))
    parts = expression.split()
    if len(parts) != 5:
        raise ScheduleError("%s: %r is not a cron expression: it needs 5 fields (minute hour day-of-month month "
                            "day-of-week, e.g. '0 3 * * mon'), it has %d" % (where, expression, len(parts)))
    values = []
    for text, (name, low, high) in zip(parts, _FIELDS):
        names = _MONTHS if name == "month" else _WEEKDAYS if name == "day of week" else {}
        try:
            values.append(_field(text.lower(), low, high, names))
        except ValueError as exc:
            raise ScheduleError("%s: %r: %s field %r: %s" % (where, expression, name, text, exc)) from None
    minutes, hours, days, months, weekdays = values
    weekdays = sorted({d % 7 for d in weekdays})  # cron takes 7 as Sunday too
    days_restricted, weekdays_restricted = parts[2] != "*", parts[4] != "*"
    if days_restricted and weekdays_restricted:
        # cron fires when EITHER matches, systemd when BOTH do: refuse rather than schedule differently.
        raise ScheduleError("%s: %r restricts both day of month and day of week, which cron and systemd read "
                            "differently (either vs both): restrict one of them" % (where, expression))
    return CronTimes(expression, tuple(minutes), tuple(hours), tuple(days), tuple(months), tuple(weekdays),
                     days_restricted, weekdays_restricted)


def _field(text: str, low: int, high: int, names: dict) -> list[int]:
    found: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = _number(step_text, {}) if step_text else 1
        if step < 1:
            raise ValueError("step must be 1 or more")
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first_text, last_text = base.split("-", 1)
            first, last = _number(first_text, names), _number(last_text, names)
        else:
            first = _number(base, names)
            last = high if step_text else first  # cron reads "5/15" as "5-max/15"
        if not (low <= first <= high and low <= last <= high) or first > last:
            raise ValueError("%r is outside %d-%d" % (item, low, high))
        found.update(range(first, last + 1, step))
    return sorted(found)


def _number(text: str, names: dict) -> int:
    if text in names:
        return names[text]
    if not text.isdigit():
        raise ValueError("%r is not a number%s" % (text, " or a name (%s)" % ", ".join(names) if names else ""))
    return int(text)


def parse_duration(value, where: str) -> int:
    """Seconds from ``26h``, ``7d6h``, ``90m``, ``45s`` or a number of seconds."""
    if isinstance(value, bool):
        raise ScheduleError("%s: %r is not a duration" % (where, value))
    if isinstance(value, int) and value >= 0:
        return value
    text = str(value).strip().lower()
    if text.isdigit():
        return int(text)
    if not text or _DURATION_RE.sub("", text).strip():
        raise ScheduleError("%s: %r is not a duration (use e.g. 26h, 7d6h, 90m or seconds)" % (where, value))
    factor = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return sum(int(amount) * factor[unit] for amount, unit in _DURATION_RE.findall(text))


def parse_schedule(value, cadences: list[str], name: str = "upkeep_schedule") -> Schedule:
    """The schedule from the inventory variable ``value`` (None: the defaults) for the known
    ``cadences``; ScheduleError naming the key and the value that is wrong."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ScheduleError("%s must be a mapping of cadence to cron expression, got %r" % (name, value))
    unknown = sorted(set(map(str, value)) - set(cadences) - {"randomized_delay"})
    if unknown:
        raise ScheduleError("%s: unknown key(s) %s (cadences: %s; or randomized_delay)"
                            % (name, ", ".join(unknown), ", ".join(cadences)))
    delay = parse_duration(value.get("randomized_delay", DEFAULT_RANDOMIZED_DELAY_S), name + ".randomized_delay")
    result = []
    for cadence in cadences:
        where = "%s.%s" % (name, cadence)
        default_at, default_overdue = DEFAULTS.get(cadence, (None, None))
        entry = value.get(cadence, {} if default_at else None)
        if entry is None:
            continue  # a cadence without a default (a custom playbook) runs only when given a time
        if isinstance(entry, str):
            entry = {"at": entry}
        if not isinstance(entry, dict):
            raise ScheduleError("%s: expected a cron expression or a mapping (%s), got %r"
                                % (where, ", ".join(_MAPPING_KEYS), entry))
        bad = sorted(set(map(str, entry)) - set(_MAPPING_KEYS))
        if bad:
            raise ScheduleError("%s: unknown key(s) %s (known: %s)" % (where, ", ".join(bad), ", ".join(_MAPPING_KEYS)))
        enabled = entry.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ScheduleError("%s.enabled: expected true or false, got %r" % (where, enabled))
        if not enabled:
            continue
        at = entry.get("at", default_at)
        if at is None:
            raise ScheduleError("%s.at: %s has no default time: give a cron expression" % (where, cadence))
        times = parse_cron(at, where + ".at")
        overdue = entry.get("overdue_after", default_overdue)
        if overdue is None:
            overdue = _longest_gap_s(times) + 6 * 3600
        overdue_s = parse_duration(overdue, where + ".overdue_after")
        if overdue_s <= 0:
            raise ScheduleError("%s.overdue_after: must be more than 0, got %r" % (where, overdue))
        result.append(CadenceSchedule(cadence, times, overdue_s))
    return Schedule(tuple(result), delay)


def _longest_gap_s(times: CronTimes) -> int:
    """The longest time between two firings over a year (a custom cadence's period)."""
    moment, longest = datetime.datetime(2026, 1, 1), 0
    previous = times.next_after(moment)
    while previous.year < 2027:
        following = times.next_after(previous)
        longest = max(longest, int((following - previous).total_seconds()))
        previous = following
    return longest


def local_timezone() -> str:
    """The machine's time zone name (``Europe/Berlin``), else its abbreviation: files say it."""
    if os.environ.get("TZ"):
        return os.environ["TZ"].lstrip(":")
    try:
        with open("/etc/timezone", encoding="utf-8") as handle:
            name = handle.read().strip()
            if name:
                return name
    except OSError:
        pass
    target = os.path.realpath("/etc/localtime")
    if "/zoneinfo/" in target:
        return target.split("/zoneinfo/", 1)[1]
    return datetime.datetime.now().astimezone().tzname() or "local time"


def format_duration(seconds: float) -> str:
    """``7 d 6 h``, ``26 h``, ``45 min``: how a person reads a period."""
    seconds = int(round(seconds))
    days, rest = divmod(abs(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = (["%d d" % days] if days else []) + (["%d h" % hours] if hours else [])
    if not days and minutes:
        parts.append("%d min" % minutes)
    return ("-" if seconds < 0 else "") + (" ".join(parts) or "%d s" % (abs(seconds) % 60))
