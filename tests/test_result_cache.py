"""checkov's results kept per content (compiler/check/result_cache.py): a check after a
change scans only the namespace folders whose bytes changed, and reports exactly what a
cold run reports; an entry this user's key did not sign is never believed."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from compiler.check import checkov_checks, validator_cache
from tests.conftest import run_cli

DATE = "2026-12-01"
CONTAINER = "/spec/template/spec/containers/0"


@pytest.fixture
def caches(private_cache: Path) -> Path:
    """This test's folder: its own cache in `cache/`, reports and cold caches beside it."""
    return private_cache.parent


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The namespace folders checkov really scans (not read from the cache)."""
    folders: list[str] = []
    real = checkov_checks._run_checkov

    def counted(objects, folder, skip, contents=None):
        folders.append(folder)
        return real(objects, folder, skip, contents)

    monkeypatch.setattr(checkov_checks, "_run_checkov", counted)
    return folders


def _report(root: Path, out: Path) -> bytes:
    result = run_cli(
        "check", "--root", str(root), "--date", DATE, "--env", "dev", "-f", "json", "-o", str(out)
    )
    assert result.exit_code in (0, 1), result.stderr
    assert result.exception is None, result.exception
    return out.read_bytes()


def _cold(root: Path, folder: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """The same check with an empty cache (a folder never used before)."""
    monkeypatch.setenv("GITOPSC_CACHE_DIR", str(folder))
    try:
        return _report(root, folder.with_suffix(".json"))
    finally:
        monkeypatch.setenv("GITOPSC_CACHE_DIR", str(folder.parent / "cache"))


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def _synapse_patch(
    root: Path, customer: str, operation: str, target: str = "{kind: Deployment}"
) -> None:
    """One more json_patch on `customer`'s synapse in dev (its Deployment, or `target`),
    in its own file."""
    path = root / f"catalog/customers/{customer}.yaml"
    head, tail = path.read_text().split("  dev:\n    services:\n", 1)
    dev, rest = tail.split("\n  staging:", 1) if "\n  staging:" in tail else (tail, None)
    patch = f"          - target: {target}\n            json_patch:\n              - {operation}\n"
    if "        patches:\n" in dev:
        dev = dev.replace("        patches:\n", "        patches:\n" + patch, 1)
    else:
        assert "      synapse:\n" in dev, path
        dev = dev.replace("      synapse:\n", "      synapse:\n        patches:\n" + patch, 1)
    body = dev if rest is None else dev + "\n  staging:" + rest
    path.write_text(f"{head}  dev:\n    services:\n{body}")


# edits a merge request makes: one customer's objects, a service default for all, a
# customer gone from an environment; several of them make checkov fail
EDITS: dict[str, Callable[[Path], None]] = {
    "acme drops its probes": lambda root: _synapse_patch(
        root, "acme", f"{{op: remove, path: {CONTAINER}/livenessProbe}}"
    ),
    "acme runs latest": lambda root: _synapse_patch(
        root, "acme", f"{{op: replace, path: {CONTAINER}/image, value: 'docker.io/x/y:latest'}}"
    ),
    "globex drops its security context": lambda root: _synapse_patch(
        root, "globex", f"{{op: remove, path: {CONTAINER}/securityContext}}"
    ),
    "synapse default replicas": lambda root: _edit(
        root / "catalog/services/synapse.yaml", "  replicas: 1\n", "  replicas: 2\n"
    ),
    "acme stops element-web in dev": lambda root: _drop_dev_element(root),
}


def _drop_dev_element(root: Path) -> None:
    """acme stops running element-web in dev: its objects leave the folder."""
    path = root / "catalog/customers/acme.yaml"
    text = path.read_text()
    head, tail = text.split("  dev:\n", 1)
    path.write_text(head + "  dev:\n" + tail.replace("      element-web:\n", "", 1))


@pytest.mark.parametrize("seed", [7, 1234])
def test_a_cached_check_equals_a_cold_one_after_every_random_edit(
    example: Path, caches: Path, monkeypatch: pytest.MonkeyPatch, seed: int
):
    """The property: after each edit of a random sequence, the check with the cache of
    every run before it reports byte for byte what a check with an empty cache does."""
    chooser = random.Random(seed)
    names = chooser.sample(sorted(EDITS), k=4)
    _report(example, caches / "first.json")  # fills the warm cache
    for step, name in enumerate(names):
        EDITS[name](example)
        warm = _report(example, caches / f"warm-{step}.json")
        cold = _cold(example, caches / f"cold-{step}", monkeypatch)
        assert warm == cold, f"seed {seed}, after {names[: step + 1]}"
    found = {f["id"] for f in json.loads(warm)["findings"] if f["source"] == "checkov"}
    found |= {e for f in json.loads(warm)["findings"] for e in f["equivalents"]}
    assert found, "the edits were to make checkov fail somewhere"


def test_a_one_customer_change_scans_only_that_customers_folder(
    example: Path, caches: Path, scans: list[str]
):
    _report(example, caches / "first.json")
    assert len(scans) == len(set(scans)) >= 3  # every namespace folder of dev, once
    every = sorted(scans)
    scans.clear()
    _report(example, caches / "again.json")
    assert scans == []  # nothing changed: nothing scanned
    EDITS["acme drops its probes"](example)
    _report(example, caches / "changed.json")
    assert scans == ["dev/kubernetes/dev-fra1/acme"], (scans, every)


def test_an_entry_signed_by_another_key_is_never_believed(
    example: Path, caches: Path, monkeypatch: pytest.MonkeyPatch, scans: list[str]
):
    """Someone who can write to a shared cache folder writes "nothing failed" for a
    folder where checkov fails: the entry's HMAC is not ours, so the folder is scanned
    and the finding reported."""
    EDITS["globex drops its security context"](example)
    honest = _report(example, caches / "honest.json")
    assert any(
        f["source"] == "checkov" and f["customer"] == "globex"
        for f in json.loads(honest)["findings"]
    )
    other_key = b"k" * 32
    entries = sorted((caches / "cache/results/checkov").rglob("*.json"))
    assert entries
    for entry in entries:
        payload = b"[]"
        signature = validator_cache._signature(f"checkov/{entry.stem}", other_key, payload)
        entry.write_bytes(signature + payload)
    scans.clear()
    assert _report(example, caches / "forged.json") == honest
    assert len(scans) == len(entries)  # every forged entry was scanned again


def test_a_signed_entry_of_the_wrong_shape_is_scanned_again(example: Path, caches: Path):
    """Our own key, but not a list of records (an older format, a bug): a miss, never a
    crash or a finding made up from it."""
    honest = _report(example, caches / "honest.json")
    secret = validator_cache.cache_key()
    assert secret is not None
    for entry in sorted((caches / "cache/results/checkov").rglob("*.json")):
        payload = b'[{"check_id": 1}]'
        signature = validator_cache._signature(f"checkov/{entry.stem}", secret, payload)
        entry.write_bytes(signature + payload)
    assert _report(example, caches / "again.json") == honest


def test_a_changed_custom_check_misses_the_cache(example: Path, caches: Path, scans: list[str]):
    """The checks that made a result are part of its key: a custom check added to
    policies/checkov/ runs on folders scanned before it existed."""
    _report(example, caches / "first.json")
    scans.clear()
    custom = example / "policies/checkov"
    custom.mkdir(exist_ok=True)
    (custom / "no_latest.yaml").write_text(
        "metadata: {id: CKV2_GITOPSC_99, name: Nothing named latest, category: KUBERNETES}\n"
        "definition:\n"
        "  cond_type: attribute\n"
        "  resource_types: [Deployment]\n"
        "  attribute: metadata.name\n"
        "  operator: not_equals\n"
        "  value: latest\n"
    )
    _report(example, caches / "custom.json")
    assert scans  # scanned again, with the new check
