"""Render Kubernetes objects: one resolved instance in, plain object dicts out. No I/O.

Every pod gets the secure defaults whatever the catalog says (non-root, read-only root
filesystem, no privilege escalation, all capabilities dropped, seccomp RuntimeDefault,
no service-account token); the catalog can only change them through an explicit patch,
which the policy checker re-examines after patching.
"""

from __future__ import annotations

import functools
import hashlib
import re
from typing import Any

from compiler.catalog import (
    CONFIG_VOLUME,
    HASH_ANNOTATION,
    Cluster,
    Customer,
    Environment,
    Instance,
    Plan,
    RenderedFile,
    Service,
    ServicePort,
    Settings,
    WritablePath,
    config_map_name,
    files_hash,
    ingress_controller,
    port_spec,
    rendered_files,
    secret_name,
    store_kind,
)
from compiler.render.ingress import ingress_objects, route_objects

MANAGED_BY = "gitopsc"
CUSTOMER_LABEL = "gitopsc.dev/customer"  # on every object of a customer, and its namespaces
RUN_AS = 10001  # a high UID: never a host user, never root
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


def _meta(instance: Instance, name: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": instance.namespace,
        "labels": {**labels(instance), **(extra or {})},
    }


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
    objects.append(_workload(instance, service, suspended, cluster, files))
    if settings.ports:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": _meta(instance, service.name),
                "spec": {
                    "type": "ClusterIP",
                    "selector": selector(instance),
                    "ports": [
                        {
                            "name": name,
                            "port": spec.port,
                            "targetPort": name,
                            "protocol": spec.protocol,
                        }
                        for name, spec in _ports(settings)
                    ],
                },
            }
        )
    objects += _exposed(instance, service, env, cluster)
    if settings.ingress:
        meta = functools.partial(_meta, instance)
        if cluster.flavour == "openshift":
            objects += route_objects(instance, service, env, meta)
        else:
            class_name = ingress_controller(env, cluster).class_name
            objects += ingress_objects(instance, service, env, meta, class_name)
    replicas = _replicas(settings, suspended)
    if not suspended and (
        replicas > 1 or (settings.autoscaling and settings.autoscaling.min_replicas > 1)
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


def _ports(settings: Settings) -> list[tuple[str, ServicePort]]:
    """The named ports, each with its number and protocol (`http: 8008` is TCP)."""
    return [(name, port_spec(value)) for name, value in sorted((settings.ports or {}).items())]


def _replicas(settings: Settings, suspended: bool) -> int:
    if suspended:
        return 0
    if settings.autoscaling:
        return settings.autoscaling.min_replicas
    return 1 if settings.replicas is None else settings.replicas


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


def _workload(
    instance: Instance,
    service: Service,
    suspended: bool,
    cluster: Cluster,
    files: list[RenderedFile],
) -> dict[str, Any]:
    settings = instance.settings
    spec: dict[str, Any] = {"selector": {"matchLabels": selector(instance)}}
    if not settings.autoscaling or suspended:
        spec["replicas"] = _replicas(settings, suspended)
    if service.workload == "StatefulSet":
        spec["serviceName"] = service.name
    metadata: dict[str, Any] = {"labels": labels(instance)}
    if files:
        metadata["annotations"] = {HASH_ANNOTATION: files_hash(files)}
    spec["template"] = {"metadata": metadata, "spec": _pod(instance, service, cluster, files)}
    if settings.storage and service.workload == "StatefulSet":
        claim_spec: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": settings.storage.size}},
        }
        if settings.storage.storage_class:
            claim_spec["storageClassName"] = settings.storage.storage_class
        spec["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": claim_spec}]
    return {
        "apiVersion": "apps/v1",
        "kind": service.workload,
        "metadata": _meta(instance, service.name),
        "spec": spec,
    }


def identity(settings: Settings, cluster: Cluster) -> dict[str, int]:
    """runAsUser, runAsGroup and fsGroup of the pods, or none where the platform assigns
    them (`run_as.assigned_by_platform`, and always on OpenShift, whose restricted-v2
    SCC refuses IDs outside the namespace's range). Unset: 10001 for all three; a group
    defaults to the user, the fsGroup to the group."""
    run_as = settings.run_as
    if cluster.flavour == "openshift" or (run_as and run_as.assigned_by_platform):
        return {}
    user = run_as.user if run_as and run_as.user is not None else RUN_AS
    group = run_as.group if run_as and run_as.group is not None else user
    fs_group = run_as.fs_group if run_as and run_as.fs_group is not None else group
    return {"runAsUser": user, "runAsGroup": group, "fsGroup": fs_group}


