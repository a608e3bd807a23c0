"""An incremental `check` (the findings of the expensive checks kept per content,
compiler/check/result_cache.py) reports exactly what a cold one does, after any edit a
merge request makes; an entry this user's key did not sign, or a damaged one, is never
believed and never a crash."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from compiler.check import declarative, manifests, result_cache, validator_cache
from compiler.check.builtins import network_reachability
from tests.conftest import run_cli
from tests.test_result_cache import CONTAINER, _synapse_patch

DATE = "2026-12-01"


def _check(root: Path, out: Path, *env: str) -> bytes:
    """`gitopsc check -f json` on `root` (every environment, or `env`), the report's bytes."""
    where = [arg for name in env for arg in ("--env", name)]
    result = run_cli(
        "check", "--root", str(root), "--date", DATE, *where, "-f", "json", "-o", str(out)
    )
    assert result.exit_code in (0, 1), result.stderr
    assert result.exception is None, result.exception
    return out.read_bytes()


def _cold(root: Path, out: Path, monkeypatch: pytest.MonkeyPatch, *env: str) -> bytes:
    """The same check with no cache folder at all (GITOPSC_CACHE_DIR empty)."""
    with monkeypatch.context() as scoped:
        scoped.setenv("GITOPSC_CACHE_DIR", "")
        return _check(root, out, *env)


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def _toggle(path: Path, one: str, other: str) -> None:
    """`one` becomes `other`, or back: an edit that can be made any number of times."""
    text = path.read_text()
    old, new = (one, other) if one in text else (other, one)
    _replace(path, old, new)


def _display_name(root: Path, step: int) -> None:
    """A customer's setting: acme's display name (its labels and annotations)."""
    path = root / "catalog/customers/acme.yaml"
    text = path.read_text()
    line = next(x for x in text.splitlines() if x.startswith("display_name: "))
    path.write_text(text.replace(line, f"display_name: Acme Corporation {step}", 1))


def _waiver(root: Path, step: int) -> None:
    """A waiver added (a real finding's, or one that matches nothing: waiver-unused)."""
    choices = [
        ("probes-set", "acme", "synapse"),
        ("kubernetes-schema", "acme", "synapse"),
        ("image-pinned", "acme", None),
        ("probes-set", "globex", None),
    ]
    path = root / "policies/waivers.yaml"
    text = path.read_text().replace("waivers: []\n", "waivers:\n")
    policy, customer, service = choices[text.count("- policy:") % len(choices)]
    entry = (
        f"  - policy: {policy}\n    customer: {customer}\n"
        + (f"    service: {service}\n" if service else "")
        + f"    reason: accepted for the test, step {step}\n"
        + f"    owner: chat-platform\n    expires: 2027-0{1 + step % 9}-15\n"
    )
    path.write_text(text + entry)


# the edits a merge request makes; each can be made again (step numbers keep them new)
EDITS: dict[str, Callable[[Path, int], None]] = {
    "a customer's display name": _display_name,
    "acme drops its liveness probe": lambda root, step: _synapse_patch(
        root, "acme", f"{{op: remove, path: {CONTAINER}/livenessProbe}}"
    ),
    "acme's Deployment gets an unknown field": lambda root, step: _synapse_patch(
        root, "acme", f"{{op: add, path: {CONTAINER}/bogus{step}, value: x}}"
    ),
    "acme's synapse refuses element-web": lambda root, step: _synapse_patch(
        root,
        "acme",
        f"{{op: replace, path: /spec/ingress/0/ports/0/port, value: {9000 + step}}}",
        "{kind: NetworkPolicy, name: synapse-from-element-web}",
    ),
    "globex runs latest": lambda root, step: _synapse_patch(
        root, "globex", f"{{op: replace, path: {CONTAINER}/image, value: 'x/y:latest'}}"
    ),
    "a service default": lambda root, step: _toggle(
        root / "catalog/services/synapse.yaml", "  replicas: 1\n", "  replicas: 2\n"
    ),
    "a policy's severity": lambda root, step: _toggle(
        root / "policies/probes-set.yaml", "severity: medium\n", "severity: high\n"
    ),
    "a policy's rule": lambda root, step: _toggle(
        root / "policies/probes-set.yaml",
        "required: [livenessProbe, readinessProbe]",
        "required: [livenessProbe, readinessProbe, resources]",
    ),
    "a waiver": _waiver,
    "dev's Kubernetes version": lambda root, step: _toggle(
        root / "environments/dev/environment.yaml",
        'kubernetes_version: "1.31"',
        'kubernetes_version: "1.30"',
    ),
}


