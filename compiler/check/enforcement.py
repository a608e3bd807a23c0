"""Enforcement: each finding's outcome from the tier's rules, overrides and waivers.

Order: a check disabled in config.yaml drops its findings; a severity override
re-grades them; a policy's finding absorbs its declared equivalents' findings on the
same subject (equivalence.py); a matching, unexpired waiver for its own id, or waivers
for every id it absorbed, mark it waived; otherwise the tier's rule decides fail, warn
or ignored. Waivers are then judged themselves: an expired one is a failing finding,
one that matched nothing is reported (not one of a check that judges a change against a
base revision: a run without a base cannot use it).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace

from compiler.check.builtins import BUILTINS, waiver_expired, waiver_unused
from compiler.check.equivalence import merge
from compiler.check.findings import Finding, Outcome, severity_rank
from compiler.check.policies import PlacedWaiver, PolicySet


def enforce(
    findings: Sequence[Finding],
    policy_set: PolicySet,
    tiers: dict[str, str],
    today: datetime.date,
    checked: Collection[str] | None = None,
    judges: Callable[[PlacedWaiver], bool] | None = None,
    seen: Sequence[Finding] = (),
) -> list[Finding]:
    """`tiers`: environment name -> tier. Returns the findings that are not dropped.

    `checked`: the environments a partial run looked at (None: a full run). A waiver
    can only be found unused where everything it could cover was checked: in a run
    sharded per environment, a prod waiver is not unused in the dev shard.

    `judges` and `seen` are for a run sharded by customer (`--shard K/N`,
    catalog/shards.py): each waiver is judged (expired, unused) by the one shard that
    `judges` it, and what that shard found but another shard reports (`seen`) counts
    as a use, so a waiver used by a finding in shard 2 is not unused in shard 1."""
    config = policy_set.config
    live = [w for w in policy_set.waivers if w.waiver.expires >= today]
    used: set[int] = (
        set(map(id, waivers_used([*findings, *seen], policy_set, live))) if seen else set()
    )
    result = []
    for item in _merged(findings, policy_set):
        waivers = _covering(live, item)
        if waivers:
            used.update(id(waiver) for waiver in waivers)
            result.append(
                item.with_outcome(
                    "waived",
                    "; ".join(
                        f"{w.reason} (owner {w.owner}, expires {w.expires.isoformat()})"
                        for w in dict.fromkeys(placed.waiver for placed in waivers)
                    ),
                )
            )
            continue
        rule = config.rule_for(tiers.get(item.environment) if item.environment else None)
        outcome: Outcome = (
            "fail"
            if severity_rank(item.severity) >= severity_rank(rule.fail)
            else "warn"
            if severity_rank(item.severity) >= severity_rank(rule.warn)
            else "ignored"
        )
        result.append(item.with_outcome(outcome))
    for placed in policy_set.waivers:
        if judges is not None and not judges(placed):
            continue
        env = placed.waiver.environment
        judged = checked is None or (env is not None and env in checked)
        # a check of a change (scope "base") finds only in a run with a base, and such a
        # run judges no waiver: its waivers, used once, are never called unused
        judged = judged and _scope(placed.waiver.policy) != "base"
        result += _judge(placed, today, id(placed) in used or not judged)
    return result


def waivers_used(
    findings: Sequence[Finding], policy_set: PolicySet, live: Sequence[PlacedWaiver]
) -> list[PlacedWaiver]:
    """The waivers of `live` that these findings use: each finding is waived by the
    waivers that cover it, as `enforce` decides (`_covering`)."""
    used: dict[int, PlacedWaiver] = {}
    for item in _merged(findings, policy_set):
        for waiver in _covering(live, item):
            used[id(waiver)] = waiver
    return list(used.values())


def _merged(findings: Sequence[Finding], policy_set: PolicySet) -> list[Finding]:
    """Findings of checks that are switched on, re-graded, then one per cause: a check
    switched off is not folded into a policy (nor a policy switched off swallows its
    twin's finding), so the merge comes after the switches."""
    config = policy_set.config
    kept = []
    for item in findings:
        override = config.checks.get(item.id)
        if override is not None and not override.enabled:
            continue
        if override is not None and override.severity is not None:
            item = replace(item, severity=override.severity)
        kept.append(item)
    return merge(kept, policy_set.equivalents)


def _scope(check: str) -> str | None:
    builtin = BUILTINS.get(check)
    return builtin.scope if builtin is not None else None


def _covering(live: Sequence[PlacedWaiver], item: Finding) -> list[PlacedWaiver]:
    """The waivers that together cover `item`, or none. A waiver for the finding's own id
    covers it. One that folded its equivalents (equivalence.py) reports each of them, so
    it is covered when each is: a waiver for checkov's CPU-limit check alone does not
    hide a container with no resources at all (no requests, no memory limit), and one for
    the readiness probe does not hide a missing liveness probe. A one-to-one twin
    (`image-pinned` and CKV_K8S_14) is covered by a waiver for either."""
    own = next((w for w in live if _covers(w, item, item.id)), None)
    if own is not None:
        return [own]
    if not item.equivalents:
        return []
    twins = [next((w for w in live if _covers(w, item, twin)), None) for twin in item.equivalents]
    return [w for w in twins if w is not None] if all(twins) else []


def _covers(placed: PlacedWaiver, item: Finding, check: str) -> bool:
    waiver = placed.waiver
    return (
        waiver.policy == check
        and (waiver.environment is None or waiver.environment == item.environment)
        and (waiver.customer is None or waiver.customer == item.customer)
        and (waiver.service is None or waiver.service == item.service)
        and placed.fits(item)
    )


def _judge(placed: PlacedWaiver, today: datetime.date, used: bool) -> list[Finding]:
    expired = waiver_expired.check(placed, today)
    if expired is not None:
        return [expired]
    unused = waiver_unused.check(placed, used)
    return [unused] if unused is not None else []
