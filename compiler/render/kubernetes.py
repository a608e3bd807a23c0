"""Render Kubernetes objects: one resolved instance in, plain object dicts out. No I/O.

An instance gets its ServiceAccount, ConfigMap, ExternalSecrets and workload (of the
service's kind, with its pods: workloads.py), then what the kind serves with: a Service
for the named ports (not for a Job or CronJob, whose pods serve nothing; node-local for
a DaemonSet), an Ingress and its Certificate, and for the scaled kinds (Deployment,
StatefulSet) a PodDisruptionBudget and a HorizontalPodAutoscaler. Each namespace gets
itself, default-deny, DNS, quota and limits (`namespace_objects`).
"""

from __future__ import annotations

import functools
from typing import Any

from compiler.catalog import (
    RUN_TO_COMPLETION,
    SCALED,
    Cluster,
    Customer,
    Environment,
    Instance,
    Plan,
    RenderedFile,
    Service,
    ServicePort,
    config_map_name,
    ingress_controller,
    rendered_files,
    store_kind,
)
from compiler.render.ingress import ingress_objects, route_objects
from compiler.render.meta import (
    CUSTOMER_LABEL,
    MANAGED_BY,
    object_meta,
    secret_name,
    selector,
)
from compiler.render.retention import KEEP_ANNOTATION
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
    files = rendered_files(settings, service.name)
    plain = sorted((f for f in files if not f.secrets), key=lambda f: f.key)
    if plain:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": _meta(instance, config_map_name(service.name)),
                "data": {f.key: f.text for f in plain},
            }
        )
    objects += [_file_secret(instance, env, f) for f in files if f.secrets]
    objects.append(workload(instance, service, suspended, cluster, files))
    if settings.ports and service.workload not in RUN_TO_COMPLETION:
        objects.append(_service(instance, service))
    objects += _exposed(instance, service, env, cluster)
    if settings.ingress:
        meta = functools.partial(_meta, instance)
        if cluster.flavour == "openshift":
            objects += route_objects(instance, service, env, meta)
        else:
            class_name = ingress_controller(env, cluster).class_name
            objects += ingress_objects(instance, service, env, meta, class_name)
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


def _file_secret(instance: Instance, env: Environment, file: RenderedFile) -> dict[str, Any]:
    """A file with secrets: an ExternalSecret whose template (engine v2) writes the file
    into its Secret, ESO filling in the secrets it reads; only that key (Replace)."""
    store_name = next((ref.store for _, ref in file.secrets if ref.store), None)
    store_name = store_name or env.secret_store.name
    data = []
    for variable, ref in file.secrets:
        remote: dict[str, Any] = {"key": ref.key}
        if ref.property:
            remote["property"] = ref.property
        data.append({"secretKey": variable, "remoteRef": remote})
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": _meta(instance, file.name),
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"name": store_name, "kind": store_kind(env, store_name)},
            "target": {
                "name": file.name,
                "creationPolicy": "Owner",
                "template": {
                    "engineVersion": "v2",
                    "mergePolicy": "Replace",
                    "data": {file.key: file.text},
                },
            },
            "data": data,
        },
    }


def exposed_services(
    instance: Instance,
) -> dict[str, tuple[str, list[tuple[str, ServicePort, int | None]]]]:
    """The Services `expose` renders, by name: (type, [(port name, the port the Service
    publishes, nodePort)]). One per type, and per protocol where a type has several
    (`<svc>-loadbalancer-udp`): many cloud load balancers take one protocol per Service.
    tenant-scope holds the rendered Services to this."""
    settings = instance.settings
    declared = dict(ports(settings))
    grouped: dict[tuple[str, str], list[tuple[str, ServicePort, int | None]]] = {}
    for name, exposure in sorted((settings.expose or {}).items()):
        if name in declared:  # published on `port` where it says one (targetPort: name)
            published = declared[name].model_copy(
                update={"port": exposure.port or declared[name].port}
            )
            key = (exposure.type, published.protocol)
            grouped.setdefault(key, []).append((name, published, exposure.node_port))
    found = {}
    for (kind, protocol), entries in sorted(grouped.items()):
        several = sum(1 for other, _ in grouped if other == kind) > 1
        suffix = f"-{protocol.lower()}" if several else ""
        found[f"{instance.service}-{kind.lower()}{suffix}"] = (kind, entries)
    return found


def _exposed(
    instance: Instance, service: Service, env: Environment, cluster: Cluster
) -> list[dict[str, Any]]:
    """The Services of `expose` beside the ClusterIP one (`exposed_services`):
    LoadBalancer with the cluster's (else the environment's) annotations, NodePort with
    its node ports; both keep the client's address, which the NetworkPolicy admits."""
    annotations = (
        cluster.load_balancer_annotations
        if cluster.load_balancer_annotations is not None
        else env.load_balancer_annotations
    )
    objects = []
    for name, (kind, entries) in exposed_services(instance).items():
        meta = _meta(instance, name)
        if kind == "LoadBalancer" and annotations:
            meta["annotations"] = dict(sorted(annotations.items()))
        rendered = []
        for port_name, port, node_port in entries:
            entry: dict[str, Any] = {
                "name": port_name,
                "port": port.port,
                "targetPort": port_name,
                "protocol": port.protocol,
            }
            if node_port is not None:
                entry["nodePort"] = node_port
            rendered.append(entry)
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": meta,
                "spec": {
                    "type": kind,
                    "externalTrafficPolicy": "Local",
                    "selector": selector(instance),
                    "ports": rendered,
                },
            }
        )
    return objects


# what each cluster flavour renders something else for: an instance's ingress is a
# Route on OpenShift, an Ingress and a Certificate elsewhere
NOT_RENDERED = {
    "kubernetes": frozenset({"Route"}),
    "openshift": frozenset({"Ingress", "Certificate"}),
}


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
            # kept when the customer leaves the cluster: pruning it would delete its
            # volume claims (retention.py)
            "metadata": {
                "name": namespace,
                "labels": dict(meta_labels),
                "annotations": dict(KEEP_ANNOTATION),
            },
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
