"""Names and labels of rendered objects: what every object of an instance carries, and
how the names of its objects are made. Shared by the object renderers (kubernetes.py,
workloads.py, network.py); no I/O.
"""

from __future__ import annotations

import re
from typing import Any

from compiler.catalog import Instance

MANAGED_BY = "gitopsc"
CUSTOMER_LABEL = "gitopsc.dev/customer"  # on every object of a customer, and its namespaces
_NON_DNS = re.compile(r"[^a-z0-9-]+")


def labels(instance: Instance) -> dict[str, str]:
    """The standard labels of every object of an instance."""
    result = {
        "app.kubernetes.io/name": instance.service,
        "app.kubernetes.io/instance": instance_name(instance),
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "gitopsc.dev/environment": instance.environment,
    }
    if instance.customer:
        result[CUSTOMER_LABEL] = instance.customer
    return result


def selector(instance: Instance) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": instance.service,
        "app.kubernetes.io/instance": instance_name(instance),
    }


def instance_name(instance: Instance) -> str:
    return f"{instance.customer}-{instance.service}" if instance.customer else instance.service


def secret_name(service: str, variable: str) -> str:
    """The Secret (and ExternalSecret) that carries one secret reference."""
    return f"{service}-{dns_part(variable)}"


def dns_part(text: str) -> str:
    """`text` as part of a DNS name: lower case, runs of other characters as one '-'."""
    return _NON_DNS.sub("-", text.lower()).strip("-")


def object_meta(
    instance: Instance, name: str, extra: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": instance.namespace,
        "labels": {**labels(instance), **(extra or {})},
    }
