"""Rendered objects against the schemas of the cluster they are applied to.

Core kinds: kubernetes-validate's strict schemas for the cluster's own Kubernetes
version (unknown fields fail). Custom resources: the repository's CRDs in policies/crds/
(check/custom_crds.py), else the strict CRD schemas of what gitopsc emits (ArgoCD,
External Secrets, cert-manager, Routes) in compiler/check/crds/. An apiVersion/kind that
the version does not serve at all is `api-removed`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from compiler.catalog import Catalog, Instance
from compiler.check.builtins import api_removed, crd_schema, crd_unknown, kubernetes_schema
from compiler.check.builtins.base import about_file
from compiler.check.findings import Finding
from compiler.check.schemas import CompiledSchema, ManifestSchemas, NoSchema
from compiler.check.subjects import object_location
from compiler.render import OutputFile

_MAX_ERRORS = 5  # per object: the first few say what is wrong; hundreds would bury it


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
) -> Iterator[Finding]:
    versions = {c.name: c.kubernetes_version for c in catalog.environments[env].clusters}
    for file in files:
        data = file.data
        cluster = cluster_of(file.path)
        if file.format != "yaml" or cluster is None or not isinstance(data, dict):
            continue
        api_version, kind = data.get("apiVersion"), data.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str) or kind == "Kustomization":
            continue
        instance = instances.get(file.instances[0]) if len(file.instances) == 1 else None
        about = {"rendered": file.path, **about_file(env, file, instances)}
        schema = schemas.lookup(versions[cluster], api_version, kind)
        if isinstance(schema, NoSchema) and not _core(api_version):
            yield crd_unknown.BUILTIN.finding(
                f"{file.path}: no schema for custom resource {api_version} {kind}; "
                "it is not validated",
                object_location(catalog, instance, ""),
                source="schema",
                key=f"{api_version}/{kind}",
                **about,
            )
            continue
        if isinstance(schema, NoSchema):
            yield api_removed.BUILTIN.finding(
                f"{file.path}: {api_version} {kind} is not served by Kubernetes "
                f"{versions[cluster]} (cluster {cluster})",
                object_location(catalog, instance, ""),
                source="kubernetes-validate",
                key=f"{api_version}/{kind}",
                **about,
            )
            continue
        assert isinstance(schema, CompiledSchema)
        is_custom = schemas.is_custom(api_version, kind)
        for error in schema.errors(data)[:_MAX_ERRORS]:
            builtin = crd_schema.BUILTIN if is_custom else kubernetes_schema.BUILTIN
            yield builtin.finding(
                f"{file.path}: {error.pointer or '/'}: {error.message}",
                object_location(catalog, instance, error.pointer),
                source="schema" if is_custom else "kubernetes-validate",
                key=error.pointer,
                **about,
            )


def _core(api_version: str) -> bool:
    """Kubernetes' own API groups: none (v1), dotless (apps) or *.k8s.io."""
    group = api_version.rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")
