"""`gitopsc diff` and `gitopsc affected` against real git repositories in temp folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import git
import pytest

from tests.conftest import commit_example, copy_example, run_cli


@pytest.fixture
def repo(tmp_path: Path) -> git.Repo:
    """The example catalog committed on `main` in a fresh repository."""
    return commit_example(copy_example(tmp_path / "repo"))


def _root(repo: git.Repo) -> Path:
    return Path(repo.working_tree_dir)


def _edit(repo: git.Repo, relative: str, old: str, new: str) -> None:
    path = _root(repo) / relative
    text = path.read_text()
    assert old in text, (relative, old)
    path.write_text(text.replace(old, new, 1))


def _diff(repo: git.Repo, *args: str) -> dict:
    result = run_cli("diff", "--root", str(_root(repo)), "--base", "main", "-f", "json", *args)
    assert result.exit_code == 0 and result.exception is None, result.stderr
    return json.loads(result.stdout)


def _affected(repo: git.Repo) -> dict:
    result = run_cli("affected", "--root", str(_root(repo)), "--base", "main", "-o", "json")
    assert result.exit_code == 0 and result.exception is None, result.stderr
    return json.loads(result.stdout)


def _state(repo: git.Repo) -> tuple:
    index = Path(repo.git_dir, "index")
    return repo.head.commit.hexsha, repo.git.status("--porcelain"), index.read_bytes()


def test_no_change_no_diff_and_nothing_touched(repo: git.Repo):
    before = _state(repo)
    assert _diff(repo)["changes"] == []
    assert _affected(repo)["instances"] == []
    assert _state(repo) == before


def test_a_changed_value_is_one_object_with_a_yaml_diff(repo: git.Repo):
    _edit(repo, "catalog/customers/acme.yaml", "display_name: ", "display_name: New ")
    before = _state(repo)
    report = _diff(repo)
    assert _state(repo) == before  # working tree, index and HEAD untouched
    paths = {c["path"]: c for c in report["changes"]}
    assert paths and all(c["customer"] == "acme" for c in report["changes"])
    assert {c["change"] for c in report["changes"]} == {"changed"}
    configmap = next(c for c in report["changes"] if "configmap" in c["path"])
    assert "-" in configmap["diff"] and "+" in configmap["diff"] and "New " in configmap["diff"]
    assert report["changes"][0]["tier"] == "prod"  # production first
    affected = _affected(repo)
    assert affected["customers"] == ["acme"]
    assert all("/acme/" in i for i in affected["instances"])


def test_a_new_customer_is_added_objects_and_argocd_and_tfvars(repo: git.Repo):
    source = _root(repo) / "catalog/customers/acme.yaml"
    text = source.read_text().replace("name: acme", "name: newco", 1)
    text = text.replace("acme.example", "newco.example")
    (_root(repo) / "catalog/customers/newco.yaml").write_text(text)
    report = _diff(repo)
    changes = report["changes"]
    own = {c["change"] for c in changes if c["customer"] == "newco" and not c["partial"]}
    assert changes and own == {"added"}
    paths = [c["path"] for c in changes]
    assert any("/argocd/" in p for p in paths)
    assert any(p.endswith("catalog.auto.tfvars.json") for p in paths)
    tfvars = next(c for c in changes if c["path"].endswith("catalog.auto.tfvars.json"))
    assert tfvars["change"] == "changed" and tfvars["partial"] and "newco" in tfvars["diff"]
    assert _affected(repo)["customers"] == ["newco"]


def test_a_removed_service_removes_its_objects(repo: git.Repo):
    """globex's element-web goes: all of its objects, and the one object of another
    instance that existed for it, synapse's NetworkPolicy admitting it."""
    _edit(repo, "catalog/customers/globex.yaml", "      element-web:\n", "")
    report = _diff(repo)
    removed = [c for c in report["changes"] if c["change"] == "removed"]
    assert removed and {(c["customer"], c["service"]) for c in removed} == {
        ("globex", "element-web"),
        ("globex", "synapse"),
    }
    assert {c["environment"] for c in removed} == {"dev"}
    own = {c["path"].rsplit("/", 1)[-1] for c in removed if c["service"] == "element-web"}
    assert {"deployment-element-web.yaml", "kustomization.yaml"} <= own
    assert any(p.startswith("networkpolicy-element-web-") for p in own)
    assert [c["path"] for c in removed if c["service"] == "synapse"] == [
        "dev/kubernetes/dev-fra1/globex/synapse/networkpolicy-synapse-from-element-web.yaml"
    ]


