"""`Service`: one file in catalog/services/, what a service is and its settings layers.

Separate from the other entities so that each kind of catalog file has its own module.
"""

from __future__ import annotations

from typing import Annotated, Literal

from compiler.catalog.models.fields import Name, NullDict, NullList, Strict
from compiler.catalog.models.settings import Layer


class Service(Strict):
    name: Name
    description: str = ""
    owner: Name
    runtime: Literal["kubernetes", "vm"]
    scope: Literal["customer", "environment"]
    # DaemonSet: environment-scoped services only (catalog/workloads.py)
    workload: Literal["Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"] = "Deployment"
    depends_on: Annotated[list[Name], NullList] = []
    environments: list[Name] | None = None
    defaults: Annotated[Layer, NullDict] = {}
    plans: Annotated[dict[Name, Layer], NullDict] = {}
