"""One cause, one finding: a policy and the checks it declares equivalent (checkov's
near-twins, `equivalents:` in the policy's file) report one mistake once.

Without this, an unpinned image is both `image-pinned` and `CKV_K8S_14`, and a waiver
for one leaves the other failing. The policy's finding survives (its remediation is
written for this repository, its location is the catalog line) and names the ids it
absorbed; a waiver for the policy, or waivers for every id it absorbed, cover it
(enforcement.py).

Equivalence is per subject, never per id: a checkov finding is folded only into a policy
finding on the same rendered object (same environment, same object: the checks see one
file per object, whatever the output layout) and the same part of it: one JSON pointer
lies at or under the other, and the shorter names a container (`.../containers/<n>`) or
they are equal. So a container without `resources` (the policy's pointer is the
container) absorbs checkov's CPU and memory request and limit checks on it, while a
container that lacks only a CPU request (`.../resources/requests`) absorbs CKV_K8S_10,
not the CPU-limit check CKV_K8S_11, a different mistake; a checkov finding on another
object, or another container, stays its own.

The surviving finding keeps the fingerprint it has without checkov (the absorbed ids
are not hashed), so turning checkov on or off, or declaring an equivalence, does not
make a code-scanning viewer see a new problem.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from compiler.check.findings import Finding

_CONTAINER = re.compile(r"/(?:initContainers|containers)/\d+(?=/|$)")


def merge(findings: Sequence[Finding], equivalents: Mapping[str, Sequence[str]]) -> list[Finding]:
    """`equivalents`: policy id -> the check ids that find the same mistake. Findings of
    those checks on a subject a policy finding is about are folded into it."""
    claims = {check for checks in equivalents.values() for check in checks}
    others: dict[tuple[str, str], list[Finding]] = {}
    for item in findings:
        if item.id in claims and item.rendered:
            others.setdefault((item.environment or "", item.rendered), []).append(item)
    absorbed: set[int] = set()
    result = []
    for item in findings:
        declared = equivalents.get(item.id)
        if not declared or not item.rendered:
            result.append(item)
            continue
        twins = [
            other
            for other in others.get((item.environment or "", item.rendered), [])
            if other.id in declared and _same_part(item.pointer, other.pointer)
        ]
        absorbed.update(id(twin) for twin in twins)
        ids = sorted({twin.id for twin in twins}, key=_natural)
        result.append(replace(item, equivalents=tuple(ids)) if ids else item)
    return [item for item in result if id(item) not in absorbed]


def _same_part(one: str, other: str) -> bool:
    """Equal pointers, or one under the other where the shorter names a container."""
    if one == other:
        return True
    shorter, longer = sorted((one, other), key=len)
    return longer.startswith(shorter + "/") and _CONTAINER.search(shorter) is not None


def _natural(check: str) -> tuple[object, ...]:
    """CKV_K8S_8 before CKV_K8S_10."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", check))
