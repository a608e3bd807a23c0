"""Shared test helpers: a copy of the example repository, the CLI run in-process, and
the third-party reference schemas."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import git
import pytest
import yaml
from typer.testing import CliRunner

from compiler.cli import app

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_PARTS = ("catalog", "environments", "policies")
REFERENCE = Path(os.environ.get("GITOPSC_REFERENCE", REPO.parent / "shared" / "reference"))


def reference(relative: str) -> Path:
    """A third-party schema; its absence fails in CI and is a loud skip elsewhere."""
    path = REFERENCE / relative
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"reference schema missing: {path}")
        pytest.skip(f"reference schema not found at {path} (set GITOPSC_REFERENCE)")
    return path


def tool(name: str) -> str:
    """The path of a consumer program (promtool, haproxy, nginx, postconf, puppet...):
    its absence fails in CI, which installs them (.ci/run), and is a loud skip elsewhere."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        message = f"{name} is not installed (apt-get install the Debian package; see .ci/run)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def commit_example(root: Path) -> git.Repo:
    """A git repository at `root` whose `main` holds the files there (a copy of the
    example, usually) in one commit: the base that diff, affected and publish compare."""
    repository = git.Repo.init(root, initial_branch="main")
    with repository.config_writer() as config:
        config.set_value("user", "name", "Test")
        config.set_value("user", "email", "test@example.net")
    repository.git.add(A=True)
    repository.index.commit("example catalog")
    return repository


def copy_example(target: Path) -> Path:
    """Copy the example catalog (the fixture every test starts from) to `target`."""
    for part in EXAMPLE_PARTS:
        if (REPO / part).exists():
            shutil.copytree(REPO / part, target / part)
    return target


LAYOUTS = ("documents", "objects")  # documents: the default (docs/output.md, "Layout")


def set_layout(root: Path, layout: str) -> Path:
    """Every environment of the repository at `root` written in `layout`."""
    for path in sorted((root / "environments").glob("*/environment.yaml")):
        text = path.read_text()
        assert "\n  layout:" not in text, path
        if "\noutput:" in text:  # an output block of its own (prod's host_data): add to it
            head, _, tail = text.partition("\noutput:")
            line, _, rest = tail.partition("\n")
            path.write_text(f"{head}\noutput:{line}\n  layout: {layout}\n{rest}")
        else:
            path.write_text(f"{text.rstrip()}\noutput:\n  layout: {layout}\n")
    return root


def add_acme_prod_services(text: str, lines: str) -> str:
    """acme.yaml's `text` with `lines` (entries of its prod services) added after its
    last service there: its prod services end the file but for its single sign-on block
    (issue 18), which the `# single sign-on:` comment opens."""
    head, marker, tail = text.partition("\n# single sign-on:")
    return head.rstrip("\n") + "\n" + lines + marker.lstrip("\n") + tail


def rendered_objects(out: Path) -> dict[str, dict]:
    """Every Kubernetes object (and kustomization) under `out` (a `rendered/` folder),
    by the path it has in the one-object-per-file layout
    (`prod/kubernetes/prod-fra1/acme/synapse/deployment-synapse.yaml`), whichever layout
    wrote it: a `manifests.yaml`, and each file of an apps folder (a customer's
    AppProject and Applications in one file), is read as the real consumers read it,
    document by document (PyYAML's `safe_load_all`)."""
    paths = sorted(out.glob("*/kubernetes/**/*.yaml")) + sorted(out.glob("*/argocd/**/*.yaml"))
    return objects_of_tree({p.relative_to(out).as_posix(): p.read_bytes() for p in paths})


def objects_of_tree(tree: dict[str, bytes]) -> dict[str, dict]:
    """`rendered_objects` of a tree in memory (relative path -> bytes), its YAML files."""
    found: dict[str, dict] = {}
    for relative, content in sorted(tree.items()):
        if not relative.endswith(".yaml"):
            continue
        parts = relative.split("/")
        in_apps = len(parts) == 5 and parts[1] == "argocd" and parts[3] == "apps"
        if not relative.endswith("/manifests.yaml") and not in_apps:
            found[relative] = yaml.safe_load(content)
            continue
        folder = relative.rpartition("/")[0]
        for obj in yaml.safe_load_all(content):
            key = f"{folder}/{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
            assert key not in found, f"{key} twice in {relative}"
            found[key] = obj
    return found


@pytest.fixture(autouse=True, scope="session")
def validator_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Compiled validators go to a cache of the test session, and the key that signs
    them to a state folder of the session, never to ~/.cache or ~/.local/state."""
    folder = tmp_path_factory.mktemp("gitopsc-cache")
    os.environ["GITOPSC_CACHE_DIR"] = str(folder)
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("gitopsc-state"))  # its key
    return folder


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A cache folder and cache key of this test's own, not the session's: `cache_key()`
    is forgotten before and after, so that no other test signs with this test's key."""
    from compiler.check import validator_cache

    folder = tmp_path / "cache"
    monkeypatch.setenv("GITOPSC_CACHE_DIR", str(folder))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    validator_cache.cache_key.cache_clear()
    yield folder
    validator_cache.cache_key.cache_clear()


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A writable copy of the example repository in a temporary folder."""
    return copy_example(tmp_path / "repo")


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None


def run_cli(*args: str) -> CliResult:
    """Run `gitopsc ARGS` in-process; a traceback would show up as `exception`."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=True)
    unexpected = result.exception if not isinstance(result.exception, SystemExit) else None
    return CliResult(result.exit_code, result.stdout, result.stderr, unexpected)


# the plaintext-secret corpus' precision and recall (tests/test_plaintext_secret.py), shown
# at the end of every run that measured them, `-q` or not
SECRET_CORPUS_SCORE = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config):
    score = config.stash.get(SECRET_CORPUS_SCORE, None)
    if score is not None:
        terminalreporter.write_sep("-", "secret detector")
        terminalreporter.write_line(score)
