"""`gitopsc list KIND`: the services, customers, environments or instances, as a table or JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

from compiler import pipeline
from compiler.catalog import Instance

Kind = Literal["services", "customers", "environments", "instances"]


def run(
    root: Path, kind: Kind, environments: list[str] | None, format_: str, console: Console
) -> int:
    if kind == "instances":
        resolved = pipeline.run(root, environments)
        rows = [_instance_row(instance) for instance in resolved.instances.values()]
    else:
        catalog = pipeline.load_catalog(root)
        chosen = set(pipeline.select_environments(catalog, environments))
        rows = _ROWS[kind](catalog, chosen)
    if format_ == "json":
        print(json.dumps(rows, indent=2))  # plain stdout: stable bytes for scripts and pipes
        return 0
    table = Table(title=f"{len(rows)} {kind}")
    for column in _COLUMNS[kind]:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in _COLUMNS[kind]))
    console.print(table)
    return 0


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return "" if value is None else str(value)


def _services(catalog: Any, chosen: set[str]) -> list[dict[str, Any]]:
    return [
        {
            "name": service.name,
            "owner": service.owner,
            "runtime": service.runtime,
            "scope": service.scope,
            "depends_on": list(service.depends_on),
            "environments": sorted(chosen & set(service.environments or chosen)),
            "file": catalog.source("service", service.name).file,
        }
        for service in catalog.services.values()
        if service.environments is None or chosen & set(service.environments)
    ]


def _customers(catalog: Any, chosen: set[str]) -> list[dict[str, Any]]:
    return [
        {
            "name": customer.name,
            "plan": customer.plan,
            "residency": customer.residency,
            "status": customer.status,
            "domains": list(customer.domains),
            "environments": sorted(chosen & set(customer.environments)),
            "file": catalog.source("customer", customer.name).file,
        }
        for customer in catalog.customers.values()
        if chosen & set(customer.environments) or len(chosen) == len(catalog.environments)
    ]


def _environments(catalog: Any, chosen: set[str]) -> list[dict[str, Any]]:
    return [
        {
            "name": env.name,
            "tier": env.tier,
            "base_domain": env.base_domain,
            "clusters": [
                f"{c.name} ({c.region}, k8s {c.kubernetes_version})" for c in env.clusters
            ],
            "host_pools": sorted(env.host_pools),
            "file": catalog.source("environment", env.name).file,
        }
        for env in catalog.environments.values()
        if env.name in chosen
    ]


def _instance_row(instance: Instance) -> dict[str, Any]:
    return {
        "id": instance.id,
        "environment": instance.environment,
        "customer": instance.customer,
        "service": instance.service,
        "clusters": list(instance.clusters),
        "namespace": instance.namespace,
        "hosts": [host.name for host in instance.hosts],
        "values": instance.values,
    }


def _sorted(
    rows_for: Callable[[Any, set[str]], list[dict[str, Any]]],
) -> Callable[..., list[dict[str, Any]]]:
    return lambda catalog, chosen: sorted(rows_for(catalog, chosen), key=lambda row: row["name"])


_ROWS = {
    "services": _sorted(_services),
    "customers": _sorted(_customers),
    "environments": _sorted(_environments),
}
_COLUMNS = {
    "services": ["name", "owner", "runtime", "scope", "depends_on", "environments"],
    "customers": ["name", "plan", "residency", "status", "domains", "environments"],
    "environments": ["name", "tier", "base_domain", "clusters", "host_pools"],
    "instances": ["id", "clusters", "namespace", "hosts"],
}
