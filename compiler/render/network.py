"""NetworkPolicies from declared reachability: one policy per purpose, on top of each
namespace's default-deny and DNS (kubernetes.namespace_objects).

Each `Connection` the catalog declares (catalog/reachability.py) becomes a rule on each
side that has pods of ours: an egress rule in the source's policy, an ingress rule in
the destination's. The rules of one instance are grouped by purpose, one policy each,
named `<service>-<purpose>` (`synapse-to-postgres`, `synapse-from-element-web`,
`synapse-from-ingress-controller`, `synapse-to-database`, `synapse-to-internet`,
`synapse-egress-smtp`, `synapse-ingress-scrape`), so that `kubectl get netpol` and
`kubectl describe` read as the catalog does. Nothing else is open: a connection that is
not declared is one that fails.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from compiler.catalog import (
    Addresses,
    Catalog,
    Connection,
    End,
    Environment,
    Instance,
    PathPort,
    Pods,
)
from compiler.render.kubernetes import namespace_objects
from compiler.render.meta import labels

Side = tuple[str, Connection]  # "egress" or "ingress", and the connection


def sides_by_instance(connections: Iterable[Connection]) -> dict[str, list[Side]]:
    """For each instance id, the connections it carries a rule for, with the side."""
    found: dict[str, list[Side]] = {}
    for connection in connections:
        for direction, end, purpose in (
            ("egress", connection.source, connection.purposes[0]),
            ("ingress", connection.destination, connection.purposes[1]),
        ):
            if purpose is not None and isinstance(end, Pods) and end.instance is not None:
                found.setdefault(end.instance.id, []).append((direction, connection))
    return found


def policies(instance: Instance, cluster: str, sides: Iterable[Side]) -> list[dict[str, Any]]:
    """The instance's NetworkPolicies on `cluster`, one per purpose, sorted by name."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for direction, connection in sides:
        if connection.cluster not in (None, cluster):
            continue
        if direction == "egress":
            purpose, peer = connection.purposes[0], connection.destination
        else:
            purpose, peer = connection.purposes[1], connection.source
        assert purpose is not None
        if isinstance(peer, Pods) and peer.instance and cluster not in peer.instance.clusters:
            continue  # a dependent on another cluster: no pod of it here to admit
        peers = _peers(peer, instance.namespace)
        if not peers:  # never an empty `to`/`from`: Kubernetes reads it as everyone
            continue
        rule: dict[str, Any] = {"to" if direction == "egress" else "from": peers}
        if connection.ports:
            rule["ports"] = [_port(p, connection.destination) for p in connection.ports]
        rules = grouped.setdefault((purpose, direction), [])
        same_ports = next((r for r in rules if r.get("ports") == rule.get("ports")), None)
        peers_key = "to" if direction == "egress" else "from"
        if same_ports is None:
            rules.append(rule)
        else:  # one rule with every peer: dependents of a shared service in many namespaces
            same_ports[peers_key] += [p for p in rule[peers_key] if p not in same_ports[peers_key]]
    return [
        _policy(instance, purpose, direction, rules)
        for (purpose, direction), rules in sorted(grouped.items())
    ]


def _policy(
    instance: Instance, purpose: str, direction: str, rules: list[dict[str, Any]]
) -> dict[str, Any]:
    kind = "Egress" if direction == "egress" else "Ingress"
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": f"{instance.service}-{purpose}",
            "namespace": instance.namespace,
            "labels": labels(instance),
        },
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": instance.service}},
            "policyTypes": [kind],
            direction: rules,
        },
    }


def _peers(end: End, own_namespace: str | None) -> list[dict[str, Any]]:
    """`from`/`to` entries for one end: its pods (across namespaces when needed), or an
    ipBlock per address range."""
    if isinstance(end, Addresses):
        peers = []
        for cidr in end.cidrs:
            block = ipaddress.ip_network(cidr)
            inside = [
                e
                for e in end.excepted
                if (n := ipaddress.ip_network(e)).version == block.version
                and n != block
                and n.subnet_of(block)  # type: ignore[arg-type]
            ]
            peers.append({"ipBlock": {"cidr": cidr, **({"except": inside} if inside else {})}})
        return peers
    peer: dict[str, Any] = {}
    if end.labels:
        peer["podSelector"] = {"matchLabels": dict(end.labels)}
    if end.namespace != own_namespace:
        peer["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": end.namespace}}
    elif not end.labels:
        peer["podSelector"] = {}
    return [peer]


def _port(port: PathPort, destination: End) -> dict[str, Any]:
    """A port by name when the destination is an instance's pods (what its containers
    call it, so a renumbered port stays open), else by number (and range)."""
    if port.name and isinstance(destination, Pods) and destination.instance is not None:
        return {"protocol": port.protocol, "port": port.name}
    entry: dict[str, Any] = {"protocol": port.protocol, "port": port.number}
    if port.end is not None and port.end != port.number:
        entry["endPort"] = port.end
    return entry


def derived_network_policies(
    catalog: Catalog,
    env: Environment,
    instances: Sequence[Instance],
    connections: Iterable[Connection],
    cluster: str,
) -> dict[str, list[dict[str, Any]]]:
    """Every NetworkPolicy gitopsc derives for `cluster`, by namespace, before patches and
    extra resources: the namespace's own (default-deny, DNS) and each instance's. What
    the `declared-egress` check holds the rendered policies to."""
    sides = sides_by_instance(connections)
    found: dict[str, list[dict[str, Any]]] = {}
    for instance in instances:
        if cluster in instance.clusters and instance.namespace is not None:
            found.setdefault(instance.namespace, []).extend(
                policies(instance, cluster, sides.get(instance.id, ()))
            )
    for namespace, derived in found.items():
        customer = catalog.customers.get(namespace)
        plan = catalog.plans.get(customer.plan) if customer else None
        derived += [
            obj
            for obj in namespace_objects(env, namespace, customer, plan)
            if obj["kind"] == "NetworkPolicy"
        ]
    return found
