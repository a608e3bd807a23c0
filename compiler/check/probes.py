"""Is a waiver used in another shard? Probe the expensive checks there, just enough.

In a run sharded by customer (`--shard K/N`) the expensive checks (schemas, checkov)
look only at the shard's own files, and each waiver is judged by one shard: its
customer's, or shard 1 for a waiver that names no customer. Such a waiver can cover a
schema or checkov finding on any customer's objects, which shard 1 does not check; were
it judged on shard 1's findings alone, a waiver that another shard uses would be
reported unused (the classic sharding bug). So shard 1 runs the waiver's expensive
check on the other shards' files it could cover (its environment, its service), one
customer, then two, four, ... at a time, and stops as soon as the waiver is used.
A used waiver usually matches in the first customer; only a waiver that is really
unused costs a look at everything it could cover. What is found here is never
reported (its files belong to other shards); it only counts as a use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from compiler.catalog import Catalog, Instance
from compiler.check.builtins import (
    BUILTINS,
    api_removed,
    crd_schema,
    crd_unknown,
    kubernetes_schema,
)
from compiler.check.builtins.base import about_file
from compiler.check.checkov_checks import CheckovRun, scan
from compiler.check.enforcement import waivers_used
from compiler.check.findings import Finding
from compiler.check.manifests import schema_checks
from compiler.check.policies import PlacedWaiver, PolicySet
from compiler.check.schemas import ManifestSchemas
from compiler.render import OutputFile

SCHEMA_CHECKS = frozenset(
    b.BUILTIN.id for b in (kubernetes_schema, crd_schema, crd_unknown, api_removed)
)


@dataclass(frozen=True)
class Probe:
    """What a shard needs to probe: the policy set, every unexpired waiver in order
    (the first that covers a finding is the one used), and the waivers it judges."""

    policy_set: PolicySet
    live: Sequence[PlacedWaiver]
    judged: Sequence[PlacedWaiver]


def expensive(placed: PlacedWaiver, policy_set: PolicySet, checkov: bool) -> str | None:
    """'schema' or 'checkov' when the waiver's check runs only on a shard's own files;
    None when it runs everywhere (policies and the other built-ins see every customer
    in every shard) or not at all (checkov off)."""
    check = placed.waiver.policy
    if check in SCHEMA_CHECKS:
        return "schema"
    if check in BUILTINS or check in policy_set.policies:
        return None  # a policy's checkov twins only fold into its finding: it is found anyway
    return "checkov" if checkov else None


def probe_waivers(
    catalog: Catalog,
    env: str,
    others: Sequence[OutputFile],
    instances: Mapping[str, Instance],
    findings: Sequence[Finding],
    probe: Probe,
    schemas: ManifestSchemas,
    checkov: CheckovRun | None,
) -> list[Finding]:
    """Findings on `others` (files of other shards) enough to show each waiver of
    `probe` used, if it is: those waivers that could cover them and that `findings`
    does not already use."""
    policy_set = probe.policy_set
    pending = [
        w
        for w in probe.judged
        if w.waiver.environment in (None, env)
        and expensive(w, policy_set, checkov is not None) is not None
    ]
    pending = _unused(pending, findings, probe)
    if not pending:
        return []
    by_customer: dict[str, list[OutputFile]] = {}
    services: dict[str, str | None] = {}
    for file in others:
        about = about_file(env, file, instances)
        by_customer.setdefault(about.get("customer", ""), []).append(file)
        services[file.path] = about.get("service")
    customers = sorted(by_customer)
    found: list[Finding] = []
    start, size = 0, 1
    while pending and start < len(customers):
        wanted = {w.waiver.service for w in pending}
        batch = [
            file
            for customer in customers[start : start + size]
            for file in by_customer[customer]
            if None in wanted or services[file.path] in wanted
        ]
        kinds = {expensive(w, policy_set, checkov is not None) for w in pending}
        if batch and "schema" in kinds:
            found += schema_checks(catalog, env, batch, instances, schemas)
        if batch and "checkov" in kinds and checkov is not None:
            found += scan(catalog, env, batch, instances, checkov)
        pending = _unused(pending, [*findings, *found], probe)
        start, size = start + size, size * 2
    return found


def _unused(
    waivers: Sequence[PlacedWaiver], findings: Sequence[Finding], probe: Probe
) -> list[PlacedWaiver]:
    used = {id(w) for w in waivers_used(findings, probe.policy_set, probe.live)}
    return [w for w in waivers if id(w) not in used]