def test_a_renamed_customer_is_reported_as_a_rename(repo: git.Repo):
    root = _root(repo)
    old = root / "catalog/customers/initech.yaml"
    (root / "catalog/customers/initrode.yaml").write_text(
        old.read_text().replace("name: initech", "name: initrode", 1)
    )
    old.unlink()
    report = _diff(repo)
    assert report["renamed_customers"] == [{"from": "initech", "to": "initrode"}]
    customers = {c["customer"]: c["change"] for c in report["changes"] if c["customer"]}
    assert customers == {"initech": "removed", "initrode": "added"}
    text = run_cli("diff", "--root", str(root), "--base", "main").stdout
    assert "renamed customer: initech -> initrode" in text


def test_a_service_default_reaches_every_customer_with_it(repo: git.Repo):
    _edit(repo, "catalog/services/element-web.yaml", "ELEMENT_BRAND: ", "ELEMENT_BRAND: Hosted ")
    affected = _affected(repo)
    assert affected["services"] == ["element-web"]
    assert "service element-web changed" in affected["reasons"]
    customers_with_it = {
        path.stem
        for path in (_root(repo) / "catalog/customers").glob("*.yaml")
        if "element-web:" in path.read_text()
    }
    assert set(affected["customers"]) == customers_with_it and len(customers_with_it) > 2


def test_a_plan_change_reaches_its_customers_namespace_objects(repo: git.Repo):
    """No instance's values change, but the quota of every customer on the plan does."""
    _edit(repo, "catalog/plans.yaml", "      cpu: 4\n", "      cpu: 6\n")
    on_starter = {  # umbrella, also on starter, has only a VM service: no namespace
        p.stem
        for p in (_root(repo) / "catalog/customers").glob("*.yaml")
        if "plan: starter" in p.read_text() and p.stem != "umbrella"
    }
    affected = _affected(repo)
    assert on_starter and set(affected["customers"]) == on_starter
    assert affected["reasons"] == ["plan starter changed"]
    changes = _diff(repo)["changes"]
    names = {c["path"].rsplit("/", 1)[-1] for c in changes}
    assert "resourcequota-quota.yaml" in names
    assert names <= {"resourcequota-quota.yaml", "limitrange-limits.yaml"}
    assert {c["customer"] for c in changes} == on_starter


def test_a_dependency_change_reaches_the_dependency_network_policies(repo: git.Repo):
    """element-web stops depending on synapse: synapse's NetworkPolicy admitting it goes
    (and with it a line of synapse's kustomization), though no synapse value changed.
    synapse-migrate is reached too: its folder is part of synapse's Application (a sync
    hook), so the two are rendered together."""
    _edit(repo, "catalog/services/element-web.yaml", "depends_on: [synapse]\n", "")
    affected = _affected(repo)
    assert set(affected["services"]) == {"element-web", "synapse", "synapse-migrate"}
    synapse = [c for c in _diff(repo)["changes"] if c["service"] == "synapse"]
    removed = {c["path"].rsplit("/", 1)[-1] for c in synapse if c["change"] == "removed"}
    changed = {c["path"].rsplit("/", 1)[-1] for c in synapse if c["change"] == "changed"}
    assert removed == {"networkpolicy-synapse-from-element-web.yaml"}
    assert changed == {"kustomization.yaml"}
    assert {c["change"] for c in synapse} == {"removed", "changed"}


def test_a_deeper_dependency_moves_the_sync_waves_of_dependents(repo: git.Repo):
    """postgres now waits for rspamd: its ArgoCD sync wave moves one later, and so do
    those of synapse (waits for postgres) and of element-web, mas and synapse-media-purge
    (wait for synapse), though none of their files changed (synapse-migrate, a hook, has
    no Application of its own). (rspamd gets a port: a dependency is reached on
    its serving port, and a service without one cannot be depended on; and the
    environments grant it to the pods, as the spam filters are the platform's hosts.)"""
    _edit(
        repo,
        "catalog/services/postgres.yaml",
        "scope: customer\n",
        "scope: customer\ndepends_on: [rspamd]\n",
    )
    _edit(
        repo, "catalog/services/rspamd.yaml", "defaults:\n", "defaults:\n  ports: {milter: 11332}\n"
    )
    for env in ("dev", "staging", "prod"):  # pods reach the spam filters' pool on it
        _edit(
            repo,
            f"environments/{env}/environment.yaml",
            "  mail-relays: [587]",
            "  mail-relays: [587]\n  spam-filters: [11332]",
        )
    changes = _diff(repo)["changes"]
    apps = {c["service"] for c in changes if "/argocd/" in c["path"] and "sync-wave" in c["diff"]}
    assert apps == {"postgres", "synapse", "element-web", "mas", "synapse-media-purge"}


