"""What a backup policy may say, checked before anything is stored: every value comes
from outside (a command line, a request body) and each mistake is one line naming the
field and what to do. Also the schedule arithmetic (cron syntax through ``croniter``).

A policy's fields:

* ``schedule``: when to back up, five-field cron syntax (``0 * * * *``) or an alias
  (``@hourly``, ``@daily``, ``@weekly``, ``@monthly``, ``@yearly``); times are UTC;
* ``full_every``: every Nth backup of a volume reads the whole volume (a full);
  ``max_chain``: a full (or, with ``consolidate``, a synthetic full made from the
  repository) once the chain reaches this many backups;
* ``retention``: ``keep_last``, ``keep_hourly``, ``keep_daily``, ``keep_weekly``,
  ``keep_monthly``, ``keep_yearly`` (counts) and ``keep_within`` (a duration such as
  ``7d`` or ``1y6m``), restic's rules;
* ``verify_schedule`` and ``verify_percent``: when to verify and how much of the
  policy's objects each verification reads (the least recently read first);
* ``force``: back up in-use volumes (from a point-in-time copy);
* ``project_default``: applies to every volume of the project that no policy names.
"""

from __future__ import annotations

import datetime
import re

from ember import errors

KEEP_COUNTS = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly",
               "keep_yearly")
RETENTION_KEYS = KEEP_COUNTS + ("keep_within",)
MAX_COUNT = 100000
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$")
_ALIASES = ("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly",
            "@annually")


def _bad(message: str) -> errors.InvalidInput:
    return errors.InvalidInput(message)


def check_name(name) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise _bad("Invalid policy name %r: use 1 to 64 letters, digits, '.', '_', '-' or "
                   "spaces, starting with a letter or digit." % (name,))
    return name


def check_cron(field: str, value) -> str:
    """A five-field cron expression or an alias, as croniter reads it."""
    from croniter import croniter

    text = " ".join(str(value or "").split())
    fields = text.split(" ")
    if not text or (text not in _ALIASES and len(fields) != 5) \
            or not croniter.is_valid(text):
        raise _bad("Invalid %s %r: use five cron fields 'minute hour day month weekday' "
                   "(for example '0 * * * *' for hourly) or one of %s."
                   % (field, value, ", ".join(_ALIASES[:6])))
    return text


def check_count(field: str, value, minimum: int = 0, maximum: int = MAX_COUNT):
    """An integer in [minimum, maximum], or None when not given."""
    if value is None:
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        number = None
    if number is None or isinstance(value, bool) or not minimum <= number <= maximum:
        raise _bad("Invalid %s %r: use a whole number from %d to %d."
                   % (field.replace("_", "-"), value, minimum, maximum))
    return number


def check_percent(value):
    if value is None:
        return None
    text = str(value).strip().rstrip("%").strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is None or not 0 < number <= 100 or number != int(number):
        raise _bad("Invalid verify-percent %r: use a whole percentage from 1 to 100 "
                   "(for example 10)." % (value,))
    return int(number)


def check_duration(value):
    """restic's ``--keep-within`` durations (``ember.service.retention.Duration``)."""
    from ember.service.retention import Duration

    if value is None or value == "":
        return None
    try:
        return str(Duration.parse(str(value)))
    except ValueError as exc:
        raise _bad("keep-within: %s" % exc) from None


def check_retention(rules: dict) -> dict:
    """The retention rules that are set, checked; unknown keys are refused."""
    unknown = sorted(set(rules) - set(RETENTION_KEYS))
    if unknown:
        raise _bad("Unknown retention rule %s: use %s." % (unknown[0], ", ".join(
            RETENTION_KEYS)))
    checked = {k: check_count(k, rules[k]) for k in KEEP_COUNTS if rules.get(k) is not None}
    if rules.get("keep_within"):
        checked["keep_within"] = check_duration(rules["keep_within"])
    return checked


def check_fields(fields: dict) -> dict:
    """The policy fields given (None: not given), checked and normalised."""
    checks = {
        "name": check_name,
        "schedule": lambda v: check_cron("schedule", v),
        "verify_schedule": lambda v: None if v in (None, "") else check_cron(
            "verify-schedule", v),
        "full_every": lambda v: check_count("full_every", v, 1),
        "max_chain": lambda v: check_count("max_chain", v, 1),
        "verify_percent": check_percent,
        "retention": check_retention,
        "description": lambda v: _text("description", v),
    }
    checked = {}
    for key, value in fields.items():
        if key in checks:
            checked[key] = None if value is None else checks[key](value)
        elif key in ("consolidate", "force", "project_default", "enabled"):
            checked[key] = None if value is None else bool(value)
        else:
            raise _bad("Unknown policy field %s." % key)
    return checked


def _text(field: str, value):
    if value is not None and len(str(value)) > 255:
        raise _bad("Invalid %s: at most 255 characters." % field)
    return value


def latest_due(schedule: str, after: datetime.datetime | None,
               now: datetime.datetime) -> datetime.datetime | None:
    """The newest time of ``schedule`` in (``after``, ``now``], or None when none is.

    A policy that never ran (``after`` None) is due at once, for ``now``. Only the
    newest missed time counts: after downtime a policy catches up once, not once per
    missed time."""
    from croniter import croniter

    if after is None:
        return now
    nxt = croniter(schedule, after).get_next(datetime.datetime)
    if nxt > now:
        return None
    return croniter(schedule, now + datetime.timedelta(microseconds=1)).get_prev(
        datetime.datetime)
