"""A waiver that matches nothing.

A waiver whose finding was fixed (or never existed) stays in the file and would silence
the same mistake when it comes back. It is judged unused only where everything it could
cover was checked: not in a run on another environment's shard, nor on the affected set.
In a run sharded by customer (`--shard K/N`) one shard judges each waiver, its
customer's (shard 1 for a waiver naming none), and counts the findings every shard
reports, probing the others' objects for the expensive checks, so a waiver used in
one shard is never reported unused by another.
"""

from __future__ import annotations

from compiler.check.builtins.base import Builtin
from compiler.check.findings import Finding
from compiler.check.policies import PlacedWaiver


def check(placed: PlacedWaiver, used: bool) -> Finding | None:
    if used:
        return None
    return BUILTIN.finding(
        f"{placed.label} matches no finding; remove it",
        placed.locate(),
        key=placed.key,
    ).with_outcome("warn")


BUILTIN = Builtin(
    "waiver-unused",
    "Waivers match something",
    "low",
    "remove the waiver, or fix what it covers",
    "waivers",
    check,
    __doc__,
)
