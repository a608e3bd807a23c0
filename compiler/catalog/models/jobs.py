"""`Job` and `JobHook`: the `job:` part of the settings, for services whose workload is a
Job or a CronJob, and the cron schedule it is checked against.

A module of its own because the schedule's grammar (the one the CronJob controller
parses: robfig/cron's standard parser, five fields or a descriptor) is a small parser
of its own. Which fields apply to which kind (a schedule only to a CronJob, a hook only
to a Job) is decided once the layers are merged (catalog/workloads.py): a layer may
hold fields for either.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from compiler.catalog.models.fields import Name, Strict

# the fields of a standard cron expression: (name, lowest, highest, names allowed)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _WEEKDAYS),
)
# what robfig/cron's descriptor option reads besides five fields (`@every <duration>` is
# left out: an interval from the controller's start, not a time of day)
DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_RANGE = re.compile(r"(?P<range>\*|\?|[0-9a-z]+(-[0-9a-z]+)?)(/(?P<step>[0-9]+))?\Z")


def cron_problem(schedule: str) -> str | None:
    """Why the CronJob controller would refuse `schedule`, or None. Five fields (minute,
    hour, day of month, month, day of week), each a list of `*`, `?`, a value or a range,
    each with an optional `/step`; months and weekdays also by name; or a descriptor."""
    text = schedule.strip().lower()
    if text.startswith(("tz=", "cron_tz=")):
        return "a time zone prefix (TZ=, CRON_TZ=) is not allowed in a CronJob's schedule"
    if text.startswith("@"):
        return None if text in DESCRIPTORS else f"unknown descriptor '{text}'"
    fields = text.split()
    if len(fields) != 5:
        return f"a cron schedule has 5 fields (minute hour day month weekday), not {len(fields)}"
    for value, (what, low, high, names) in zip(fields, _FIELDS, strict=True):
        for part in value.split(","):
            problem = _part_problem(part, what, low, high, names)
            if problem:
                return problem
    return _never(fields)


# the last day of each month in a leap year: robfig/cron matches 29 February then
_LAST_DAY = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _never(fields: list[str]) -> str | None:
    """A schedule whose days of the month fall in none of its months (`0 0 31 2 *`)
    never fires: a CronJob that never runs, and a sync window that ArgoCD takes for
    always open (its next start is the zero time, which is before now). When the day
    of the week is restricted too, cron fires on either, so it fires; robfig/cron counts
    a field as unrestricted when any part of it is `*` or `?` with no step above 1
    (`*/1` is `*`), and then needs both."""
    if not _star(fields[4]) and not _star(fields[2]):
        return None
    days = _values(fields[2], *_FIELDS[2][1:])
    months = _values(fields[3], *_FIELDS[3][1:])
    if any(day <= _LAST_DAY[month - 1] for day in days for month in months):
        return None
    return "it never fires: none of its days of the month is in one of its months"


def _star(field: str) -> bool:
    return any(
        (match := _RANGE.match(part)) is not None
        and match["range"] in ("*", "?")
        and int(match["step"] or 1) <= 1
        for part in field.split(",")
    )


def _values(field: str, low: int, high: int, names: tuple[str, ...]) -> set[int]:
    """The numbers a checked field matches (`N/step` runs from N to the highest)."""
    found: set[int] = set()
    for part in field.split(","):
        match = _RANGE.match(part)
        assert match is not None  # checked by _part_problem
        step = int(match["step"] or 1)
        if match["range"] in ("*", "?"):
            first, last = low, high
        else:
            ends = [
                names.index(e) + low if e in names else int(e) for e in match["range"].split("-")
            ]
            first = ends[0]
            last = ends[-1] if len(ends) == 2 else high if match["step"] else first
        found.update(range(first, last + 1, step))
    return found


def _part_problem(part: str, what: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    match = _RANGE.match(part)
    if match is None:
        return f"'{part}' is not a {what} value, range or step"
    if match["step"] is not None and int(match["step"]) < 1:
        return f"the step in '{part}' must be at least 1"
    if match["range"] in ("*", "?"):
        return None
    bounds = []
    for end in match["range"].split("-"):
        number = names.index(end) + low if end in names else int(end) if end.isdigit() else None
        if number is None:
            return f"'{end}' is not a {what}"
        if not low <= number <= high:
            return f"{what} {number} is outside {low}-{high}"
        bounds.append(number)
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        return f"the range '{match['range']}' runs backwards"
    return None


def _schedule(value: str) -> str:
    problem = cron_problem(value)
    if problem:
        raise ValueError(f"'{value}' is not a cron schedule: {problem}")
    return value


Schedule = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_schedule)]
Seconds = Annotated[int, Field(ge=0, le=2147483647)]


class JobHook(Strict):
    """Run the Job as an ArgoCD sync hook of another service's Application (its database
    migration before a rollout): `service` is the service it runs for, of the same
    scope and enabled beside it; `phase` when (PreSync: before any of that service's
    objects are applied); `wave` its order among the hooks of that phase."""

    service: Name
    phase: Literal["PreSync", "Sync", "PostSync"] = "PreSync"
    wave: Annotated[int, Field(ge=-1000, le=1000)] = 0


class Job(Strict):
    """How a Job or CronJob runs (docs/catalog.md, "Job"): the schedule and its policies
    for a CronJob, retries, deadlines and clean-up for both, a sync hook for a Job."""

    # CronJob only
    schedule: Schedule | None = None
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] | None = None
    starting_deadline_seconds: Seconds | None = None
    successful_jobs_history_limit: Annotated[int, Field(ge=0, le=100)] | None = None
    failed_jobs_history_limit: Annotated[int, Field(ge=0, le=100)] | None = None
    # both
    suspend: bool | None = None
    restart_policy: Literal["OnFailure", "Never"] | None = None
    backoff_limit: Annotated[int, Field(ge=0, le=1000)] | None = None
    active_deadline_seconds: Annotated[int, Field(ge=1, le=2147483647)] | None = None
    ttl_seconds_after_finished: Seconds | None = None
    # Job only
    hook: JobHook | None = None


# the fields that only a CronJob has, and the one only a Job has
CRON_ONLY = (
    "schedule",
    "concurrency_policy",
    "starting_deadline_seconds",
    "successful_jobs_history_limit",
    "failed_jobs_history_limit",
)
JOB_ONLY = ("hook",)
