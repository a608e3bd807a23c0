"""One cause, one finding: a starter policy and checkov's near-twin (declared as
`equivalents:` in the policy's file) report one mistake once, naming both ids, and one
waiver for either id covers it. Real checkov, on the example catalog."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from compiler.check.equivalence import merge
from compiler.check.findings import Finding
from tests.conftest import REPO, run_cli

DATE = "2026-11-23"
SYNAPSE = "prod/kubernetes/prod-fra1/acme/synapse/manifests.yaml#deployment-synapse"
CONTAINER = "/spec/template/spec/containers/0"


def _check(root: Path, *args: str) -> tuple[int, list[dict], str]:
    out = root / "findings.json"
    result = run_cli(
        "check", "--root", str(root), "--date", DATE, *args, "-f", "json", "-o", str(out)
    )
    assert result.exit_code in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    return result.exit_code, json.loads(out.read_text())["findings"], result.stderr


def _acme_layer(root: Path, env: str, settings: str) -> None:
    """Give acme's synapse in `env` these settings, in the customer's own file."""
    path = root / "catalog/customers/acme.yaml"
    text = path.read_text()
    head, tail = text.split(f"  {env}:\n    services:\n", 1)
    body = tail.replace("      synapse:\n", "      synapse:\n" + settings, 1)
    if body == tail:  # `synapse:` with settings already (prod: replicas)
        raise AssertionError(f"no synapse under {env} in acme.yaml")
    path.write_text(f"{head}  {env}:\n    services:\n{body}")


def _remove_from_container(root: Path, *fields: str) -> None:
    """acme's synapse Deployment in dev loses these fields of its container (a patch)."""
    _acme_layer(
        root,
        "dev",
        "        patches:\n"
        "          - target: {kind: Deployment}\n"
        "            json_patch:\n"
        + "".join(f"              - {{op: remove, path: {CONTAINER}/{f}}}\n" for f in fields),
    )


def _about_acme_synapse(findings: list[dict], env: str) -> list[dict]:
    return [
        f
        for f in findings
        if f["instance"] == f"{env}/acme/synapse" and f["outcome"] in ("fail", "warn", "waived")
    ]


def test_an_unpinned_image_in_a_customer_layer_is_one_finding_naming_both_ids(example: Path):
    _acme_layer(example, "prod", "        image: docker.io/x/synapse\n")
    code, findings, _ = _check(example, "--env", "prod")
    about = _about_acme_synapse(findings, "prod")
    by_id = {f["id"]: f for f in about}
    # the floating image is two mistakes in prod (no tag, no digest): one finding each,
    # the policy's, each naming its checkov twin; no checkov finding of its own
    assert sorted(by_id) == ["image-digest-in-prod", "image-pinned"], [f["id"] for f in about]
    assert len(about) == 2
    assert by_id["image-pinned"]["equivalents"] == ["CKV_K8S_14"]
    assert by_id["image-digest-in-prod"]["equivalents"] == ["CKV_K8S_43"]
    pinned = by_id["image-pinned"]
    assert pinned["source"] == "policy" and pinned["rendered"] == SYNAPSE
    assert pinned["file"] == "catalog/customers/acme.yaml"  # where the mistake was made
    assert pinned["remediation"].startswith("set `image:`")  # the policy's own advice
    assert code == 1
    # other customers' synapse is untouched: nothing found, nothing swallowed
    assert not [
        f for f in findings if f["instance"] == "prod/globex/synapse" and f["outcome"] == "fail"
    ]
    # the text report names both ids on the one line
    text = run_cli("check", "--root", str(example), "--date", DATE, "--env", "prod")
    assert "image-pinned (= CKV_K8S_14)" in text.stdout
    assert "image-digest-in-prod (= CKV_K8S_43)" in text.stdout


def test_missing_resources_and_probes_are_one_finding_each(example: Path):
    _remove_from_container(example, "resources", "livenessProbe")
    _, findings, _ = _check(example, "--env", "dev")
    about = _about_acme_synapse(findings, "dev")
    assert sorted(f["id"] for f in about) == ["probes-set", "resources-set"], about
    by_id = {f["id"]: f for f in about}
    assert by_id["resources-set"]["equivalents"] == [
        "CKV_K8S_10",
        "CKV_K8S_11",
        "CKV_K8S_12",
        "CKV_K8S_13",
    ]
    assert by_id["probes-set"]["equivalents"] == ["CKV_K8S_8"]


def test_a_container_without_both_probes_is_one_finding_with_one_fingerprint(example: Path):
    """Both probes missing fail the rule's `required` twice at one container: one place to
    fix, so one finding that says both, absorbs both checkov twins, and has a fingerprint
    no other finding shares."""
    _remove_from_container(example, "livenessProbe", "readinessProbe")
    _, findings, _ = _check(example, "--env", "dev")
    probes = [f for f in _about_acme_synapse(findings, "dev") if f["id"] == "probes-set"]
    assert len(probes) == 1, probes
    assert "'livenessProbe'" in probes[0]["message"]
    assert "'readinessProbe'" in probes[0]["message"]
    assert probes[0]["equivalents"] == ["CKV_K8S_8", "CKV_K8S_9"]
    fingerprints = [f["fingerprint"] for f in findings]
    assert len(fingerprints) == len(set(fingerprints))


