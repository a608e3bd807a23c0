"""`diff` and `affected`: the working tree against a base revision read from git objects.

    compare   base + working tree -> what changed, its scope, the scope resolved on both
    diff      the scope rendered on both sides -> object-by-object differences, and the
              persistent data the change destroys (check/builtins/persistent_data_loss.py)

Only the scope is resolved and rendered, so a one-customer change costs one customer.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from compiler.catalog import REALMS, Catalog, Instance, Shard
from compiler.check import Finding, Sides, change_checks, enforce, load_policies
from compiler.errors import CatalogInvalid, Problem, UsageError
from compiler.output import serialize, units
from compiler.pipeline.compile import REPO_PATH
from compiler.pipeline.load import load_catalog, select_environments
from compiler.render import OutputFile, render_environment
from compiler.review import (
    Affected,
    Diff,
    Rendered,
    Scope,
    folder_fingerprint,
    resolve_scope,
    revision_tree,
    scope_of,
    summarize,
)
from compiler.review import compare as compare_rendered


@dataclass(frozen=True)
class Comparison:
    """The working tree against a base revision: what changed and its instances."""

    affected: Affected
    scope: Scope
    base: Catalog
    head: Catalog
    old: dict[str, Instance]  # the scope's instances at the base
    new: dict[str, Instance]  # ... and in the working tree
    commit: str  # the base's full hash


def compare(root: Path, base_ref: str, head: Catalog | None = None) -> Comparison:
    """load both catalogs (the base from git objects; `head`, the working tree's, unless
    the caller has it) -> scope -> resolve the scope on both sides. A base that does
    not load is a UsageError (it is not the change's fault and not fixable in it);
    problems in the working tree are the change's."""
    with revision_tree(root, base_ref) as (base_root, commit):
        base = _base_catalog(base_root, base_ref, commit, f"{root.resolve()}\0base")
        base_policies = folder_fingerprint(base_root, ("policies",))
    head = head if head is not None else load_catalog(root)
    scope = scope_of(base, head)
    old, problems = resolve_scope(base, scope)
    if problems:
        raise _base_invalid(base_ref, commit, problems)
    new, problems = resolve_scope(head, scope)
    if problems:
        raise CatalogInvalid(problems)
    changed_policies = base_policies != folder_fingerprint(root, ("policies",))
    label = f"{base_ref} ({commit[:12]})" if not commit.startswith(base_ref) else commit[:12]
    return Comparison(
        summarize(label, scope, old, new, changed_policies), scope, base, head, old, new, commit
    )


def _base_catalog(base_root: Path, base_ref: str, commit: str, cache_as: str) -> Catalog:
    """The base revision's catalog, its parsed files kept under `cache_as`: its folder is
    a new temporary one each run, which would name a new entry each time
    (pipeline/parse_cache.py)."""
    try:
        return load_catalog(base_root, cache_as)
    except CatalogInvalid as invalid:
        raise _base_invalid(base_ref, commit, invalid.problems) from None


def _base_invalid(base_ref: str, commit: str, problems: Sequence[Problem]) -> UsageError:
    shown = "\n".join("  " + p.render().replace("\n", "\n  ") for p in problems[:5])
    more = f"\n  ... and {len(problems) - 5} more" if len(problems) > 5 else ""
    return UsageError(
        f"the catalog at base revision {base_ref} ({commit[:12]}) does not compile:\n{shown}{more}",
        "compare with a revision whose catalog is valid, such as the merge base of a "
        "branch whose pipeline passed",
    )


def diff(
    root: Path,
    base_ref: str,
    environments: Sequence[str] | None = None,
    today: datetime.date | None = None,
    shard: Shard | None = None,
) -> Diff:
    """The rendered objects that differ between the base and the working tree, for
    the environments the change reaches (or those asked for), and the persistent data
    the change destroys (judged by policies/: waived or not). Only the scope is
    rendered; environment-wide files (tfvars, inventory) of an environment that is
    not wholly in scope are rendered from the scope's part and marked partial.

    `shard` (`--shard K/N`): the part of that diff that is the shard's: the objects
    and data losses of its customers (shard 1: also those of no customer), the renames
    to its customers, and (shard 1) the reasons. The diff is still computed whole: it
    costs the change's scope, not the catalog, and renames pair customers of
    different shards."""
    comparison = compare(root, base_ref)
    sides = render_sides(comparison, base_ref, environments)
    # object by object whatever the layout: in a multi-document file, each document
    # is a unit of its own (`.../manifests.yaml#deployment-synapse`)
    old_units = _units(comparison.base, sides.old)
    new_units = _units(comparison.head, sides.new)
    base = {k: Rendered(serialize(f), *_owner(f, comparison.old)) for k, f in old_units.items()}
    head = {k: Rendered(serialize(f), *_owner(f, comparison.new)) for k, f in new_units.items()}
    # rendered from part of an environment: its tfvars, inventory and Hiera node files
    # (a relay's holds every customer on it); and, when only some
    # customers were rendered, the NetworkPolicies of environment-scoped services
    # (they admit every dependent customer) and the Keycloak namespace's realms folder
    restricted = comparison.scope.customer_only(comparison.head)
    partial = [
        path
        for path, file in {**old_units, **new_units}.items()
        if path.split("/")[0] not in comparison.scope.environments
        and (
            path.split("/")[1] in ("terraform", "ansible", "hieradata")
            or (
                restricted
                and {**base, **head}[path].customer is None
                and isinstance(file.data, dict)
                and (
                    file.data.get("kind") == "NetworkPolicy"
                    # a cluster's realms and their one client-secrets ExternalSecret
                    or path.split("/")[4:5] == [REALMS]
                )
            )
        )
    ]
    tiers = _tiers(comparison)
    losses = _judged(root, comparison.head, change_checks(sides), tiers, today)
    result = compare_rendered(
        comparison.affected.base, base, head, tiers, partial, comparison.affected.reasons, losses
    )
    return result if shard is None else _shard_part(result, shard)


def _shard_part(whole: Diff, shard: Shard) -> Diff:
    return dataclasses.replace(
        whole,
        changes=tuple(c for c in whole.changes if shard.owns_customer(c.customer)),
        renamed=tuple(pair for pair in whole.renamed if shard.owns_customer(pair[1])),
        reasons=whole.reasons if shard.index == 1 else (),
        losses=tuple(f for f in whole.losses if shard.owns_customer(f.customer)),
    )


def render_sides(
    comparison: Comparison, base_ref: str, environments: Sequence[str] | None = None
) -> Sides:
    """The change's scope rendered at the base and in the working tree, for the
    environments it reaches (or those of them asked for)."""
    wanted = select_environments(comparison.head, environments) if environments else None
    envs = [e for e in comparison.affected.environments if wanted is None or e in wanted]
    old, problems = _render_scope(comparison.base, envs, comparison.old)
    if problems:
        raise _base_invalid(base_ref, comparison.commit, problems)
    new, problems = _render_scope(comparison.head, envs, comparison.new)
    if problems:
        raise CatalogInvalid(problems)
    return Sides(comparison.base, comparison.head, old, new, comparison.old, comparison.new)


def data_loss(
    comparison: Comparison, base_ref: str, environments: Sequence[str] | None = None
) -> list[Finding]:
    """`persistent-data-loss`'s findings for a change (not yet enforced)."""
    return change_checks(render_sides(comparison, base_ref, environments))


def _tiers(comparison: Comparison) -> dict[str, str]:
    return {
        **{n: e.tier for n, e in comparison.base.environments.items()},
        **{n: e.tier for n, e in comparison.head.environments.items()},
    }


def _judged(
    root: Path,
    catalog: Catalog,
    findings: list[Finding],
    tiers: dict[str, str],
    today: datetime.date | None,
) -> tuple[Finding, ...]:
    """The findings with the outcome policies/ gives them (a waiver, the tier's rule);
    the waivers themselves are judged by `check`, not here."""
    if not findings:
        return ()
    policy_set, problems = load_policies(root)
    if problems:
        raise CatalogInvalid(problems)
    ids = {f.id for f in findings}
    enforced = enforce(findings, policy_set, tiers, today or datetime.date.today(), ())
    return tuple(sorted((f for f in enforced if f.id in ids), key=Finding.sort_key))


def _units(catalog: Catalog, files: Sequence[OutputFile]) -> dict[str, OutputFile]:
    """The files of one side by the name a reviewer sees, each environment laid out as
    that side's catalog says (only environments it has are rendered)."""
    by_env: dict[str, list[OutputFile]] = {}
    for file in files:
        by_env.setdefault(file.path.split("/", 1)[0], []).append(file)
    named: dict[str, OutputFile] = {}
    for env, members in sorted(by_env.items()):
        named.update(units(members, catalog.environments[env].output.layout))
    return named


def _owner(file: OutputFile, instances: Mapping[str, Instance]) -> tuple[str | None, str | None]:
    """The customer and service a file belongs to, when all its instances share one."""
    owners = [instances[i] for i in file.instances if i in instances]
    customers = {o.customer for o in owners}
    services = {o.service for o in owners}
    return (
        customers.pop() if len(customers) == 1 else None,
        services.pop() if len(services) == 1 else None,
    )


def _render_scope(
    catalog: Catalog, envs: Sequence[str], instances: Mapping[str, Instance]
) -> tuple[list[OutputFile], list[Problem]]:
    rendered: list[OutputFile] = []
    problems: list[Problem] = []
    for env in envs:
        if env not in catalog.environments:
            continue  # added or removed by the change: everything in it differs
        chosen = [i for i in instances.values() if i.environment == env]
        files, found = render_environment(catalog, catalog.environments[env], chosen, REPO_PATH)
        problems += found
        rendered += files
    return rendered, problems
