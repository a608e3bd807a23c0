"""`Customer`: one file in catalog/customers/, and where it is deployed per environment.

Also the names a customer cannot take (`RESERVED_NAMES`, checked by validate.py, since a
customer name becomes a namespace). Separate so that each kind of catalog file has its
own module.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from compiler.catalog.models.environment import Host
from compiler.catalog.models.fields import (
    DnsName,
    IsoDate,
    Name,
    NullDict,
    NullList,
    Residency,
    Strict,
)
from compiler.catalog.models.settings import Layer

# Namespaces that Kubernetes or the platform itself use: a customer cannot take them.
RESERVED_NAMES = frozenset(
    {"default", "kube-system", "kube-public", "kube-node-lease", "argocd", "platform"}
)


class CustomerEnvironment(Strict):
    """Where a customer is deployed in one environment, and what it has enabled there."""

    cluster: Name | None = None
    services: Annotated[dict[Name, Layer | None], NullDict] = {}
    hosts: Annotated[list[Host], NullList] = []


class Customer(Strict):
    name: Name
    display_name: str = ""
    plan: Name
    residency: Residency
    status: Literal["active", "suspended", "offboarding"] = "active"
    offboard_after: IsoDate | None = None
    contact: str = ""
    domains: Annotated[list[DnsName], Field(min_length=1)]
    services: Annotated[dict[Name, Layer], NullDict] = {}
    environments: Annotated[dict[Name, CustomerEnvironment], NullDict] = {}
