"""`TeamList`: catalog/teams.yaml, the teams that own services.

Separate so that each kind of catalog file has its own module.
"""

from __future__ import annotations

from compiler.catalog.models.fields import Name, Strict


class Team(Strict):
    name: Name
    email: str
    chat: str = ""


class TeamList(Strict):
    teams: list[Team]
