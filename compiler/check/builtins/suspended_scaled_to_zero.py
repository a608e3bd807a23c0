"""Suspended customers run no pods.

Suspending a customer (unpaid, abuse, a legal hold) must stop its service while its data
stays. gitopsc renders its workloads with zero replicas and no autoscaler; a patch that
brings replicas or an autoscaler back would keep serving a customer who is suspended.
"""

from __future__ import annotations

from collections.abc import Iterator

from compiler.check.builtins.base import Builtin, EnvironmentInput, about, as_mapping
from compiler.check.findings import Finding
from compiler.check.subjects import object_location


def check(run: EnvironmentInput) -> Iterator[Finding]:
    catalog = run.catalog
    for file in run.files:
        data = file.data
        instance = run.owner(file)
        if not isinstance(data, dict) or instance is None or instance.customer is None:
            continue
        customer = catalog.customers.get(instance.customer)
        if customer is None or customer.status != "suspended":
            continue
        spec = as_mapping(data.get("spec"))
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
