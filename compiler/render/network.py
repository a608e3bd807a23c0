"""Allow-rules on top of each namespace's default-deny, derived from the catalog alone.

An instance may receive traffic from the instances that declare a dependency on it and,
when it has an ingress, from the ingress controller; it may send traffic to its own
dependencies (and to the internet outside private and link-local ranges when
`network.internet_egress` is set). Nothing else: a dependency that is not declared is a
connection that fails.
"""

from __future__ import annotations

from typing import Any

from compiler.catalog import Environment, Instance
from compiler.render.kubernetes import labels
from compiler.render.scope import PRIVATE_RANGES


def _peer(target: Instance, source_namespace: str | None) -> dict[str, Any]:
    """A `from`/`to` entry selecting `target`'s pods, across namespaces when needed."""
    peer: dict[str, Any] = {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": target.service}}
    }
    if target.namespace != source_namespace:
        peer["namespaceSelector"] = {
            "matchLabels": {"kubernetes.io/metadata.name": target.namespace}
        }
    return peer


def allow_policy(
    instance: Instance, env: Environment, dependencies: list[Instance], dependents: list[Instance]
) -> dict[str, Any] | None:
    """The NetworkPolicy that opens exactly the declared paths, or None if there are none."""
    settings = instance.settings
    ports = sorted(settings.ports or {})
    ingress: list[dict[str, Any]] = []
    if dependents and ports:
        ingress.append(
            {
                "from": [_peer(dependent, instance.namespace) for dependent in dependents],
                "ports": [{"protocol": "TCP", "port": name} for name in ports],
            }
        )
    if settings.ingress:
        controller = env.ingress_controller.namespace
        ingress.append(
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": controller}
                        }
                    }
                ],
                "ports": [{"protocol": "TCP", "port": settings.ingress.port}],
            }
        )
    egress: list[dict[str, Any]] = []
    for dependency in dependencies:
        dependency_ports = sorted(dependency.settings.ports or {})
        if dependency_ports:
            egress.append(
                {
                    "to": [_peer(dependency, instance.namespace)],
                    "ports": [{"protocol": "TCP", "port": name} for name in dependency_ports],
                }
            )
    if settings.network and settings.network.internet_egress:
        egress.append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE_RANGES)}}]})
    if not ingress and not egress:
        return None
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": instance.service}},
        "policyTypes": [
            kind for kind, rules in (("Ingress", ingress), ("Egress", egress)) if rules
        ],
    }
    if ingress:
        spec["ingress"] = ingress
    if egress:
        spec["egress"] = egress
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": f"allow-{instance.service}",
            "namespace": instance.namespace,
            "labels": labels(instance),
        },
        "spec": spec,
    }
