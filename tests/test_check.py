"""`gitopsc check`: policies, built-ins, schemas, enforcement, waivers and reports."""

from __future__ import annotations

import datetime
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from compiler.check.schemas import CompiledSchema, ManifestSchemas
from tests.conftest import REPO, reference, run_cli

DATE = "2026-11-23"
TODAY = datetime.date.fromisoformat(DATE)


def _check(root: Path, *args: str) -> tuple[int, dict]:
    out = root / "findings.json"
    result = run_cli(
        "check", "--root", str(root), "--date", DATE, *args, "-f", "json", "-o", str(out)
    )
    assert result.exit_code in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    return result.exit_code, json.loads(out.read_text())


def _outcomes(report: dict, check_id: str) -> set[str]:
    return {f["outcome"] for f in report["findings"] if f["id"] == check_id}


def _patch_element_web(root: Path, text: str) -> None:
    service = root / "catalog/services/element-web.yaml"
    service.write_text(
        service.read_text().replace("  replicas: 1\n", "  replicas: 1\n" + text.lstrip("\n"), 1)
    )


def test_the_example_catalog_is_clean_under_its_own_policies(example: Path):
    code, report = _check(example)
    assert code == 0
    assert [f for f in report["findings"] if f["outcome"] in ("fail", "warn")] == []


# policy id -> how to break it in the example (a catalog edit), and the file:line expected
BREAKERS = {
    "image-pinned": ("synapse-image", "docker.io/x/synapse:latest", "catalog/services/synapse.yaml"),
    "image-digest-in-prod": ("synapse-image", "ghcr.io/element-hq/synapse:v1.120.2", "catalog/services/synapse.yaml"),
    "prod-replicas": ("prod-replicas", "", "environments/prod/environment.yaml"),
    "resources-set": ("patch", "- {op: remove, path: /spec/template/spec/containers/0/resources}", "catalog/services/element-web.yaml"),
    "probes-set": ("patch", "- {op: remove, path: /spec/template/spec/containers/0/livenessProbe}", "catalog/services/element-web.yaml"),
    "pod-security": ("patch", "- {op: replace, path: /spec/template/spec/securityContext/runAsNonRoot, value: false}", "catalog/services/element-web.yaml"),
    "ingress-tls": ("ingress-patch", "- {op: remove, path: /spec/tls}", "catalog/services/element-web.yaml"),
    "plan-entitlements": ("enable", "alpenverein", "catalog/customers/alpenverein.yaml"),
}  # fmt: skip


def _break(root: Path, how: str, value: str) -> None:
    if how == "synapse-image":
        path = root / "catalog/services/synapse.yaml"
        lines = path.read_text().splitlines(keepends=True)
        lines = [f"  image: {value}\n" if line.startswith("  image:") else line for line in lines]
        path.write_text("".join(lines))
    elif how == "prod-replicas":
        path = root / "environments/prod/environment.yaml"
        path.write_text(
            path.read_text().replace("defaults:\n  replicas: 2\n", "defaults:\n  replicas: 1\n")
        )
    elif how == "enable":  # single sign-on (mas) for the customer in prod
        _enable_mas(root, value)
    else:
        kind = "Ingress" if how == "ingress-patch" else "Deployment"
        _patch_element_web(
            root,
            f"  patches:\n    - target: {{kind: {kind}}}\n      json_patch:\n        {value}\n",
        )


def _enable_mas(root: Path, customer: str) -> int:
    """Enable mas for the customer in prod (and the single sign-on it logs in through,
    issue 18, at the end of the file); the line of its `mas:` entry."""
    path = root / f"catalog/customers/{customer}.yaml"
    text = path.read_text()
    anchor = "  prod:\n    services:\n"
    assert anchor in text
    changed = text.replace(anchor, anchor + "      mas:\n", 1)
    if "\nsso:" not in changed:
        domain = changed.split("domains: [", 1)[1].split("]", 1)[0].split(",")[0]
        changed += (
            "sso:\n  clients:\n    mas:\n"
            f'      redirect_uris: ["https://auth.{domain}/cb"]\n'
            "      secret: {key: sso, property: mas_client_secret}\n"
        )
    path.write_text(changed)
    return text[: text.index(anchor)].count("\n") + 3


