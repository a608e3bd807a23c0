"""The pipeline, in order, in one place.

    load      catalog files          -> Documents (plain data + positions)   loader.py
    validate  Documents              -> Catalog (typed, cross-checked)       validate.py
    resolve   Catalog                -> Instances (merged, interpolated)     resolver.py
    render    Instances              -> OutputFiles per environment          render/
    write     OutputFiles            -> bytes per path; the output folder    writer.py
    check     Instances, OutputFiles -> Findings, enforced                  check/
    report    Findings               -> text, json, junit, sarif, ...       report.py

Each stage returns problems instead of stopping; this module decides to stop, after a
stage that found any, by raising `CatalogInvalid`. Commands call these functions, never
a stage's internals.
"""

from __future__ import annotations

import datetime
import gc
import multiprocessing
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path

from compiler.affected import (
    Affected,
    Scope,
    folder_fingerprint,
    resolve_scope,
    scope_of,
    summarize,
)
from compiler.catalog import Catalog, catalog_files
from compiler.check import check_catalog, check_environment, known_checks
from compiler.check.checkov_checks import CheckovRun, activate
from compiler.check.declarative import compile_rules
from compiler.check.enforce import enforce
from compiler.check.schemas import CompiledSchema, ManifestSchemas
from compiler.diff import Diff, Rendered
from compiler.diff import compare as compare_rendered
from compiler.errors import CatalogInvalid, Location, Problem, UsageError, did_you_mean
from compiler.findings import Finding
from compiler.loader import load_document
from compiler.policies import PolicySet, load_policies
from compiler.policies import check_references as check_policy_references
from compiler.render import OutputFile, render_environment
from compiler.resolver import Instance, resolve
from compiler.revisions import revision_tree
from compiler.validate import build_catalog
from compiler.writer import render_tree, serialize

_REQUIRED_FILES = ("catalog/plans.yaml", "catalog/teams.yaml")
REPO_PATH = "rendered"  # where the output lives in the repository (ArgoCD paths)


@dataclass(frozen=True)
class Resolved:
    """The validated catalog and the instances of the environments asked for."""

    catalog: Catalog
    environments: tuple[str, ...]
    instances: Mapping[str, Instance]


