"""Publish: an environment's output committed to a hydrated branch, against real git
repositories in a temporary folder (a source repository, its clones, a bare remote)."""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

import git
import pytest
import yaml

from compiler.catalog.models import Environment
from compiler.errors import UsageError
from compiler.render import argocd
from compiler.review import publish as hydrate
from tests.conftest import LAYOUTS, copy_example, run_cli, set_layout

BRANCH = "hydrated/prod"


@pytest.fixture(autouse=True)
def hermetic_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """No user or system git configuration (signing, hooks, identity) leaks in."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("EMAIL", raising=False)
    for name in ("AUTHOR", "COMMITTER"):
        for part in ("NAME", "EMAIL", "DATE"):
            monkeypatch.delenv(f"GIT_{name}_{part}", raising=False)


def _identify(repo: git.Repo) -> git.Repo:
    with repo.config_writer() as config:
        config.set_value("user", "name", "Test Publisher")
        config.set_value("user", "email", "publisher@example.net")
    return repo


@pytest.fixture
def source(tmp_path: Path) -> git.Repo:
    """The example catalog committed on `main` of a fresh repository."""
    root = copy_example(tmp_path / "repo")
    repo = _identify(git.Repo.init(root, initial_branch="main"))
    repo.git.add("-A")
    repo.git.commit("-q", "-m", "catalog")
    return repo


def _root(repo: git.Repo) -> str:
    return str(repo.working_tree_dir)


def publish(repo: git.Repo, *args: str):
    return run_cli("publish", "--root", _root(repo), "--env", "prod", *args)


def _count(repo: git.Repo, ref: str) -> int:
    return int(repo.git.rev_list("--count", ref))


def _tree_files(repo: git.Repo, ref: str) -> dict[str, bytes]:
    return {
        item.path: item.data_stream.read()
        for item in repo.commit(ref).tree.traverse()
        if item.type == "blob"
    }


def _git_trailers(message: str) -> dict[str, str]:
    """Trailers as git itself parses them, not as the code under test does."""
    parsed = subprocess.run(
        ["git", "interpret-trailers", "--parse"],
        input=message,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split(": ", 1) for line in parsed.splitlines())


def _trailers(repo: git.Repo, ref: str) -> dict[str, str]:
    return _git_trailers(repo.git.show("-s", "--format=%B", ref))


def _commit_change(repo: git.Repo, path: str, old: str, new: str) -> None:
    file = Path(_root(repo)) / path
    text = file.read_text()
    assert old in text
    file.write_text(text.replace(old, new, 1))
    repo.git.commit("-q", "-am", f"change {path}")


# ---------------------------------------------------------------- the branch and its commits


@pytest.mark.parametrize("layout", LAYOUTS)
def test_first_publish_creates_a_branch_holding_exactly_the_compiled_files(
    source: git.Repo, tmp_path: Path, layout: str
):
    set_layout(Path(_root(source)), layout)
    source.git.commit("-q", "-am", f"layout {layout}")
    result = publish(source, "--branch", BRANCH)
    assert result.exit_code == 0, result.stderr
    assert f"published prod to {BRANCH}" in result.stdout
    out = tmp_path / "out"
    compiled = run_cli("compile", "--root", _root(source), "--env", "prod", "--out", str(out))
    assert compiled.exit_code == 0, compiled.stderr
    expected = {
        p.relative_to(out / "prod").as_posix(): p.read_bytes()
        for p in (out / "prod").rglob("*")
        if p.is_file()
    }
    published = _tree_files(source, BRANCH)
    assert published == expected  # same paths, same bytes: rendered/prod/ is the root
    assert {path.split("/")[0] for path in published} == {
        "ansible",
        "argocd",
        "awx",
        "hiera.yaml",  # prod's hosts get Hiera data too (issue 18)
        "hieradata",
        "index.json",
        "kubernetes",
        "terraform",
    }
    assert _count(source, BRANCH) == 1
    source.git.fsck("--strict")  # trees hashed in memory are valid git trees
    folder = "kubernetes/prod-fra1/acme/synapse"
    own = "manifests.yaml" if layout == "documents" else "deployment-synapse.yaml"
    assert f"{folder}/{own}" in published
    assert (f"{folder}/manifests.yaml" in published) == (layout == "documents")


def test_the_message_names_the_source_commit_in_trailers(source: git.Repo):
    assert publish(source, "--branch", BRANCH).exit_code == 0
    head = source.head.commit.hexsha
    subject = source.git.show("-s", "--format=%s", BRANCH)
    assert subject == f"gitopsc: publish prod from {head[:12]}"
    trailers = _trailers(source, BRANCH)
    assert trailers["Source-Commit"] == head
    assert trailers["Source-Branch"] == "main"
    assert trailers["Gitopsc-Environment"] == "prod"
    assert "Source-Dirty" not in trailers
    assert hydrate.trailers(source.git.show("-s", "--format=%B", BRANCH)) == trailers


def test_publishing_twice_makes_one_commit(source: git.Repo):
    assert publish(source, "--branch", BRANCH).exit_code == 0
    tip = source.commit(BRANCH).hexsha
    again = publish(source, "--branch", BRANCH)
    assert again.exit_code == 0, again.stderr
    assert "unchanged" in again.stdout
    assert source.commit(BRANCH).hexsha == tip
    assert _count(source, BRANCH) == 1


def test_a_catalog_change_makes_a_second_commit_on_the_first(source: git.Repo):
    assert publish(source, "--branch", BRANCH).exit_code == 0
    first = source.commit(BRANCH)
    _commit_change(source, "catalog/customers/acme.yaml", "replicas: 3", "replicas: 4")
    assert publish(source, "--branch", BRANCH).exit_code == 0
    second = source.commit(BRANCH)
    assert second.parents == (first,)
    changed = source.git.diff("--name-only", first.hexsha, second.hexsha).splitlines()
    assert changed == ["index.json", "kubernetes/prod-fra1/acme/synapse/manifests.yaml"]
    assert _trailers(source, BRANCH)["Source-Commit"] == source.head.commit.hexsha


def test_a_change_to_another_environment_makes_no_commit(source: git.Repo):
    dev = ("--root", _root(source), "--env", "dev", "--branch", "hydrated/dev")
    assert run_cli("publish", *dev).exit_code == 0
    assert publish(source, "--branch", BRANCH).exit_code == 0
    _commit_change(  # the first `synapse:` of an environment is acme's in dev
        source,
        "catalog/customers/acme.yaml",
        "      synapse:\n",
        "      synapse:\n        replicas: 2\n",
    )
    result = publish(source, "--branch", BRANCH)
    assert result.exit_code == 0, result.stderr
    assert "unchanged" in result.stdout
    assert _count(source, BRANCH) == 1
    assert run_cli("publish", *dev).exit_code == 0
    assert _count(source, "hydrated/dev") == 2  # the change is real, in dev


def _snapshot(repo: git.Repo) -> dict[str, object]:
    root = Path(_root(repo))
    index = Path(repo.git_dir) / "index"
    files = {
        p.relative_to(root).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }
    return {
        "status": repo.git(no_optional_locks=True).status("--porcelain=v1", "-uall"),
        "head": (Path(repo.git_dir) / "HEAD").read_text(),
        "head commit": repo.head.commit.hexsha,
        "index": (index.stat().st_mtime_ns, index.read_bytes()),
        "files": files,
        "refs": repo.git.for_each_ref("--format=%(refname) %(objectname)"),
    }


def test_publish_leaves_the_working_tree_index_and_head_alone(source: git.Repo):
    root = Path(_root(source))
    (root / "notes.txt").write_text("untracked, not part of the catalog\n")
    policy = next((root / "policies").rglob("*.yaml"))
    policy.write_text(policy.read_text() + "# staged, and not an input of the output\n")
    source.git.add(str(policy))
    (root / "README.md").write_text("untracked as well\n")
    before = _snapshot(source)
    assert before["status"]  # there is something for publish to disturb
    result = publish(source, "--branch", BRANCH)
    assert result.exit_code == 0, result.stderr
    after = _snapshot(source)
    added = set(str(after.pop("refs")).splitlines()) - set(str(before.pop("refs")).splitlines())
    assert added == {f"refs/heads/{BRANCH} {source.commit(BRANCH).hexsha}"}
    assert after == before


def test_a_detached_head_publishes_its_commit(source: git.Repo):
    source.git.checkout("-q", "--detach")
    head = source.head.commit.hexsha
    result = publish(source, "--branch", BRANCH)
    assert result.exit_code == 0, result.stderr
    trailers = _trailers(source, BRANCH)
    assert trailers["Source-Commit"] == head
    assert "Source-Branch" not in trailers
    assert source.head.is_detached and source.head.commit.hexsha == head


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "change",
    [
        ("catalog/customers/acme.yaml", "modified"),
        ("catalog/customers/newco.yaml", "untracked"),
        ("environments/prod/environment.yaml", "staged"),
    ],
    ids=lambda c: c[1],
)
def test_uncommitted_catalog_changes_are_refused(source: git.Repo, change: tuple[str, str]):
    path, how = change
    root = Path(_root(source))
    if how == "untracked":
        acme = (root / "catalog/customers/acme.yaml").read_text()
        (root / path).write_text(acme.replace("acme", "newco"))
    else:
        (root / path).write_text((root / path).read_text() + "# an edit\n")
    if how == "staged":
        source.git.add(path)
    result = publish(source, "--branch", BRANCH)
    assert result.exit_code == 2
    assert result.exception is None
    assert "the catalog has uncommitted changes" in result.stderr
    assert path in result.stderr
    assert "--allow-dirty" in result.stderr
    assert BRANCH not in [head.name for head in source.heads]


def test_allow_dirty_publishes_the_files_on_disk_and_says_so(source: git.Repo):
    file = Path(_root(source)) / "catalog/customers/acme.yaml"
    file.write_text(file.read_text().replace("replicas: 3", "replicas: 5"))
    result = publish(source, "--branch", BRANCH, "--allow-dirty")
    assert result.exit_code == 0, result.stderr
    assert _trailers(source, BRANCH)["Source-Dirty"] == "true"
    assert "(uncommitted changes)" in source.git.show("-s", "--format=%s", BRANCH)
    manifests = source.git.show(f"{BRANCH}:kubernetes/prod-fra1/acme/synapse/manifests.yaml")
    [deployment] = [d for d in yaml.safe_load_all(manifests) if d["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 5


@pytest.mark.parametrize("name", ["a..b", "-x", "refs/heads/x", "HEAD", "x.lock", "a b", "x/"])
def test_a_bad_branch_name_is_refused(source: git.Repo, name: str):
    result = publish(source, "--branch", name)
    assert result.exit_code == 2
    assert result.exception is None
    assert f"'{name}' is not a valid branch name" in result.stderr
    assert len(source.heads) == 1


def test_the_checked_out_branch_is_refused(source: git.Repo):
    result = publish(source, "--branch", "main")
    assert result.exit_code == 2
    assert "branch main is checked out in" in result.stderr
    assert _count(source, "main") == 1


def test_a_branch_in_another_worktree_is_refused(source: git.Repo, tmp_path: Path):
    source.git.worktree("add", "-q", "-b", BRANCH, str(tmp_path / "other"))
    result = publish(source, "--branch", BRANCH)
    assert result.exit_code == 2
    assert f"branch {BRANCH} is checked out in" in result.stderr


def test_a_branch_gitopsc_did_not_make_is_never_replaced(source: git.Repo):
    source.git.branch("feature")
    result = publish(source, "--branch", "feature")
    assert result.exit_code == 2
    assert "branch feature was not made by gitopsc publish" in result.stderr
    assert source.commit("feature") == source.head.commit


def test_another_environments_branch_is_never_replaced(source: git.Repo):
    staging = run_cli(
        "publish", "--root", _root(source), "--env", "staging", "--branch", "hydrated/staging"
    )
    assert staging.exit_code == 0, staging.stderr
    tip = source.commit("hydrated/staging")
    result = publish(source, "--branch", "hydrated/staging")
    assert result.exit_code == 2
    assert "branch hydrated/staging holds environment staging" in result.stderr
    assert source.commit("hydrated/staging") == tip


def test_a_branch_moved_meanwhile_is_not_overwritten(source: git.Repo):
    """The ref update is a compare-and-swap: a publish that lost a race fails."""
    assert publish(source, "--branch", BRANCH).exit_code == 0
    tip = source.commit(BRANCH).hexsha
    with pytest.raises(UsageError, match="changed while publishing"):
        hydrate.move_branch(source, BRANCH, source.head.commit.hexsha, hydrate.ZERO[:-1] + "1", "x")
    with pytest.raises(UsageError, match="changed while publishing"):
        hydrate.move_branch(source, BRANCH, source.head.commit.hexsha, None, "x")
    assert source.commit(BRANCH).hexsha == tip


def test_outside_a_git_repository(tmp_path: Path):
    root = copy_example(tmp_path / "plain")
    result = run_cli("publish", "--root", str(root), "--env", "prod", "--branch", BRANCH)
    assert result.exit_code == 2
    assert result.exception is None
    assert "is not in a git repository" in result.stderr


def test_a_repository_without_commits(tmp_path: Path):
    root = copy_example(tmp_path / "new")
    _identify(git.Repo.init(root))
    result = run_cli("publish", "--root", str(root), "--env", "prod", "--branch", BRANCH)
    assert result.exit_code == 2
    assert "the repository has no commit yet" in result.stderr


def test_an_unknown_environment(source: git.Repo):
    result = run_cli("publish", "--root", _root(source), "--env", "prd", "--branch", BRANCH)
    assert result.exit_code == 2
    assert "unknown environment 'prd'" in result.stderr
    assert "did you mean 'prod'?" in result.stderr


def test_an_invalid_catalog(source: git.Repo):
    _commit_change(source, "catalog/customers/acme.yaml", "plan: business", "plan: busines")
    result = publish(source, "--branch", BRANCH)
    assert result.exit_code == 2
    assert result.exception is None
    assert "catalog/customers/acme.yaml:4:" in result.stderr
    assert "problem(s) found" in result.stderr
    assert len(source.heads) == 1


def test_no_branch_given_or_configured(source: git.Repo):
    result = publish(source)
    assert result.exit_code == 2
    assert "no branch to publish prod to" in result.stderr


def test_a_committer_git_cannot_name_is_a_clear_error(source: git.Repo):
    with source.config_writer() as config:
        config.remove_section("user")
        config.set_value("user", "useConfigOnly", "true")
    result = publish(source, "--branch", BRANCH)
    assert result.exit_code == 2
    assert result.exception is None
    assert "git cannot tell who commits" in result.stderr
    assert "user.email" in result.stderr
    assert len(source.heads) == 1


# ---------------------------------------------------------------- --push


@pytest.fixture
def remote(source: git.Repo, tmp_path: Path) -> git.Repo:
    """A bare repository as `origin`, holding `main`."""
    bare = git.Repo.init(tmp_path / "remote.git", bare=True, initial_branch="main")
    source.create_remote("origin", str(bare.git_dir))
    source.git.push("-q", "origin", "main")
    return bare


def _clone(remote: git.Repo, target: Path) -> git.Repo:
    """A CI-like checkout: a fresh clone on a detached HEAD, without the hydrated branch."""
    clone = _identify(git.Repo.clone_from(str(remote.git_dir), target, branch="main"))
    clone.git.checkout("-q", "--detach")
    return clone


def test_push_sends_the_branch_to_a_bare_remote(source: git.Repo, remote: git.Repo):
    result = publish(source, "--branch", BRANCH, "--push", "origin")
    assert result.exit_code == 0, result.stderr
    assert f"{BRANCH} pushed to origin" in result.stdout
    assert remote.commit(BRANCH) == source.commit(BRANCH)
    again = publish(source, "--branch", BRANCH, "--push", "origin")
    assert again.exit_code == 0, again.stderr
    assert "already up to date on origin" in again.stdout
    assert _count(remote, BRANCH) == 1


def test_a_fresh_clone_builds_on_the_remote_branch(
    source: git.Repo, remote: git.Repo, tmp_path: Path
):
    assert publish(source, "--branch", BRANCH, "--push", "origin").exit_code == 0
    first = remote.commit(BRANCH).hexsha
    clone = _clone(remote, tmp_path / "ci")
    assert BRANCH not in [head.name for head in clone.heads]
    same = publish(clone, "--branch", BRANCH, "--push", "origin")
    assert same.exit_code == 0, same.stderr
    assert "unchanged" in same.stdout
    assert remote.commit(BRANCH).hexsha == first
    _commit_change(clone, "catalog/customers/acme.yaml", "replicas: 3", "replicas: 4")
    clone.git.push("-q", "origin", "HEAD:main")
    changed = publish(clone, "--branch", BRANCH, "--push", str(remote.git_dir))  # a URL works too
    assert changed.exit_code == 0, changed.stderr
    assert [p.hexsha for p in remote.commit(BRANCH).parents] == [first]
    assert _trailers(remote, BRANCH)["Source-Commit"] == clone.head.commit.hexsha


def test_a_stale_local_branch_is_replaced_by_the_remote_one(
    source: git.Repo, remote: git.Repo, tmp_path: Path
):
    """A runner that keeps its clone has an old local branch: the remote decides."""
    assert publish(source, "--branch", BRANCH, "--push", "origin").exit_code == 0
    clone = _clone(remote, tmp_path / "ci")
    assert publish(clone, "--branch", BRANCH).exit_code == 0  # local only, never pushed
    _commit_change(source, "catalog/customers/acme.yaml", "replicas: 3", "replicas: 4")
    source.git.push("-q", "origin", "main")
    assert publish(source, "--branch", BRANCH, "--push", "origin").exit_code == 0
    newest = remote.commit(BRANCH)
    clone.git.fetch("-q", "origin", "main")
    clone.git.checkout("-q", "--detach", "FETCH_HEAD")
    result = publish(clone, "--branch", BRANCH, "--push", "origin")
    assert result.exit_code == 0, result.stderr
    assert "unchanged" in result.stdout
    assert clone.commit(BRANCH) == newest
    assert remote.commit(BRANCH) == newest


def test_an_unknown_remote_is_a_clear_error(source: git.Repo):
    result = publish(source, "--branch", BRANCH, "--push", "nosuch")
    assert result.exit_code == 2
    assert result.exception is None
    assert "cannot read remote 'nosuch'" in result.stderr


def test_a_rejected_push_is_a_clear_error(source: git.Repo, remote: git.Repo):
    hook = Path(remote.git_dir) / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'hydrated branches are frozen' >&2\nexit 1\n")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    result = publish(source, "--branch", BRANCH, "--push", "origin")
    assert result.exit_code == 2
    assert result.exception is None
    assert f"push of {BRANCH} to 'origin' failed" in result.stderr
    assert "pre-receive hook declined" in result.stderr
    assert BRANCH not in [ref.name for ref in remote.heads]


# ---------------------------------------------------------------- hydrated mode (argocd.branch)


def _hydrate_prod(repo: git.Repo) -> None:
    # AWX reads where ArgoCD reads: the branch needs an AWX project of its own
    _commit_change(
        repo,
        "environments/prod/environment.yaml",
        "  project: gitops\n",
        "  project: gitops-prod\n",
    )
    _commit_change(
        repo,
        "environments/prod/environment.yaml",
        "  revision: main\n",
        f"  revision: main\n  branch: {BRANCH}\n",
    )


def test_hydrated_applications_point_at_paths_of_the_published_branch(source: git.Repo):
    _hydrate_prod(source)
    result = publish(source)  # the branch comes from argocd.branch
    assert result.exit_code == 0, result.stderr
    tree = source.commit(BRANCH).tree
    files = _tree_files(source, BRANCH)
    applications = [
        app
        for path, data in files.items()
        if re.fullmatch(r"argocd/[^/]+/(root|apps/[^/]+)\.yaml", path)
        for app in yaml.safe_load_all(data)  # apps/<customer>.yaml: its project and apps
        if app["kind"] == "Application"
    ]
    assert len(applications) > 10
    for app in applications:
        spec = app["spec"]["source"]
        assert spec["targetRevision"] == BRANCH
        folder = tree / spec["path"]  # raises KeyError when the path is not in the branch
        assert folder.type == "tree"
        names = {item.name for item in folder}
        assert "kustomization.yaml" in names or spec["path"].endswith("/apps"), spec["path"]


def test_branch_must_match_the_configured_one(source: git.Repo):
    _hydrate_prod(source)
    result = publish(source, "--branch", "hydrated/other")
    assert result.exit_code == 2
    assert f"is not the hydrated branch of prod ({BRANCH})" in result.stderr


def test_without_a_branch_applications_read_rendered_at_the_revision(source: git.Repo):
    assert publish(source, "--branch", BRANCH).exit_code == 0
    root = yaml.safe_load(source.git.show(f"{BRANCH}:argocd/prod-fra1/root.yaml"))
    assert root["spec"]["source"]["targetRevision"] == "main"
    assert root["spec"]["source"]["path"] == "rendered/prod/argocd/prod-fra1/apps"


def test_the_branch_relative_path_ignores_the_output_folder():
    env = Environment.model_validate(
        {
            "name": "prod",
            "tier": "prod",
            "base_domain": "example.net",
            "clusters": [
                {
                    "name": "prod-fra1",
                    "region": "fra1",
                    "residency": ["eu"],
                    "kubernetes_version": "1.31",
                    "api_server": "https://k8s.example.net",
                }
            ],
            "argocd": {"repo_url": "https://git.example.net/x.git", "branch": BRANCH},
            "secret_store": {"name": "vault"},
        }
    )
    cluster = env.clusters[0]
    for repo_path in ("rendered", "out/prod", "prod/kubernetes"):
        path = f"{repo_path}/prod/kubernetes/prod-fra1/acme/synapse"
        assert argocd.source(env, cluster, path)["path"] == "kubernetes/prod-fra1/acme/synapse"
    apps = argocd.source(env, cluster, "rendered/prod/argocd/prod-fra1/apps")
    assert apps == {
        "repoURL": "https://git.example.net/x.git",
        "targetRevision": BRANCH,
        "path": "argocd/prod-fra1/apps",
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("main", "argocd: branch 'main' is also the revision"),
        ("a..b", "argocd.branch: 'a..b' is not a git branch name"),
        ("x.lock", "argocd.branch: 'x.lock' is not a valid git branch name"),
        ("HEAD", "argocd.branch: 'HEAD' is not a valid git branch name"),
    ],
)
def test_a_bad_argocd_branch_is_a_located_error(source: git.Repo, value: str, message: str):
    path = Path(_root(source)) / "environments/prod/environment.yaml"
    path.write_text(
        path.read_text().replace("  revision: main\n", f"  revision: main\n  branch: '{value}'\n")
    )
    result = run_cli("validate", "--root", _root(source))
    assert result.exit_code == 2
    assert "environments/prod/environment.yaml:" in result.stderr
    assert message in result.stderr


# ---------------------------------------------------------------- the pure parts, checked by git


def test_hash_tree_gives_the_ids_git_gives(tmp_path: Path):
    files = {
        "a.b": b"1\n",
        "a/x.yaml": b"2\n",
        "a-b": b"",
        "a0": b"3",
        "a/b/c/d.json": b"{}\n",
        "index.json": b"{}\n",
    }
    repo = git.Repo.init(tmp_path / "plain")
    for path, data in files.items():
        (tmp_path / "plain" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "plain" / path).write_bytes(data)
    repo.git.add("-A")
    tree, objects = hydrate.hash_tree(files)
    assert tree == repo.git.write_tree()
    assert {sha for sha, (kind, _) in objects.items() if kind == "blob"} == {
        repo.git.hash_object(str(tmp_path / "plain" / path)) for path in files
    }


@pytest.mark.parametrize("path", ["../x", "a//b", ".git/config", "a/./b", ""])
def test_hash_tree_refuses_paths_that_are_not_plain(path: str):
    with pytest.raises(ValueError):
        hydrate.hash_tree({path: b"x"})


def test_the_message_parses_as_git_trailers():
    source = hydrate.Source("a" * 40, None, ("catalog/customers/acme.yaml",))
    message = hydrate.commit_message("prod", source, 3, "1.2.3")
    expected = {
        "Source-Commit": "a" * 40,
        "Source-Dirty": "true",
        "Gitopsc-Environment": "prod",
        "Gitopsc-Version": "1.2.3",
    }
    assert _git_trailers(message) == expected
    assert hydrate.trailers(message) == expected
    assert hydrate.trailers("subject\n\nbody with: colon\nand prose") == {}