@pytest.mark.parametrize("policy", sorted(BREAKERS))
def test_each_starter_policy_fails_its_failing_fixture_with_a_location(example: Path, policy: str):
    how, value, file = BREAKERS[policy]
    _break(example, how, value)
    code, report = _check(example)
    failing = [f for f in report["findings"] if f["id"] == policy and f["outcome"] == "fail"]
    assert code == 1 and failing, [f["id"] for f in report["findings"]]
    assert file in {f["file"] for f in failing}
    assert all(f["line"] >= 1 for f in failing) and "prod" in {f["environment"] for f in failing}


def test_every_policy_file_has_a_failing_fixture():
    assert set(BREAKERS) == {p.stem for p in (REPO / "policies").glob("*.yaml")} - {
        "config",
        "waivers",
    }


def test_waivers_cover_findings_and_are_judged(example: Path):
    _break(example, "synapse-image", "ghcr.io/element-hq/synapse:v1.120.2")
    (example / "policies/waivers.yaml").write_text(
        "waivers:\n"
        "  - {policy: image-digest-in-prod, service: synapse, reason: digest pinned in next release,"
        " owner: chat-platform, expires: 2027-01-31}\n"
        "  - {policy: ingress-tls, customer: acme, reason: nothing to cover here at all,"
        " owner: chat-platform, expires: 2027-01-31}\n"
        "  - {policy: probes-set, reason: this one ran out long ago, owner: chat-platform,"
        " expires: 2026-01-01}\n"
    )
    code, report = _check(example)
    assert _outcomes(report, "image-digest-in-prod") == {"waived"}
    assert _outcomes(report, "waiver-unused") == {"warn"}
    expired = [f for f in report["findings"] if f["id"] == "waiver-expired"]
    assert (
        expired
        and expired[0]["outcome"] == "fail"
        and expired[0]["file"] == "policies/waivers.yaml"
    )
    assert code == 1


def test_a_sharded_run_does_not_call_another_shards_waiver_unused(example: Path):
    """CI checks one environment per job: a prod waiver is unused only when prod was
    checked and nothing matched it; an expired waiver fails in every shard."""
    (example / "policies/waivers.yaml").write_text(
        "waivers:\n"
        "  - {policy: ingress-tls, environment: prod, reason: nothing to cover here at all,"
        " owner: chat-platform, expires: 2027-01-31}\n"
    )
    _, dev = _check(example, "--env", "dev")
    assert _outcomes(dev, "waiver-unused") == set()
    _, prod = _check(example, "--env", "prod")
    assert _outcomes(prod, "waiver-unused") == {"warn"}
    _, full = _check(example)
    assert _outcomes(full, "waiver-unused") == {"warn"}


@pytest.mark.parametrize(
    ("file", "text", "line", "message"),
    [
        ("policies/bad-rule.yaml", "id: bad-rule\ntitle: t\nseverity: high\ndescription: d\nremediation: r\nmatch: {entity: object}\nrule:\n  type: 12\n", 8, "not a valid JSON Schema"),
        ("policies/typo.yaml", "id: typo\ntitle: t\nseverity: hihg\ndescription: d\nremediation: r\nmatch: {entity: object}\nrule: {}\n", 3, "severity"),
        ("policies/waivers.yaml", "waivers:\n  - {policy: image-pined, reason: a long enough reason, owner: chat-platform, expires: 2027-01-01}\n", 2, "did you mean"),
    ],
)  # fmt: skip
def test_a_broken_policy_file_is_a_located_error(
    example: Path, file: str, text: str, line: int, message: str
):
    (example / file).write_text(text)
    result = run_cli("check", "--root", str(example), "--date", DATE)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert (
        f"{file}:{line}:" in result.stderr and message in result.stderr.lower()
    ) or message in result.stderr


