"""Suspended customers run no pods.

Suspending a customer (unpaid, abuse, a legal hold) must stop its service while its data
stays. gitopsc renders its workloads with zero replicas and no autoscaler; a patch that
brings replicas or an autoscaler back would keep serving a customer who is suspended.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence

from compiler.catalog import Catalog, Instance
from compiler.check.builtins.base import Builtin, about
from compiler.check.findings import Finding
from compiler.check.subjects import object_location
from compiler.render import OutputFile


def check(
    catalog: Catalog,
    env: str,
    instances: Sequence[Instance],
    files: Sequence[OutputFile],
    today: datetime.date,
) -> Iterator[Finding]:
    by_id = {instance.id: instance for instance in instances}
    for file in files:
        data = file.data
        instance = by_id.get(file.instances[0]) if len(file.instances) == 1 else None
        if not isinstance(data, dict) or instance is None or instance.customer is None:
            continue
        customer = catalog.customers.get(instance.customer)
        if customer is None or customer.status != "suspended":
            continue
        spec = data.get("spec") or {}
        running = (
            data.get("kind") in ("Deployment", "StatefulSet") and spec.get("replicas") != 0
        ) or data.get("kind") == "HorizontalPodAutoscaler"
        if running:
            yield BUILTIN.finding(
                f"{file.path}: customer {customer.name} is suspended but this "
                f"{data.get('kind')} would run pods",
                object_location(catalog, instance, ""),
                rendered=file.path,
                **about(instance),
            )


BUILTIN = Builtin(
    "suspended-scaled-to-zero",
    "Suspended customers run no pods",
    "high",
    "do not patch replicas or autoscaling of a suspended customer",
    "environment",
    check,
    __doc__,
)
