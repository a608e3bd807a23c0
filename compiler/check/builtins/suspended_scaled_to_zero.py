"""Suspended customers run no pods: no replicas, no autoscaler, and every Job and CronJob
suspended.

Suspending a customer (unpaid, abuse, a legal hold) must stop its service while its data
stays. gitopsc renders its Deployments and StatefulSets with zero replicas and no
autoscaler, and its Jobs and CronJobs with `suspend: true` (a CronJob starts no run, a
Job no pod; a hook Job is also skipped by ArgoCD); a patch that brings replicas or an
autoscaler back, or resumes a schedule, would keep serving, or keep processing the data
of, a customer who is suspended.
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
        kind = data.get("kind")
        running = (
            (kind in ("Deployment", "StatefulSet") and spec.get("replicas") != 0)
            or (kind in ("Job", "CronJob") and spec.get("suspend") is not True)
            or kind == "HorizontalPodAutoscaler"
        )
        if running:
            yield BUILTIN.finding(
                f"{file.path}: customer {customer.name} is suspended but this "
                f"{kind} would run pods",
                object_location(catalog, instance, ""),
                rendered=file.path,
                **about(instance),
            )


BUILTIN = Builtin(
    "suspended-scaled-to-zero",
    "Suspended customers run no pods",
    "high",
    "do not patch replicas, autoscaling or a Job's or CronJob's suspend of a suspended customer",
    "environment",
    check,
    __doc__,
)
