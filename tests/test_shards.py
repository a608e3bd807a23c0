"""`--shard K/N` (issue 17): N parallel jobs together do what one run does, each file and
each finding in exactly one shard; a customer keeps its shard when others come and go."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import sys
from collections import Counter
from pathlib import Path

import git
import pytest

from compiler.catalog import Shard, customer_of_id, parse_shard, shard_of, sole_customer
from compiler.errors import UsageError
from tests.conftest import REPO, commit_example, copy_example, run_cli

DATE = "2026-11-23"
GENERATE = REPO / "benchmarks" / "generate.py"


def _load_generate():
    spec = importlib.util.spec_from_file_location("benchmarks_generate_shards", GENERATE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


generate = _load_generate()

# ---------------------------------------------------------------- the assignment


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1/1", None), ("1/2", Shard(1, 2)), ("2/2", Shard(2, 2)), ("7/7", Shard(7, 7)),
     (" 3 / 4 ", Shard(3, 4)), (None, None)],
)  # fmt: skip
def test_a_shard_is_k_of_n_and_1_of_1_is_the_whole(text: str | None, expected: Shard | None):
    assert parse_shard(text) == expected


@pytest.mark.parametrize(
    "text", ["0/3", "4/3", "1/0", "0/0", "-1/2", "1.5/2", "a/b", "2", "", "1/2/3", "2/"]
)
def test_a_bad_shard_is_a_usage_error(text: str):
    with pytest.raises(UsageError) as raised:
        parse_shard(text)
    assert "K/N" in raised.value.hint


def test_a_customers_shard_is_sha256_of_its_name_and_no_one_moves_when_others_come():
    names = [f"customer-{i:04d}" for i in range(1000)]
    for count in (2, 3, 7):
        before = {name: shard_of(name, count) for name in names[:500]}
        after = {name: shard_of(name, count) for name in reversed(names)}  # more, other order
        assert all(after[name] == shard for name, shard in before.items())
        # the number a job computes on any machine: sha256, not Python's salted hash()
        digest = hashlib.sha256(b"customer-0042").digest()
        assert shard_of("customer-0042", count) == 1 + int.from_bytes(digest[:8], "big") % count
        spread = Counter(after.values())
        assert set(spread) == set(range(1, count + 1))
        assert min(spread.values()) > 1000 / count * 0.8  # no shard starves or swamps
    assert shard_of(None, 7) == 1 and shard_of("acme", 1) == 1


def test_a_file_of_one_customer_is_its_shard_and_any_other_file_is_shard_1():
    assert customer_of_id("prod/acme/synapse") == "acme" and customer_of_id("prod/rspamd") is None
    assert sole_customer(["acme", "acme"]) == "acme"
    assert sole_customer(["acme", "globex"]) is None
    assert sole_customer(["acme", None]) is None and sole_customer([]) is None
    name = next(f"c{i}" for i in range(100) if shard_of(f"c{i}", 3) == 3)
    three, one = Shard(3, 3), Shard(1, 3)
    assert three.owns_instances([name, name]) and not one.owns_instances([name])
    assert one.owns_instances([name, "other"]) and one.owns_instances([None, name])
    assert one.owns_instances([]) and not three.owns_instances([name, None])


@pytest.mark.parametrize(
    "args",
    [
        ("check", "--shard", "5/4"),
        ("check", "--shard", "x"),
        ("compile", "--check", "--shard", "0/2"),
        ("compile", "--shard", "1/2"),  # a compile writes the whole tree
        ("diff", "--base", "main", "--shard", "3"),
        ("check", "--catalog-only", "--shard", "1/2"),
    ],
)
def test_the_cli_refuses_a_bad_shard_with_exit_2_and_no_traceback(example: Path, args):
    result = run_cli(*args, "--root", str(example))
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr and result.exception is None
    assert "--shard" in result.stderr


# ---------------------------------------------------------------- check


def _findings(root: Path, *args: str) -> list[dict]:
    out = root.parent / f"findings-{abs(hash(args))}.json"
    result = run_cli(
        "check", "--root", str(root), "--date", DATE, *args, "-f", "json", "-o", str(out)
    )
    assert result.exit_code in (0, 1), result.stderr
    return json.loads(out.read_text())["findings"]


def _union(root: Path, count: int, *args: str) -> list[dict]:
    return [
        f for k in range(1, count + 1) for f in _findings(root, *args, "--shard", f"{k}/{count}")
    ]


def _keys(findings: list[dict]) -> list[str]:
    """Everything a report says about a finding: id, fingerprint, file and line, outcome,
    the waiver that covers it."""
    return sorted(json.dumps(f, sort_keys=True) for f in findings)


def _customers(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / "catalog/customers").glob("*.yaml"))


BROKEN = (
    "      element-web:\n"
    "        patches:\n"
    "          - target: {kind: Deployment}\n"
    "            json_patch:\n"
    "              - {op: add, path: /spec/template/spec/bogusField, value: 1}\n"
    "              - {op: remove, path: /spec/template/spec/containers/0/resources}\n"
)


def _break_prod_element_web(root: Path, customer: str) -> None:
    """A schema error (expensive check: only the customer's shard looks) and a missing
    `resources` (a policy: every shard sees it) on the customer's prod element-web."""
    path = root / "catalog/customers" / f"{customer}.yaml"
    text = path.read_text()
    prod = text.index("  prod:\n")
    at = text.index("      element-web:\n", prod)
    path.write_text(text[:at] + BROKEN + text[at + len("      element-web:\n") :])


def _generated(tmp_path: Path, customers: int, checkov: bool = False) -> Path:
    """A generated catalog with findings of every kind: schema errors and policy findings
    in every third customer, a plaintext secret in one customer's file (a catalog-wide
    check), a schema error in an environment-scoped service (shard 1's), warnings shown."""
    root = tmp_path / "repo"
    generate.write_catalog(generate.Size(customers=customers, services=3, environments=3), root)
    names = _customers(root)
    for name in names[::3]:
        _break_prod_element_web(root, name)
    # a catalog-wide finding (no environment) of one customer: a password in its file
    first = root / "catalog/customers" / f"{names[1]}.yaml"
    text = first.read_text()
    at = text.index("      synapse:\n", text.index("  prod:\n"))
    first.write_text(
        text[:at] + "      synapse:\n        config:\n          DB_PWD: hunter2\n"
        + text[at + len("      synapse:\n") :]
    )  # fmt: skip
    config = root / "policies/config.yaml"
    text = re.sub(r"warn: (low|medium)", "warn: info", config.read_text())
    if not checkov:
        text = text.replace("checkov: {enabled: true", "checkov: {enabled: false")
    config.write_text(text)
    sygnal = root / "catalog/services/sygnal.yaml"
    sygnal.write_text(
        sygnal.read_text().replace(
            "defaults:\n",
            "defaults:\n  patches:\n    - target: {kind: Deployment}\n      json_patch:\n"
            "        - {op: add, path: /spec/template/spec/platformBogus, value: 1}\n",
            1,
        )
    )
    return root


def _waivers(root: Path, *lines: str) -> None:
    (root / "policies/waivers.yaml").write_text("waivers:\n" + "".join(f"  - {w}\n" for w in lines))


def _waiver(policy: str, **scope: str) -> str:
    expires = scope.pop("expires", "2027-06-30")
    fields = "".join(f" {k}: {v}," for k, v in scope.items())
    return (
        f"{{policy: {policy},{fields} reason: accepted for the shard tests,"
        f" owner: chat-platform, expires: {expires}}}"
    )


def test_the_shards_findings_together_are_a_full_runs_each_once(tmp_path: Path):
    root = _generated(tmp_path, 30)
    names = _customers(root)
    broken = names[::3]
    _waivers(
        root,
        # used by one customer: judged by that customer's shard
        _waiver("kubernetes-schema", customer=broken[1]),
        # no customer, used by customers in every shard: judged by shard 1 alone
        _waiver("kubernetes-schema", environment="prod", service="element-web"),
        # unused: a customer's (its shard says so) and one of no customer (shard 1 does)
        _waiver("resources-set", customer=names[1]),
        _waiver("kubernetes-schema", environment="dev", service="element-web"),
        # expired: fails once, in the shard that judges it
        _waiver("resources-set", customer=broken[2], expires="2026-01-01"),
    )
    full = _findings(root)
    ids = Counter(f["id"] for f in full)
    assert {"kubernetes-schema", "resources-set", "plaintext-secret"} <= set(ids)
    assert ids["waiver-unused"] == 2 and ids["waiver-expired"] == 1
    assert any(f["customer"] is None and f["id"] == "kubernetes-schema" for f in full)
    assert any(f["outcome"] == "waived" for f in full)
    for count in (1, 2, 3, 7):
        union = _union(root, count)
        assert _keys(union) == _keys(full), count
        assert len({f["fingerprint"] for f in union}) == len(union)  # none twice
    # with --env too: the shards of one environment's run are that run
    prod = _findings(root, "--env", "prod")
    assert _keys(_union(root, 3, "--env", "prod")) == _keys(prod)


def test_the_example_shards_findings_together_are_a_full_runs(example: Path):
    synapse = example / "catalog/services/synapse.yaml"
    lines = synapse.read_text().splitlines(keepends=True)
    synapse.write_text(
        "".join("  image: docker.io/x/synapse:latest\n" if x.startswith("  image:") else x
                for x in lines)
    )  # fmt: skip
    full = _findings(example)
    assert len({f["customer"] for f in full}) > 3
    for count in (2, 3, 7):
        assert _keys(_union(example, count)) == _keys(full)


def test_a_waiver_used_in_shard_2_is_not_reported_unused_by_shard_1(tmp_path: Path):
    """The classic sharding bug: shard 1 judges a waiver that names no customer, but the
    only finding it covers is in shard 2, on an object only shard 2 checks (a schema
    error). Shard 1 probes shard 2's objects for it instead of calling it unused."""
    root = _generated(tmp_path, 12)
    names = _customers(root)
    in_two = [n for n in names if shard_of(n, 2) == 2]
    for path in (root / "catalog/customers").glob("*.yaml"):  # only shard 2's are broken
        path.write_text(path.read_text().replace(BROKEN, "      element-web:\n"))
    _break_prod_element_web(root, in_two[-1])
    waiver = _waiver("kubernetes-schema", environment="prod", service="element-web")
    _waivers(root, waiver)
    one, two = (_findings(root, "--shard", f"{k}/2") for k in (1, 2))
    assert not [f for f in one if f["id"].startswith("waiver-")]
    waived = [f for f in two if f["outcome"] == "waived"]
    assert [f["customer"] for f in waived] == [in_two[-1]]
    assert not [f for f in two if f["id"].startswith("waiver-")]  # shard 1 judges it
    assert _keys(one + two) == _keys(_findings(root))
    # and the same waiver, with nothing left to cover, is reported once: by shard 1
    path = root / "catalog/customers" / f"{in_two[-1]}.yaml"
    path.write_text(path.read_text().replace(BROKEN, "      element-web:\n"))
    one, two = (_findings(root, "--shard", f"{k}/2") for k in (1, 2))
    assert [f["id"] for f in one if f["id"].startswith("waiver-")] == ["waiver-unused"]
    assert not [f for f in two if f["id"].startswith("waiver-")]


def test_with_checkov_the_shards_together_are_a_full_run(tmp_path: Path):
    """checkov runs on each shard's own objects; a waiver of a checkov check with no
    customer is judged by shard 1, which probes the others' objects for its use."""
    root = _generated(tmp_path, 8, checkov=True)
    config = root / "policies/config.yaml"
    text = config.read_text()
    config.write_text(text.replace("CKV_K8S_35: {enabled: false}", "CKV_K8S_35: {enabled: true}"))
    names = _customers(root)
    not_one = next(n for n in names if shard_of(n, 3) != 1)
    _waivers(
        root,
        _waiver("CKV_K8S_35", customer=not_one),
        _waiver("CKV_K8S_35", environment="staging", service="synapse"),
        _waiver("CKV_K8S_35", environment="dev", service="rspamd"),  # unused: no secrets
    )
    full = _findings(root)
    assert {f["source"] for f in full} >= {"checkov", "kubernetes-validate", "policy"}
    assert Counter(f["outcome"] for f in full if f["id"] == "CKV_K8S_35")["waived"] > 3
    union = _union(root, 3)
    assert _keys(union) == _keys(full)


def test_with_a_base_revision_the_shards_together_are_the_full_affected_run(tmp_path: Path):
    """`check --affected-base`: the change checks (data a change destroys) and the
    expensive checks on what the change reaches, split by customer the same way."""
    repository: git.Repo = commit_example(copy_example(tmp_path / "repo"))
    root = Path(repository.working_tree_dir)
    (root / "catalog/customers/initech.yaml").unlink()  # its data is lost
    synapse = root / "catalog/services/synapse.yaml"
    lines = synapse.read_text().splitlines(keepends=True)
    synapse.write_text(
        "".join("  image: docker.io/x/synapse:latest\n" if x.startswith("  image:") else x
                for x in lines)
    )  # fmt: skip
    full = _findings(root, "--affected-base", "main")
    assert {"persistent-data-loss", "image-pinned"} <= {f["id"] for f in full}
    for count in (2, 3):
        assert _keys(_union(root, count, "--affected-base", "main")) == _keys(full)


# ---------------------------------------------------------------- compile --check


def _gate(root: Path, *args: str) -> tuple[int, list[str]]:
    result = run_cli("compile", "--root", str(root), "--check", *args)
    assert result.exit_code in (0, 1) and result.exception is None, result.stderr
    lines = result.stdout.splitlines()
    return result.exit_code, sorted(
        line for line in lines if re.match(r"^(changed|missing|stale) ", line)
    )


def test_the_shards_drift_gates_together_find_exactly_the_full_gates_drift(tmp_path: Path):
    root = tmp_path / "repo"
    generate.write_catalog(generate.Size(customers=30, services=3, environments=2), root)
    assert run_cli("compile", "--root", str(root)).exit_code == 0
    rendered = root / "rendered"
    counts = {}
    for count in (1, 2, 3, 7):  # clean: every shard passes, and every file is in one
        texts = [run_cli("compile", "--root", str(root), "--check", "--shard", f"{k}/{count}")
                 for k in range(1, count + 1)]  # fmt: skip
        assert all(t.exit_code == 0 for t in texts)
        counts[count] = sum(int(re.search(r"\((\d+) files", t.stdout)[1]) for t in texts)
    total = sum(1 for p in rendered.glob("*/**/*") if p.is_file())  # not the folder's marker
    assert set(counts.values()) == {total}
    # drift of every kind, in several customers' files and the shared ones
    names = _customers(root)
    files = sorted(p for p in rendered.rglob("*.yaml") if "/kubernetes/" in p.as_posix())
    by_customer = [next(p for p in files if f"/{n}/" in p.as_posix()) for n in names[:9]]
    for path in by_customer[:3]:
        path.write_text(path.read_text() + "# edited\n")
    for path in by_customer[3:6]:
        path.unlink()
    for path in by_customer[6:]:
        (path.parent / "stale-object.yaml").write_text("kind: Stale\n")
    tfvars = next(rendered.rglob("*.tfvars.json"))
    tfvars.write_text(tfvars.read_text() + " ")
    (rendered / "old-env").mkdir()
    (rendered / "old-env" / "index.json").write_text("{}")
    # a customer's objects whose customer is gone from the catalog: stale, in its shard
    gone = root / "catalog/customers" / f"{names[-1]}.yaml"
    gone.unlink()
    code, full = _gate(root)
    assert code == 1 and len(full) > 12
    assert {line.split()[0] for line in full} == {"changed", "missing", "stale"}
    for count in (2, 3, 7):
        union = []
        for k in range(1, count + 1):
            _, drift = _gate(root, "--shard", f"{k}/{count}")
            union += drift
        assert sorted(union) == full, count


# ---------------------------------------------------------------- diff


def _diff(root: Path, *args: str) -> dict:
    result = run_cli("diff", "--root", str(root), "--base", "main", "-f", "json", *args)
    assert result.exit_code == 0 and result.exception is None, result.stderr
    return json.loads(result.stdout)


def test_the_shards_diffs_together_are_the_full_diff(tmp_path: Path):
    repository: git.Repo = commit_example(copy_example(tmp_path / "repo"))
    root = Path(repository.working_tree_dir)
    old = root / "catalog/customers/initech.yaml"  # renamed: shard 2 of 2 to shard 1
    (root / "catalog/customers/initrode.yaml").write_text(
        old.read_text().replace("name: initech", "name: initrode", 1)
    )
    old.unlink()
    (root / "catalog/customers/umbrella.yaml").unlink()
    element = root / "catalog/services/element-web.yaml"  # every customer with it
    element.write_text(element.read_text().replace("ELEMENT_BRAND: ", "ELEMENT_BRAND: Hosted ", 1))
    full = _diff(root)
    assert full["renamed_customers"] and full["data_loss"] and full["reasons"]
    assert len({c["customer"] for c in full["changes"]}) > 3
    for count in (2, 3, 7):
        parts = [_diff(root, "--shard", f"{k}/{count}") for k in range(1, count + 1)]
        for key in ("changes", "renamed_customers", "reasons", "data_loss", "change_findings"):
            union = [json.dumps(x, sort_keys=True) for part in parts for x in part[key]]
            assert sorted(union) == sorted(json.dumps(x, sort_keys=True) for x in full[key]), key
        for change in (c for part in parts[1:] for c in part["changes"]):
            assert change["customer"] is not None  # what is no one's is shard 1's
        summary = Counter()
        for part in parts:
            summary.update(part["summary"])
        assert dict(summary) == {k: v for k, v in full["summary"].items() if v}
