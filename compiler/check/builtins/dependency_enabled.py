"""Every dependency resolves in the same environment.

A service whose dependency is not deployed next to it (for the same customer, or
environment-wide) starts and then fails on its first request. Catalog validation already
refuses this as bad input; the check repeats it on the resolved result so that the
guarantee is visible in the reports and holds for what is compiled.
"""

from __future__ import annotations

from collections.abc import Iterator

from compiler.check.builtins.base import Builtin, EnvironmentInput, about
from compiler.check.findings import Finding
from compiler.check.subjects import enabled_at


def check(run: EnvironmentInput) -> Iterator[Finding]:
    catalog = run.catalog
    present = {(i.customer, i.service) for i in run.instances}
    for instance in run.instances:
        for dep in catalog.services[instance.service].depends_on:
            if (instance.customer, dep) not in present and (None, dep) not in present:
                yield BUILTIN.finding(
                    f"{instance.id} depends on {dep}, which is not enabled here",
                    enabled_at(catalog, instance),
                    key=dep,
                    **about(instance),
                )


BUILTIN = Builtin(
    "dependency-enabled",
    "Dependencies are enabled",
    "high",
    "enable the dependency for the customer, or the environment-wide service",
    "environment",
    check,
    __doc__,
)
