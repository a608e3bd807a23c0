"""The error boundary everywhere (issue 12, point 6): a traceback from any command on any
input is a bug. Every command that writes, pointed at a path it cannot write, and every
command pointed at a root it cannot use, ends in exit 2 with a one-line message (and at
most a hint line), never a traceback, and leaves the repository as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import commit_example, copy_example, run_cli


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed copy of the example (diff needs a base revision), and a regular file
    and a folder to aim outputs at."""
    root = copy_example(tmp_path_factory.mktemp("boundary") / "repo")
    commit_example(root)
    (root.parent / "a-file").write_text("not a folder\n")
    (root.parent / "a-folder").mkdir()
    return root


# where a command cannot write: (name, path relative to the repository's parent, or absolute)
UNWRITABLE = [
    ("below-a-regular-file", "a-file/out"),
    ("an-existing-folder", "a-folder"),
    ("a-read-only-pseudo-file-system", "/proc/gitopsc-cannot-write-here"),
    ("a-name-too-long", "x" * 300),
]

# each command that takes an output path: its arguments, the path marked as {out}
WRITERS = {
    "compile": ["compile", "--out", "{out}"],
    "compile-one-env": ["compile", "--env", "dev", "--out", "{out}"],
    "schema": ["schema", "--out", "{out}"],
    "check-report": ["check", "--env", "dev", "-f", "json", "-o", "{out}"],
    "check-two-reports": [
        "check",
        "--env",
        "dev",
        "-f",
        "json",
        "-o",
        "ok.json",
        "-f",
        "junit",
        "-o",
        "{out}",
    ],
    "diff": ["diff", "--base", "main", "-f", "markdown", "--output", "{out}"],
}


def _assert_clean_error(result, what: str) -> None:
    assert result.exception is None and "Traceback" not in result.stderr, (what, result.stderr)
    assert result.exit_code == 2, (what, result.exit_code, result.stderr)
    if result.stderr.startswith("Usage: "):  # an option typer refused: click's usage error
        assert "Invalid value" in result.stderr, (what, result.stderr)
        return
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error: "), (what, result.stderr)
    assert all(line.startswith("  hint: ") for line in lines[1:]), (what, result.stderr)


# an existing folder is what compile --out and schema --out want: not unwritable for them
CASES = [
    pytest.param(command, place, path, id=f"{command}-{place}")
    for command in sorted(WRITERS)
    for place, path in UNWRITABLE
    if not (place == "an-existing-folder" and WRITERS[command][-2] == "--out")
]


@pytest.mark.parametrize(("command", "place", "path"), CASES)
def test_every_command_that_writes_fails_cleanly_on_an_unwritable_path(
    repo: Path, command: str, place: str, path: str
):
    out = path if path.startswith("/") else str(repo.parent / path)
    args = [a.replace("{out}", out) for a in WRITERS[command]]
    args = [str(repo.parent / a) if a == "ok.json" else a for a in args]
    before = sorted(
        p.relative_to(repo).as_posix() for p in repo.rglob("*") if ".git" not in p.parts
    )
    result = run_cli(*args, "--root", str(repo))
    _assert_clean_error(result, f"{command} -> {place}")
    after = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if ".git" not in p.parts)
    assert after == before  # nothing written into the repository on the way


BAD_ROOTS = [
    ("a-regular-file", "a-file"),
    ("a-missing-folder", "no-such-folder"),
    ("a-folder-without-a-catalog", "a-folder"),
]
EVERY_COMMAND = [
    ["validate"],
    ["list", "services"],
    ["explain", "prod/acme/synapse"],
    ["schema"],
    ["compile", "--check"],
    ["check"],
    ["diff", "--base", "main"],
    ["affected", "--base", "main"],
    ["publish", "--env", "prod"],
]


@pytest.mark.parametrize(("place", "root"), BAD_ROOTS, ids=[b[0] for b in BAD_ROOTS])
@pytest.mark.parametrize("args", EVERY_COMMAND, ids=[a[0] for a in EVERY_COMMAND])
def test_every_command_fails_cleanly_on_a_root_it_cannot_use(
    repo: Path, args: list[str], place: str, root: str
):
    result = run_cli(*args, "--root", str(repo.parent / root))
    _assert_clean_error(result, f"{args[0]} --root {place}")