@pytest.mark.parametrize("waived", ["image-pinned", "CKV_K8S_14"])
def test_one_waiver_for_either_id_covers_the_one_finding(example: Path, waived: str):
    _acme_layer(example, "dev", "        image: docker.io/x/synapse:latest\n")
    (example / "policies/waivers.yaml").write_text(
        "waivers:\n"
        f"  - {{policy: {waived}, environment: dev, customer: acme, service: synapse,"
        " reason: the upstream publishes no tags yet, owner: chat-platform,"
        " expires: 2027-01-31}\n"
    )
    _, findings, _ = _check(example, "--env", "dev")
    pinned = [
        f for f in _about_acme_synapse(findings, "dev") if f["id"] in ("image-pinned", "CKV_K8S_14")
    ]
    assert [(f["id"], f["outcome"], f["equivalents"]) for f in pinned] == [
        ("image-pinned", "waived", ["CKV_K8S_14"])
    ]
    assert not [f for f in findings if f["id"] == "waiver-unused"]
    # CKV_K8S_43 (digest) in dev is no twin of anything (image-digest-in-prod is for
    # prod only): it stays its own finding, and the waiver does not cover it
    digest = [f for f in _about_acme_synapse(findings, "dev") if f["id"] == "CKV_K8S_43"]
    assert [f["outcome"] for f in digest] == ["warn"]


def _waivers(root: Path, *policies: str) -> None:
    (root / "policies/waivers.yaml").write_text(
        "waivers:\n"
        + "".join(
            f"  - {{policy: {policy}, environment: dev, customer: acme, service: synapse,"
            " reason: throttling hurts this one, owner: chat-platform, expires: 2027-01-31}\n"
            for policy in policies
        )
    )


@pytest.mark.parametrize(
    ("removed", "waived", "covered"),
    [
        # a CPU-limit waiver is about the CPU limit: no requests and no memory limit stay
        ("resources", ["CKV_K8S_11"], False),
        ("resources", ["CKV_K8S_10", "CKV_K8S_11", "CKV_K8S_12", "CKV_K8S_13"], True),
        ("resources", ["resources-set"], True),
        # a readiness waiver does not hide a missing liveness probe
        ("probes", ["CKV_K8S_9"], False),
        ("probes", ["CKV_K8S_8", "CKV_K8S_9"], True),
    ],
)
def test_a_waiver_for_one_twin_does_not_hide_what_the_others_report(
    example: Path, removed: str, waived: list[str], covered: bool
):
    """A policy finding that folded several checkov ids reports each of their mistakes;
    it is waived by a waiver for the policy, or by waivers for every id it folded."""
    fields = ["resources"] if removed == "resources" else ["livenessProbe", "readinessProbe"]
    _remove_from_container(example, *fields)
    _waivers(example, *waived)
    _, findings, _ = _check(example, "--env", "dev")
    policy = "resources-set" if removed == "resources" else "probes-set"
    about = [f for f in _about_acme_synapse(findings, "dev") if f["id"] == policy]
    assert len(about) == 1, about
    # dev's tier warns on medium findings, so an uncovered one is a warning there
    assert about[0]["outcome"] == ("waived" if covered else "warn"), about[0]
    unused = {f["message"] for f in findings if f["id"] == "waiver-unused"}
    if covered:
        assert not unused  # each waiver that took part is used
    else:
        assert all(w in " ".join(unused) for w in waived), unused  # none of them did


def test_the_surviving_finding_keeps_its_fingerprint_with_checkov_on_or_off(example: Path):
    _acme_layer(example, "dev", "        image: docker.io/x/synapse:latest\n")
    _, on, _ = _check(example, "--env", "dev")
    config = example / "policies/config.yaml"
    config.write_text(
        config.read_text().replace("checkov: {enabled: true", "checkov: {enabled: false")
    )
    _, off, _ = _check(example, "--env", "dev")

    def pinned(findings: list[dict]) -> dict:
        return next(f for f in _about_acme_synapse(findings, "dev") if f["id"] == "image-pinned")

    assert pinned(on)["equivalents"] == ["CKV_K8S_14"] and pinned(off)["equivalents"] == []
    assert pinned(on)["fingerprint"] == pinned(off)["fingerprint"]


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ("[CKV_K8S_14X]", "did you mean"),
        ("[CKV_K8S_14, image-pined]", "image-pined"),
        ("[image-pinned]", "itself"),
    ],
)
def test_an_equivalence_with_an_unknown_id_is_a_located_error(
    example: Path, declared: str, message: str
):
    path = example / "policies/image-pinned.yaml"
    lines = path.read_text().splitlines(keepends=True)
    line = next(n for n, text in enumerate(lines, 1) if text.startswith("equivalents:"))
    lines[line - 1] = f"equivalents: {declared}\n"
    path.write_text("".join(lines))
    result = run_cli("check", "--root", str(example), "--date", DATE)
    assert result.exit_code == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"policies/image-pinned.yaml:{line}:" in result.stderr, result.stderr
    assert message in result.stderr


