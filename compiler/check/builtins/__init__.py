"""Built-in checks: what spans entities or needs more than one document to decide.

One module per check (ansible-lint's `rules/<rule>.py`): its `BUILTIN` (id, title,
default severity, remediation, scope and the function that finds) and a docstring that
says what it guards (first line) and why. Each is enabled, disabled or re-graded in
policies/config.yaml like a declarative policy. This registry collects them for the
runner, `gitopsc check --list` and docs/policies.md; their passing and failing cases
are data in tests/fixtures/builtins/<id>/.

Some repeat, on the resolved result, what catalog validation already refuses as bad
input (a dependency not enabled, an owner team that does not exist): they guard the
compiled output itself and make the guarantee visible in the reports.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from compiler.catalog import Catalog, Connection, Instance
from compiler.check.builtins import (
    api_removed,
    application_replaced,
    argocd_name_unique,
    crd_schema,
    crd_unknown,
    declared_egress,
    dependency_enabled,
    domain_unique,
    kubernetes_schema,
    namespace_network_policy,
    network_reachability,
    no_secret_objects,
    offboarded_absent,
    openshift_scc,
    owner_team_exists,
    persistent_data_loss,
    plaintext_secret,
    residency_region,
    statefulset_immutable,
    suspended_scaled_to_zero,
    tenant_scope,
    waiver_expired,
    waiver_unused,
)
from compiler.check.builtins.argocd_name_unique import ArgoObject, argo_objects
from compiler.check.builtins.base import Builtin, EnvironmentInput
from compiler.check.builtins.persistent_data_loss import Sides
from compiler.check.findings import Finding
from compiler.render import OutputFile

# in the order docs/policies.md lists them: the catalog's meaning, then the schemas,
# then the waivers
BUILTINS: dict[str, Builtin] = {
    module.BUILTIN.id: module.BUILTIN
    for module in (
        tenant_scope,
        residency_region,
        domain_unique,
        dependency_enabled,
        owner_team_exists,
        plaintext_secret,
        no_secret_objects,
        suspended_scaled_to_zero,
        offboarded_absent,
        persistent_data_loss,
        application_replaced,
        statefulset_immutable,
        namespace_network_policy,
        network_reachability,
        declared_egress,
        argocd_name_unique,
        openshift_scc,
        api_removed,
        kubernetes_schema,
        crd_schema,
        crd_unknown,
        waiver_expired,
        waiver_unused,
    )
}


def catalog_checks(catalog: Catalog, today: datetime.date) -> list[Finding]:
    """The built-ins tied to no environment (a customer's domains, owner teams, secrets)."""
    return [
        found
        for builtin in BUILTINS.values()
        if builtin.scope == "catalog" and builtin.check is not None
        for found in builtin.check(catalog, today)
    ]


def environment_checks(
    catalog: Catalog,
    env: str,
    instances: Sequence[Instance],
    files: Sequence[OutputFile],
    today: datetime.date,
    connected: Sequence[Connection] | None = None,
) -> list[Finding]:
    """The built-ins that judge one environment's instances and rendered files
    (`connected`: the environment's connections, if resolve found them already)."""
    run = EnvironmentInput(catalog, env, instances, files, today, connected)
    return [
        found
        for builtin in BUILTINS.values()
        if builtin.scope == "environment" and builtin.check is not None
        for found in builtin.check(run)
    ]


def argocd_checks(catalog: Catalog, objects: Sequence[ArgoObject]) -> list[Finding]:
    """The built-ins that judge the Argo objects of every checked environment at once
    (one ArgoCD may read several environments)."""
    return [
        found
        for builtin in BUILTINS.values()
        if builtin.scope == "argocd" and builtin.check is not None
        for found in builtin.check(catalog, objects)
    ]


def change_checks(sides: Sides) -> list[Finding]:
    """The built-ins that judge a change: its scope rendered at a base revision and in
    the working tree (persistent data it destroys)."""
    return [
        found
        for builtin in BUILTINS.values()
        if builtin.scope == "base" and builtin.check is not None
        for found in builtin.check(sides)
    ]


def markdown() -> str:
    """The built-ins as docs/policies.md lists them: a table of what each guards, then
    why, from each module's docstring (a test keeps the page and the code the same)."""
    rows = [f"| `{b.id}` | {b.severity} | {b.summary} |" for b in BUILTINS.values()]
    table = ["| id | severity | what |", "|---|---|---|", *rows]
    reasons = [f"- **`{b.id}`**: {b.reason}" for b in BUILTINS.values() if b.reason]
    return "\n".join([*table, "", "Why each exists:", "", *reasons]) + "\n"


__all__ = [
    "BUILTINS",
    "ArgoObject",
    "Builtin",
    "EnvironmentInput",
    "Sides",
    "argo_objects",
    "argocd_checks",
    "catalog_checks",
    "change_checks",
    "environment_checks",
    "markdown",
]
