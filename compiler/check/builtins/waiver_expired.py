"""A waiver past its expiry date fails the check, in every tier.

A waiver is a dated promise to fix something. When its date has passed, the promise is
broken, and the check fails whatever the tier, so that the owner renews it with a reason
or fixes what it covered; a waiver never quietly becomes permanent.
"""

from __future__ import annotations

import datetime

from compiler.check.builtins.base import Builtin
from compiler.check.findings import Finding
from compiler.check.policies import PlacedWaiver


def check(placed: PlacedWaiver, today: datetime.date) -> Finding | None:
    waiver = placed.waiver
    if waiver.expires >= today:
        return None
    return BUILTIN.finding(
        f"{placed.label} expired on {waiver.expires.isoformat()} (owner {waiver.owner})",
        placed.locate("expires"),
        key=placed.key,
    ).with_outcome("fail")


BUILTIN = Builtin(
    "waiver-expired",
    "Waivers are renewed or removed before they expire",
    "high",
    "fix the finding, or renew the waiver with a new expiry date and a reason",
    "waivers",
    check,
    __doc__,
)
