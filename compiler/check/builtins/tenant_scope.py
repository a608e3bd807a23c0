"""Every object an instance renders stays in its tenant's scope: a namespaced kind on the
tenant allow-list (or the environment's `tenant_kinds`), in the instance's own
namespace; never an ArgoCD object, an admission webhook, or a binding to a cluster role;
and the fields that reach out stay in: ExternalSecrets read only the tenant's keys from
its store, Ingresses, Routes and Certificates name only the tenant's domains, Services
capture no address, claims bind no existing volume, Roles grant nothing the allow-list
keeps out, pods keep off the nodes' namespaces and the control plane, and monitors scrape
only their namespace (the field rules: tenant_reach.py).

The catalog editor is trusted with one customer, not with others: a customer's
`extra_resources` or `patches` could otherwise ship a Namespace named after another
customer (which a later prune would delete), a ClusterRoleBinding to `cluster-admin`, a
webhook that rewrites every pod of the cluster, an object in `kube-system`, an
ExternalSecret that reads another customer's password, an Ingress that takes another
customer's host (or every host, or mirrors requests into another namespace), a Service
with externalIPs that captures traffic cluster-wide, or a claim on another customer's
volume. Validation holds `secrets:` and `ingress:` to the same rules; this check holds
what patches and extras render, after patches, and points at the extra resource or patch
that produced the object. Environment-wide (platform) services have the same rules in
the platform namespace, with the platform's secret prefix and the base domain. The
customer AppProjects whitelist the same kinds, so ArgoCD refuses out-of-scope kinds too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from compiler.catalog import Instance, dns_key
from compiler.check.builtins.base import Builtin, EnvironmentInput, about, producer
from compiler.check.builtins.tenant_reach import Scope, reaches_out
from compiler.check.findings import Finding
from compiler.render import api_group, exposed_services

# kinds that are cluster-scoped in Kubernetes and the operators gitopsc knows: named in
# the message, because "not on the allow-list" undersells what they would do
_CLUSTER_SCOPED = {
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("storage.k8s.io", "StorageClass"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("external-secrets.io", "ClusterSecretStore"),
    ("cert-manager.io", "ClusterIssuer"),
}


# custom resources are validated against the version gitopsc has a schema for; another
# version of the same kind would pass unvalidated (crd-unknown is only informational)
_VERSIONS = {
    ("external-secrets.io", "ExternalSecret"): "external-secrets.io/v1",
    ("cert-manager.io", "Certificate"): "cert-manager.io/v1",
}


def out_of_scope(obj: Mapping[str, Any], scope: Scope) -> str | None:
    """Why `obj` is outside `scope`, or None."""
    group, kind = api_group(obj["apiVersion"]), obj["kind"]
    name = obj["metadata"]["name"]
    if group == "argoproj.io":
        return f"{kind} {name} is an ArgoCD object; only the platform renders those"
    if group == "admissionregistration.k8s.io":
        return f"{kind} {name} is an admission webhook or policy for the whole cluster"
    if (group, kind) in _CLUSTER_SCOPED:
        return f"{kind} {name} is cluster-scoped; a tenant's objects live in its namespace"
    role = obj.get("roleRef") if isinstance(obj.get("roleRef"), dict) else {}
    if kind == "RoleBinding" and role.get("kind") != "Role":
        return f"RoleBinding {name} binds {role.get('kind')} {role.get('name')}, not a Role"
    if (group, kind) not in scope.kinds:
        return (
            f"{kind} ({group or 'core'}) {name} is not on the tenant allow-list; an "
            "environment can allow it on purpose under `tenant_kinds`"
        )
    version = _VERSIONS.get((group, kind))
    if version and obj["apiVersion"] != version:
        return f"{kind} {name} is {obj['apiVersion']}, not {version}, the version gitopsc validates"
    placed = obj["metadata"].get("namespace")
    if placed != scope.namespace:
        return f"{kind} {name} is placed in namespace {placed!r}, not its own {scope.namespace!r}"
    why = reaches_out(obj, scope)
    return f"{kind} {name}: {why}" if why else None


def check(run: EnvironmentInput) -> Iterator[Finding]:
    env = run.catalog.environments[run.env]
    taken = frozenset(  # the platform's own ingress hosts: no customer object may name one
        dns_key(ingress.host)
        for i in run.instances
        if i.customer is None
        for _, ingress in i.ingresses()
    )
    scopes: dict[str | None, Scope] = {}
    for file in run.files:
        instance = run.owner(file)
        parts = file.path.split("/")  # <env>/kubernetes/<cluster>/<namespace>/<service>/<file>
        if instance is None or len(parts) != 6 or parts[1] != "kubernetes":
            continue  # the namespace's own objects, ArgoCD's, tfvars: rendered by gitopsc alone
        if parts[4] != instance.service or parts[5] == "kustomization.yaml":
            continue
        scope = scopes.get(instance.customer)
        if scope is None:
            customer = run.catalog.customers.get(instance.customer) if instance.customer else None
            scope = scopes[instance.customer] = Scope.of(env, customer, instance.namespace, taken)
        if instance.settings.expose:  # its Services of type LoadBalancer or NodePort
            scope = dataclasses.replace(scope, exposed=exposures(instance))
        why = out_of_scope(file.data, scope)
        if why:
            yield BUILTIN.finding(
                f"{file.path}: {why}",
                producer(run, instance, file),
                rendered=file.path,
                key=f"{file.data['kind']}/{file.data['metadata']['name']}",
                **about(instance),
            )


def exposures(instance: Instance) -> frozenset[tuple[str, str, int, str, int | None]]:
    """(Service name, type, port, protocol, nodePort) of each port the instance exposes,
    as the renderer names and groups them (render.exposed_services)."""
    return frozenset(
        (name, kind, port.port, port.protocol, node_port)
        for name, (kind, entries) in exposed_services(instance).items()
        for _, port, node_port in entries
    )


BUILTIN = Builtin(
    "tenant-scope",
    "Objects stay in their tenant's scope",
    "critical",
    "keep extra resources and patches to namespaced kinds in the instance's own namespace; "
    "allow another namespaced kind on purpose with the environment's `tenant_kinds`",
    "environment",
    check,
    __doc__,
)
