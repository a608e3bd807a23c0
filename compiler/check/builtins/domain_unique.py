"""No domain belongs to two customers.

Two customers claiming one domain would get each other's ingress, certificates and DNS
records: one customer's traffic served by another's instance. No organisation may grade
that, so since issue 16 validation refuses it (`catalog/tenancy.py`, beside the rule for
a domain inside another customer's: exit 2, at the second claim in name order, naming
the first); this check repeats the rule on the validated catalog, so that the reports
show the guarantee. The second claim (in name order) is reported, at the line of the
domain.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

from compiler.catalog import Catalog, dns_key
from compiler.check.builtins.base import Builtin
from compiler.check.findings import Finding


def check(catalog: Catalog, today: datetime.date) -> Iterator[Finding]:
    owners: dict[str, str] = {}
    for name in sorted(catalog.customers):
        for index, domain in enumerate(catalog.customers[name].domains):
            first = owners.setdefault(dns_key(domain), name)
            if first != name:
                yield BUILTIN.finding(
                    f"domain {domain} of customer {name} already belongs to customer {first}",
                    catalog.source("customer", name).locate("domains", index),
                    customer=name,
                    key=dns_key(domain),
                )


BUILTIN = Builtin(
    "domain-unique",
    "Customer domains are unique",
    "high",
    "each domain belongs to one customer; remove it from all but one",
    "catalog",
    check,
    __doc__,
)