def test_enforcement_by_tier_and_config(example: Path):
    _break(example, "synapse-image", "docker.io/x/synapse:latest")
    _, report = _check(example)
    by_env = {
        (f["environment"], f["outcome"]) for f in report["findings"] if f["id"] == "image-pinned"
    }
    assert (
        ("prod", "fail") in by_env and ("dev", "warn") in by_env and ("dev", "fail") not in by_env
    )
    config = example / "policies/config.yaml"
    config.write_text(config.read_text() + "  image-pinned: {severity: info}\n")
    config.write_text(
        config.read_text().replace(
            "prod: {fail: medium, warn: info}", "prod: {fail: medium, warn: low}"
        )
    )
    _, report = _check(example)
    assert _outcomes(report, "image-pinned") == {"ignored"}


def _objects(root: Path) -> list[dict]:
    """Every object of the committed output (either layout), the kustomizations aside."""
    from tests.conftest import rendered_objects

    return [
        obj
        for path, obj in rendered_objects(root / "rendered").items()
        if not path.endswith("/kustomization.yaml")
    ]


def test_fast_and_reference_validators_agree_on_every_object():
    """fastjsonschema may only pass what jsonschema passes (a fast failure is re-checked
    by jsonschema, so it costs time, not correctness); on real objects, valid and broken."""
    schemas = ManifestSchemas()
    checked = 0
    for obj in _objects(REPO):
        schema = schemas.lookup("1.31", obj["apiVersion"], obj["kind"])
        assert isinstance(schema, CompiledSchema) and schema._fast is not None
        broken = (
            {**obj, "spec": {**obj.get("spec", {}), "bogusField": 1}}
            if "spec" in obj
            else {**obj, "bogus": 1}
        )
        for candidate, valid in ((obj, True), (broken, False)):
            reference = not list(schema._reference.iter_errors(candidate))
            assert reference == valid, (obj["kind"], valid)
            try:
                schema._fast(candidate)
                fast = True
            except Exception:
                fast = False
            assert fast <= reference, obj["kind"]  # never passes what the reference fails
        checked += 1
    assert checked > 300


