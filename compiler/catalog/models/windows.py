"""`SyncWindow`: a maintenance window, as ArgoCD's AppProject `spec.syncWindows` takes it.

Declared per environment (`argocd.sync_windows`: into every AppProject of the
environment) and per customer (`sync_windows`: into that customer's AppProjects).
Checked here as ArgoCD would read it, so that a window ArgoCD cannot parse is a located
catalog error instead of a project that ArgoCD refuses to load: the schedule by the
standard five-field cron grammar (robfig/cron, which ArgoCD parses windows with), the
duration in Go's `time.ParseDuration` units (`1h`, `30m`, `1h30m`), the time zone as an
IANA name that the zoneinfo database knows.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from compiler.catalog.models.fields import Strict
from compiler.catalog.models.jobs import cron_problem

# Go's time.ParseDuration, restricted to the units a window is measured in
_DURATION = re.compile(r"(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?\Z")


def _schedule(value: str) -> str:
    """Five fields only: a descriptor (`@daily`) names no time of day to open at, and a
    window's `duration` already says how long it lasts."""
    problem = "a descriptor is not a window's start" if value.strip().startswith("@") else None
    problem = problem or cron_problem(value)
    if problem:
        raise ValueError(f"'{value}' is not a cron schedule: {problem}")
    return value


def _duration(value: str) -> str:
    match = _DURATION.match(value)
    if not value or match is None:
        raise ValueError(
            f"'{value}' is not a duration: hours, minutes and seconds as ArgoCD reads them "
            "('1h', '30m', '1h30m')"
        )
    seconds = int(match["h"] or 0) * 3600 + int(match["m"] or 0) * 60 + int(match["s"] or 0)
    if not seconds:
        raise ValueError(f"'{value}' is a window that never opens: the duration must be positive")
    if seconds > _LONGEST:  # Go's durations overflow past about 2562047h
        raise ValueError(f"'{value}' is longer than a year (8784h): declare a shorter window")
    return value


_LONGEST = 366 * 24 * 3600
# in the zoneinfo database, but no place: what a host's clock happens to be set to,
# and the database's own placeholders
_NOT_PLACES = ("localtime", "Factory", "posixrules")


@functools.cache
def _zones() -> frozenset[str]:
    """The IANA names, from the `tzdata` package where the host has no database (a
    dependency: which names are valid must not depend on the machine)."""
    return frozenset(
        zone
        for zone in zoneinfo.available_timezones()
        if zone not in _NOT_PLACES and not zone.startswith(("posix/", "right/"))
    )


def _timezone(value: str) -> str:
    if value not in _zones():
        raise ValueError(
            f"'{value}' is not an IANA time zone (such as 'Europe/Zurich' or 'UTC') "
            "in the zoneinfo database"
        )
    return value


class SyncWindow(Strict):
    """When ArgoCD may (`allow`) or may not (`deny`) sync: from each time `schedule`
    matches, for `duration`, in `timezone`. `manual_sync` lets a person sync by hand
    while the window blocks automated syncs. Once any allow window applies to an
    Application, it syncs only inside allow windows; a deny window wins over an allow."""

    kind: Literal["allow", "deny"]
    schedule: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_schedule)]
    duration: Annotated[str, Field(max_length=20), AfterValidator(_duration)]
    timezone: Annotated[str, Field(max_length=64), AfterValidator(_timezone)] = "UTC"
    manual_sync: bool = False
    description: Annotated[str, Field(max_length=200)] = ""


class CustomerSyncWindow(SyncWindow):
    """A customer's maintenance window. It governs automated syncs only: the platform's
    on-call can always sync a customer's Applications by hand (ArgoCD allows a manual
    sync only where every active window allows it, so a customer's window without it
    would also cancel the environment's own `manual_sync`, and hold back an emergency
    fix until the catalog changed)."""

    manual_sync: Literal[True] = True