@pytest.mark.parametrize("seed", [3, 2026])
def test_an_incremental_check_equals_a_cold_one_after_every_random_edit(
    example: Path, private_cache: Path, monkeypatch: pytest.MonkeyPatch, seed: int
):
    """The property: after each edit of a random sequence (every edit, then some again),
    a check with the cache of every run before it reports, byte for byte, what a check
    with no cache folder reports: the same findings, outcomes, waivers and
    fingerprints."""
    chooser = random.Random(seed)
    out = private_cache.parent
    _check(example, out / "first.json")  # fills the cache
    # every edit once in a random order, then some again
    names = chooser.sample(sorted(EDITS), k=len(EDITS))
    names += [chooser.choice(sorted(EDITS)) for _ in range(3)]
    done: list[str] = []
    for step, name in enumerate(names):
        EDITS[name](example, step)
        done.append(name)
        warm = _check(example, out / "warm.json")
        cold = _cold(example, out / "cold.json", monkeypatch)
        assert warm == cold, f"seed {seed}, after {done}"
    findings = json.loads(warm)["findings"]  # what the edits were to make the checks find
    assert {"kubernetes-schema", "network-reachability", "probes-set"} <= {
        f["id"] for f in findings
    }
    assert "waived" in {f["outcome"] for f in findings}


