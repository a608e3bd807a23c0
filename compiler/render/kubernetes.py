"""Render Kubernetes objects: one resolved instance in, plain object dicts out. No I/O.

An instance gets its ServiceAccount, ConfigMap, ExternalSecrets and workload (of the
service's kind, with its pods: workloads.py), then what the kind serves with: a Service
for the named ports (not for a Job or CronJob, whose pods serve nothing; node-local for
a DaemonSet), an Ingress and its Certificate, and for the scaled kinds (Deployment,
StatefulSet) a PodDisruptionBudget and a HorizontalPodAutoscaler. Each namespace gets
itself, default-deny, DNS, quota and limits (`namespace_objects`).
"""

from __future__ import annotations

from typing import Any

from compiler.catalog import (
    RUN_TO_COMPLETION,
    SCALED,
    Cluster,
    Customer,
    Environment,
    Instance,
    Plan,
    Service,
    store_kind,
)
from compiler.render.meta import (
    CUSTOMER_LABEL,
    MANAGED_BY,
    object_meta,
    secret_name,
    selector,
)
from compiler.render.workloads import ports, replicas, workload

_meta = object_meta


def workload_objects(
    instance: Instance,
    service: Service,
    env: Environment,
    customer: Customer | None,
    cluster: Cluster | None = None,
) -> list[dict[str, Any]]:
    """Every object of one kubernetes instance on `cluster` (its flavour decides the
    pods' identity; default: the instance's first cluster), in a fixed order."""
    if cluster is None:
        cluster = next(c for c in env.clusters if c.name in instance.clusters)
    settings = instance.settings
    suspended = customer is not None and customer.status == "suspended"
    objects = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(instance, service.name),
            "automountServiceAccountToken": False,
        },
    ]
    if settings.config:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": _meta(instance, service.name),
                "data": {key: _text(settings.config[key]) for key in sorted(settings.config)},
            }
        )
    for variable in sorted(settings.secrets or {}):
        objects.append(_external_secret(instance, service, env, variable))
    objects.append(workload(instance, service, suspended, cluster))
    if settings.ports and service.workload not in RUN_TO_COMPLETION:
        objects.append(_service(instance, service))
    if settings.ingress:
        objects += _ingress(instance, service, env)
    if service.workload not in SCALED:  # no replicas: nothing to keep available or scale
        return objects
    count = replicas(settings, suspended)
    if not suspended and (
        count > 1 or (settings.autoscaling and settings.autoscaling.min_replicas > 1)
    ):
        objects.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": _meta(instance, service.name),
                "spec": {"minAvailable": 1, "selector": {"matchLabels": selector(instance)}},
            }
        )
    if settings.autoscaling and not suspended:
        scaling = settings.autoscaling
        objects.append(
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": _meta(instance, service.name),
                "spec": {
                    "scaleTargetRef": {
                        "apiVersion": "apps/v1",
                        "kind": service.workload,
                        "name": service.name,
                    },
                    "minReplicas": scaling.min_replicas,
                    "maxReplicas": scaling.max_replicas,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {
                                    "type": "Utilization",
                                    "averageUtilization": scaling.target_cpu_percent,
                                },
                            },
                        }
                    ],
                },
            }
        )
    return objects


def _service(instance: Instance, service: Service) -> dict[str, Any]:
    """The Service for the named ports. A DaemonSet's keeps traffic from a pod on its own
    node (`internalTrafficPolicy: Local`): that is what a pod on every node is for (a
    node-local agent); a node whose agent is not ready gets no fallback elsewhere."""
    spec: dict[str, Any] = {"type": "ClusterIP", "selector": selector(instance)}
    if service.workload == "DaemonSet":
        spec["internalTrafficPolicy"] = "Local"
    spec["ports"] = [
        {"name": name, "port": port.port, "targetPort": name, "protocol": port.protocol}
        for name, port in ports(instance.settings)
    ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(instance, service.name),
        "spec": spec,
    }


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _external_secret(
    instance: Instance, service: Service, env: Environment, variable: str
) -> dict[str, Any]:
    ref = instance.settings.secrets[variable]
    remote: dict[str, Any] = {"key": ref.key}
    if ref.property:
        remote["property"] = ref.property
    name = secret_name(service.name, variable)
    store_name = ref.store or env.secret_store.name
    store = {"name": store_name, "kind": store_kind(env, store_name)}
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": _meta(instance, name),
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": store,
            "target": {"name": name, "creationPolicy": "Owner"},
            "data": [{"secretKey": variable, "remoteRef": remote}],
        },
    }


def _ingress(instance: Instance, service: Service, env: Environment) -> list[dict[str, Any]]:
    ingress = instance.settings.ingress
    spec: dict[str, Any] = {"ingressClassName": env.ingress_controller.class_name}
    tls_secret = f"{service.name}-tls"
    if ingress.tls:
        spec["tls"] = [{"hosts": [ingress.host], "secretName": tls_secret}]
    spec["rules"] = [
        {
            "host": ingress.host,
            "http": {
                "paths": [
                    {
                        "path": ingress.path,
                        "pathType": "Prefix",
                        "backend": {
                            "service": {"name": service.name, "port": {"name": ingress.port}}
                        },
                    }
                ]
            },
        }
    ]
    objects = [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": _meta(instance, service.name),
            "spec": spec,
        }
    ]
    if ingress.tls:
        objects.append(
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "Certificate",
                "metadata": _meta(instance, tls_secret),
                "spec": {
                    "secretName": tls_secret,
                    "dnsNames": [ingress.host],
                    "issuerRef": {
                        "name": env.tls.issuer,
                        "kind": env.tls.issuer_kind,
                        "group": "cert-manager.io",
                    },
                },
            }
        )
    return objects


def namespace_objects(
    env: Environment, namespace: str, customer: Customer | None, plan: Plan | None
) -> list[dict[str, Any]]:
    """What every namespace gets once per cluster: itself, default-deny, quota and limits."""
    meta_labels = {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "gitopsc.dev/environment": env.name,
        "pod-security.kubernetes.io/enforce": "restricted",
    }
    if customer is not None:
        meta_labels[CUSTOMER_LABEL] = customer.name

    def meta(name: str) -> dict[str, Any]:
        return {"name": name, "namespace": namespace, "labels": dict(meta_labels)}

    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": dict(meta_labels)},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta("default-deny"),
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta("allow-dns"),
            "spec": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                                }
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
        },
    ]
    if plan is not None:
        hard = {
            "requests.cpu": plan.quota.cpu,
            "requests.memory": plan.quota.memory,
            "limits.cpu": plan.quota.cpu,
            "limits.memory": plan.quota.memory,
            "pods": str(plan.quota.pods),
        }
        if plan.quota.storage:
            hard["requests.storage"] = plan.quota.storage
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": meta("quota"),
                "spec": {"hard": hard},
            }
        )
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "LimitRange",
                "metadata": meta("limits"),
                "spec": {
                    "limits": [
                        {
                            "type": "Container",
                            "default": {"cpu": "500m", "memory": "512Mi"},
                            "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
                            "max": {"cpu": plan.quota.cpu, "memory": plan.quota.memory},
                        }
                    ]
                },
            }
        )
    return objects