def test_compiled_validators_are_cached_on_disk(tmp_path: Path, monkeypatch):
    """A second run loads the compiled code instead of generating it; a corrupt entry
    is compiled again; an empty GITOPSC_CACHE_DIR turns the cache off. Validation never
    changes the object (fastjsonschema would fill in defaults unless told not to)."""
    import copy

    import fastjsonschema

    deployment = next(o for o in _objects(REPO) if o["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "bogusField": 1}}
    cache = tmp_path / "cache"
    monkeypatch.setenv("GITOPSC_CACHE_DIR", str(cache))

    def verdicts() -> tuple[list, list]:
        schema = ManifestSchemas().lookup("1.31", "apps/v1", "Deployment")
        assert isinstance(schema, CompiledSchema) and schema._fast is not None
        before = copy.deepcopy(deployment)
        result = (schema.errors(deployment), [e.pointer for e in schema.errors(broken)])
        assert deployment == before
        return result

    first = verdicts()
    assert first == ([], ["/spec"])
    entries = sorted((cache / "validators").iterdir())
    assert entries

    def refuse(*args, **kwargs):
        raise AssertionError("generated again despite the cache")

    with monkeypatch.context() as patched:
        patched.setattr(fastjsonschema, "compile_to_code", refuse)
        assert verdicts() == first
        for entry in entries:
            entry.write_bytes(b"not marshal data")
        with pytest.raises(AssertionError, match="generated again"):
            verdicts()
    assert verdicts() == first  # corrupt entries compiled and written again
    assert all(entry.read_bytes() != b"not marshal data" for entry in entries)

    monkeypatch.setenv("GITOPSC_CACHE_DIR", "")  # off: generated every time
    monkeypatch.setattr(fastjsonschema, "compile_to_code", refuse)
    with pytest.raises(AssertionError, match="generated again"):
        verdicts()


def test_a_poisoned_cache_entry_is_never_run(tmp_path: Path, monkeypatch):
    """Loading a cached validator runs it, and GITOPSC_CACHE_DIR may be shared (a CI
    cache restored across branches): an entry is run only with this user's own HMAC.
    Unsigned entries and entries signed with another key (another machine, another
    pipeline) are compiled again; a key file others can read disables the cache."""
    import marshal
    import os

    from compiler.check import validator_cache

    deployment = next(o for o in _objects(REPO) if o["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "bogusField": 1}}
    marker = tmp_path / "planted-code-ran"
    monkeypatch.setenv("GITOPSC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    validator_cache.cache_key.cache_clear()

    def errors() -> list[str]:
        schema = ManifestSchemas().lookup("1.31", "apps/v1", "Deployment")
        assert isinstance(schema, CompiledSchema) and schema._fast is not None
        return [e.pointer for e in schema.errors(broken)]

    assert errors() == ["/spec"]
    assert validator_cache.key_file().stat().st_mode & 0o777 == 0o600
    assert tmp_path / "cache" not in validator_cache.key_file().parents  # never shared with it
    entries = sorted((tmp_path / "cache/validators").iterdir())
    planted = compile(
        f"open({str(marker)!r}, 'w').close()\ndef validate(data):\n    return data\n",
        "<planted>",
        "exec",
    )
    payload = marshal.dumps(planted)
    other_key = os.urandom(32)
    for forged in (
        os.urandom(32) + payload,  # unsigned (random bytes where the HMAC goes)
        payload,  # a plain marshal entry, as the cache used to hold
        *(validator_cache._signature(e.stem, other_key, payload) + payload for e in entries[:1]),
    ):
        for entry in entries:
            entry.write_bytes(forged)
        assert errors() == ["/spec"] and not marker.exists()
    for entry in entries:  # signed with another key, each under its own name
        entry.write_bytes(validator_cache._signature(entry.stem, other_key, payload) + payload)
    assert errors() == ["/spec"] and not marker.exists()

    validator_cache.key_file().chmod(0o644)  # readable by others: anyone could sign
    validator_cache.cache_key.cache_clear()
    assert validator_cache.cache_key() is None
    assert errors() == ["/spec"] and not marker.exists()
    validator_cache.cache_key.cache_clear()


@pytest.fixture
def key_state(private_cache: Path) -> Path:
    """The folder of this test's own cache key (conftest's `private_cache`)."""
    return private_cache.parent / "state/gitopsc"


def test_a_key_file_swapped_for_a_symlink_is_never_read(
    key_state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Whoever chooses the key can sign entries, so a symlink at the key's place is
    refused, also when it is swapped in between the file's check and its read: the file
    is checked and read through one descriptor."""
    import os

    from compiler.check import validator_cache

    own = validator_cache.cache_key()
    assert own is not None and len(own) == 32
    attacker = tmp_path / "attacker-key"
    attacker.write_bytes(b"A" * 32)
    attacker.chmod(0o600)  # owner-only, as the key must be: only the link is wrong
    key = validator_cache.key_file()
    inode = key.stat().st_ino
    stats = {name: getattr(os, name) for name in ("stat", "lstat", "fstat")}
    swapped: list[str] = []

    def swap_after_the_check(name: str):
        def checked(*args, **kwargs):
            status = stats[name](*args, **kwargs)
            if status.st_ino == inode and not swapped:  # the key file's status was read
                swapped.append(name)
                os.rename(key, key.with_name("cache-key.old"))
                os.symlink(attacker, key)
            return status

        return checked

    with monkeypatch.context() as race:
        for name in stats:
            race.setattr(os, name, swap_after_the_check(name))
        validator_cache.cache_key.cache_clear()
        raced = validator_cache.cache_key()
    assert swapped and key.is_symlink()
    assert raced == own  # the file it checked, not the attacker's

    validator_cache.cache_key.cache_clear()
    assert validator_cache.cache_key() is None  # the symlink itself is refused
    assert key.is_symlink()  # and left alone: not the user's to replace


def test_a_key_folder_others_may_use_is_refused(key_state: Path):
    """Others who may write to the key's folder could swap the key file; ones who may
    read it could read the key."""
    from compiler.check import validator_cache

    assert validator_cache.cache_key() is not None
    for mode in (0o770, 0o707, 0o750, 0o705):
        key_state.chmod(mode)
        validator_cache.cache_key.cache_clear()
        assert validator_cache.cache_key() is None, oct(mode)
    key_state.chmod(0o700)
    validator_cache.cache_key.cache_clear()
    assert validator_cache.cache_key() is not None


def test_an_empty_key_file_is_replaced_and_the_cache_works_again(
    key_state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A crash between creating the key file and writing it leaves it empty or short;
    that used to turn the cache off for good. Now a new key replaces it (owner-only,
    nothing else left in the folder) and entries are written and loaded again."""
    import fastjsonschema

    from compiler.check import validator_cache

    key_state.mkdir(mode=0o700, parents=True)
    for left in (b"", b"cut short"):
        validator_cache.key_file().write_bytes(left)
        validator_cache.key_file().chmod(0o600)
        validator_cache.cache_key.cache_clear()
        secret = validator_cache.cache_key()
        assert secret is not None and len(secret) == 32
        assert validator_cache.key_file().read_bytes() == secret
        assert validator_cache.key_file().stat().st_mode & 0o777 == 0o600
        assert [p.name for p in key_state.iterdir()] == ["cache-key"]

    def lookup() -> None:
        schema = ManifestSchemas().lookup("1.31", "apps/v1", "Deployment")
        assert isinstance(schema, CompiledSchema) and schema._fast is not None

    lookup()
    assert list((tmp_path / "cache/validators").iterdir())

    def refuse(*args, **kwargs):
        raise AssertionError("generated again despite the cache")

    monkeypatch.setattr(fastjsonschema, "compile_to_code", refuse)
    lookup()  # loaded from the cache, signed with the new key


def test_kubernetes_validate_agrees_on_a_removed_api():
    import kubernetes_validate

    schemas = ManifestSchemas()
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(
            {
                "apiVersion": "policy/v1beta1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": "x"},
            },
            "1.31",
            strict=True,
        )
    assert not isinstance(
        schemas.lookup("1.31", "policy/v1beta1", "PodDisruptionBudget"), CompiledSchema
    )


def test_reports_are_valid_and_fingerprints_stable(example: Path, tmp_path: Path):
    _break(example, "synapse-image", "docker.io/x/synapse:latest")
    paths = {
        kind: tmp_path / f"report.{kind}"
        for kind in ("junit", "sarif", "codequality", "json", "markdown")
    }
    args = [a for kind, path in paths.items() for a in ("-f", kind, "-o", str(path))]
    result = run_cli("check", "--root", str(example), "--date", DATE, *args)
    assert result.exit_code == 1, result.stderr
    sarif = json.loads(paths["sarif"].read_text())
    jsonschema.validate(sarif, json.loads(reference("sarif/sarif-schema-2.1.0.json").read_text()))
    assert sarif["runs"][0]["results"]
    import xmlschema

    xmlschema.XMLSchema(str(reference("junit/jenkins-xunit-junit-10.xsd"))).validate(
        str(paths["junit"])
    )
    tree = ET.parse(paths["junit"])
    assert tree.getroot().tag == "testsuites" and int(tree.getroot().get("failures")) > 0
    quality = json.loads(paths["codequality"].read_text())
    assert quality
    for entry in quality:
        assert {"description", "check_name", "fingerprint", "severity", "location"} <= set(entry)
        assert entry["severity"] in ("info", "minor", "major", "critical", "blocker")
        assert entry["location"]["path"] and entry["location"]["lines"]["begin"] >= 1
    assert len({e["fingerprint"] for e in quality}) == len(quality)
    first = paths["json"].read_text()
    moved = example.parent / "elsewhere"
    example.rename(moved)
    again = tmp_path / "again.json"
    run_cli("check", "--root", str(moved), "--date", DATE, "-f", "json", "-o", str(again))
    assert again.read_text() == first
    assert "| fail |" in paths["markdown"].read_text()


# ---------------------------------------------------------------- checkov


def _patch_element_web_objects(root: Path) -> None:
    """Unname the ingress class and mount the token: fails both custom checkov checks."""
    _patch_element_web(
        root,
        "  patches:\n"
        "    - target: {kind: Ingress}\n"
        "      json_patch: [{op: remove, path: /spec/ingressClassName}]\n"
        "    - target: {kind: Deployment}\n"
        "      merge_patch: {spec: {template: {spec: {automountServiceAccountToken: true}}}}\n",
    )


def test_checkov_runs_in_process_offline_and_maps_results_to_the_catalog(
    example: Path, monkeypatch
):
    """No socket is opened or name resolved; each result is a finding at the setting
    behind the field checkov names, graded by config.yaml."""
    import socket

    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network refused by the test")

    config = example / "policies/config.yaml"
    config.write_text(
        config.read_text().replace("CKV_K8S_35: {enabled: false}", "CKV_K8S_35: {severity: low}")
    )
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    code, report = _check(example)
    assert attempts == []
    assert code == 0
    env_secrets = [f for f in report["findings"] if f["id"] == "CKV_K8S_35"]
    assert env_secrets and {f["source"] for f in env_secrets} == {"checkov"}
    assert {f["severity"] for f in env_secrets} == {"low"}  # re-graded in config.yaml
    synapse = next(f for f in env_secrets if f["instance"] == "prod/acme/synapse")
    # named where it is written: a document of the instance's manifests.yaml
    assert synapse["rendered"] == (
        "prod/kubernetes/prod-fra1/acme/synapse/manifests.yaml#deployment-synapse"
    )
    text = (example / synapse["file"]).read_text().splitlines()
    assert text[synapse["line"] - 1].strip().startswith("secrets:"), synapse


def test_custom_checkov_checks_fail_their_fixtures(example: Path):
    """policies/checkov/ingress_class.py (Python) and pod-token.yaml (graph check, with
    its own severity) pass on the example and fail on objects patched to break them."""
    code, report = _check(example)
    assert not {"CKV_GITOPSC_1", "CKV2_GITOPSC_1"} & {f["id"] for f in report["findings"]}
    _patch_element_web_objects(example)
    code, report = _check(example)
    by_id: dict[str, list] = {}
    for f in report["findings"]:
        by_id.setdefault(f["id"], []).append(f)
    ingress, token = by_id.get("CKV_GITOPSC_1", []), by_id.get("CKV2_GITOPSC_1", [])
    assert ingress and {f["service"] for f in ingress} == {"element-web"}
    assert token and {f["severity"] for f in token} == {"high"}
    assert {f["file"] for f in ingress + token} == {"catalog/services/element-web.yaml"}
    assert code == 1 and "fail" in {f["outcome"] for f in token}


def test_checkov_checks_are_switched_off_and_regraded_in_config(example: Path):
    _patch_element_web_objects(example)
    config = example / "policies/config.yaml"
    original = config.read_text()
    config.write_text(
        original + "  CKV2_GITOPSC_1: {enabled: false}\n  CKV_GITOPSC_1: {severity: info}\n"
    )
    _, report = _check(example)
    assert not [f for f in report["findings"] if f["id"] == "CKV2_GITOPSC_1"]
    assert {f["severity"] for f in report["findings"] if f["id"] == "CKV_GITOPSC_1"} == {"info"}
    config.write_text(original.replace("checkov: {enabled: true", "checkov: {enabled: false"))
    code, report = _check(example)
    assert code == 0 and not [f for f in report["findings"] if f["source"] == "checkov"]


@pytest.mark.parametrize(
    ("file", "text", "line", "message"),
    [
        ("policies/checkov/broken.py", "x = 1\ndef f(:\n", 2, "syntax error"),
        ("policies/checkov/raises.py", "import os\n\nraise RuntimeError('boom')\n", 3, "boom"),
        ("policies/checkov/nodef.yaml", "metadata: {id: CKV2_X_1, name: n, category: KUBERNETES}\n", 1, "not a checkov graph check"),
        ("policies/checkov/bad.yaml", "metadata: {id: CKV2_X_1\n", 2, "invalid YAML"),
        ("policies/config.yaml", "checks:\n  CKV_K8S_355: {enabled: false}\n", 2, "CKV_K8S_35"),
    ],
)  # fmt: skip
def test_a_broken_custom_checkov_check_is_a_located_error(
    example: Path, file: str, text: str, line: int, message: str
):
    (example / file).write_text(text)
    result = run_cli("check", "--root", str(example), "--date", DATE)
    assert result.exit_code == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"{file}:{line}" in result.stderr and message in result.stderr


def test_check_list_names_every_check_with_its_status(example: Path):
    config = example / "policies/config.yaml"
    config.write_text(config.read_text() + "  probes-set: {severity: low}\n")
    result = run_cli("check", "--list", "--root", str(example))
    assert result.exit_code == 0, result.stderr
    rows = {
        line.split()[0]: line.split()[1:4]
        for line in result.stdout.splitlines()[1:]
        if line.strip()
    }
    assert rows["residency-region"][:2] == ["builtin", "critical"]
    assert rows["probes-set"] == ["policy", "low", "re-graded"]
    assert rows["CKV_K8S_35"][::2] == ["checkov", "disabled"]
    assert rows["CKV2_GITOPSC_1"][:2] == ["checkov", "high"]  # stated in its YAML
    assert rows["CKV_GITOPSC_1"][:2] == ["checkov", "medium"]  # config's checkov.severity
    # equivalences (policies' `equivalents:`) show from both sides, one finding reports both
    same_as = {
        line.split()[0]: line
        for line in result.stdout.splitlines()
        if line.split()[:1] in (["image-pinned"], ["CKV_K8S_14"], ["CKV_K8S_20"])
    }
    assert " CKV_K8S_14 " in same_as["image-pinned"]
    assert " image-pinned " in same_as["CKV_K8S_14"]
    assert " - " in same_as["CKV_K8S_20"]  # a check with no twin


def test_checkov_given_objects_agrees_with_checkov_reading_the_files():
    """gitopsc hands checkov the objects instead of files (checkov_checks._run_checkov);
    on every namespace folder of the committed prod output, each check passes and fails
    on the same resources as when checkov reads the rendered files itself (in their
    instance folders: the committed output holds each folder's objects in one
    manifests.yaml, gitopsc hands them over one by one)."""
    from checkov.kubernetes.runner import Runner
    from checkov.runner_filter import RunnerFilter

    from compiler import pipeline
    from compiler.check.checkov_checks import _is_kubernetes_object, _run_checkov, activate
    from compiler.render import render_environment

    activate(REPO, REPO / "policies/checkov")
    resolved = pipeline.run(REPO, ["prod"])
    instances = list(resolved.instances.values())
    files, _ = render_environment(
        resolved.catalog, resolved.catalog.environments["prod"], instances, "rendered"
    )
    folders: dict[str, dict] = {}
    for file in filter(_is_kubernetes_object, files):
        folders.setdefault("/".join(file.path.split("/")[:4]), {})[file.path] = file

    def outcomes(reports: list) -> set:
        return {
            (r.check_id, r.file_path.rpartition("/")[0], r.resource, str(r.check_result["result"]))
            for report in reports
            for r in [*report.passed_checks, *report.failed_checks]
        }

    compared = 0
    for folder, objects in sorted(folders.items()):
        ours = outcomes(_run_checkov(objects, folder, ()))
        theirs = Runner().run(
            root_folder=str(REPO / "rendered" / folder),
            runner_filter=RunnerFilter(framework=["kubernetes"], show_progress_bar=False),
        )
        assert ours == outcomes(theirs if isinstance(theirs, list) else [theirs]), folder
        compared += len(ours)
    assert len(folders) >= 5 and compared > 1000


def _paste_a_password_for_every_environment(root: Path) -> None:
    """A secret in acme's all-environment layer: a finding of the catalog, in no
    environment's shard. (Before issue 16 this was a domain two customers claim, which
    validation now refuses: `test_tenant_boundary.py`.)"""
    acme = root / "catalog/customers/acme.yaml"
    text = acme.read_text()
    assert "      SYNAPSE_MAX_UPLOAD_SIZE: 100M\n" in text
    acme.write_text(
        text.replace(
            "      SYNAPSE_MAX_UPLOAD_SIZE: 100M\n",
            "      SYNAPSE_MAX_UPLOAD_SIZE: 100M\n      DB_PWD: hunter2\n",
        )
    )


def test_catalog_only_finds_what_env_shards_leave_out(example: Path):
    _paste_a_password_for_every_environment(example)
    code, only = _check(example, "--catalog-only")
    assert code == 1 and _outcomes(only, "plaintext-secret") == {"fail"}
    assert {f["environment"] for f in only["findings"]} == {None}
    _, shard = _check(example, "--env", "prod")
    assert not [f for f in shard["findings"] if f["id"] == "plaintext-secret"]
    result = run_cli("check", "--root", str(example), "--catalog-only", "--env", "prod")
    assert result.exit_code == 2 and "--catalog-only" in result.stderr


def test_a_failed_policy_rule_names_the_property_and_the_rule_in_one_line(example: Path):
    """`prod-replicas` is an anyOf (autoscaling, or replicas >= 2): the finding says which
    property broke which rule, not "<the whole settings mapping> is not valid under any of
    the given schemas"."""
    _break(example, "prod-replicas", "")
    code, report = _check(example)
    failing = [
        f
        for f in report["findings"]
        if f["id"] == "prod-replicas" and f["outcome"] == "fail" and f["service"] == "synapse"
    ]
    assert code == 1 and failing
    for finding in failing:
        message = finding["message"]
        assert "\n" not in message and len(message) < 200, message
        assert message.endswith(": settings.replicas: 1 is less than the minimum of 2"), message
        assert "{" not in message and "image" not in message and "valid under" not in message
        assert finding["file"] == "environments/prod/environment.yaml" and finding["line"] >= 1


def test_a_schema_error_quoting_a_mapping_shows_its_size_not_its_content():
    schema = CompiledSchema({"properties": {"settings": {"not": {"required": ["debug"]}}}})
    settings = {"debug": True, "image": "x", "env": {"A": "b"}}
    [error] = schema.errors({"settings": settings})
    assert error.pointer == "/settings"
    assert "the mapping (3 entries)" in error.message and "'image'" not in error.message


def test_plan_entitlements_refuse_sso_on_a_starter_plan_and_allow_it_on_business(example: Path):
    """The instance subject carries the customer's plan: `plan-entitlements` keeps mas
    (single sign-on) to the business and enterprise plans."""
    starter_line = _enable_mas(example, "alpenverein")  # starter plan
    # acme (business plan) has mas in prod in the example already
    code, report = _check(example)
    failing = [f for f in report["findings"] if f["id"] == "plan-entitlements"]
    assert code == 1 and len(failing) == 1, failing
    [finding] = failing
    assert finding["outcome"] == "fail" and finding["severity"] == "high"
    assert (finding["customer"], finding["service"], finding["environment"]) == (
        "alpenverein",
        "mas",
        "prod",
    )
    assert (finding["file"], finding["line"]) == (
        "catalog/customers/alpenverein.yaml",
        starter_line,
    )
    message = finding["message"]
    assert "prod/alpenverein/mas" in message and "plan: 'starter'" in message, message
    assert "business" in message and "enterprise" in message


def test_the_instance_subject_carries_plan_and_residency_and_none_for_shared_instances():
    from compiler import pipeline
    from compiler.check.subjects import instance_subjects

    resolved = pipeline.run(REPO, ["prod"])
    documents = {
        subject.name: subject.document
        for subject in instance_subjects(resolved.catalog, list(resolved.instances.values()))
    }
    helvetia = documents["prod/helvetia-bank/mas"]
    assert (helvetia["customer"], helvetia["plan"], helvetia["residency"]) == (
        "helvetia-bank",
        "enterprise",
        "ch",
    )
    assert documents["prod/acme/synapse"]["plan"] == "business"
    shared = [doc for doc in documents.values() if doc["customer"] is None]
    assert shared and all(doc["plan"] is None and doc["residency"] is None for doc in shared)
