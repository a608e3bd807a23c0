"""The bad-input corpus: every case in tests/fixtures/invalid/ must fail cleanly.

Why data-driven: a case is a folder, so adding one needs no Python. Its files are laid
over a copy of the example repository (same relative paths replace, new paths add), and
its `case.yaml` says what the user must see:

    description: what is wrong
    remove: [catalog/plans.yaml]            # optional: delete these from the copy
    generate: [{path: ..., kind: ...}]      # optional: files too big or too binary to commit
    args: [validate]                        # optional, the default
    expect: {exit: 2, file: ..., line: 3, message: ..., hint: ..., problems: 1}
                                            # hint and problems (the total count) optional
    xfail: why the compiler is wrong here   # optional: a known bug, strict xfail

"Fail cleanly" means: exit code 2, no traceback, an error line that starts with
`<file>:<line>:` and contains the message (so an editor can jump to it), and nothing
written to the repository.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from compiler.catalog.loader import MAX_FILE_BYTES
from tests.conftest import copy_example, run_cli

CORPUS = Path(__file__).resolve().parent / "fixtures" / "invalid"
CASE_FILE = "case.yaml"


def _cases() -> list[Any]:
    params = []
    for folder in sorted(path for path in CORPUS.iterdir() if path.is_dir()):
        case = YAML(typ="safe", pure=True).load(folder / CASE_FILE)
        marks = [pytest.mark.xfail(strict=True, reason=case["xfail"])] if "xfail" in case else []
        params.append(pytest.param(folder, case, id=folder.name, marks=marks))
    return params


def _generate(root: Path, entry: dict[str, Any]) -> None:
    """Write one file that is better described than committed (big, binary, a symlink)."""
    path = root / entry["path"]
    path.parent.mkdir(parents=True, exist_ok=True)
    kind = entry["kind"]
    if kind == "text":  # arbitrary characters (control chars) or another encoding
        path.write_bytes(entry["text"].encode(entry.get("encoding", "utf-8")))
    elif kind == "oversized":  # the file as it is, padded with comments past the limit
        original = path.read_bytes() if path.exists() else b""
        padding = b"# padding\n" * (MAX_FILE_BYTES // 10 + 1)
        path.write_bytes(original + padding)
    elif kind == "deep":  # a sequence nested `depth` times: "- - - ... x"
        path.write_text("- " * entry["depth"] + "x\n", encoding="utf-8")
    elif kind == "symlink":  # to `target` as written, else to a new file outside the repo
        target = entry.get("target")
        if target is None:
            outside = root.parent / "outside.yaml"
            outside.write_text(entry.get("text", ""), encoding="utf-8")
            target = os.path.relpath(outside, path.parent)
        path.unlink(missing_ok=True)
        path.symlink_to(target)
    elif kind == "directory":  # a folder where a file is expected
        path.mkdir()
    elif kind == "folder-moved-out":  # the folder moved out of the repo, a link left in place
        outside = root.parent / f"outside-{path.name}"
        shutil.move(path, outside)
        path.symlink_to(os.path.relpath(outside, path.parent))
    else:
        raise ValueError(f"unknown generate kind {kind!r}")


def _prepare(folder: Path, case: dict[str, Any], root: Path) -> Path:
    """The example repository with the case's removals, overlay and generated files."""
    copy_example(root)
    for relative in case.get("remove", []):
        target = root / relative
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
    for source in folder.rglob("*"):
        if source.is_file() and source.relative_to(folder).as_posix() != CASE_FILE:
            target = root / source.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    for entry in case.get("generate", []):
        _generate(root, entry)
    return root


def _snapshot(root: Path) -> dict[str, str]:
    """Every path under `root` with what it holds, to prove that nothing was written."""

    def content(path: Path) -> str:
        if path.is_symlink():
            return "link to " + os.readlink(path)
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "folder"

    return {path.relative_to(root).as_posix(): content(path) for path in root.rglob("*")}


@pytest.mark.parametrize(("folder", "case"), _cases())
def test_invalid_input_fails_cleanly(folder: Path, case: dict[str, Any], tmp_path: Path):
    """A located error at the line a user would look at; no crash, no output written."""
    root = _prepare(folder, case, tmp_path / "repo")
    before = _snapshot(root)
    expect = case["expect"]

    result = run_cli(*case.get("args", ["validate"]), "--root", str(root))

    output = result.stdout + result.stderr
    assert result.exception is None, f"crashed: {result.exception!r}\n{output}"
    assert "Traceback" not in output
    assert result.exit_code == expect["exit"], output
    lines = result.stderr.splitlines()
    prefix = f"{expect['file']}:{expect['line']}:"
    found = [i for i, line in enumerate(lines) if line.startswith(prefix)]
    matching = [i for i in found if expect["message"] in lines[i]]
    assert matching, f"no error at {prefix} containing {expect['message']!r}:\n{result.stderr}"
    if "hint" in expect:
        hints = [lines[i + 1] for i in matching if i + 1 < len(lines)]
        assert any(h.startswith("  hint: ") and expect["hint"] in h for h in hints), (
            f"no hint containing {expect['hint']!r} after the error:\n{result.stderr}"
        )
    if "problems" in expect:
        summary = f"{expect['problems']} problem(s) found"
        assert any(line.startswith(summary) for line in lines), result.stderr
    assert _snapshot(root) == before, "the command wrote to the repository"
    assert not (root / "rendered").exists()


def test_corpus_is_large_enough():
    """The issue asks for at least 25 cases; a shrinking corpus should be a decision."""
    assert len(_cases()) >= 30
