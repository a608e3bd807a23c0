"""A customer's clusters and VM hosts hold its data residency.

A customer who is promised that its data stays in Switzerland must never have an
instance on a cluster or host outside the residencies that place may hold: a pin or a
host pool chosen by mistake would move the data silently. Catalog validation refuses
this as bad input (catalog/residency.py: a breach of a customer's contract is not a
policy to grade); the check repeats it on the resolved result so that the guarantee is
visible in the reports and holds for what is compiled. Located at the line that enables
the service for the customer.
"""

from __future__ import annotations

from collections.abc import Iterator

from compiler.check.builtins.base import Builtin, EnvironmentInput, about
from compiler.check.findings import Finding
from compiler.check.subjects import enabled_at


def check(run: EnvironmentInput) -> Iterator[Finding]:
    catalog = run.catalog
    clusters = {cluster.name: cluster for cluster in catalog.environments[run.env].clusters}
    for instance in run.instances:
        if instance.customer is None:
            continue
        residency = catalog.customers[instance.customer].residency
        for name in instance.clusters:
            if residency not in clusters[name].residency:
                yield BUILTIN.finding(
                    f"{instance.id}: customer residency {residency} but cluster {name} "
                    f"(region {clusters[name].region}) holds {', '.join(clusters[name].residency)}",
                    enabled_at(catalog, instance),
                    key=name,
                    **about(instance),
                )
        for host in instance.hosts:
            if host.residency != residency:
                yield BUILTIN.finding(
                    f"{instance.id}: customer residency {residency} but host {host.name} "
                    f"(region {host.region}) is {host.residency}",
                    enabled_at(catalog, instance),
                    key=host.name,
                    **about(instance),
                )


BUILTIN = Builtin(
    "residency-region",
    "Customer data stays in its residency",
    "critical",
    "place the customer on a cluster or hosts whose residency includes the customer's",
    "environment",
    check,
    __doc__,
)