def _full_compile_changes(repo: git.Repo, tmp: Path) -> set[str]:
    """The rendered paths a full compile of base and head tells apart: what a diff of
    the affected part must show, whatever the scope computed."""
    trees = []
    for name, ref in (("base", "main"), ("head", None)):
        root = _root(repo)
        if ref is not None:
            root = tmp / name
            repo.git.worktree("add", "--detach", str(root), ref)
        out = tmp / f"{name}-out"
        result = run_cli("compile", "--root", str(root), "--out", str(out))
        assert result.exit_code == 0, result.stderr
        trees.append({p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*.y*ml")})
    base, head = trees
    return {p for p in base.keys() | head.keys() if base.get(p) != head.get(p)}


@pytest.mark.parametrize(
    ("relative", "old", "new"),
    [
        # synapse serves metrics too: its dependents' egress policies change with it
        (
            "catalog/services/synapse.yaml",
            "  network:\n",
            "  network:\n    serves: [http, metrics]\n",
        ),
        # a dependency that calls back: the dependency's egress policy changes
        (
            "catalog/services/element-web.yaml",
            "  ingress:\n",
            "  network:\n    dependencies: {synapse: {calls_back: [http]}}\n  ingress:\n",
        ),
    ],
    ids=["serving-ports", "calls-back"],
)
def test_a_reachability_change_reaches_the_policies_of_its_neighbours(
    repo: git.Repo, tmp_path: Path, relative: str, old: str, new: str
):
    """The diff shows every NetworkPolicy a full compile changes, on both ends of the
    connections that moved, not only the changed service's own."""
    _edit(repo, relative, old, new)
    expected = {p for p in _full_compile_changes(repo, tmp_path) if "/kubernetes/" in p}
    shown = {c["path"] for c in _diff(repo)["changes"] if "/kubernetes/" in c["path"]}
    assert expected and shown == expected
    services = {p.split("/")[-2] for p in expected}
    assert {"synapse", "element-web"} <= services


def test_a_new_customer_reaches_the_shared_services_it_depends_on(repo: git.Repo):
    """When synapse depends on the environment-wide sygnal, a new customer's synapse
    must be admitted by sygnal's NetworkPolicy: shown, marked as the affected part."""
    _edit(
        repo,
        "catalog/services/synapse.yaml",
        "depends_on: [postgres]",
        "depends_on: [postgres, sygnal]",
    )
    repo.git.commit("-am", "synapse pushes through sygnal")
    source = _root(repo) / "catalog/customers/acme.yaml"
    text = (
        source.read_text()
        .replace("name: acme", "name: newco", 1)
        .replace("acme.example", "newco.example")
    )
    (_root(repo) / "catalog/customers/newco.yaml").write_text(text)
    assert "sygnal" in _affected(repo)["services"]
    policies = [
        c
        for c in _diff(repo)["changes"]
        if c["service"] == "sygnal" and "networkpolicy" in c["path"]
    ]
    assert policies and all(c["partial"] and "newco" in c["diff"] for c in policies)


def test_a_comment_or_a_moved_line_affects_nothing(repo: git.Repo):
    _edit(repo, "catalog/customers/acme.yaml", "name: acme\n", "# renamed soon\nname: acme\n")
    assert _affected(repo)["instances"] == []


def test_markdown_has_a_summary_and_a_size_cap(repo: git.Repo):
    _edit(repo, "environments/prod/environment.yaml", "replicas: 2", "replicas: 3")
    root = str(_root(repo))
    full = run_cli("diff", "--root", root, "--base", "main", "-f", "markdown").stdout
    assert "| environment | customer | service |" in full and "<details>" in full
    assert "(production)" in full
    small = run_cli(
        "diff", "--root", root, "--base", "main", "-f", "markdown", "--max-bytes", "3000"
    ).stdout
    assert len(small.encode()) < 3000 + 500 and "left out" in small


def test_a_base_missing_from_a_shallow_clone_says_how_to_fix_it(repo: git.Repo, tmp_path):
    _edit(repo, "catalog/customers/acme.yaml", "display_name: ", "display_name: X ")
    repo.git.commit("-am", "second")
    shallow = tmp_path / "shallow"
    git.Repo.clone_from(f"file://{_root(repo)}", shallow, depth=1)
    result = run_cli("diff", "--root", str(shallow), "--base", "HEAD~1")
    assert result.exit_code == 2 and result.exception is None
    assert "shallow" in result.stderr and "GIT_DEPTH: 0" in result.stderr
    result = run_cli("affected", "--root", str(shallow), "--base", "no-such-branch")
    assert result.exit_code == 2 and "shallow" in result.stderr


def test_an_unknown_base_and_a_folder_outside_git_are_clear_errors(repo: git.Repo, tmp_path):
    result = run_cli("diff", "--root", str(_root(repo)), "--base", "nope")
    assert result.exit_code == 2 and "unknown base revision 'nope'" in result.stderr
    result = run_cli("diff", "--root", str(_root(repo)), "--base=--output=/tmp/x")
    assert result.exit_code == 2 and "is not a revision" in result.stderr
    outside = copy_example(tmp_path / "plain")
    result = run_cli("diff", "--root", str(outside), "--base", "main")
    assert result.exit_code == 2 and "not in a git repository" in result.stderr


def test_a_base_that_does_not_compile_is_named(repo: git.Repo):
    _edit(repo, "catalog/customers/acme.yaml", "plan: ", "plan: nosuchplan-")
    repo.git.commit("-am", "broken")
    repo.git.branch("broken")
    repo.git.revert("HEAD", "--no-edit")
    result = run_cli("diff", "--root", str(_root(repo)), "--base", "broken")
    assert result.exit_code == 2 and result.exception is None
    assert "the catalog at base revision broken" in result.stderr
    assert "catalog/customers/acme.yaml" in result.stderr


def test_a_detached_head_and_a_subfolder_root_work(repo: git.Repo, tmp_path):
    repo.git.checkout("--detach")
    _edit(repo, "catalog/customers/acme.yaml", "display_name: ", "display_name: D ")
    assert _affected(repo)["customers"] == ["acme"]
    # a catalog in a subfolder of a bigger repository
    outer = git.Repo.init(tmp_path / "outer", initial_branch="main")
    with outer.config_writer() as config:
        config.set_value("user", "name", "Test")
        config.set_value("user", "email", "test@example.net")
    shutil.copytree(_root(repo), tmp_path / "outer/gitops", ignore=shutil.ignore_patterns(".git"))
    outer.git.add(A=True)
    outer.index.commit("nested")
    _edit(outer, "gitops/catalog/customers/globex.yaml", "display_name: ", "display_name: G ")
    result = run_cli(
        "affected", "--root", str(tmp_path / "outer/gitops"), "--base", "main", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["customers"] == ["globex"]


EXPENSIVE = {"kubernetes-validate", "schema", "checkov"}


def _findings(repo: git.Repo, *args: str) -> dict[str, dict]:
    out = _root(repo).parent / "findings.json"
    result = run_cli(
        "check",
        "--root",
        str(_root(repo)),
        "--date",
        "2026-11-23",
        "-f",
        "json",
        "-o",
        str(out),
        *args,
    )
    assert result.exit_code in (0, 1) and result.exception is None, result.stderr
    return {f["fingerprint"]: f for f in json.loads(out.read_text())["findings"]}


def test_check_on_the_affected_set_matches_a_full_run(repo: git.Repo):
    """Base: checkov's CKV_K8S_35 on, so each workload with a secret has a finding. Change:
    element-web mounts its token. The affected run checks element-web's objects with
    checkov and the schemas, and finds exactly what a full run finds there."""
    _edit(
        repo, "policies/config.yaml", "CKV_K8S_35: {enabled: false}", "CKV_K8S_35: {severity: low}"
    )
    repo.git.commit("-am", "report env secrets")
    _patch = (
        "  replicas: 1\n  patches:\n    - target: {kind: Deployment}\n"
        "      merge_patch: {spec: {template: {spec: {automountServiceAccountToken: true}}}}\n"
    )
    _edit(repo, "catalog/services/element-web.yaml", "  replicas: 1\n", _patch)
    affected = set(_affected(repo)["instances"])
    assert affected and {i.rsplit("/", 1)[-1] for i in affected} == {"element-web"}
    full = _findings(repo)
    partial = _findings(repo, "--affected-base", "main")
    expensive_full = {k: f for k, f in full.items() if f["source"] in EXPENSIVE}
    expensive_partial = {k: f for k, f in partial.items() if f["source"] in EXPENSIVE}
    assert "CKV2_GITOPSC_1" in {f["id"] for f in expensive_partial.values()}
    assert all(f["instance"] in affected for f in expensive_partial.values())
    assert expensive_partial == {
        k: f for k, f in expensive_full.items() if f["instance"] in affected
    }
    assert len(expensive_full) > len(expensive_partial)  # others were skipped
    cheap = {k for k, f in full.items() if f["source"] not in EXPENSIVE}
    assert cheap == {k for k, f in partial.items() if f["source"] not in EXPENSIVE}
