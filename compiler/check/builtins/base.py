"""What every built-in check is: an id, a title, a default severity, a remediation, the
scope it runs in and the function that finds. Kept apart from the registry so that each
check's module can import it without importing the others."""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from compiler.catalog import Catalog, Connection, Instance, connections
from compiler.check.findings import Finding, Severity
from compiler.check.subjects import enabled_at
from compiler.errors import Location
from compiler.render import OutputFile

# catalog:     check(catalog, today), once per run (findings tied to no environment)
# environment: check(EnvironmentInput), once per environment
# argocd:      check(catalog, ArgoObjects), once per run over every checked environment's
#              Argo objects (one ArgoCD may read several environments)
# schemas:     reported by the schema pass (check/manifests.py), one validation an object
# waivers:     reported by enforcement (check/enforcement.py), which judges each waiver
# base:        check(Sides), once per comparison with a base revision (`diff --base`,
#              `check --affected-base`): what a change does, not what the tree is
Scope = Literal["catalog", "environment", "argocd", "schemas", "waivers", "base"]


@dataclass(frozen=True)
class Builtin:
    id: str
    title: str
    severity: Severity
    remediation: str
    scope: Scope
    check: Callable[..., Any] | None = None  # None: found by the pass its scope names
    doc: str = ""  # the module's docstring: first paragraph what it guards, the rest why

    @property
    def summary(self) -> str:
        """The docstring's first paragraph on one line (docs/policies.md's "what")."""
        first = self.doc.strip().split("\n\n", 1)[0]
        return " ".join(first.split()).rstrip(".") or self.title

    @property
    def reason(self) -> str:
        """The rest of the docstring on one line: why the check exists."""
        parts = self.doc.strip().split("\n\n", 1)
        return " ".join(parts[1].split()) if len(parts) > 1 else ""

    def finding(self, message: str, location: Location | None, **subject: Any) -> Finding:
        source = subject.pop("source", "builtin")
        remediation = subject.pop("remediation", self.remediation)  # a case's own advice
        return Finding(
            self.id,
            self.severity,
            message,
            source,
            location,
            remediation=remediation,
            title=self.title,
            **subject,
        )


@dataclass(frozen=True)
class EnvironmentInput:
    """One environment as its checks see it: the validated catalog, the environment's
    instances and their rendered files (after patches), and the day of the check."""

    catalog: Catalog
    env: str
    instances: Sequence[Instance]
    files: Sequence[OutputFile]
    today: datetime.date
    found_connections: Sequence[Connection] | None = None  # by resolve, if it kept them

    @functools.cached_property
    def by_id(self) -> Mapping[str, Instance]:
        return {instance.id: instance for instance in self.instances}

    @functools.cached_property
    def connections(self) -> Sequence[Connection]:
        """The connections the catalog declares in this environment (the renderer's
        NetworkPolicy rules come from the same list), computed once per environment."""
        if self.found_connections is not None:
            return self.found_connections
        return connections(self.catalog, self.catalog.environments[self.env], self.instances)[0]

    def owner(self, file: OutputFile) -> Instance | None:
        """The one instance a file was rendered for; None for shared files (a
        namespace's objects, ArgoCD's, tfvars)."""
        return self.by_id.get(file.instances[0]) if len(file.instances) == 1 else None


def as_mapping(value: Any) -> Mapping[str, Any]:
    """`value` if it is a mapping, else an empty one: rendered objects come from patches
    and extra resources, and a check reads them before the schema check has said that a
    field has the wrong type, so every read of a nested field goes through these two."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def about(instance: Instance) -> dict[str, Any]:
    """The subject fields of a finding about one instance (waivers match on them)."""
    return {
        "environment": instance.environment,
        "instance": instance.id,
        "customer": instance.customer,
        "service": instance.service,
    }


def about_file(env: str, file: OutputFile, instances: Mapping[str, Instance]) -> dict[str, Any]:
    """The subject fields of a finding about one rendered file: its instance's, else (a
    namespace's shared objects) the customer and the service that all of the file's
    instances share, so that a waiver scoped to a customer covers its namespace's files."""
    owners = [instances[i] for i in file.instances if i in instances]
    if len(file.instances) == 1 and owners:
        return about(owners[0])
    subject: dict[str, Any] = {"environment": env}
    for field in ("customer", "service"):
        values = {getattr(owner, field) for owner in owners}
        if len(values) == 1 and None not in values:
            subject[field] = values.pop()
    return subject


def producer(run: EnvironmentInput, instance: Instance, file: OutputFile) -> Location:
    """The catalog line that made the object: the extra resource of that kind and name,
    else the patch that rewrote an object's identity, else the first patch aimed at the
    object (its kind, and its name or none), else any patch, else where the instance is
    enabled."""
    kind, name = file.data["kind"], file.data["metadata"]["name"]
    for index, raw in enumerate(instance.settings.extra_resources or []):
        metadata = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
        if raw.get("kind") == kind and metadata.get("name") == name:
            return instance.origin(("extra_resources", index)).location or enabled_at(
                run.catalog, instance
            )
    patches = instance.settings.patches or []
    for index, patch in enumerate(patches):
        if _rewrites_identity(patch):
            return instance.origin(("patches", index)).location or enabled_at(run.catalog, instance)
    aimed = [
        index
        for index, patch in enumerate(patches)
        if patch.target.kind == kind and patch.target.name in (None, name)
    ]
    if aimed or patches:  # the patch aimed at this object, else the first one
        index = (aimed or [0])[0]
        return instance.origin(("patches", index)).location or enabled_at(run.catalog, instance)
    return enabled_at(run.catalog, instance)


_IDENTITY = ("", "/apiVersion", "/kind", "/metadata", "/metadata/name", "/metadata/namespace")


def _rewrites_identity(patch: Any) -> bool:
    if patch.json_patch is not None:
        return any(
            isinstance(op, dict) and (op.get("path") in _IDENTITY or op.get("from") in _IDENTITY)
            for op in patch.json_patch
        )
    merge = patch.merge_patch or {}
    metadata = merge.get("metadata") if isinstance(merge.get("metadata"), dict) else {}
    return bool({"apiVersion", "kind"} & set(merge) or {"name", "namespace"} & set(metadata))
