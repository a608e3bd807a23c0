"""`check`: resolved instances -> each environment rendered and checked -> enforced findings.

    check     Instances, OutputFiles -> Findings, enforced          check/
    report    Findings               -> text, json, junit, sarif...  check/report.py

Each environment is rendered and checked in its own forked worker when the catalog is
large (validators compile once per worker; only findings come back). With a base
revision, the expensive checks look only at what the change reaches (review/).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from compiler.catalog import Catalog, Shard
from compiler.check import (
    ArgoObject,
    CheckovRun,
    CompiledSchema,
    Finding,
    ManifestSchemas,
    PlacedWaiver,
    PolicySet,
    Probe,
    activate,
    argocd_checks,
    check_catalog,
    check_environment,
    check_references,
    checks_digest,
    compile_rules,
    enforce,
    known_checks,
    load_policies,
    result_cache,
)
from compiler.errors import CatalogInvalid, Problem
from compiler.pipeline import interpolated
from compiler.pipeline.fresh import Keys, inputs_of, stable_keys
from compiler.pipeline.load import (
    Resolved,
    compile_workers,
    load_catalog,
    resolve_catalog,
    select_environments,
    worker_pool,
    workers,
)
from compiler.pipeline.review import Comparison, compare, data_loss


@dataclass(frozen=True)
class Checked:
    """The findings of a check run, enforced, sorted; and the policy set they were judged by."""

    findings: list[Finding]
    policy_set: PolicySet


@dataclass(frozen=True)
class _Run:
    """What forked check workers inherit."""

    resolved: Resolved  # no instances: each worker resolves its environment (`check`)
    policy_set: PolicySet
    rules: dict[str, CompiledSchema]
    today: datetime.date
    limit: Limit | None
    shard: Shard | None
    probe: Probe | None
    kept: tuple[Path, Keys] | None  # the catalog's folder and unit keys (interpolated.py)


_CHECK: _Run | None = None
Limit = Mapping[str, frozenset[str] | None]  # environment -> instances to check expensively


_Checked = tuple[list[Finding], list[Problem], list[ArgoObject], bool]
"""One environment's findings, problems, ArgoCD objects; True last if it did not resolve."""


def _check_one(env: str) -> _Checked:
    assert _CHECK is not None
    run = _CHECK
    resolved, policy_set, rules, today, limit = (
        run.resolved,
        run.policy_set,
        run.rules,
        run.today,
        run.limit,
    )
    if not resolved.instances:  # resolved here, in parallel with the other environments
        root, keys = run.kept or (None, Keys())
        try:
            resolved = interpolated.resolve_keeping(root, resolved.catalog, [env], keys)
        except CatalogInvalid as invalid:
            return [], invalid.problems, [], True
    instances = [i for i in resolved.instances.values() if i.environment == env]
    shard = run.shard
    customers = {i.id: i.customer for i in instances}
    found, problems, argo = check_environment(
        resolved.catalog,
        env,
        instances,
        policy_set.policies,
        rules,
        _schemas(policy_set),
        today,
        _checkov_run(policy_set),
        limit.get(env, frozenset()) if limit is not None else None,
        owns=(lambda f: shard.owns_instances(customers.get(i) for i in f.instances))
        if shard is not None
        else None,
        probe=run.probe,
        connected=resolved.connections.get(env),
    )
    return found, problems, argo, False


# compiled validators, shared by every environment of a run (and by later runs of the
# process with the same CRDs in policies/crds/)
_SCHEMAS: dict[str, ManifestSchemas] = {}


def _schemas(policy_set: PolicySet) -> ManifestSchemas:
    key = hashlib.sha256(
        json.dumps(policy_set.crds and sorted(policy_set.crds.items()), sort_keys=True).encode()
    ).hexdigest()
    if key not in _SCHEMAS:
        _SCHEMAS[key] = ManifestSchemas(policy_set.crds)
    return _SCHEMAS[key]


def load_policy_set(root: Path, catalog: Catalog) -> PolicySet:
    """policies/ validated, custom checkov checks loaded, and the references to checks
    and teams checked; raise with every problem found."""
    policy_set, problems = load_policies(root)
    referenced = {
        *policy_set.config.checks,
        *(w.waiver.policy for w in policy_set.waivers),
        *(c for checks in policy_set.equivalents.values() for c in checks),
    }
    if policy_set.config.checkov.enabled:
        checkov, found = activate(root, policy_set.checkov_dir)
        problems += found
        policy_set = replace(policy_set, checkov_checks=checkov)
        known = known_checks(policy_set.policies) | set(checkov)
    else:  # checkov off: its ids are not loaded, so any that looks like one is accepted
        known = known_checks(policy_set.policies) | {c for c in referenced if _CHECKOV_ID.match(c)}
    problems += check_references(policy_set, known, set(catalog.teams))
    if problems:
        raise CatalogInvalid(problems)
    return policy_set


_CHECKOV_ID = re.compile(r"^CKV2?_[A-Z0-9_]+$")


def _checkov_run(policy_set: PolicySet) -> CheckovRun | None:
    config = policy_set.config
    if not config.checkov.enabled:
        return None
    skip = sorted(check for check, override in config.checks.items() if not override.enabled)
    return CheckovRun(config.checkov.severity, tuple(skip), checks_digest(policy_set.checkov_dir))


