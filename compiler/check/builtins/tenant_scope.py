"""Every object an instance renders stays in its tenant's scope: a namespaced kind on the
tenant allow-list (or the environment's `tenant_kinds`), in the instance's own
namespace; never an ArgoCD object, an admission webhook, or a binding to a cluster role.

The catalog editor is trusted with one customer, not with others: a customer's
`extra_resources` or `patches` could otherwise ship a Namespace named after another
customer (which a later prune would delete), a ClusterRoleBinding to `cluster-admin`, a
webhook that rewrites every pod of the cluster, or an object in `kube-system`. Judged
after patches, on what would be applied, and located at the extra resource or patch
that produced the object. Environment-wide (platform) services have the same rules in
the platform namespace; cluster-wide objects are the cluster's bootstrap, not the
catalog's. The customer AppProjects whitelist the same kinds, so ArgoCD refuses too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

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


def out_of_scope(obj: Mapping[str, Any], namespace: str, allowed: frozenset) -> str | None:
    """Why `obj` is outside the scope of an instance in `namespace`, or None."""
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
    if (group, kind) not in allowed:
        return (
            f"{kind} ({group or 'core'}) {name} is not on the tenant allow-list; an "
            "environment can allow it on purpose under `tenant_kinds`"
        )
    placed = obj["metadata"].get("namespace")
    if placed != namespace:
        return f"{kind} {name} is placed in namespace {placed!r}, not its own {namespace!r}"
    return None


def check(run: EnvironmentInput) -> Iterator[Finding]:
    env = run.catalog.environments[run.env]
    allowed = TENANT_KINDS | {(k.group, k.kind) for k in env.tenant_kinds}
    for file in run.files:
        instance = run.owner(file)
        parts = file.path.split("/")  # <env>/kubernetes/<cluster>/<namespace>/<service>/<file>
        if instance is None or len(parts) != 6 or parts[1] != "kubernetes":
            continue  # the namespace's own objects, ArgoCD's, tfvars: rendered by gitopsc alone
        if parts[4] != instance.service or parts[5] == "kustomization.yaml":
            continue
        why = out_of_scope(file.data, instance.namespace, allowed)
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