def tune_gc() -> None:
    """A compile allocates millions of small, long-lived objects (documents, instances,
    rendered trees) and almost no cycles; CPython's default collector rescans them over
    and over (a third of resolve time at 30,000 instances). Collect rarely instead."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def load_catalog(root: Path) -> Catalog:
    """Load and validate every catalog file under `root`; raise with all problems found."""
    files, misplaced = catalog_files(root)
    problems = [
        Problem(
            Location(path),
            "file is not part of the catalog layout",
            "see docs/catalog.md for where each kind of file goes",
        )
        for path in misplaced
    ]
    present = {file.relative.rsplit(".", 1)[0] for file in files}
    problems += [
        Problem(Location(required), "required file is missing")
        for required in _REQUIRED_FILES
        if required.rsplit(".", 1)[0] not in present
    ]
    loaded, unreadable = [], []
    for file in files:
        document, found = load_document(root, file.relative)
        problems += found
        if document is not None:
            loaded.append((file, document))
        else:
            unreadable.append(file)
    catalog, found = build_catalog(loaded, unreadable)
    problems += found
    if problems:
        raise CatalogInvalid(problems)
    return catalog


def select_environments(catalog: Catalog, requested: Sequence[str] | None) -> tuple[str, ...]:
    """The environments to work on: all of them, or the requested ones if they exist."""
    if not requested:
        return tuple(sorted(catalog.environments))
    for name in requested:
        if name not in catalog.environments:
            raise UsageError(
                f"unknown environment '{name}'", did_you_mean(name, catalog.environments)
            )
    return tuple(sorted(set(requested)))


def run(root: Path, environments: Sequence[str] | None = None) -> Resolved:
    """load -> validate -> resolve, for all environments or the ones named."""
    return resolve_catalog(load_catalog(root), environments)


def resolve_catalog(catalog: Catalog, environments: Sequence[str] | None = None) -> Resolved:
    chosen = select_environments(catalog, environments)
    instances, problems = resolve(catalog, chosen)
    if problems:
        raise CatalogInvalid(problems)
    return Resolved(catalog, chosen, instances)


def render(resolved: Resolved, repo_path: str = "rendered") -> dict[str, list[OutputFile]]:
    """The output files of every environment of `resolved`; raise on render problems."""
    files_by_env: dict[str, list[OutputFile]] = {}
    problems: list[Problem] = []
    for env in resolved.environments:
        instances = [i for i in resolved.instances.values() if i.environment == env]
        files, found = render_environment(
            resolved.catalog, resolved.catalog.environments[env], instances, repo_path
        )
        files_by_env[env] = files
        problems += found
    if problems:
        raise CatalogInvalid(problems)
    return files_by_env


_SHARED: tuple[Resolved, str] | None = None  # what forked render workers inherit


def _render_one(env: str) -> tuple[dict[str, bytes], list[Problem]]:
    assert _SHARED is not None
    resolved, repo_path = _SHARED
    one = Resolved(resolved.catalog, (env,), resolved.instances)
    try:
        return render_tree(render(one, repo_path)), []
    except CatalogInvalid as invalid:
        return {}, invalid.problems


def render_parts(
    resolved: Resolved, repo_path: str = "rendered", done: Callable[[str], None] | None = None
) -> Iterator[dict[str, bytes]]:
    """Each environment's files as bytes, yielded as soon as it is rendered.

    Environments are independent, so each is rendered and emitted in its own worker
    process when the catalog is large (forked: the resolved catalog is inherited, not
    pickled; only bytes come back). Yielding each one as it finishes lets the caller
    write it while the workers render the rest. Which order they come in does not
    change any byte. Raises `CatalogInvalid` after the last one if any had problems, so
    a consumer that writes must treat what it got as unusable until the end.
    `done(env)` is called as each environment finishes (for a progress bar).
    """
    global _SHARED
    environments = list(resolved.environments)
    workers = _workers(resolved)
    problems: list[Problem] = []
    _SHARED = (resolved, repo_path)
    try:
        if workers > 1:
            with ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("fork")
            ) as pool:
                jobs = {pool.submit(_render_one, env): env for env in environments}
                for job in as_completed(jobs):
                    yield from _finished(jobs[job], job.result(), problems, done)
        else:
            for env in environments:
                yield from _finished(env, _render_one(env), problems, done)
    finally:
        _SHARED = None
    if problems:
        raise CatalogInvalid(problems)


def _finished(
    env: str,
    result: tuple[dict[str, bytes], list[Problem]],
    problems: list[Problem],
    done: Callable[[str], None] | None,
) -> Iterator[dict[str, bytes]]:
    tree, found = result
    problems += found
    if done is not None:
        done(env)
    if not found:
        yield tree


def render_bytes(resolved: Resolved, repo_path: str = "rendered") -> dict[str, bytes]:
    """Every output file of `resolved` as bytes, sorted by path (for --check and tests)."""
    return dict(sorted(item for tree in render_parts(resolved, repo_path) for item in tree.items()))


def _workers(resolved: Resolved) -> int:
    """Forked worker processes for per-environment work: one per environment and core,
    or 1 (no pool) for small catalogs or where fork is unavailable."""
    if len(resolved.instances) < _PARALLEL_FROM:
        return 1
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return min(len(resolved.environments), os.cpu_count() or 1)


_PARALLEL_FROM = 2_000  # instances; below this, starting workers costs more than it saves


@dataclass(frozen=True)
class Checked:
    """The findings of a check run, enforced, sorted; and the policy set they were judged by."""

    findings: list[Finding]
    policy_set: PolicySet


_CHECK: (
    tuple[Resolved, PolicySet, dict[str, CompiledSchema], datetime.date, Limit | None] | None
) = None
Limit = Mapping[str, frozenset[str] | None]  # environment -> instances to check expensively


def _check_one(env: str) -> tuple[list[Finding], list[Problem]]:
    assert _CHECK is not None
    resolved, policy_set, rules, today, limit = _CHECK
    instances = [i for i in resolved.instances.values() if i.environment == env]
    return check_environment(
        resolved.catalog,
        env,
        instances,
        policy_set.policies,
        rules,
        _SCHEMAS,
        today,
        _checkov_run(policy_set),
        limit.get(env, frozenset()) if limit is not None else None,
    )


_SCHEMAS = ManifestSchemas()  # compiled validators, shared by every environment of a run


def load_policy_set(root: Path, catalog: Catalog) -> PolicySet:
    """policies/ validated, custom checkov checks loaded, and the references to checks
    and teams checked; raise with every problem found."""
    policy_set, problems = load_policies(root)
    referenced = {*policy_set.config.checks, *(w.waiver.policy for w in policy_set.waivers)}
    if policy_set.config.checkov.enabled:
        checkov, found = activate(root, policy_set.checkov_dir)
        problems += found
        policy_set = replace(policy_set, checkov_checks=checkov)
        known = known_checks(policy_set.policies) | set(checkov)
    else:  # checkov off: its ids are not loaded, so any that looks like one is accepted
        known = known_checks(policy_set.policies) | {c for c in referenced if _CHECKOV_ID.match(c)}
    problems += check_policy_references(policy_set, known, set(catalog.teams))
    if problems:
        raise CatalogInvalid(problems)
    return policy_set


_CHECKOV_ID = re.compile(r"^CKV2?_[A-Z0-9_]+$")


def _checkov_run(policy_set: PolicySet) -> CheckovRun | None:
    config = policy_set.config
    if not config.checkov.enabled:
        return None
    skip = sorted(check for check, override in config.checks.items() if not override.enabled)
    return CheckovRun(config.checkov.severity, tuple(skip))


def check(
    root: Path,
    environments: Sequence[str] | None,
    today: datetime.date,
    done: Callable[[str], None] | None = None,
    affected_base: str | None = None,
) -> Checked:
    """load -> validate -> resolve -> per environment render + check -> enforce.

    With `affected_base`, the expensive checks (schemas, checkov) only look at the
    objects of instances the change since that revision reaches; the others run on all.

    Each environment is rendered and checked in its own forked worker when the catalog
    is large (validators compile once per worker; only findings come back).
    """
    catalog = load_catalog(root)
    limit = _affected_limit(compare(root, affected_base, catalog)) if affected_base else None
    resolved = resolve_catalog(catalog, environments)
    policy_set = load_policy_set(root, resolved.catalog)
    return check_resolved(resolved, policy_set, today, not environments, done, limit)


def check_catalog_only(root: Path, today: datetime.date) -> Checked:
    """Only the findings tied to no environment (a customer's domains, owner teams,
    plaintext secrets): what a run sharded per environment (`--env`) leaves out."""
    catalog = load_catalog(root)
    policy_set = load_policy_set(root, catalog)
    rules = compile_rules(policy_set.policies)
    findings = check_catalog(catalog, policy_set.policies, rules, today)
    tiers = {name: env.tier for name, env in catalog.environments.items()}
    enforced = enforce([f for f in findings if f.environment is None], policy_set, tiers, today, ())
    return Checked(sorted(enforced, key=Finding.sort_key), policy_set)


def _affected_limit(comparison: Comparison) -> Limit | None:
    """Per environment, the instances whose output can differ from the base (None: the
    whole environment changed). None when policies changed: everything is checked."""
    if comparison.affected.policies_changed:
        return None
    limit: dict[str, frozenset[str] | None] = {}
    for env in comparison.head.environments:
        if env in comparison.scope.environments:
            limit[env] = None
        else:
            ids = {i for i in comparison.affected.instances if i.split("/", 1)[0] == env}
            limit[env] = frozenset(ids)
    return limit


def check_resolved(
    resolved: Resolved,
    policy_set: PolicySet,
    today: datetime.date,
    catalog_wide: bool = True,
    done: Callable[[str], None] | None = None,
    limit: Limit | None = None,
) -> Checked:
    """`check` after load and resolve. Findings tied to no environment (a customer's
    domains, say) only with `catalog_wide`: a run on some environments skips them."""
    global _CHECK
    rules = compile_rules(policy_set.policies)
    findings = check_catalog(resolved.catalog, policy_set.policies, rules, today)
    if not catalog_wide:
        findings = [f for f in findings if f.environment in resolved.environments]
    envs = list(resolved.environments)
    workers = _workers(resolved)
    problems: list[Problem] = []
    _CHECK = (resolved, policy_set, rules, today, limit)
    try:
        if workers > 1:
            with ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("fork")
            ) as pool:
                results = list(pool.map(_check_one, envs))
        else:
            results = [_check_one(env) for env in envs]
    finally:
        _CHECK = None
    for env, (found, failed) in zip(envs, results, strict=True):
        findings += found
        problems += failed
        if done is not None:
            done(env)
    if problems:
        raise CatalogInvalid(problems)
    tiers = {name: env.tier for name, env in resolved.catalog.environments.items()}
    # a waiver is judged unused only where all it could cover was checked: not in a run
    # on some environments (elsewhere), nor on the affected set (expensive checks skipped)
    checked = () if limit is not None else None if catalog_wide else resolved.environments
    enforced = enforce(findings, policy_set, tiers, today, checked)
    return Checked(sorted(enforced, key=Finding.sort_key), policy_set)


# ---------------------------------------------------------------- base revision


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
        base = _base_catalog(base_root, base_ref, commit)
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


def _base_catalog(base_root: Path, base_ref: str, commit: str) -> Catalog:
    try:
        return load_catalog(base_root)
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


def diff(root: Path, base_ref: str, environments: Sequence[str] | None = None) -> Diff:
    """The rendered objects that differ between the base and the working tree, for
    the environments the change reaches (or those asked for). Only the scope is
    rendered; environment-wide files (tfvars, inventory) of an environment that is
    not wholly in scope are rendered from the scope's part and marked partial."""
    comparison = compare(root, base_ref)
    wanted = select_environments(comparison.head, environments) if environments else None
    envs = [e for e in comparison.affected.environments if wanted is None or e in wanted]
    base, problems = _render_scope(comparison.base, envs, comparison.old)
    if problems:
        raise _base_invalid(base_ref, comparison.commit, problems)
    head, problems = _render_scope(comparison.head, envs, comparison.new)
    if problems:
        raise CatalogInvalid(problems)
    # rendered from part of an environment: its tfvars and inventory; and, when only some
    # customers were rendered, the NetworkPolicies of environment-scoped services
    # (they admit every dependent customer)
    restricted = comparison.scope.customer_only(comparison.head)
    partial = [
        path
        for path, owner in {**base, **head}.items()
        if path.split("/")[0] not in comparison.scope.environments
        and (
            path.split("/")[1] in ("terraform", "ansible")
            or (restricted and owner.customer is None and "/networkpolicy-" in path)
        )
    ]
    tiers = {**{n: e.tier for n, e in comparison.base.environments.items()},
             **{n: e.tier for n, e in comparison.head.environments.items()}}  # fmt: skip
    return compare_rendered(
        comparison.affected.base, base, head, tiers, partial, comparison.affected.reasons
    )


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
) -> tuple[dict[str, Rendered], list[Problem]]:
    rendered: dict[str, Rendered] = {}
    problems: list[Problem] = []
    for env in envs:
        if env not in catalog.environments:
            continue  # added or removed by the change: everything in it differs
        chosen = [i for i in instances.values() if i.environment == env]
        files, found = render_environment(catalog, catalog.environments[env], chosen, REPO_PATH)
        problems += found
        for file in files:
            rendered[file.path] = Rendered(serialize(file), *_owner(file, instances))
    return rendered, problems
