"""What a tenant's instances may render: the namespaced kinds on the tenant allow-list.

Shared by the ArgoCD renderer (each customer AppProject whitelists the allowed kinds its
Applications actually render, nothing cluster-scoped) and the `tenant-scope` check,
which reports anything outside it with the catalog line that produced it. An environment
extends the list on purpose with `tenant_kinds` (monitoring or OpenShift kinds); the
platform namespace's services may also be DaemonSets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from compiler.catalog import Environment

# (API group, kind): "" is the core group. What gitopsc renders for a workload, and the
# namespaced kinds a workload commonly brings along through the escape hatch. Not here,
# on purpose: DaemonSet (a pod on every node: the platform's alone, PLATFORM_KINDS), bare
# Pod, Endpoints/EndpointSlice (could take over a Service's traffic),
# ResourceQuota/LimitRange (the platform's, per plan).
TENANT_KINDS = frozenset(
    {
        ("", "ConfigMap"),
        ("", "Secret"),  # allowed in scope; `no-secret-objects` says why not to
        ("", "Service"),
        ("", "ServiceAccount"),
        ("", "PersistentVolumeClaim"),
        ("apps", "Deployment"),
        ("apps", "StatefulSet"),
        ("batch", "Job"),
        ("batch", "CronJob"),
        ("autoscaling", "HorizontalPodAutoscaler"),
        ("policy", "PodDisruptionBudget"),
        ("networking.k8s.io", "Ingress"),
        ("networking.k8s.io", "NetworkPolicy"),
        ("rbac.authorization.k8s.io", "Role"),
        ("rbac.authorization.k8s.io", "RoleBinding"),
        ("external-secrets.io", "ExternalSecret"),
        ("cert-manager.io", "Certificate"),
        ("route.openshift.io", "Route"),  # an instance's ingress on an OpenShift cluster
    }
)


# what the platform's (environment-scoped) services may render beyond a customer's: a
# DaemonSet, which only an environment-scoped service may be (catalog/workloads.py)
PLATFORM_KINDS = frozenset({("apps", "DaemonSet")})

# what an environment that declares `monitoring:` renders into each instance's namespace
# (render/monitoring.py): allowed there, as the environment asked for them
MONITORING_KINDS = frozenset(
    {
        ("monitoring.coreos.com", "ServiceMonitor"),
        ("monitoring.coreos.com", "PodMonitor"),
        ("monitoring.coreos.com", "PrometheusRule"),
    }
)

# a blackbox `Probe` reaches any address it names: the platform's project only (the
# probes of VM services, render/monitoring.py), never a customer's
PROBE_KIND = ("monitoring.coreos.com", "Probe")


def allowed_kinds(env: Environment, platform: bool = False) -> frozenset[tuple[str, str]]:
    """The tenant allow-list with what the environment allows on purpose (`tenant_kinds`),
    and for the platform namespace's services (`platform`) a DaemonSet."""
    kinds = TENANT_KINDS | {(k.group, k.kind) for k in env.tenant_kinds}
    if env.monitoring is not None:
        kinds |= MONITORING_KINDS
    if platform and env.monitoring is not None and env.monitoring.blackbox is not None:
        kinds |= {PROBE_KIND}  # the VM services' probes, in the monitoring namespace only
    return kinds | PLATFORM_KINDS if platform else kinds


def group_kind(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(API group, kind) of a rendered object whose identity is valid (render/patches.py)."""
    return api_group(obj["apiVersion"]), obj["kind"]


def api_group(api_version: str) -> str:
    """`apps/v1` -> `apps`; `v1` -> `` (the core group)."""
    return api_version.rpartition("/")[0]
