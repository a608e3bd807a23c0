"""Command-line conventions (issue 16): --version, shell completion, one meaning per
option name across commands, `validate --format json`, `affected --env`."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import tomllib
import typing
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import git
import pytest
import typer

from compiler.cli import app
from tests.conftest import REPO, commit_example, copy_example, run_cli


def _gitopsc(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """gitopsc in its own process, under its own name (completion keys on the name)."""
    return subprocess.run(
        [sys.executable, "-c", "from compiler.cli import main; main()", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


# ---------------------------------------------------------------- --version


def test_version_prints_the_package_version_and_exits_0():
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert importlib.metadata.version("gitopsc") == declared  # the install is this project
    result = run_cli("--version")
    assert result.exit_code == 0 and result.exception is None
    assert result.stdout == f"gitopsc {declared}\n"


# ---------------------------------------------------------------- completion


@pytest.mark.parametrize(
    ("shell", "names_it"),
    [
        ("bash", "complete -o default -F _gitopsc_completion gitopsc"),
        ("zsh", "#compdef gitopsc"),
        ("fish", "complete --command gitopsc"),
    ],
)
def test_completion_scripts_name_gitopsc(shell: str, names_it: str):
    """The two ways docs/cli.md gives: `--show-completion` (for the shell typer detects
    from the parent process; its test switch turns detection off so that the shell can
    be named) and `_GITOPSC_COMPLETE=source_SHELL gitopsc` (a named shell, for images)."""
    shown = _gitopsc(
        "--show-completion", shell, env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    )
    sourced = _gitopsc(env={"_GITOPSC_COMPLETE": f"source_{shell}"})
    for result in (shown, sourced):
        assert result.returncode == 0, result.stderr
        assert names_it in result.stdout
        assert "_GITOPSC_COMPLETE" in result.stdout  # the script calls gitopsc back
    assert sourced.stdout.strip() == shown.stdout.strip()


def test_completion_completes_commands_and_option_values():
    """What the bash script asks gitopsc for, asked directly: real answers, not a stub."""

    def complete(words: str) -> list[str]:
        cword = str(len(words.split()) - (0 if words.endswith(" ") else 1))
        result = _gitopsc(
            env={
                "_GITOPSC_COMPLETE": "complete_bash",
                "COMP_WORDS": words,
                "COMP_CWORD": cword,
            }
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    assert complete("gitopsc li") == ["list"]
    assert complete("gitopsc list instances --format ") == ["table", "json"]
    assert complete("gitopsc validate --format ") == ["text", "json"]


# ---------------------------------------------------------------- option meanings


def _options() -> Iterator[tuple[str, Any]]:
    """Every visible option of every command, as click holds them (typer vendors its own
    click, so by the parameters' own attributes rather than by class)."""
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    assert len(commands) >= 9
    for name, command in sorted(commands.items()):
        for param in command.params:
            # a hidden option takes no value: it only refuses an old spelling (below)
            if param.param_type_name == "option" and not param.hidden:
                yield name, param


def _kind(option: Any) -> str:
    """The kind of value an option takes, from its annotation: a FILE or folder (Path),
    a yes/no flag, a number, or a word (str, or a choice of words); repeatable or not."""
    annotation = option.type_descriptor.annotation
    while typing.get_args(annotation):  # list[Path] -> Path
        annotation = typing.get_args(annotation)[0]
    if option.is_flag or annotation is bool:
        return "flag"
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return "path"
    if annotation is int:
        return "number"
    assert isinstance(annotation, type) and issubclass(annotation, str), option.opts
    return "word"


def test_each_option_name_has_one_meaning_across_commands():
    """`-o` was a format in `list`, `explain` and `affected` and a file in `check` and
    `diff`: the same name must take the same kind of value everywhere."""
    meanings: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for command, option in _options():
        for name in option.opts:
            meanings[name][_kind(option)].add(command)
    mixed = {name: dict(kinds) for name, kinds in meanings.items() if len(kinds) > 1}
    assert not mixed, f"one name, several meanings: {mixed}"
    # the families the conventions name (docs/cli.md, "Common options")
    assert set(meanings["--format"]) == {"word"}
    assert set(meanings["--output"]) == {"path"}
    assert set(meanings["--env"]) == {"word"}
    assert len(meanings["--format"]["word"]) >= 6  # every command that prints in forms


def test_each_short_flag_stands_for_one_option_and_help_family():
    shorts: dict[str, set[str]] = defaultdict(set)
    for _, option in _options():
        longs = [o for o in option.opts if o.startswith("--")]
        for short in (o for o in option.opts if not o.startswith("--")):
            shorts[short].add(longs[0])
    assert {s: sorted(longs) for s, longs in shorts.items() if len(longs) > 1} == {}
    assert shorts["-o"] == {"--output"} and shorts["-f"] == {"--format"}
    for command, option in _options():
        if option.name == "format_":
            assert "json" in (option.help or ""), command  # every format choice has json
        if "--output" in option.opts:
            assert option.metavar == "FILE", command
        if "--format" in option.opts:
            assert "-f" in option.opts, command


@pytest.mark.parametrize(
    "args",
    [
        ["list", "instances", "-o", "json"],
        ["list", "instances", "--output", "table"],
        ["explain", "prod/acme/synapse", "-o", "json"],
        ["affected", "--base", "main", "-o", "json"],
    ],
)
def test_the_old_format_spelling_is_refused_with_the_new_one(
    example: Path, args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    result = run_cli(*args, "--root", str(example))
    assert result.exit_code == 2 and result.exception is None
    assert f"--format {args[-1]}" in result.stderr and result.stdout == ""
    assert list(cwd.iterdir()) == []


def test_a_format_name_given_as_output_file_is_refused(
    example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """`diff -o json` wrote a file named `json`; now it says what it would do."""
    commit_example(example)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    for args in (
        ["diff", "--base", "main", "-o", "json"],
        ["check", "-f", "json", "-o", "json"],
        ["check", "-f", "sarif", "-o", "sarif"],
    ):
        result = run_cli(*args, "--root", str(example))
        assert result.exit_code == 2 and result.exception is None, args
        assert "would write a file named" in result.stderr
        assert "did you mean --format" in result.stderr
    assert list(cwd.iterdir()) == []
    # a file by that name, with its folder, is written
    target = cwd / "json"
    result = run_cli("diff", "--base", "main", "-o", str(target), "--root", str(example))
    assert result.exit_code == 0, result.stderr
    assert target.read_text().startswith("0 object(s) differ from main")


@pytest.mark.parametrize(
    ("output", "says"),
    [
        (".", "is a folder, not a file"),
        ("", "is a folder, not a file"),
        ("..", "is a folder, not a file"),
        ("{root}/catalog/customers/acme.yaml", "inside the repository's catalog/"),
        ("{root}/policies/waivers.yaml", "inside the repository's policies/"),
        ("{root}/rendered/prod/findings.json", "inside the repository's rendered/"),
    ],
)
def test_an_output_that_is_a_folder_or_a_source_file_is_refused(
    example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str, says: str
):
    """`-o .` crashed with a traceback (exit 1); `-o catalog/customers/acme.yaml` wrote
    the report over the customer's file (exit 0) and the next run failed on it. Both
    commands that write reports refuse them before any work, and nothing is written."""
    commit_example(example)
    monkeypatch.chdir(tmp_path)
    target = output.format(root=example)
    before = {
        p: p.read_bytes() for p in example.rglob("*") if p.is_file() and ".git" not in p.parts
    }
    for args in (
        ["check", "--catalog-only", "-f", "json", "-o", target],
        ["diff", "--base", "main", "-o", target],
    ):
        result = run_cli(*args, "--root", str(example))
        assert result.exit_code == 2 and result.exception is None, (args, result.stderr)
        assert says in result.stderr, result.stderr
    after = {p: p.read_bytes() for p in example.rglob("*") if p.is_file() and ".git" not in p.parts}
    assert after == before


def test_two_reports_into_one_file_are_refused(example: Path, tmp_path: Path):
    target = str(tmp_path / "report.json")
    result = run_cli(
        "check", "--catalog-only", "-f", "json", "-o", target, "-f", "junit", "-o", target,
        "--root", str(example),
    )  # fmt: skip
    assert result.exit_code == 2 and "two --output options name one file" in result.stderr
    assert not Path(target).exists()


def test_a_negative_markdown_cap_is_refused(example: Path):
    commit_example(example)
    result = run_cli("diff", "--base", "main", "--max-bytes", "-5", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None


# ---------------------------------------------------------------- validate --format json


def test_validate_json_lists_located_problems_and_exits_2(example: Path):
    cust = example / "catalog/customers/acme.yaml"
    cust.write_text(cust.read_text().replace("plan: business", "plan: busines"))
    svc = example / "catalog/services/rspamd.yaml"
    svc.write_text(svc.read_text().replace("owner: mail-ops", "owner: mail-opz"))
    result = run_cli("validate", "--format", "json", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None
    report = json.loads(result.stdout)
    assert report["valid"] is False
    problems = report["problems"]
    assert [set(p) for p in problems] == [{"file", "line", "column", "message", "hint"}] * 2
    first, second = problems
    assert (first["file"], first["line"]) == ("catalog/customers/acme.yaml", 4)
    assert "unknown plan 'busines'" in first["message"]
    assert first["hint"] == "did you mean 'business'?"
    assert second["file"] == "catalog/services/rspamd.yaml" and second["line"] == 4
    assert all(isinstance(p["column"], int) and p["column"] >= 1 for p in problems)
    # the line and column point at the bad entry in the file
    line = cust.read_text().splitlines()[first["line"] - 1]
    assert line[first["column"] - 1 :].startswith("plan: busines")
    # the text form reports the same problems
    text = run_cli("validate", "--root", str(example)).stderr
    for p in problems:
        assert f"{p['file']}:{p['line']}:{p['column']}: error: {p['message']}" in text


def test_validate_json_of_a_valid_catalog(example: Path):
    result = run_cli("validate", "-f", "json", "--root", str(example))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"valid": True, "problems": []}


# ---------------------------------------------------------------- affected --env


@pytest.fixture
def repo(tmp_path: Path) -> git.Repo:
    return commit_example(copy_example(tmp_path / "repo"))


def _affected(root: Path, *args: str) -> dict:
    result = run_cli("affected", "--root", str(root), "--base", "main", "-f", "json", *args)
    assert result.exit_code == 0 and result.exception is None, result.stderr
    return json.loads(result.stdout)


def test_affected_env_keeps_what_the_change_reaches_there(repo: git.Repo):
    root = Path(repo.working_tree_dir or "")
    synapse = root / "catalog/services/synapse.yaml"
    synapse.write_text(synapse.read_text().replace("description: ", "description: New ", 1))
    everywhere = _affected(root)
    assert len(everywhere["environments"]) >= 2, everywhere  # a change that spans some
    for env in everywhere["environments"]:
        only = _affected(root, "--env", env)
        assert only["environments"] == [env]
        assert only["instances"] == [i for i in everywhere["instances"] if i.startswith(f"{env}/")]
        assert only["instances"], env
        assert only["services"] == sorted({i.split("/")[-1] for i in only["instances"]})
        assert only["reasons"] == everywhere["reasons"]
    first, second = everywhere["environments"][:2]
    both = _affected(root, "--env", first, "-e", second)
    assert both["environments"] == [first, second]
    # the text form too
    text = run_cli("affected", "--root", str(root), "--base", "main", "--env", first).stdout
    assert f"environments: {first}\n" in text


def test_affected_unknown_env_is_a_usage_error(repo: git.Repo):
    root = Path(repo.working_tree_dir or "")
    result = run_cli("affected", "--root", str(root), "--base", "main", "--env", "prd")
    assert result.exit_code == 2 and result.exception is None
    assert "unknown environment 'prd'" in result.stderr and "did you mean 'prod'" in result.stderr
