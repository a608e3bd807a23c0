"""Every customer namespace has a NetworkPolicy selecting all pods that restricts
ingress (default deny), and no policy in it admits all namespaces or all pods of the
cluster.

NetworkPolicies only ever add isolation: without one that selects every pod of the
namespace, any pod in the cluster, another customer's included, can reach the
customer's pods. And one allow-rule is enough to undo the default deny: a rule with no
`from`/`to`, a `namespaceSelector: {}`, or an ipBlock over the private ranges the pods
live in opens the namespace to every tenant. gitopsc's own rules name their peers
(dependencies by namespace and app, the ingress controller's namespace, the internet
outside private ranges, and private ranges only where the environment declares them:
hosts, `networks`, managed databases), so any such rule came from a patch or an extra
resource.
Judged per cluster, on the rendered objects, after patches.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from compiler.catalog import declared_networks
from compiler.check.builtins.base import (
    Builtin,
    EnvironmentInput,
    about,
    as_list,
    as_mapping,
    producer,
)
from compiler.check.findings import Finding
from compiler.render import CUSTOMER_LABEL, PRIVATE_RANGES, OutputFile


def check(run: EnvironmentInput) -> Iterator[Finding]:
    catalog = run.catalog
    namespaces: dict[tuple[str, str], tuple[str, str]] = {}  # (cluster, ns) -> customer, path
    isolated: set[tuple[str, str]] = set()
    policies: list[tuple[str, OutputFile, Mapping[str, Any]]] = []
    for file in run.files:
        data = file.data
        parts = file.path.split("/")
        if not isinstance(data, dict) or len(parts) < 4 or parts[1] != "kubernetes":
            continue
        metadata = as_mapping(data.get("metadata"))
        if data.get("kind") == "Namespace" and data.get("apiVersion") == "v1":
            customer = as_mapping(metadata.get("labels")).get(CUSTOMER_LABEL)
            if customer in catalog.customers:
                namespaces[(parts[2], metadata.get("name"))] = (customer, file.path)
        elif data.get("kind") == "NetworkPolicy":
            spec = as_mapping(data.get("spec"))
            if _isolates_ingress(spec):
                isolated.add((parts[2], metadata.get("namespace")))
            policies.append((parts[2], file, spec))
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

    env = catalog.environments[run.env]
    declared = declared_networks(catalog, env)
    inside = (
        *_PRIVATE,
        *(ipaddress.ip_network(c) for cluster in env.clusters for c in cluster.internal_networks),
    )
    tenants = {
        (cluster, namespace): customer for (cluster, namespace), (customer, _) in namespaces.items()
    }
    for cluster, file, spec in policies:
        namespace = as_mapping(file.data.get("metadata")).get("namespace")
        customer = tenants.get((cluster, namespace))
        why = _admits_everyone(spec, declared, inside) if customer else None
        if why:
            instance = run.owner(file)
            yield BUILTIN.finding(
                f"{file.path}: NetworkPolicy {file.data['metadata'].get('name')} in customer "
                f"namespace {namespace} {why}",
                producer(run, instance, file)
                if instance
                else catalog.source("customer", customer).locate(),
                rendered=file.path,
                key=f"{cluster}/{namespace}/{file.data['metadata'].get('name')}",
                **(about(instance) if instance else {"environment": run.env, "customer": customer}),
            )


# inside the cluster: what `internet_egress` excludes, and its IPv6 forms (unique-local,
# link-local, IPv4-mapped and NAT64 addresses, which reach IPv4 peers); each environment
# adds its clusters' internal networks (pods on other ranges). Loopback is left out:
# it never leaves the pod, and NetworkPolicies do not apply to it
_PRIVATE = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (*PRIVATE_RANGES, "fc00::/7", "fe80::/10", "::ffff:0:0/96", "64:ff9b::/96")
)


def _admits_everyone(
    spec: Mapping[str, Any], declared: Sequence[Any] = (), inside: Sequence[Any] = _PRIVATE
) -> str | None:
    """Why a policy's rules admit every namespace or every pod of the cluster, or None.
    An ipBlock inside the private ranges is fine when it lies within an address range
    the catalog declares (`declared`: networks, managed databases, hosts)."""
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for rule in map(as_mapping, as_list(spec.get(direction))):
            peers = as_list(rule.get(peers_key))
            if not peers:
                return f"has an {direction} rule without `{peers_key}`: it admits everyone"
            for peer in map(as_mapping, peers):
                why = _peer_is_everyone(peer, declared, inside)
                if why:
                    return f"admits {why} ({direction})"
    return None


def _peer_is_everyone(
    peer: Mapping[str, Any], declared: Sequence[Any] = (), inside: Sequence[Any] = _PRIVATE
) -> str | None:
    selector = peer.get("namespaceSelector")
    if isinstance(selector, dict):
        expressions = list(map(as_mapping, as_list(selector.get("matchExpressions"))))
        if not selector.get("matchLabels") and not expressions:
            return "all namespaces (an empty namespaceSelector)"
        # only `In` names a set of namespaces; Exists, NotIn and DoesNotExist match every
        # namespace that has (or lacks) a label, which can be all of them
        if any(e.get("operator") != "In" for e in expressions):
            return "namespaces by an Exists, NotIn or DoesNotExist expression (all, or nearly)"
        # and only kubernetes.io/metadata.name names them: any other label (managed-by,
        # the Pod Security level) is one that many or all namespaces share
        keys = {*as_mapping(selector.get("matchLabels")), *(e.get("key") for e in expressions)}
        if keys - {"kubernetes.io/metadata.name"}:
            return f"namespaces by a shared label ({', '.join(sorted(map(str, keys)))})"
    block = peer.get("ipBlock")
    if isinstance(block, dict):
        try:
            network = ipaddress.ip_network(str(block.get("cidr")), strict=False)
            excepted = [
                ipaddress.ip_network(str(c), strict=False) for c in as_list(block.get("except"))
            ]
        except ValueError:
            return None  # not an address: the schema check reports it
        if any(d.version == network.version and network.subnet_of(d) for d in declared):
            return None  # a host, network or database range the environment declares
        for private in inside:
            if private.version != network.version or not network.overlaps(private):
                continue
            inside = private if network.supernet_of(private) else network
            if not any(e.version == inside.version and e.supernet_of(inside) for e in excepted):
                return f"{inside}, inside the cluster's or the nodes' ranges (an ipBlock)"
    return None


def _isolates_ingress(spec: Mapping[str, Any]) -> bool:
    """podSelector {} (every pod) and Ingress among the policy types: stated, or, when
    `policyTypes` is missing, null or empty, defaulted as the API server does (Ingress
    always; check/netpol.py implements the whole of it)."""
    types = as_list(spec.get("policyTypes")) or ["Ingress"]
    return spec.get("podSelector") == {} and "Ingress" in types


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
