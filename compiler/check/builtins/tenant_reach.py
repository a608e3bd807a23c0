"""What the fields of a tenant's allowed kinds may reach: the second half of `tenant-scope`.

An allowed kind in the tenant's own namespace can still point out of it: an
ExternalSecret at another store or key, an Ingress or a Certificate at another's name, a
Service at an address, a claim at an existing volume, a Role at what the allow-list
keeps out, a pod at the nodes the platform runs on. Each kind's rule reads the fields
that reach out and says why one does, or None. Kept apart from tenant_scope.py, which
decides kinds and namespaces, so that each half reads on its own.
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
    store_kind,
    tenant_domains,
    within,
)
from compiler.check.builtins.base import as_list, as_mapping
from compiler.render import allowed_kinds, group_kind


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
    # (Service name, type, port, protocol, nodePort) the instance's `expose` declares
    exposed: frozenset[tuple[str, str, int, str, int | None]] = frozenset()

    @classmethod
    def of(
        cls, env: Environment, customer: Customer | None, namespace: str, taken: frozenset[str]
    ) -> Scope:
        return cls(
            namespace,
            allowed_kinds(env, platform=customer is None),
            secret_prefix(env, customer),
            frozenset((name, store_kind(env, name)) for name in allowed_stores(env)),
            tuple(tenant_domains(env, customer)),
            taken if customer is not None else frozenset(),
            (env.tls.issuer, env.tls.issuer_kind),
        )


def _secret_reach(obj: Mapping[str, Any], scope: Scope) -> str | None:
    """An ExternalSecret reads only the tenant's keys, by name, from the environment's
    store: no per-entry `sourceRef` to another store, no `find` or generators."""
    spec = as_mapping(obj.get("spec"))
    store = as_mapping(spec.get("secretStoreRef"))
    named = (store.get("name"), store.get("kind", "SecretStore"))
    if named not in scope.stores:
        allowed = ", ".join(f"{kind} {name}" for name, kind in sorted(scope.stores))
        return f"reads from {named[1]} {named[0]!r}; allowed: {allowed}"
    entries = list(map(as_mapping, as_list(spec.get("data"))))
    keys = [as_mapping(entry.get("remoteRef")).get("key") for entry in entries]
    for source in map(as_mapping, as_list(spec.get("dataFrom"))):
        if set(source) - {"extract"}:
            return "uses dataFrom find, sourceRef or generators: name each key instead"
        keys.append(as_mapping(source.get("extract")).get("key"))
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
    spec = as_mapping(obj.get("spec"))
    annotations = as_mapping(as_mapping(obj.get("metadata")).get("annotations"))
    for key in sorted(annotations):
        if _INGRESS_ANNOTATION.match(str(key)):
            return f"annotation {key} reaches past the Ingress's own hosts and namespace"
    if "defaultBackend" in spec:
        return "has a defaultBackend: it would serve every unmatched host"
    names: list[Any] = []
    for rule in map(as_mapping, as_list(spec.get("rules"))):
        if "host" not in rule:
            return "has a rule without a host: it would serve every host"
        names.append(rule["host"])
        paths = as_list(as_mapping(rule.get("http")).get("paths"))
        if any("resource" in as_mapping(as_mapping(path).get("backend")) for path in paths):
            return "has a resource backend: only Services of its namespace may serve"
    names += [
        h for tls in map(as_mapping, as_list(spec.get("tls"))) for h in as_list(tls.get("hosts"))
    ]
    return _foreign_name(names, scope)


def _certificate_reach(obj: Mapping[str, Any], scope: Scope) -> str | None:
    """A Certificate names only the tenant's domains (no URIs, IPs or e-mail addresses,
    which would let it pose as another workload under an internal CA) and is issued by
    the environment's issuer."""
    spec = as_mapping(obj.get("spec"))
    for field in ("uris", "ipAddresses", "emailAddresses"):
        if spec.get(field):
            return f"names {field}: a tenant's certificate names only its DNS names"
    issuer = as_mapping(spec.get("issuerRef"))
    named = (issuer.get("name"), issuer.get("kind", "Issuer"))
    if named != scope.issuer:
        return f"is issued by {named[1]} {named[0]!r}, not {scope.issuer[1]} {scope.issuer[0]!r}"
    names = as_list(spec.get("dnsNames")) + ([spec["commonName"]] if "commonName" in spec else [])
    return _foreign_name(names, scope)