def test_every_declared_equivalence_names_a_check_checkov_has():
    """The starter policies' twins are real checkov ids (a rename in checkov would make
    the example's `check` exit 2, caught here first)."""
    from compiler.check.checkov_checks import activate
    from compiler.check.policies import load_policies

    policy_set, problems = load_policies(REPO)
    assert problems == []
    checks, _ = activate(REPO, REPO / "policies/checkov")
    declared = {c for twins in policy_set.equivalents.values() for c in twins}
    assert declared == {f"CKV_K8S_{n}" for n in (8, 9, 10, 11, 12, 13, 14, 43)}
    assert declared <= set(checks)


# ---------------------------------------------------------------- per subject


def _finding(check: str, rendered: str, pointer: str, source: str = "checkov") -> Finding:
    return Finding(
        check,
        "medium",
        f"{check} on {rendered}{pointer}",
        source,  # type: ignore[arg-type]
        rendered=rendered,
        environment="prod",
        key=pointer,
        pointer=pointer,
    )


EQUIVALENTS = {
    "image-pinned": ["CKV_K8S_14"],
    "resources-set": ["CKV_K8S_10", "CKV_K8S_11", "CKV_K8S_12", "CKV_K8S_13"],
}


def test_only_findings_on_the_same_object_and_container_are_folded():
    other = "prod/kubernetes/prod-fra1/acme/element-web/deployment-element-web.yaml"
    pinned = _finding("image-pinned", SYNAPSE, f"{CONTAINER}/image", "policy")
    twin = _finding("CKV_K8S_14", SYNAPSE, f"{CONTAINER}/image")
    init = _finding("CKV_K8S_14", SYNAPSE, "/spec/template/spec/initContainers/0/image")
    second = _finding("CKV_K8S_14", SYNAPSE, "/spec/template/spec/containers/1/image")
    elsewhere = _finding("CKV_K8S_14", other, f"{CONTAINER}/image")
    staging = dataclasses.replace(twin, environment="staging")
    merged = merge([pinned, twin, init, second, elsewhere, staging], EQUIVALENTS)
    assert merged[0].label == "image-pinned (= CKV_K8S_14)"
    assert merged[0].fingerprint == pinned.fingerprint
    assert merged[1:] == [init, second, elsewhere, staging]


def test_a_partial_resources_block_absorbs_only_the_checks_on_what_is_missing():
    """No CPU request and no CPU limit: resources-set (which asks for no CPU limit) is
    about `resources/requests`; CKV_K8S_11 (CPU limit) is another mistake and stays."""
    policy = _finding("resources-set", SYNAPSE, f"{CONTAINER}/resources/requests", "policy")
    request = _finding("CKV_K8S_10", SYNAPSE, f"{CONTAINER}/resources/requests/cpu")
    limit = _finding("CKV_K8S_11", SYNAPSE, f"{CONTAINER}/resources/limits/cpu")
    merged = merge([policy, request, limit], EQUIVALENTS)
    assert [(f.id, f.equivalents) for f in merged] == [
        ("resources-set", ("CKV_K8S_10",)),
        ("CKV_K8S_11", ()),
    ]
    # a policy finding about the whole object does not swallow a container's checks
    whole = _finding("resources-set", SYNAPSE, "", "policy")
    assert merge([whole, request], EQUIVALENTS) == [whole, request]


def test_checkov_findings_on_a_namespace_file_carry_its_customer():
    """A file all of acme's instances share (its namespace's objects) names the customer
    the instances share, so a waiver scoped to acme covers checkov's findings on it."""
    from compiler.check.checkov_checks import CheckovRun, activate, scan
    from compiler.pipeline.load import load_catalog, resolve_catalog
    from compiler.render import render_environment

    resolved = resolve_catalog(load_catalog(REPO), ["prod"])
    catalog = resolved.catalog
    acme = {
        i.id: i
        for i in resolved.instances.values()
        if i.customer == "acme" and i.environment == "prod"
    }
    files, problems = render_environment(catalog, catalog.environments["prod"], list(acme.values()))
    assert problems == []
    own = "prod/kubernetes/prod-fra1/acme/synapse/deployment-synapse.yaml"  # as rendered
    deployment = next(f for f in files if f.path == own)
    data = json.loads(json.dumps(deployment.data))
    data["spec"]["template"]["spec"]["containers"][0]["image"] = "docker.io/x/synapse:latest"
    shared = dataclasses.replace(
        deployment,
        path=own.replace("synapse/deployment-synapse", "deployment-shared"),
        data=data,
        instances=tuple(sorted(acme)),
    )
    activate(REPO, REPO / "policies/checkov")
    found = scan(catalog, "prod", [shared], acme, CheckovRun("medium", ()))
    tagless = [f for f in found if f.id == "CKV_K8S_14"]
    assert tagless, [f.id for f in found]
    assert {(f.environment, f.customer, f.service, f.instance) for f in tagless} == {
        ("prod", "acme", None, None)
    }