@pytest.fixture
def judged(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """What is really judged (not read from the cache): rendered objects, as `kind
    namespace`, against their schemas and by the declarative policies; clusters'
    NetworkPolicies, evaluated for network-reachability."""
    seen: dict[str, list[str]] = {"schemas": [], "policies": [], "reachability": []}
    raw, errors_of = manifests._raw, declarative.errors_of
    cluster_of = network_reachability.cluster_of

    def name(data: dict) -> str:
        metadata = data["metadata"]  # a Namespace: its name
        return f"{data['kind']} {metadata.get('namespace', metadata['name'])}"

    def validated(data, version, schemas):
        seen["schemas"].append(name(data))
        return raw(data, version, schemas)

    def evaluated(ordered, rules, subject):
        if subject.entity == "object":
            seen["policies"].append(name(subject.document))
        return errors_of(ordered, rules, subject)

    def clusters(policies, namespaces):
        seen["reachability"].append(f"{len(policies)} policies")
        return cluster_of(policies, namespaces)

    monkeypatch.setattr(manifests, "_raw", validated)
    monkeypatch.setattr(declarative, "errors_of", evaluated)
    monkeypatch.setattr(network_reachability, "cluster_of", clusters)
    return seen


@pytest.mark.parametrize("kind", ["schemas", "policies"])
def test_a_one_customer_change_judges_only_that_customers_objects(
    example: Path, private_cache: Path, judged: dict[str, list[str]], kind: str
):
    out = private_cache.parent
    _check(example, out / "first.json")
    every = len(judged[kind])
    assert every > 100
    judged[kind].clear()
    _check(example, out / "again.json")
    assert judged[kind] == []  # nothing changed: nothing judged
    _display_name(example, 1)
    _check(example, out / "changed.json")
    namespaces = {path.split(" ")[1] for path in judged[kind]}
    # acme's namespace folders, and the folders of ArgoCD objects that hold acme's
    assert judged[kind] and namespaces <= {"acme", "argocd"}, judged[kind]
    assert len(judged[kind]) < every / 3, (len(judged[kind]), every)


def test_reachability_is_evaluated_again_only_where_policies_or_pods_change(
    example: Path, private_cache: Path, judged: dict[str, list[str]]
):
    """A cluster whose policies, namespaces and pods are as before, and that had nothing
    to report, is not evaluated again: after a display name changed, none; after a
    patch on one NetworkPolicy, that cluster, and every time while it reports."""
    out = private_cache.parent
    _check(example, out / "first.json")
    clusters = len(judged["reachability"])
    assert clusters >= 3
    judged["reachability"].clear()
    _display_name(example, 1)
    _check(example, out / "renamed.json")
    assert judged["reachability"] == []
    EDITS["acme's synapse refuses element-web"](example, 1)
    for attempt in range(2):
        report = json.loads(_check(example, out / f"closed-{attempt}.json"))
        assert any(f["id"] == "network-reachability" for f in report["findings"])
        assert len(judged["reachability"]) == 1  # dev's one cluster: not kept, evaluated
        judged["reachability"].clear()


def test_a_reachability_entry_signed_by_another_key_is_never_believed(
    example: Path, private_cache: Path, monkeypatch: pytest.MonkeyPatch
):
    """Someone who can write to a shared cache folder writes "nothing to report" for a
    cluster where a declared path is closed: not believed. The same entry signed with
    our key would hide the finding: the test forges what matters."""
    out = private_cache.parent
    EDITS["acme's synapse refuses element-web"](example, 1)
    asked: list[str] = []
    read = result_cache.read

    def recorded(kind: str, key: str):
        if kind == "reachability":
            asked.append(key)
        return read(kind, key)

    monkeypatch.setattr(result_cache, "read", recorded)
    honest = _check(example, out / "honest.json", "dev")
    assert any(f["id"] == "network-reachability" for f in json.loads(honest)["findings"])
    assert len(asked) == 1

    def forge(secret: bytes) -> None:
        entry = private_cache / "results/reachability" / asked[0][:2] / f"{asked[0]}.json"
        entry.parent.mkdir(parents=True, exist_ok=True)
        signature = validator_cache._signature(f"reachability/{asked[0]}", secret, b"true")
        entry.write_bytes(signature + b"true")

    forge(b"k" * 32)
    assert _check(example, out / "forged.json", "dev") == honest
    secret = validator_cache.cache_key()
    assert secret is not None
    forge(secret)  # what the forged entry would have done, believed
    believed = json.loads(_check(example, out / "believed.json", "dev"))
    assert not any(f["id"] == "network-reachability" for f in believed["findings"])


def _honest(example: Path, out: Path) -> bytes:
    """A report with a schema finding and a policy finding on acme's objects."""
    EDITS["acme's Deployment gets an unknown field"](example, 0)
    EDITS["acme drops its liveness probe"](example, 0)
    honest = _check(example, out / "honest.json", "dev")
    found = {(f["id"], f["customer"]) for f in json.loads(honest)["findings"]}
    assert {("kubernetes-schema", "acme"), ("probes-set", "acme")} <= found, found
    return honest


def _entries(cache: Path, kind: str) -> list[tuple[Path, dict]]:
    """A kind's entries, with what each holds (read past the signature)."""
    found = sorted((cache / "results" / kind).rglob("*.json"))
    assert found
    return [(entry, json.loads(entry.read_bytes()[32:])) for entry in found]


# what each kind's entry says of an object that nothing is wrong with
CLEAN = {"schemas": ["errors", False, []], "policies": []}


@pytest.mark.parametrize("kind", sorted(CLEAN))
def test_an_entry_signed_by_another_key_is_never_believed(
    example: Path, private_cache: Path, judged: dict[str, list[str]], kind: str
):
    """Someone who can write to a shared cache folder writes "nothing wrong" for every
    object: the HMAC is not ours, so every object is judged again and the findings are
    reported."""
    out = private_cache.parent
    honest = _honest(example, out)
    other_key = b"k" * 32
    entries = _entries(private_cache, kind)
    for entry, held in entries:
        payload = json.dumps({path: CLEAN[kind] for path in held}).encode()
        signature = validator_cache._signature(f"{kind}/{entry.stem}", other_key, payload)
        entry.write_bytes(signature + payload)
    judged[kind].clear()
    assert _check(example, out / "forged.json", "dev") == honest
    assert len(judged[kind]) == sum(len(held) for _, held in entries)


def _signed(entry: Path, secret: bytes, payload: bytes) -> None:
    kind = entry.parent.parent.name
    entry.write_bytes(validator_cache._signature(f"{kind}/{entry.stem}", secret, payload) + payload)


@pytest.mark.parametrize("kind", ["policies", "reachability", "schemas"])
@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda entry, secret: entry.write_bytes(b""), id="empty"),
        pytest.param(lambda entry, secret: entry.write_bytes(entry.read_bytes()[:40]), id="cut"),
        pytest.param(lambda entry, secret: entry.write_bytes(b"\xff" * 200), id="garbage"),
        pytest.param(lambda entry, secret: _signed(entry, secret, b"{not json"), id="not-json"),
        pytest.param(lambda entry, secret: _signed(entry, secret, b'{"a": [1]}'), id="shape"),
        pytest.param(lambda entry, secret: _signed(entry, secret, b"[]"), id="a-list"),
    ],
)
def test_a_damaged_entry_is_ignored_not_a_crash(
    example: Path, private_cache: Path, damage: Callable[[Path, bytes], object], kind: str
):
    """Our own key over bytes that are not a result (a crash, a bug, an older format),
    or no valid signature at all: a miss, and the entry is written anew."""
    out = private_cache.parent
    honest = _honest(example, out)
    secret = validator_cache.cache_key()
    assert secret is not None
    for entry, _ in _entries(private_cache, kind):
        damage(entry, secret)
    assert _check(example, out / "damaged.json", "dev") == honest
    assert _check(example, out / "rewritten.json", "dev") == honest