def writable_volume(path: str) -> str:
    """The emptyDir volume's name for a writable path: readable, a DNS label, unique
    (a digest of the path when the readable part could collide or is too long)."""
    slug = _NON_DNS.sub("-", path.lower()).strip("-")
    digest = hashlib.sha256(path.encode()).hexdigest()[:8]
    return f"w-{slug[:45].strip('-')}-{digest}"


def _pod(
    instance: Instance, service: Service, cluster: Cluster, files: list[RenderedFile]
) -> dict[str, Any]:
    settings = instance.settings
    ids = identity(settings, cluster)
    container: dict[str, Any] = {
        "name": service.name,
        "image": settings.image,
        "imagePullPolicy": "Always",
    }
    if settings.ports:
        container["ports"] = [
            {"name": name, "containerPort": spec.port, "protocol": spec.protocol}
            for name, spec in _ports(settings)
        ]
    if settings.config:
        container["envFrom"] = [{"configMapRef": {"name": service.name}}]
    if settings.secrets:
        container["env"] = [
            {
                "name": variable,
                "valueFrom": {
                    "secretKeyRef": {"name": secret_name(service.name, variable), "key": variable}
                },
            }
            for variable in sorted(settings.secrets)
        ]
    resources = settings.resources.model_dump(exclude_none=True) if settings.resources else {}
    container["resources"] = {kind: amounts for kind, amounts in resources.items() if amounts}
    for kind in ("liveness", "readiness", "startup"):
        probe = getattr(settings.probes, kind, None) if settings.probes else None
        if probe is not None:
            action = (
                {"httpGet": {"path": probe.path, "port": probe.port}}
                if probe.type == "http"
                else {"tcpSocket": {"port": probe.port}}
            )
            container[f"{kind}Probe"] = {
                **action,
                "initialDelaySeconds": probe.initial_delay_seconds,
                "periodSeconds": probe.period_seconds,
            }
    container["securityContext"] = {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        **{k: v for k, v in ids.items() if k != "fsGroup"},
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    mounts = [{"name": "tmp", "mountPath": "/tmp"}]
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    for path, writable in sorted((settings.writable_paths or {}).items()):
        if path == "/tmp":  # always there; a size limit or medium applies to it
            volumes[0]["emptyDir"] = _empty_dir(writable)
            continue
        name = writable_volume(path)
        mounts.append({"name": name, "mountPath": path})
        volumes.append({"name": name, "emptyDir": _empty_dir(writable)})
    if settings.storage and service.workload == "StatefulSet":
        data = {"name": "data", "mountPath": settings.storage.mount_path}
        if settings.storage.sub_path:
            data["subPath"] = settings.storage.sub_path
        mounts.append(data)
    if any(not f.secrets for f in files):
        volumes.append(
            {"name": CONFIG_VOLUME, "configMap": {"name": config_map_name(service.name)}}
        )
    volumes += [{"name": f.volume, "secret": {"secretName": f.name}} for f in files if f.secrets]
    mounts += [
        {
            "name": f.volume or CONFIG_VOLUME,
            "mountPath": f.path,
            "subPath": f.key,
            "readOnly": True,
        }
        for f in files
    ]
    container["volumeMounts"] = mounts
    return {
        "serviceAccountName": service.name,
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            **ids,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": volumes,
    }


def _empty_dir(writable: WritablePath) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if writable.medium:
        spec["medium"] = writable.medium
    if writable.size_limit:
        spec["sizeLimit"] = writable.size_limit
    return spec


def _exposed(
    instance: Instance, service: Service, env: Environment, cluster: Cluster
) -> list[dict[str, Any]]:
    """A Service per exposure type (`expose`) beside the ClusterIP one: LoadBalancer with
    the cluster's (else the environment's) annotations, NodePort with its node ports;
    both keep the client's address, which the NetworkPolicy admits."""
    settings = instance.settings
    by_type: dict[str, list[str]] = {}
    for port, exposure in sorted((settings.expose or {}).items()):
        by_type.setdefault(exposure.type, []).append(port)
    declared = dict(_ports(settings))
    objects = []
    for kind, names in sorted(by_type.items()):
        meta = _meta(instance, f"{service.name}-{kind.lower()}")
        annotations = (
            cluster.load_balancer_annotations
            if cluster.load_balancer_annotations is not None
            else env.load_balancer_annotations
        )
        if kind == "LoadBalancer" and annotations:
            meta["annotations"] = dict(sorted(annotations.items()))
        ports = []
        for name in names:
            entry: dict[str, Any] = {
                "name": name,
                "port": declared[name].port,
                "targetPort": name,
                "protocol": declared[name].protocol,
            }
            node_port = settings.expose[name].node_port  # type: ignore[index]
            if node_port is not None:
                entry["nodePort"] = node_port
            ports.append(entry)
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": meta,
                "spec": {
                    "type": kind,
                    "externalTrafficPolicy": "Local",
                    "selector": selector(instance),
                    "ports": ports,
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
