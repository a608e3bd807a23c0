"""Every object an instance renders stays in its tenant's scope: a namespaced kind on the
tenant allow-list (or the environment's `tenant_kinds`), in the instance's own
namespace; never an ArgoCD object, an admission webhook, or a binding to a cluster role;
and the fields that reach out stay in: ExternalSecrets read only the tenant's keys from
its store, Ingresses, Routes and Certificates name only the tenant's domains, Services
capture no address, claims bind no existing volume, monitors scrape only their namespace.

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

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from compiler.catalog import (
    SECRET_KEY,
    Customer,
    Environment,
    allowed_stores,
    dns_key,
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
    """What one instance may touch: its namespace, the kinds, the secret keys and the
    store, the domains it may publish names in, the certificate issuer (the same rules
    the catalog stage applies to `secrets:` and `ingress:`, here held against what
    patches and extras render)."""

    namespace: str
    kinds: frozenset[tuple[str, str]]
    secret_prefix: str
    stores: frozenset[tuple[str, str]]  # (name, kind), as the renderer writes them
    domains: tuple[str, ...]
    taken: frozenset[str]  # names the platform's own services serve
    issuer: tuple[str, str]  # (name, kind) of the environment's certificate issuer

    @classmethod
    def of(
        cls, env: Environment, customer: Customer | None, namespace: str, taken: frozenset[str]
    ) -> Scope:
        return cls(
            namespace,
            TENANT_KINDS | {(k.group, k.kind) for k in env.tenant_kinds},
            secret_prefix(env, customer),
            frozenset(
                (name, env.secret_store.kind if name == env.secret_store.name else "SecretStore")
                for name in allowed_stores(env)
            ),
            tuple(tenant_domains(env, customer)),
            taken if customer is not None else frozenset(),
            (env.tls.issuer, env.tls.issuer_kind),
        )


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
    reach = _REACH.get((group, kind))
    why = reach(obj, scope) if reach else None
    return f"{kind} {name}: {why}" if why else None


def _secret_reach(obj: Mapping[str, Any], scope: Scope) -> str | None:
    """An ExternalSecret reads only the tenant's keys, by name, from the environment's
    store: no per-entry `sourceRef` to another store, no `find` or generators."""
    spec = _mapping(obj.get("spec"))
    store = _mapping(spec.get("secretStoreRef"))
    named = (store.get("name"), store.get("kind", "SecretStore"))
    if named not in scope.stores:
        allowed = ", ".join(f"{kind} {name}" for name, kind in sorted(scope.stores))
        return f"reads from {named[1]} {named[0]!r}; allowed: {allowed}"
    entries = list(map(_mapping, _list(spec.get("data"))))
    keys = [_mapping(entry.get("remoteRef")).get("key") for entry in entries]
    for source in map(_mapping, _list(spec.get("dataFrom"))):
        if set(source) - {"extract"}:
            return "uses dataFrom find, sourceRef or generators: name each key instead"
        keys.append(_mapping(source.get("extract")).get("key"))
    if any("sourceRef" in entry for entry in entries):
        return "an entry names its own store (sourceRef): use the ExternalSecret's store"
    for key in keys:
        if not isinstance(key, str) or not key.startswith(scope.secret_prefix):
            return f"reads key {key!r}, not under {scope.secret_prefix!r}"
        if not SECRET_KEY.match(key):
            return f"key {key!r} is not a plain path ('..', empty parts)"
    return None


# ingress-nginx annotations that reach past the Ingress's own hosts and namespace: more
# server names, raw nginx configuration, requests copied or authenticated elsewhere,
# another namespace's service as the upstream or the default backend
_INGRESS_ANNOTATION = re.compile(
    r"^nginx\.ingress\.kubernetes\.io/("
    r".*snippet|server-alias|mirror-.*|auth-url|auth-signin|auth-proxy-set-headers|"
    r"upstream-vhost|default-backend|custom-http-errors|proxy-redirect-.*|"
    r"global-rate-limit.*|.*-secret|.*-configmap)$"
)


def _ingress_reach(obj: Mapping[str, Any], scope: Scope) -> str | None:
    """An Ingress serves only the tenant's own hosts from its own services: every rule
    names a host in the tenant's domains (not one the platform serves), no default or
    resource backend, no annotation that adds names or reaches elsewhere."""
    spec = _mapping(obj.get("spec"))
    annotations = _mapping(_mapping(obj.get("metadata")).get("annotations"))
    for key in sorted(annotations):
        if _INGRESS_ANNOTATION.match(str(key)):
            return f"annotation {key} reaches past the Ingress's own hosts and namespace"
    if "defaultBackend" in spec:
        return "has a defaultBackend: it would serve every unmatched host"
    names: list[Any] = []
    for rule in map(_mapping, _list(spec.get("rules"))):
        if "host" not in rule:
            return "has a rule without a host: it would serve every host"
        names.append(rule["host"])
        paths = _list(_mapping(rule.get("http")).get("paths"))
        if any("resource" in _mapping(_mapping(path).get("backend")) for path in paths):
            return "has a resource backend: only Services of its namespace may serve"
    names += [h for tls in map(_mapping, _list(spec.get("tls"))) for h in _list(tls.get("hosts"))]
    return _foreign_name(names, scope)


def _certificate_reach(obj: Mapping[str, Any], scope: Scope) -> str | None:
    """A Certificate names only the tenant's domains (no URIs, IPs or e-mail addresses,
    which would let it pose as another workload under an internal CA) and is issued by
    the environment's issuer."""
    spec = _mapping(obj.get("spec"))
    for field in ("uris", "ipAddresses", "emailAddresses"):
        if spec.get(field):
            return f"names {field}: a tenant's certificate names only its DNS names"
    issuer = _mapping(spec.get("issuerRef"))
    named = (issuer.get("name"), issuer.get("kind", "Issuer"))
    if named != scope.issuer:
        return f"is issued by {named[1]} {named[0]!r}, not {scope.issuer[1]} {scope.issuer[0]!r}"
    names = _list(spec.get("dnsNames")) + ([spec["commonName"]] if "commonName" in spec else [])
    return _foreign_name(names, scope)


