"""Declarative policies: a JSON Schema rule applied to every subject the policy matches."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from compiler.check.findings import Finding
from compiler.check.policies import Policy
from compiler.check.schemas import CompiledSchema, SchemaError
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
    findings = []
    ordered = [policies[key] for key in sorted(policies)]
    for subject in subjects:
        for policy in ordered:
            if not matches(policy, subject):
                continue
            for pointer, messages in _by_place(rules[policy.id].errors(subject.document)):
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
