"""Offboarding customers are gone from prod after their date.

A customer whose contract ended is still running, and still holding its data, in
production past the date it was to leave: the offboarding was forgotten. Only prod-tier
environments are judged; the finding points at `offboard_after`.
"""

from __future__ import annotations

from collections.abc import Iterator

from compiler.check.builtins.base import Builtin, EnvironmentInput, about
from compiler.check.findings import Finding


def check(run: EnvironmentInput) -> Iterator[Finding]:
    catalog = run.catalog
    if catalog.environments[run.env].tier != "prod":
        return
    for instance in run.instances:
        customer = catalog.customers.get(instance.customer) if instance.customer else None
        if customer is None or customer.status != "offboarding" or customer.offboard_after is None:
            continue
        if customer.offboard_after < run.today:
            yield BUILTIN.finding(
                f"{instance.id}: customer {customer.name} was to be offboarded after "
                f"{customer.offboard_after.isoformat()} but is still in {run.env}",
                catalog.source("customer", customer.name).locate("offboard_after"),
                **about(instance),
            )


BUILTIN = Builtin(
    "offboarded-absent",
    "Offboarded customers are gone from prod",
    "high",
    "remove the customer's prod environment (or the customer) after its offboarding date",
    "environment",
    check,
    __doc__,
)