def check(
    root: Path,
    environments: Sequence[str] | None,
    today: datetime.date,
    done: Callable[[str], None] | None = None,
    affected_base: str | None = None,
    shard: Shard | None = None,
) -> Checked:
    """load -> validate -> resolve -> per environment render + check -> enforce.

    With `affected_base`, the expensive checks (schemas, checkov) only look at the
    objects of instances the change since that revision reaches; the others run on all;
    and the change is judged too: the persistent data it destroys.

    Each environment is resolved, rendered and checked in its own forked worker when
    the catalog is large (validators compile once per worker; only findings come back),
    as a compile does (pipeline/compile.py `compile_parts`): resolving 30,000 instances
    here first took 3 s of a check after a one-customer change at 1,000 customers.
    """
    before = inputs_of(root, interpolated.REPO_PATH) if result_cache.active() else None
    catalog = load_catalog(root)
    keys = stable_keys(root, catalog, interpolated.REPO_PATH, before)
    comparison = compare(root, affected_base, catalog) if affected_base else None
    limit = _affected_limit(comparison) if comparison else None
    chosen = select_environments(catalog, environments)
    kept = (root, keys)
    if comparison is None and compile_workers(catalog, chosen) > 1:
        # large: each worker resolves its own environment (as a compile does), so
        # resolving runs in parallel and this process never holds every instance
        resolved = Resolved(catalog, chosen, {})
    else:
        resolved = interpolated.resolve_keeping(root, catalog, chosen, keys)
    try:
        policy_set = load_policy_set(root, resolved.catalog)
    except CatalogInvalid:
        if not resolved.instances:  # not resolved yet: the catalog's problems come first,
            resolve_catalog(catalog, chosen)  # as they do for a small catalog (raises)
        raise
    # what the change destroys: its scope rendered at the base and here
    losses = data_loss(comparison, affected_base, environments) if comparison else []
    return check_resolved(
        resolved, policy_set, today, not environments, done, limit, losses, shard, kept
    )


def check_catalog_only(root: Path, today: datetime.date) -> Checked:
    """Only the findings tied to no environment (a customer's domains, owner teams,
    plaintext secrets): what a run sharded per environment (`--env`) leaves out. The
    catalog is resolved too, so that it refuses all `validate` refuses (a host pool
    outside a customer's residency is found when layers merge): the pre-commit hook runs
    this, everything that needs no rendering, in seconds."""
    catalog = interpolated.run(root).catalog
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
    changes: Sequence[Finding] = (),
    shard: Shard | None = None,
    kept: tuple[Path, Keys] | None = None,
) -> Checked:
    """`check` after load and resolve. Findings tied to no environment (a customer's
    domains, say) only with `catalog_wide`: a run on some environments skips them.
    `changes`: the findings about a change against a base revision (data loss).

    `shard` (`--shard K/N`, catalog/shards.py): every environment is still rendered
    whole and every check that spans customers (network reachability, tenant reach,
    unique domains and ArgoCD names, the catalog-wide built-ins, policies) still runs
    on all of it, so each finds exactly what a full run finds; the expensive checks
    (schemas, checkov) look only at the shard's files. The shard reports the findings
    of its customers (shard 1: also those of no customer) and judges its customers'
    waivers (shard 1: also those naming no customer, probing other shards' files for
    their use, probes.py); the N shards together report what one full run does."""
    global _CHECK
    rules = compile_rules(policy_set.policies)
    findings = check_catalog(resolved.catalog, policy_set.policies, rules, today)
    findings += changes
    if not catalog_wide:
        findings = [f for f in findings if f.environment in resolved.environments]
    envs = list(resolved.environments)
    count = workers(resolved) if resolved.instances else compile_workers(resolved.catalog, envs)
    problems: list[Problem] = []
    judges = _judges(shard)
    live = [w for w in policy_set.waivers if w.waiver.expires >= today]
    probe = (
        Probe(policy_set, live, [w for w in live if judges(w) and w.waiver.customer is None])
        if shard is not None and shard.index == 1 and limit is None
        else None
    )
    _CHECK = _Run(resolved, policy_set, rules, today, limit, shard, probe, kept)
    try:
        if count > 1:
            with worker_pool(count) as pool:
                results = list(pool.map(_check_one, envs))
        else:
            results = [_check_one(env) for env in envs]
    finally:
        _CHECK = None
    argo: list[ArgoObject] = []
    unresolved: list[Problem] = []
    for env, (found, failed, objects, not_resolved) in zip(envs, results, strict=True):
        findings += found
        (unresolved if not_resolved else problems).extend(failed)
        argo += objects
        if done is not None:
            done(env)
    if unresolved:  # the problems as one resolve of every environment words them
        resolve_catalog(resolved.catalog, envs)
        raise CatalogInvalid(unresolved)  # if it did not: the workers' own words
    findings += argocd_checks(resolved.catalog, argo)
    if problems:
        raise CatalogInvalid(problems)
    tiers = {name: env.tier for name, env in resolved.catalog.environments.items()}
    # a waiver is judged unused only where all it could cover was checked: not in a run
    # on some environments (elsewhere), nor on the affected set (expensive checks skipped)
    checked = () if limit is not None else None if catalog_wide else resolved.environments
    if shard is None:
        enforced = enforce(findings, policy_set, tiers, today, checked)
    else:
        own = [f for f in findings if shard.owns_customer(f.customer)]
        seen = [f for f in findings if not shard.owns_customer(f.customer)]
        enforced = enforce(own, policy_set, tiers, today, checked, judges, seen)
    return Checked(sorted(enforced, key=Finding.sort_key), policy_set)


def _judges(shard: Shard | None) -> Callable[[PlacedWaiver], bool]:
    """The waivers a shard judges: its customers' (shard 1: and those of no customer)."""
    if shard is None:
        return lambda placed: True
    return lambda placed: shard.owns_customer(placed.waiver.customer)
