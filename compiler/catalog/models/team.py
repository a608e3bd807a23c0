"""`TeamList`: catalog/teams.yaml, the teams that own services.

Separate so that each kind of catalog file has its own module.
"""

from __future__ import annotations

from compiler.catalog.models.fields import Name, Strict
from compiler.catalog.models.monitoring import Paging


class Team(Strict):
    name: Name
    email: str
    chat: str = ""
    # where the team's alerts go: routing labels on every alert of its services
    paging: Paging | None = None


class TeamList(Strict):
    teams: list[Team]