def _route_reach(obj: Mapping[str, Any], scope: Scope) -> str | None:
    """An OpenShift Route (an instance's ingress on an OpenShift cluster) names a host of
    the tenant's, sends to a Service of its own namespace, and asks cert-manager's
    openshift-routes add-on only for the environment's issuer."""
    spec = as_mapping(obj.get("spec"))
    if as_mapping(spec.get("to")).get("kind", "Service") != "Service":
        return "sends to something other than a Service"
    annotations = as_mapping(as_mapping(obj.get("metadata")).get("annotations"))
    asked = annotations.get("cert-manager.io/issuer-name")
    kind = annotations.get("cert-manager.io/issuer-kind", "Issuer")
    if asked is not None and (asked, kind) != scope.issuer:
        return f"asks for {kind} {asked!r}, not {scope.issuer[1]} {scope.issuer[0]!r}"
    return _foreign_name([spec.get("host")], scope)


def _monitor_reach(obj: Mapping[str, Any], scope: Scope) -> str | None:
    """A ServiceMonitor or PodMonitor (allowed through `tenant_kinds`) scrapes its own
    namespace only, and reads no file of the Prometheus that runs it."""
    spec = as_mapping(obj.get("spec"))
    selector = spec.get("namespaceSelector")
    if selector is not None and as_mapping(selector) != {"matchNames": [scope.namespace]}:
        return "scrapes other namespaces (namespaceSelector)"
    endpoints = as_list(spec.get("endpoints")) + as_list(spec.get("podMetricsEndpoints"))
    for endpoint in map(as_mapping, endpoints):
        tls = as_mapping(endpoint.get("tlsConfig"))
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
    spec = as_mapping(obj.get("spec"))
    kind = spec.get("type", "ClusterIP")
    if kind == "ExternalName":
        return "is an ExternalName alias; a tenant reaches others through declared dependencies"
    if spec.get("externalIPs"):
        return "sets externalIPs: it would capture traffic to those addresses cluster-wide"
    if "loadBalancerIP" in spec:
        return "sets loadBalancerIP: choosing the cluster's addresses is the platform's"
    if kind in ("LoadBalancer", "NodePort") and _declared_exposure(obj, scope):
        return None  # what the service file's `expose` renders, no more
    if kind != "ClusterIP":
        return f"is of type {kind}: exposing the cluster's nodes or addresses is the platform's"
    return None


def _declared_exposure(obj: Mapping[str, Any], scope: Scope) -> bool:
    """A LoadBalancer or NodePort Service that is exactly (name, type, each port) what
    the instance's `expose` declares; a patch that adds a port or renames it is not."""
    spec = as_mapping(obj.get("spec"))
    name = as_mapping(obj.get("metadata")).get("name")
    ports = [as_mapping(p) for p in as_list(spec.get("ports"))]
    return bool(ports) and all(
        (name, spec.get("type"), p.get("port"), p.get("protocol") or "TCP", p.get("nodePort"))
        in scope.exposed
        for p in ports
    )


def _claim_reach(obj: Mapping[str, Any], scope: Scope) -> str | None:
    """A claim (a PersistentVolumeClaim, a StatefulSet's claim template, a pod's
    ephemeral volume) asks for a new volume: binding an existing one (by name, by label
    selector, or statically with `storageClassName: ""`), or cloning from another
    namespace, would read another tenant's data."""
    for spec in _claim_specs(obj):
        if spec.get("volumeName"):
            return f"binds the existing volume {spec['volumeName']!r}"
        if "selector" in spec:
            return "selects existing volumes by label (selector)"
        if spec.get("storageClassName") == "":
            return 'binds a pre-provisioned volume (storageClassName "")'
        for field in ("dataSource", "dataSourceRef"):
            source = as_mapping(spec.get(field))
            if source.get("namespace", scope.namespace) != scope.namespace:
                return f"clones from namespace {source['namespace']!r} ({field})"
    return None


