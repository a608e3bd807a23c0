"""`Customer`: one file in catalog/customers/, and where it is deployed per environment.

Also the names a customer cannot take (`RESERVED_NAMES` and `reserved_because`, checked
by validate.py, since a customer name becomes a namespace). Separate so that each kind
of catalog file has its own module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field, field_validator

from compiler.catalog.models.environment import Environment, Host, ingress_controller
from compiler.catalog.models.fields import (
    DnsName,
    IsoDate,
    Name,
    NullDict,
    NullList,
    Residency,
    Strict,
)
from compiler.catalog.models.identity import Sso
from compiler.catalog.models.settings import Layer
from compiler.catalog.models.windows import CustomerSyncWindow

# Namespaces that platforms commonly run operators and controllers in. A customer named
# like one would be deployed into it, beside the operator: its own Role could read the
# operator's secrets, its Services and NetworkPolicies would sit among the operator's,
# and the NetworkPolicies of every other customer trust the ingress controller's
# namespace. Not every platform runs all of these; a name on the list is reserved anyway,
# so that installing the operator later cannot put it in a customer's namespace.
OPERATOR_NAMESPACES = (
    "calico-apiserver",
    "calico-system",
    "cattle-system",
    "cert-manager",
    "cilium",
    "cilium-secrets",
    "crossplane-system",
    "external-dns",
    "external-secrets",
    "flux-system",
    "gatekeeper-system",
    "ingress-nginx",
    "istio-system",
    "keda",
    "knative-eventing",
    "knative-serving",
    "kubernetes-dashboard",
    "kyverno",
    "linkerd",
    "linkerd-viz",
    "local-path-storage",
    "logging",
    "longhorn-system",
    "metallb-system",
    "monitoring",
    "nginx-ingress",
    "rook-ceph",
    "tigera-operator",
    "traefik",
    "vault",
    "velero",
)

# The names a customer cannot take, and why: `kube-*` stands for every name that starts
# with `kube-` (Kubernetes keeps them all, not only the three it has today).
RESERVED_NAMES: Mapping[str, str] = {
    "default": "the default namespace of Kubernetes",
    "kube-*": "a Kubernetes system namespace (kube-*)",
    "openshift": "an OpenShift system namespace",
    "openshift-*": "an OpenShift system namespace (openshift-*)",
    "platform": "the namespace of the environment-wide services",
    "argocd": "the default namespace of ArgoCD",
    # per-customer granularity names a customer's Application after it, beside this one
    "namespaces": "the name of the ArgoCD Application of a cluster's namespaces",
    **dict.fromkeys(OPERATOR_NAMESPACES, "a namespace platforms run an operator in"),
}


def _reserved(name: str, pattern: str) -> bool:
    """`name` is `pattern`, or starts with what comes before its trailing `*`."""
    return name.startswith(pattern[:-1]) if pattern.endswith("*") else name == pattern


def reserved_because(name: str, environments: Mapping[str, Environment]) -> str | None:
    """Why a customer cannot be called `name`, or None. A customer's name is its namespace
    in every cluster it is placed on, so beside the built-in `RESERVED_NAMES` it may not
    be a namespace that any environment's own components run in (its ingress controller,
    ArgoCD) or that the environment reserves (`reserved_namespaces`): in all environments,
    since a customer may be placed in another one later."""
    found: dict[str, list[str]] = {}  # why -> environments
    for env_name, env in sorted(environments.items()):
        controllers = {env.ingress_controller.namespace} | {
            ingress_controller(env, cluster).namespace for cluster in env.clusters
        }
        if name in controllers:
            found.setdefault("the namespace of the ingress controller", []).append(env_name)
        if name in env.platform_namespaces:
            found.setdefault("one of the platform_namespaces", []).append(env_name)
        if name == env.argocd.namespace:
            found.setdefault("the namespace of ArgoCD", []).append(env_name)
        if env.identity is not None and name == env.identity.namespace:
            # its instances would run beside Keycloak, reading every realm's client secrets
            found.setdefault("the namespace of Keycloak (identity)", []).append(env_name)
        for pattern in env.reserved_namespaces:
            if _reserved(name, pattern):
                why = f"one of the reserved_namespaces ('{pattern}')"
                found.setdefault(why, []).append(env_name)
    if found:
        why, env_names = next(iter(found.items()))
        return f"{why} in environment {', '.join(env_names)}"
    return next((why for pattern, why in RESERVED_NAMES.items() if _reserved(name, pattern)), None)


class CustomerEnvironment(Strict):
    """Where a customer is deployed in one environment, and what it has enabled there."""

    cluster: Name | None = None
    services: Annotated[dict[Name, Layer | None], NullDict] = {}
    hosts: Annotated[list[Host], NullList] = []
    # maintenance windows in this environment only, besides the customer's own
    sync_windows: Annotated[list[CustomerSyncWindow], NullList] = []


class Customer(Strict):
    name: Name
    display_name: str = ""
    plan: Name
    residency: Residency
    status: Literal["active", "suspended", "offboarding"] = "active"
    offboard_after: IsoDate | None = None
    contact: str = ""
    # the first is `${customer.domain}`; `for_each: domains` publishes a record or an
    # ingress host in each (so each once: a domain twice would be two records with one key)
    domains: Annotated[list[DnsName], Field(min_length=1, max_length=256)]
    services: Annotated[dict[Name, Layer], NullDict] = {}
    environments: Annotated[dict[Name, CustomerEnvironment], NullDict] = {}
    # the customer's maintenance windows: ArgoCD syncs its Applications (in every
    # environment) only as these allow, besides the environment's own windows
    sync_windows: Annotated[list[CustomerSyncWindow], NullList] = []
    # single sign-on: a realm of its own with these clients (models/identity.py)
    sso: Sso | None = None

    @field_validator("domains")
    @classmethod
    def _once(cls, domains: list[str]) -> list[str]:
        seen: set[str] = set()
        for domain in domains:
            if domain in seen:
                raise ValueError(f"domain '{domain}' is listed twice")
            seen.add(domain)
        return domains
