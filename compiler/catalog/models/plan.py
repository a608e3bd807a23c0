"""`PlanList`: catalog/plans.yaml, the plans customers subscribe to and their quotas.

Separate so that each kind of catalog file has its own module.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from compiler.catalog.models.fields import Name, Quantity, Strict


class Quota(Strict):
    cpu: Quantity
    memory: Quantity
    pods: Annotated[int, Field(ge=1)]
    storage: Quantity | None = None


class Plan(Strict):
    name: Name
    description: str = ""
    quota: Quota


class PlanList(Strict):
    plans: list[Plan]