def _claim_specs(obj: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    spec = as_mapping(obj.get("spec"))
    if obj["kind"] == "PersistentVolumeClaim":
        yield spec
    for template in map(as_mapping, as_list(spec.get("volumeClaimTemplates"))):
        yield as_mapping(template.get("spec"))
    pod = _pod_spec(obj)
    for volume in map(as_mapping, as_list(pod.get("volumes"))):
        ephemeral = as_mapping(as_mapping(volume.get("ephemeral")).get("volumeClaimTemplate"))
        if ephemeral:
            yield as_mapping(ephemeral.get("spec"))


def _pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod template's spec of a workload (Deployment, StatefulSet, DaemonSet, Job,
    CronJob)."""
    spec = as_mapping(obj.get("spec"))
    if obj["kind"] == "CronJob":
        spec = as_mapping(as_mapping(spec.get("jobTemplate")).get("spec"))
    return as_mapping(as_mapping(spec.get("template")).get("spec"))


_CONTROL_PLANE = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")


def _workload_reach(obj: Mapping[str, Any], scope: Scope) -> str | None:
    """A tenant's pods run as tenants on the nodes for tenants: no host namespaces, host
    paths, host ports or privilege (Pod Security `restricted` would refuse them at sync,
    after the gate); no node picked by name, no toleration of every taint or of the
    control plane; no system priority class (it evicts other tenants' pods); no token for
    the API server mounted by projection (with a Role it would act on the namespace)."""
    pod = _pod_spec(obj)
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            return f"sets {field}: a tenant's pods do not share the node's namespaces"
    if pod.get("nodeName"):
        return f"picks the node {pod['nodeName']!r} by name"
    if str(pod.get("priorityClassName", "")).startswith("system-"):
        return f"uses priority class {pod['priorityClassName']!r}, which evicts other pods"
    for toleration in map(as_mapping, as_list(pod.get("tolerations"))):
        if toleration.get("operator") == "Exists" and not toleration.get("key"):
            return "tolerates every taint"
        if toleration.get("key") in _CONTROL_PLANE:
            return "tolerates the control plane's taint"
    if set(as_mapping(pod.get("nodeSelector"))) & set(_CONTROL_PLANE):
        return "selects control-plane nodes"
    containers = as_list(pod.get("containers")) + as_list(pod.get("initContainers"))
    for container in map(as_mapping, containers):
        if as_mapping(container.get("securityContext")).get("privileged"):
            return "runs a privileged container"
        if any(as_mapping(port).get("hostPort") for port in as_list(container.get("ports"))):
            return "opens a hostPort on the node"
    for volume in map(as_mapping, as_list(pod.get("volumes"))):
        if "hostPath" in volume:
            return f"mounts the node's {as_mapping(volume['hostPath']).get('path')!r} (hostPath)"
        sources = as_list(as_mapping(volume.get("projected")).get("sources"))
        for source in map(as_mapping, sources):
            token = source.get("serviceAccountToken")
            if isinstance(token, dict) and not token.get("audience"):
                return "projects a service account token for the API server"
    return _claim_reach(obj, scope)


# what a tenant's Role may grant: the resources of the kinds on the tenant allow-list
# (and leases, for leader election), and the pods' status and logs to read. Not here:
# namespaces (a Role may patch its own Namespace's Pod Security labels), daemonsets,
# endpoints, endpointslices, pods (to create), networkpolicies, resourcequotas,
# limitranges, roles and rolebindings: each would undo, at run time, what the gate and
# the allow-list keep out
_ROLE_RESOURCES = {
    "": {"configmaps", "secrets", "services", "serviceaccounts", "persistentvolumeclaims"},
    "apps": {"deployments", "statefulsets"},
    "batch": {"jobs", "cronjobs"},
    "autoscaling": {"horizontalpodautoscalers"},
    "policy": {"poddisruptionbudgets"},
    "networking.k8s.io": {"ingresses"},
    "coordination.k8s.io": {"leases"},
    "external-secrets.io": {"externalsecrets"},
    "cert-manager.io": {"certificates"},
}
_READ_ONLY = {"": {"pods", "pods/log", "events"}, "apps": {"replicasets"}}
_READ = {"get", "list", "watch"}


def _role_reach(obj: Mapping[str, Any], scope: Scope) -> str | None:
    """A Role grants only what the tenant allow-list already lets the tenant render (and
    reading its pods): a wildcard, or a grant on namespaces, daemonsets, endpoints,
    network policies, quotas or RBAC itself, would let the workload undo the gate at run
    time; `escalate`, `bind` and `impersonate` grant more than the Role holds."""
    for rule in map(as_mapping, as_list(obj.get("rules"))):
        for field in ("apiGroups", "resources", "verbs"):
            if "*" in as_list(rule.get(field)):
                return f"grants '*' in {field}: name the groups, resources and verbs"
        verbs = set(map(str, as_list(rule.get("verbs"))))
        granted = {"escalate", "bind", "impersonate"} & verbs
        if granted:
            return f"grants {', '.join(sorted(granted))}: more than the Role itself holds"
        if rule.get("nonResourceURLs"):
            return "grants nonResourceURLs, which only a ClusterRole can"
        for group in map(str, as_list(rule.get("apiGroups"))):
            for resource in map(str, as_list(rule.get("resources"))):
                if resource in _ROLE_RESOURCES.get(group, ()):
                    continue
                if resource in _READ_ONLY.get(group, ()) and verbs <= _READ:
                    continue
                return f"grants {'/'.join(sorted(verbs))} on {resource} ({group or 'core'})"
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
    ("apps", "Deployment"): _workload_reach,
    ("apps", "StatefulSet"): _workload_reach,
    ("apps", "DaemonSet"): _workload_reach,
    ("batch", "Job"): _workload_reach,
    ("batch", "CronJob"): _workload_reach,
}


def reaches_out(obj: Mapping[str, Any], scope: Scope) -> str | None:
    """Why a field of `obj` reaches past `scope`, or None (kinds without a rule: None)."""
    reach = _REACH.get(group_kind(obj))
    return reach(obj, scope) if reach else None
