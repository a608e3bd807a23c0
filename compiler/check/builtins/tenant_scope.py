"""Every object an instance renders stays in its tenant's scope: a namespaced kind on the
tenant allow-list (or the environment's `tenant_kinds`), in the instance's own
namespace; never an ArgoCD object, an admission webhook, or a binding to a cluster role;
ExternalSecrets read only the tenant's keys from an allowed store; Ingresses and
Certificates name only the tenant's domains.

The catalog editor is trusted with one customer, not with others: a customer's
`extra_resources` or `patches` could otherwise ship a Namespace named after another
customer (which a later prune would delete), a ClusterRoleBinding to `cluster-admin`, a
webhook that rewrites every pod of the cluster, an object in `kube-system`, an
ExternalSecret that reads another customer's password, or an Ingress that takes another
customer's host (or every host, without one). Validation holds `secrets:` and `ingress:`
to the same rules; this check holds what patches and extras render, after patches, and
points at the extra resource or patch that produced the object. Environment-wide
(platform) services have the same rules in the platform namespace, with the platform's
secret prefix and the base domain. The customer AppProjects whitelist the same kinds, so
ArgoCD refuses out-of-scope kinds too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from compiler.catalog import (
    SECRET_KEY,
    Customer,
    Environment,
    allowed_stores,
    secret_prefix,
    tenant_domains,
    within,
)
from compiler.check.builtins.base import Builtin, EnvironmentInput, about, producer
from compiler.check.findings import Finding
from compiler.render import TENANT_KINDS, api_group

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


@dataclass(frozen=True)
class Scope:
    """What one instance may touch: its namespace, the kinds, the secret keys and stores,
    the domains it may publish names in (the same rules the catalog stage applies to
    `secrets:` and `ingress:`, here held against what patches and extras render)."""

    namespace: str
    kinds: frozenset[tuple[str, str]]
    secret_prefix: str
    stores: tuple[str, ...]
    domains: tuple[str, ...]

    @classmethod
    def of(cls, env: Environment, customer: Customer | None, namespace: str) -> Scope:
        return cls(
            namespace,
            TENANT_KINDS | {(k.group, k.kind) for k in env.tenant_kinds},
            secret_prefix(env, customer),
            tuple(allowed_stores(env)),
            tuple(tenant_domains(env, customer)),
        )


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
    placed = obj["metadata"].get("namespace")
    if placed != scope.namespace:
        return f"{kind} {name} is placed in namespace {placed!r}, not its own {scope.namespace!r}"
    reach = _REACH.get((group, kind))
    return reach(obj, scope) if reach else None


def _secret_reach(obj: Mapping[str, Any], scope: Scope) -> str | None:
    """An ExternalSecret reads only the tenant's keys, from an allowed store, by name."""
    spec = _mapping(obj.get("spec"))
    store = _mapping(spec.get("secretStoreRef")).get("name")
    if store not in scope.stores:
        return f"ExternalSecret reads from store {store!r}; allowed: {', '.join(scope.stores)}"
    keys = [_mapping(_mapping(d).get("remoteRef")).get("key") for d in _list(spec.get("data"))]
    for source in map(_mapping, _list(spec.get("dataFrom"))):
        if set(source) - {"extract"}:
            return "ExternalSecret uses dataFrom find or generators: name each key instead"
        keys.append(_mapping(source.get("extract")).get("key"))
    for key in keys:
        if not isinstance(key, str) or not key.startswith(scope.secret_prefix):
            return f"ExternalSecret reads key {key!r}, not under {scope.secret_prefix!r}"
        if not SECRET_KEY.match(key):
            return f"ExternalSecret key {key!r} is not a plain path ('..', empty parts)"
    return None


def _names_reach(obj: Mapping[str, Any], scope: Scope) -> str | None:
    """An Ingress or a Certificate names only hosts in the tenant's domains; an Ingress
    rule without a host, or a default backend, would take every other host's traffic."""
    spec = _mapping(obj.get("spec"))
    names: list[Any] = []
    if obj["kind"] == "Ingress":
        if "defaultBackend" in spec:
            return "Ingress has a defaultBackend: it would serve every unmatched host"
        for rule in map(_mapping, _list(spec.get("rules"))):
            if "host" not in rule:
                return "Ingress has a rule without a host: it would serve every host"
            names.append(rule["host"])
        names += [
            h for tls in map(_mapping, _list(spec.get("tls"))) for h in _list(tls.get("hosts"))
        ]
    else:
        names += _list(spec.get("dnsNames")) + (
            [spec["commonName"]] if "commonName" in spec else []
        )
    for name in names:
        if not isinstance(name, str) or not any(within(name, d) for d in scope.domains):
            return f"{obj['kind']} names {name!r}, not in {' or '.join(scope.domains)}"
    return None


_SERVICE_DNS = re.compile(r"^[^.]+\.([^.]+)\.svc(\.|$)")


def _service_reach(obj: Mapping[str, Any], scope: Scope) -> str | None:
    """An ExternalName Service that aliases another namespace's service."""
    spec = _mapping(obj.get("spec"))
    target = spec.get("externalName") if spec.get("type") == "ExternalName" else None
    other = _SERVICE_DNS.match(target.lower()) if isinstance(target, str) else None
    if other and other.group(1) != scope.namespace:
        return f"Service is an ExternalName alias of {target}, in another namespace"
    return None


_REACH = {
    ("external-secrets.io", "ExternalSecret"): _secret_reach,
    ("networking.k8s.io", "Ingress"): _names_reach,
    ("cert-manager.io", "Certificate"): _names_reach,
    ("", "Service"): _service_reach,
}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def check(run: EnvironmentInput) -> Iterator[Finding]:
    env = run.catalog.environments[run.env]
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
            scope = scopes[instance.customer] = Scope.of(env, customer, instance.namespace)
        why = out_of_scope(file.data, scope)
        if why:
            yield BUILTIN.finding(
                f"{file.path}: {why}",
                producer(run, instance, file),
                rendered=file.path,
                key=f"{file.data['kind']}/{file.data['metadata']['name']}",
                **about(instance),
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
