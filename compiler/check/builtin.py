"""Built-in checks: what spans entities or needs more than one document to decide.

Each has an id, a default severity and a remediation, and is enabled, disabled or
re-graded in policies/config.yaml like a declarative policy. Some repeat, on the
resolved result, what catalog validation already refuses as bad input (a dependency
not enabled, an owner team that does not exist): they guard the compiled output
itself and make the guarantee visible in the reports.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from compiler.catalog import Catalog, Instance
from compiler.check.findings import Finding, Severity
from compiler.check.subjects import enabled_at, object_location
from compiler.errors import Location
from compiler.render import CUSTOMER_LABEL, OutputFile


@dataclass(frozen=True)
class Builtin:
    id: str
    title: str
    severity: Severity
    remediation: str


BUILTINS: dict[str, Builtin] = {
    b.id: b
    for b in (
        Builtin(
            "residency-region",
            "Customer data stays in its residency",
            "critical",
            "place the customer on a cluster or hosts whose residency includes the customer's",
        ),
        Builtin(
            "domain-unique",
            "Customer domains are unique",
            "high",
            "each domain belongs to one customer; remove it from all but one",
        ),
        Builtin(
            "dependency-enabled",
            "Dependencies are enabled",
            "high",
            "enable the dependency for the customer, or the environment-wide service",
        ),
        Builtin(
            "owner-team-exists",
            "Every service has an owner team",
            "medium",
            "add the team to catalog/teams.yaml or fix the service's owner",
        ),
        Builtin(
            "plaintext-secret",
            "No plaintext secrets in the catalog",
            "critical",
            "store the value in the secret store and reference it under `secrets:`",
        ),
        Builtin(
            "no-secret-objects",
            "No Secret objects in the output",
            "critical",
            "use `secrets:` references (rendered as ExternalSecrets), not Secret objects",
        ),
        Builtin(
            "suspended-scaled-to-zero",
            "Suspended customers run no pods",
            "high",
            "do not patch replicas or autoscaling of a suspended customer",
        ),
        Builtin(
            "offboarded-absent",
            "Offboarded customers are gone from prod",
            "high",
            "remove the customer's prod environment (or the customer) after its offboarding date",
        ),
        Builtin(
            "namespace-network-policy",
            "Every customer namespace denies traffic by default",
            "high",
            "keep the default-deny NetworkPolicy gitopsc renders into each customer "
            "namespace (podSelector {} with Ingress in policyTypes)",
        ),
        Builtin(
            "api-removed",
            "No API the cluster's Kubernetes version lacks",
            "critical",
            "move the object to an apiVersion that the cluster's Kubernetes version serves",
        ),
        Builtin(
            "kubernetes-schema",
            "Objects match the Kubernetes schema",
            "high",
            "fix the patch or extra resource that produced the field",
        ),
        Builtin(
            "crd-schema",
            "Custom resources match their CRD schema",
            "high",
            "fix the patch or extra resource that produced the field",
        ),
        Builtin(
            "crd-unknown",
            "Custom resources have a schema",
            "info",
            "add the CRD's JSON Schema to compiler/check/crds/ to have these objects validated",
        ),
        Builtin(
            "waiver-expired",
            "Waivers are renewed or removed before they expire",
            "high",
            "fix the finding, or renew the waiver with a new expiry date and a reason",
        ),
        Builtin(
            "waiver-unused",
            "Waivers match something",
            "low",
            "remove the waiver, or fix what it covers",
        ),
    )
}


def finding(check_id: str, message: str, location: Location | None, **subject: Any) -> Finding:
    builtin = BUILTINS[check_id]
    source = subject.pop("source", "builtin")
    return Finding(
        check_id,
        builtin.severity,
        message,
        source,
        location,
        remediation=builtin.remediation,
        title=builtin.title,
        **subject,
    )


def _about(instance: Instance) -> dict[str, Any]:
    return {
        "environment": instance.environment,
        "instance": instance.id,
        "customer": instance.customer,
        "service": instance.service,
    }


# ---------------------------------------------------------------- catalog-wide


def catalog_checks(catalog: Catalog, today: datetime.date) -> list[Finding]:
    return [*_domains(catalog), *_owners(catalog), *_plaintext_secrets(catalog)]


def _domains(catalog: Catalog) -> Iterator[Finding]:
    owners: dict[str, str] = {}
    for name in sorted(catalog.customers):
        for index, domain in enumerate(catalog.customers[name].domains):
            first = owners.setdefault(domain.lower(), name)
            if first != name:
                yield finding(
                    "domain-unique",
                    f"domain {domain} of customer {name} already belongs to customer {first}",
                    catalog.source("customer", name).locate("domains", index),
                    customer=name,
                    key=domain.lower(),
                )


def _owners(catalog: Catalog) -> Iterator[Finding]:
    for name in sorted(catalog.services):
        owner = catalog.services[name].owner
        if owner not in catalog.teams:
            yield finding(
                "owner-team-exists",
                f"service {name} is owned by unknown team {owner}",
                catalog.source("service", name).locate("owner"),
                service=name,
                key=name,
            )


_SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key|credential|"
    r"client[_-]?secret|access[_-]?key|signing[_-]?key|auth)",
    re.IGNORECASE,
)
_HARMLESS = re.compile(r"^(\$\{.*\}|true|false|null|none|changeme|)$", re.IGNORECASE)
_TOKEN_LIKE = re.compile(r"^[A-Za-z0-9+/=_\-.]{24,}$")


def _entropy(text: str) -> float:
    counts: dict[str, int] = {}
    for char in text:
        counts[char] = counts.get(char, 0) + 1
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def looks_secret(key: str, value: Any) -> str | None:
    """Why a value written in the catalog looks like a secret, or None.

    A secret-sounding key (password, token, api_key...) with a literal string value, or
    any long token-like string with high entropy (random keys, not words or names).
    Interpolations (`${...}`) and secret references are never flagged.
    """
    if not isinstance(value, str) or _HARMLESS.match(value.strip()):
        return None
    if _SECRET_KEY.search(key) and not key.endswith(("_file", "_path", "_ref", "_name")):
        return f"key '{key}' holds a literal value"
    if _TOKEN_LIKE.match(value) and _entropy(value) >= 4.0 and not value.startswith("sha256:"):
        return f"value of '{key}' looks like a random key (entropy {_entropy(value):.1f} bits/char)"
    return None


def _plaintext_secrets(catalog: Catalog) -> Iterator[Finding]:
    seen: set[str] = set()
    for (_, _name), source in sorted(catalog.sources.items()):
        document = source.document
        if document.file in seen:
            continue
        seen.add(document.file)
        for path, key, value in _leaves(document.data, ()):
            if "secrets" in path or key in ("image", "digest"):
                continue  # references by design; image digests are high-entropy on purpose
            why = looks_secret(key, value)
            if why:
                yield finding(
                    "plaintext-secret",
                    f"possible plaintext secret: {why}",
                    document.locate(path),
                    key=f"{document.file}#{'/'.join(map(str, path))}",
                )


def _leaves(data: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple, str, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, dict | list):
                yield from _leaves(value, (*path, key))
            else:
                yield (*path, key), str(key), value
    elif isinstance(data, list):
        for index, value in enumerate(data):
            if isinstance(value, dict | list):
                yield from _leaves(value, (*path, index))
            else:
                name = next((str(p) for p in reversed(path) if isinstance(p, str)), "")
                yield (*path, index), name, value


# ---------------------------------------------------------------- per environment


def environment_checks(
    catalog: Catalog,
    env: str,
    instances: Sequence[Instance],
    files: Sequence[OutputFile],
    today: datetime.date,
) -> list[Finding]:
    by_id = {instance.id: instance for instance in instances}
    return [
        *_residency(catalog, instances),
        *_dependencies(catalog, instances),
        *_offboarded(catalog, env, instances, today),
        *_objects(catalog, files, by_id),
        *_network_policies(catalog, env, files),
    ]


def _residency(catalog: Catalog, instances: Sequence[Instance]) -> Iterator[Finding]:
    for instance in instances:
        if instance.customer is None:
            continue
        residency = catalog.customers[instance.customer].residency
        env = catalog.environments[instance.environment]
        clusters = {cluster.name: cluster for cluster in env.clusters}
        for name in instance.clusters:
            if residency not in clusters[name].residency:
                yield finding(
                    "residency-region",
                    f"{instance.id}: customer residency {residency} but cluster {name} "
                    f"(region {clusters[name].region}) holds {', '.join(clusters[name].residency)}",
                    enabled_at(catalog, instance),
                    key=name,
                    **_about(instance),
                )
        for host in instance.hosts:
            if host.residency != residency:
                yield finding(
                    "residency-region",
                    f"{instance.id}: customer residency {residency} but host {host.name} "
                    f"(region {host.region}) is {host.residency}",
                    enabled_at(catalog, instance),
                    key=host.name,
                    **_about(instance),
                )


def _dependencies(catalog: Catalog, instances: Sequence[Instance]) -> Iterator[Finding]:
    present = {(i.customer, i.service) for i in instances}
    for instance in instances:
        for dep in catalog.services[instance.service].depends_on:
            if (instance.customer, dep) not in present and (None, dep) not in present:
                yield finding(
                    "dependency-enabled",
                    f"{instance.id} depends on {dep}, which is not enabled here",
                    enabled_at(catalog, instance),
                    key=dep,
                    **_about(instance),
                )


def _offboarded(
    catalog: Catalog, env: str, instances: Sequence[Instance], today: datetime.date
) -> Iterator[Finding]:
    if catalog.environments[env].tier != "prod":
        return
    for instance in instances:
        customer = catalog.customers.get(instance.customer) if instance.customer else None
        if customer is None or customer.status != "offboarding" or customer.offboard_after is None:
            continue
        if customer.offboard_after < today:
            yield finding(
                "offboarded-absent",
                f"{instance.id}: customer {customer.name} was to be offboarded after "
                f"{customer.offboard_after.isoformat()} but is still in {env}",
                catalog.source("customer", customer.name).locate("offboard_after"),
                **_about(instance),
            )


def _objects(
    catalog: Catalog, files: Sequence[OutputFile], instances: Mapping[str, Instance]
) -> Iterator[Finding]:
    for file in files:
        data = file.data
        if not isinstance(data, dict):
            continue
        instance = instances.get(file.instances[0]) if len(file.instances) == 1 else None
        about = _about(instance) if instance else {"environment": file.path.split("/", 1)[0]}
        where = object_location(catalog, instance, "")  # patches, extras, or enabling
        if data.get("kind") == "Secret" and data.get("apiVersion") == "v1":
            yield finding(
                "no-secret-objects",
                f"{file.path}: a Secret object would put secret data in git",
                where,
                rendered=file.path,
                **about,
            )
        customer = (
            catalog.customers.get(instance.customer) if instance and instance.customer else None
        )
        if customer is not None and customer.status == "suspended":
            spec = data.get("spec") or {}
            running = (
                data.get("kind") in ("Deployment", "StatefulSet") and spec.get("replicas") != 0
            ) or data.get("kind") == "HorizontalPodAutoscaler"
            if running:
                yield finding(
                    "suspended-scaled-to-zero",
                    f"{file.path}: customer {customer.name} is suspended but this "
                    f"{data.get('kind')} would run pods",
                    where,
                    rendered=file.path,
                    **about,
                )


def _network_policies(catalog: Catalog, env: str, files: Sequence[OutputFile]) -> Iterator[Finding]:
    """Each customer Namespace has, on its cluster, a NetworkPolicy that selects every
    pod and restricts ingress: without one, any pod in the cluster can reach the
    customer's pods (NetworkPolicies only ever add isolation)."""
    namespaces: dict[tuple[str, str], tuple[str, str]] = {}  # (cluster, ns) -> customer, path
    isolated: set[tuple[str, str]] = set()
    for file in files:
        data = file.data
        parts = file.path.split("/")
        if not isinstance(data, dict) or len(parts) < 4 or parts[1] != "kubernetes":
            continue
        metadata = data.get("metadata") or {}
        if data.get("kind") == "Namespace" and data.get("apiVersion") == "v1":
            customer = (metadata.get("labels") or {}).get(CUSTOMER_LABEL)
            if customer in catalog.customers:
                namespaces[(parts[2], metadata.get("name"))] = (customer, file.path)
        elif data.get("kind") == "NetworkPolicy" and _isolates_ingress(data.get("spec") or {}):
            isolated.add((parts[2], metadata.get("namespace")))
    for (cluster, namespace), (customer, path) in sorted(namespaces.items()):
        if (cluster, namespace) not in isolated:
            yield finding(
                "namespace-network-policy",
                f"{path}: customer namespace {namespace} on cluster {cluster} has no "
                "NetworkPolicy that restricts ingress to all of its pods",
                catalog.source("customer", customer).locate(),
                environment=env,
                customer=customer,
                rendered=path,
                key=f"{cluster}/{namespace}",
            )


def _isolates_ingress(spec: Mapping[str, Any]) -> bool:
    """podSelector {} (every pod) and Ingress among the policy types (stated, or
    implied: policyTypes defaults to Ingress)."""
    return spec.get("podSelector") == {} and "Ingress" in spec.get("policyTypes", ["Ingress"])