def _route_reach(obj: Mapping[str, Any], scope: Scope) -> str | None:
    """An OpenShift Route (allowed through `tenant_kinds`) names a host of the tenant's
    and sends to a Service of its own namespace."""
    spec = _mapping(obj.get("spec"))
    if _mapping(spec.get("to")).get("kind", "Service") != "Service":
        return "sends to something other than a Service"
    return _foreign_name([spec.get("host")], scope)


def _monitor_reach(obj: Mapping[str, Any], scope: Scope) -> str | None:
    """A ServiceMonitor or PodMonitor (allowed through `tenant_kinds`) scrapes its own
    namespace only, and reads no file of the Prometheus that runs it."""
    spec = _mapping(obj.get("spec"))
    selector = spec.get("namespaceSelector")
    if selector is not None and _mapping(selector) != {"matchNames": [scope.namespace]}:
        return "scrapes other namespaces (namespaceSelector)"
    endpoints = _list(spec.get("endpoints")) + _list(spec.get("podMetricsEndpoints"))
    for endpoint in map(_mapping, endpoints):
        tls = _mapping(endpoint.get("tlsConfig"))
        if "bearerTokenFile" in endpoint or {"caFile", "certFile", "keyFile"} & set(tls):
            return "reads files of the Prometheus that scrapes it (bearerTokenFile, tlsConfig)"
    return None


def _foreign_name(names: list[Any], scope: Scope) -> str | None:
    for name in names:
        if not isinstance(name, str) or not any(within(name, d) for d in scope.domains):
            return f"names {name!r}, not in {' or '.join(scope.domains)}"
        if dns_key(name) in scope.taken:
            return f"names {name!r}, which an environment-wide service serves"
    return None


def _service_reach(obj: Mapping[str, Any], scope: Scope) -> str | None:
    """A Service only fronts the tenant's own pods inside the cluster: no ExternalName
    alias (of another namespace's service, a pod, an address), no externalIPs (which
    capture traffic to any address on every node, CVE-2020-8554), no NodePort or
    LoadBalancer (the platform exposes the cluster)."""
    spec = _mapping(obj.get("spec"))
    kind = spec.get("type", "ClusterIP")
    if kind == "ExternalName":
        return "is an ExternalName alias; a tenant reaches others through declared dependencies"
    if spec.get("externalIPs"):
        return "sets externalIPs: it would capture traffic to those addresses cluster-wide"
    if kind != "ClusterIP" or "loadBalancerIP" in spec:
        return f"is of type {kind}: exposing the cluster's nodes or addresses is the platform's"
    return None


def _claim_reach(obj: Mapping[str, Any], scope: Scope) -> str | None:
    """A PersistentVolumeClaim asks for a new volume: binding an existing one by name, or
    cloning from another namespace, would read another tenant's data."""
    spec = _mapping(obj.get("spec"))
    if spec.get("volumeName"):
        return f"binds the existing volume {spec['volumeName']!r}"
    for field in ("dataSource", "dataSourceRef"):
        source = _mapping(spec.get(field))
        if source.get("namespace", scope.namespace) != scope.namespace:
            return f"clones from namespace {source['namespace']!r} ({field})"
    return None


def _role_reach(obj: Mapping[str, Any], scope: Scope) -> str | None:
    """A Role names what it grants: a wildcard would let the workload create, at run
    time, the kinds the allow-list keeps out (a DaemonSet, Endpoints), and `escalate`,
    `bind` and `impersonate` grant more than the Role holds."""
    for rule in map(_mapping, _list(obj.get("rules"))):
        for field in ("apiGroups", "resources", "verbs"):
            if "*" in _list(rule.get(field)):
                return f"grants '*' in {field}: name the groups, resources and verbs"
        granted = {"escalate", "bind", "impersonate"} & set(_list(rule.get("verbs")))
        if granted:
            return f"grants {', '.join(sorted(granted))}: more than the Role itself holds"
    return None


_REACH = {
    ("rbac.authorization.k8s.io", "Role"): _role_reach,
    ("external-secrets.io", "ExternalSecret"): _secret_reach,
    ("networking.k8s.io", "Ingress"): _ingress_reach,
    ("cert-manager.io", "Certificate"): _certificate_reach,
    ("route.openshift.io", "Route"): _route_reach,
    ("monitoring.coreos.com", "ServiceMonitor"): _monitor_reach,
    ("monitoring.coreos.com", "PodMonitor"): _monitor_reach,
    ("", "Service"): _service_reach,
    ("", "PersistentVolumeClaim"): _claim_reach,
}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def check(run: EnvironmentInput) -> Iterator[Finding]:
    env = run.catalog.environments[run.env]
    taken = frozenset(  # the platform's own ingress hosts: no customer object may name one
        dns_key(i.settings.ingress.host)
        for i in run.instances
        if i.customer is None and i.settings.ingress
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
