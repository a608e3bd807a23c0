"""Declarative policies: a JSON Schema rule applied to every subject the policy matches."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from compiler.check import result_cache
from compiler.check.findings import Finding
from compiler.check.policies import Policy
from compiler.check.schemas import CompiledSchema, SchemaError, identity
from compiler.check.subjects import Subject, parts


def compile_rules(policies: Mapping[str, Policy]) -> dict[str, CompiledSchema]:
    return {policy_id: CompiledSchema(policy.rule) for policy_id, policy in policies.items()}


def matches(policy: Policy, subject: Subject) -> bool:
    match = policy.match
    if match.entity != subject.entity:
        return False
    if match.tiers is not None and subject.tier not in match.tiers:
        return False
    document = subject.document
    if match.kinds is not None and document.get("kind") not in match.kinds:
        return False
    if match.api_versions is not None and document.get("apiVersion") not in match.api_versions:
        return False
    labels = subject.labels or {}
    return all(labels.get(key) == value for key, value in match.labels.items())


def evaluate(
    policies: Mapping[str, Policy], rules: Mapping[str, CompiledSchema], subjects: Iterable[Subject]
) -> list[Finding]:
    """One finding per schema error of each matched subject."""
    ordered = [policies[key] for key in sorted(policies)]
    return [
        finding
        for subject in subjects
        for finding in findings_of(policies, subject, errors_of(ordered, rules, subject))
    ]


def evaluate_objects(
    policies: Mapping[str, Policy],
    rules: Mapping[str, CompiledSchema],
    subjects: Sequence[Subject],
    digests: result_cache.Digests | None = None,
) -> list[Finding]:
    """`evaluate` on rendered objects, what the rules say of each kept in the result
    cache per namespace folder (result_cache.units), keyed by the objects' data, their
    environment's tier and the policies' matches and rules: after a one-customer change
    only that customer's objects are judged again. The findings are made anew from what
    was kept (findings_of), so a cached run reports what a cold one does."""
    ordered = [policies[key] for key in sorted(policies)]
    if not result_cache.active() or not ordered:
        return evaluate(policies, rules, subjects)
    by_path = {subject.rendered or "": subject for subject in subjects}
    policy_set = _identity(ordered)
    raws: dict[str, Raw] = {}
    for unit, paths in result_cache.units(by_path).items():
        chosen = [by_path[p] for p in paths]
        raws.update(_unit_raws(ordered, rules, chosen, unit, policy_set, digests))
    return [
        finding
        for subject in subjects
        for finding in findings_of(policies, subject, raws[subject.rendered or ""])
    ]


def _identity(ordered: Sequence[Policy]) -> bytes:
    """What decides a policy's errors on an object besides the object: each policy's id,
    match and rule, and the code that evaluates them."""
    described = [[p.id, p.match.model_dump(mode="json"), p.rule] for p in ordered]
    return identity([json.dumps(described, sort_keys=True).encode()], __file__).encode()


def _unit_raws(
    ordered: Sequence[Policy],
    rules: Mapping[str, CompiledSchema],
    subjects: Sequence[Subject],
    unit: str,
    policy_set: bytes,
    known: result_cache.Digests | None,
) -> dict[str, Raw]:
    key = None
    digests = [result_cache.digest_of(s.rendered or "", s.document, known) for s in subjects]
    if all(digest is not None for digest in digests):
        parts = [policy_set, unit.encode()]
        for subject, digest in zip(subjects, digests, strict=True):
            path, tier = (subject.rendered or "").encode(), (subject.tier or "").encode()
            parts += [path, digest or b"", subject.entity.encode(), tier]
        key = result_cache.content_key("policies", parts)
        cached = result_cache.read("policies", key)
        known = {policy.id for policy in ordered}
        if _is_raws(cached, [s.rendered for s in subjects], known):
            return cached
    found = {s.rendered or "": errors_of(ordered, rules, s) for s in subjects}
    if key is not None:
        result_cache.write("policies", key, found)
    return found


def _is_raws(value: Any, paths: list[str | None], known: set[str]) -> bool:
    """A kept result has one well-formed entry per object, naming known policies."""
    return (
        isinstance(value, dict)
        and sorted(value) == sorted(paths)
        and all(
            isinstance(raw, list)
            and all(
                isinstance(entry, list)
                and len(entry) == 3
                and entry[0] in known
                and isinstance(entry[1], str)
                and isinstance(entry[2], list)
                and all(isinstance(message, str) for message in entry[2])
                for entry in raw
            )
            for raw in value.values()
        )
    )


# what the rules say of one subject, as the result cache keeps it (JSON data): per
# matched policy with errors, in policy order, [policy id, pointer, [messages]] per place
Raw = list[list[Any]]


def errors_of(
    ordered: Sequence[Policy], rules: Mapping[str, CompiledSchema], subject: Subject
) -> Raw:
    """The errors of every policy that matches `subject`, one entry per place. A function
    of the policies' matches and rules, the subject's entity, tier, labels and document:
    for a rendered object, of its data and its environment's tier (evaluate_objects)."""
    return [
        [policy.id, pointer, messages]
        for policy in ordered
        if matches(policy, subject)
        for pointer, messages in _by_place(rules[policy.id].errors(subject.document))
    ]


def findings_of(policies: Mapping[str, Policy], subject: Subject, raw: Raw) -> list[Finding]:
    """The findings of `raw`: where each lies in the catalog, and whose it is, are this
    run's (a cached `raw` is turned into findings anew on every run)."""
    findings = []
    for policy_id, pointer, messages in raw:
        policy = policies[policy_id]
        where = _dotted(pointer)
        findings.append(
            Finding(
                policy.id,
                policy.severity,
                f"{policy.title}: {subject.name}: {where + ': ' if where else ''}"
                f"{'; '.join(messages)}",
                "policy",
                subject.locate(pointer),
                subject.rendered,
                subject.environment,
                subject.instance,
                subject.customer,
                subject.service,
                policy.remediation,
                policy.title,
                key=f"{subject.name}#{pointer}",
                pointer=pointer if subject.rendered else "",
            )
        )
    return findings


def _by_place(errors: Sequence[SchemaError]) -> list[tuple[str, list[str]]]:
    """The errors of one rule on one subject, one entry per place: a container without
    both probes fails `required` twice at one pointer, and that is one mistake to fix in
    one place (one finding, one fingerprint), not two findings a report cannot tell apart."""
    places: dict[str, list[str]] = {}
    for error in errors:
        places.setdefault(error.pointer, []).append(error.message)
    return list(places.items())


def _dotted(pointer: str) -> str:
    """`/settings/replicas` -> `settings.replicas`, `/spec/containers/0` -> `spec.containers[0]`:
    the property as a catalog author writes it."""
    text = ""
    for segment in parts(pointer):
        text += f"[{segment}]" if isinstance(segment, int) else ("." if text else "") + segment
    return text
