"""Every service's owner is a team.

Findings are routed, waivers approved and pages sent by owner team; a service owned by
a team that does not exist has nobody to route to. Catalog validation refuses it too;
the check makes the guarantee visible in the reports.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

from compiler.catalog import Catalog
from compiler.check.builtins.base import Builtin
from compiler.check.findings import Finding


def check(catalog: Catalog, today: datetime.date) -> Iterator[Finding]:
    for name in sorted(catalog.services):
        owner = catalog.services[name].owner
        if owner not in catalog.teams:
            yield BUILTIN.finding(
                f"service {name} is owned by unknown team {owner}",
                catalog.source("service", name).locate("owner"),
                service=name,
                key=name,
            )


BUILTIN = Builtin(
    "owner-team-exists",
    "Every service has an owner team",
    "medium",
    "add the team to catalog/teams.yaml or fix the service's owner",
    "catalog",
    check,
    __doc__,
)
