"""Every customer namespace has a NetworkPolicy selecting all pods that restricts
ingress (default deny).

NetworkPolicies only ever add isolation: without one that selects every pod of the
namespace, any pod in the cluster, another customer's included, can reach the
customer's pods. Judged per cluster, on the rendered objects, after patches.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from compiler.check.builtins.base import Builtin, EnvironmentInput
from compiler.check.findings import Finding
from compiler.render import CUSTOMER_LABEL


def check(run: EnvironmentInput) -> Iterator[Finding]:
    catalog = run.catalog
    namespaces: dict[tuple[str, str], tuple[str, str]] = {}  # (cluster, ns) -> customer, path
    isolated: set[tuple[str, str]] = set()
    for file in run.files:
        data = file.data
        parts = file.path.split("/")
        if not isinstance(data, dict) or len(parts) < 4 or parts[1] != "kubernetes":
            continue
        metadata = data.get("metadata") or {}
        if data.get("kind") == "Namespace" and data.get("apiVersion") == "v1":
            customer = (metadata.get("labels") or {}).get(CUSTOMER_LABEL)
            if customer in catalog.customers:
                namespaces[(parts[2], metadata.get("name"))] = (customer, file.path)
        elif data.get("kind") == "NetworkPolicy" and _isolates_ingress(data.get("spec") or {}):
            isolated.add((parts[2], metadata.get("namespace")))
    for (cluster, namespace), (customer, path) in sorted(namespaces.items()):
        if (cluster, namespace) not in isolated:
            yield BUILTIN.finding(
                f"{path}: customer namespace {namespace} on cluster {cluster} has no "
                "NetworkPolicy that restricts ingress to all of its pods",
                catalog.source("customer", customer).locate(),
                environment=run.env,
                customer=customer,
                rendered=path,
                key=f"{cluster}/{namespace}",
            )


def _isolates_ingress(spec: Mapping[str, Any]) -> bool:
    """podSelector {} (every pod) and Ingress among the policy types (stated, or
    implied: policyTypes defaults to Ingress)."""
    return spec.get("podSelector") == {} and "Ingress" in spec.get("policyTypes", ["Ingress"])


BUILTIN = Builtin(
    "namespace-network-policy",
    "Every customer namespace denies traffic by default",
    "high",
    "keep the default-deny NetworkPolicy gitopsc renders into each customer "
    "namespace (podSelector {} with Ingress in policyTypes)",
    "environment",
    check,
    __doc__,
)
