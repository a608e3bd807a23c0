"""Rendered objects against the schemas of the cluster they are applied to.

Core kinds: kubernetes-validate's strict schemas for the cluster's own Kubernetes
version (unknown fields fail). Custom resources: the repository's CRDs in policies/crds/
(check/custom_crds.py), else the strict CRD schemas of what gitopsc emits (ArgoCD,
External Secrets, cert-manager, Routes) in compiler/check/crds/. An apiVersion/kind that
the version does not serve at all is `api-removed`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from compiler.catalog import Catalog, Instance
from compiler.check import result_cache
from compiler.check.builtins import api_removed, crd_schema, crd_unknown, kubernetes_schema
from compiler.check.builtins.base import about_file
from compiler.check.findings import Finding
from compiler.check.schemas import ManifestSchemas, NoSchema, identity
from compiler.check.subjects import object_location
from compiler.render import OutputFile

_MAX_ERRORS = 5  # per object: the first few say what is wrong; hundreds would bury it

# what the schemas say of one object, as the result cache keeps it (JSON data):
# ["unknown"] no schema for a custom resource, ["removed"] a core API the version does
# not serve, ["errors", is_custom, [[pointer, message], ...]] (no errors: it passes)
Raw = list[Any]


def cluster_of(path: str) -> str | None:
    """`<env>/kubernetes/<cluster>/...` and `<env>/argocd/<cluster>/...` -> cluster."""
    parts = path.split("/")
    return parts[2] if len(parts) > 3 and parts[1] in ("kubernetes", "argocd") else None


def schema_checks(
    catalog: Catalog,
    env: str,
    files: Sequence[OutputFile],
    instances: Mapping[str, Instance],
    schemas: ManifestSchemas,
    digests: result_cache.Digests | None = None,
) -> Iterator[Finding]:
    """Each object's errors against its cluster's schemas, as findings.

    What the schemas say of an object is a function of its data, its cluster's
    Kubernetes version and the schema set (`ManifestSchemas.identity`) alone, so it is
    kept in the result cache per namespace folder (result_cache.units): a check after a
    one-customer change validates that customer's folders only. The findings are made
    from the kept result on every run, since where they point (the catalog line behind
    a field), their customer and their waivers depend on this run's catalog."""
    versions = {c.name: c.kubernetes_version for c in catalog.environments[env].clusters}
    checked = [(file, cluster) for file in files if (cluster := _checked(file)) is not None]
    by_path = {file.path: file for file, _ in checked}
    results: dict[str, Raw] = {}
    for unit, paths in result_cache.units(by_path).items():
        version = versions[paths[0].split("/")[2]]
        chosen = [by_path[p] for p in paths]
        results.update(_unit_results(chosen, unit, version, schemas, digests))
    for file, cluster in checked:
        raw = results[file.path]
        yield from _findings(catalog, env, file, cluster, versions[cluster], raw, instances)


def _checked(file: OutputFile) -> str | None:
    """The cluster of a file the schema pass validates; None for the others (tfvars,
    inventories, kustomize's own files, anything without an apiVersion and a kind)."""
    data = file.data
    cluster = cluster_of(file.path)
    if file.format != "yaml" or cluster is None or not isinstance(data, dict):
        return None
    api_version, kind = data.get("apiVersion"), data.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str) or kind == "Kustomization":
        return None
    return cluster


def _unit_results(
    files: Sequence[OutputFile],
    unit: str,
    version: str,
    schemas: ManifestSchemas,
    known: result_cache.Digests | None,
) -> dict[str, Raw]:
    """What the schemas say of each object of one unit (result_cache.units): from the
    result cache when the same objects were validated against the same schema set and
    version before."""
    ordered = sorted(files, key=lambda file: file.path)
    key = None
    if result_cache.active():
        digests = [result_cache.digest_of(file.path, file.data, known) for file in ordered]
        if all(digest is not None for digest in digests):
            parts = [_identity(schemas.identity), version.encode(), str(_MAX_ERRORS).encode()]
            for file, digest in zip(ordered, digests, strict=True):
                parts += [file.path.encode(), digest or b""]
            key = result_cache.content_key("schemas", [unit.encode(), *parts])
            cached = result_cache.read("schemas", key)
            if _is_results(cached, ordered):
                return cached
    found = {file.path: _raw(file.data, version, schemas) for file in ordered}
    if key is not None:
        result_cache.write("schemas", key, found)
    return found


@functools.cache
def _identity(schemas: str) -> bytes:
    """The schema set's identity, and this module's code (what a kept result means)."""
    return identity([schemas.encode()], __file__).encode()


def _raw(data: dict[str, Any], version: str, schemas: ManifestSchemas) -> Raw:
    api_version, kind = data["apiVersion"], data["kind"]
    schema = schemas.lookup(version, api_version, kind)
    if isinstance(schema, NoSchema):
        return ["removed"] if _core(api_version) else ["unknown"]
    errors = [[error.pointer, error.message] for error in schema.errors(data)[:_MAX_ERRORS]]
    return ["errors", schemas.is_custom(api_version, kind), errors]


def _is_results(value: Any, files: Sequence[OutputFile]) -> bool:
    """A kept result has one well-formed entry per file, or it is not used."""
    return (
        isinstance(value, dict)
        and sorted(value) == [file.path for file in files]
        and all(_is_raw(raw) for raw in value.values())
    )


def _is_raw(raw: Any) -> bool:
    if raw in (["unknown"], ["removed"]):
        return True
    return (
        isinstance(raw, list)
        and len(raw) == 3
        and raw[0] == "errors"
        and isinstance(raw[1], bool)
        and isinstance(raw[2], list)
        and all(
            isinstance(error, list) and len(error) == 2 and all(isinstance(p, str) for p in error)
            for error in raw[2]
        )
    )


def _findings(
    catalog: Catalog,
    env: str,
    file: OutputFile,
    cluster: str,
    version: str,
    raw: Raw,
    instances: Mapping[str, Instance],
) -> Iterator[Finding]:
    if raw[0] == "errors" and not raw[2]:
        return  # valid: most objects, so nothing else is worked out for them
    api_version, kind = file.data["apiVersion"], file.data["kind"]
    instance = instances.get(file.instances[0]) if len(file.instances) == 1 else None
    about = {"rendered": file.path, **about_file(env, file, instances)}
    if raw[0] == "unknown":
        yield crd_unknown.BUILTIN.finding(
            f"{file.path}: no schema for custom resource {api_version} {kind}; it is not validated",
            object_location(catalog, instance, ""),
            source="schema",
            key=f"{api_version}/{kind}",
            **about,
        )
        return
    if raw[0] == "removed":
        yield api_removed.BUILTIN.finding(
            f"{file.path}: {api_version} {kind} is not served by Kubernetes "
            f"{version} (cluster {cluster})",
            object_location(catalog, instance, ""),
            source="kubernetes-validate",
            key=f"{api_version}/{kind}",
            **about,
        )
        return
    _, is_custom, errors = raw
    for pointer, message in errors:
        builtin = crd_schema.BUILTIN if is_custom else kubernetes_schema.BUILTIN
        yield builtin.finding(
            f"{file.path}: {pointer or '/'}: {message}",
            object_location(catalog, instance, pointer),
            source="schema" if is_custom else "kubernetes-validate",
            key=pointer,
            **about,
        )


def _core(api_version: str) -> bool:
    """Kubernetes' own API groups: none (v1), dotless (apps) or *.k8s.io."""
    group = api_version.rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")
