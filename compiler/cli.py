"""The `gitopsc` command line: argument parsing and the one error boundary.

Commands live in compiler/commands/; each returns an exit code. This module maps user
errors to exit code 2 with a located message and never shows a traceback for them:
0 = success, 2 = invalid input or usage, 141 = standard output closed before the end.
A traceback means a bug in gitopsc.

One meaning per option name across commands (tests/test_cli_conventions.py reads this
app to keep it so): `--format/-f` picks what is printed or written, `--output/-o` names
the FILE it goes to, `--out` a folder, `--env/-e` an environment.
"""

from __future__ import annotations

import datetime
import errno
import importlib
import os
import signal
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from compiler import pipeline
from compiler.catalog import find_root
from compiler.commands import version
from compiler.errors import CatalogInvalid, UsageError


def _command(name: str) -> Any:
    """A command's module, imported when the command runs: each brings its wings (the
    check wing alone is 0.1-0.15 s), which the other commands never use."""
    return importlib.import_module(f"compiler.commands.{name}")


app = typer.Typer(
    name="gitopsc",
    help="Validate a GitOps catalog and compile it for ArgoCD, Terraform and AWX.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)

RootOption = Annotated[
    Path | None,
    typer.Option(
        "--root",
        help="Repository to work on (default: the one around the current folder).",
        file_okay=False,
        dir_okay=True,
    ),
]
EnvOption = Annotated[
    list[str] | None,
    typer.Option("--env", "-e", help="Only this environment (repeatable; default: all)."),
]
ShardOption = Annotated[
    str | None,
    typer.Option(
        "--shard",
        metavar="K/N",
        help="Only shard K of N (by customer; N parallel jobs together do the whole).",
    ),
]


class Format(StrEnum):
    table = "table"
    json = "json"


class ValidateFormat(StrEnum):
    text = "text"
    json = "json"


class Kind(StrEnum):
    services = "services"
    customers = "customers"
    environments = "environments"
    instances = "instances"


FormatOption = Annotated[Format, typer.Option("--format", "-f", help="table or json.")]


def _output_renamed(value: str | None) -> None:
    """`-o json` chose a format in `list`, `explain` and `affected` before issue 16 and
    names a file in `check` and `diff`; a script written for the old meaning stops here
    with the new spelling, instead of printing nothing or writing a file named `json`."""
    if value is not None:
        raise typer.BadParameter(
            f"--output names a file, not a format; for {value} write --format {value} "
            f"(or -f {value})"
        )


# Hidden, and it never accepts a value: it exists only to answer the old spelling
RenamedOutputOption = Annotated[
    str | None,
    typer.Option("--output", "-o", hidden=True, callback=_output_renamed, expose_value=False),
]


# What a shell reports for a command killed by SIGPIPE, as `seq 100000 | head -1` is
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE


class _Stdout(Console):
    def on_broken_pipe(self) -> None:
        """rich's own handling exits 1 at once; raised instead, a closed pipe ends every
        command the same way, in `_guarded`, whether rich or `print` hit it."""
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


def _stdout() -> Console:
    """Tables keep whole names: piped output gets a wide page instead of 80 columns."""
    console = _Stdout(highlight=False, soft_wrap=True, emoji=False)
    if not console.is_terminal:
        console = _Stdout(highlight=False, soft_wrap=True, width=200, emoji=False)
    return console


def _guarded(action: Callable[[], int]) -> None:
    """The error boundary: user errors, and the file system's refusals, become messages
    and exit code 2.

    A reader that stops reading (`gitopsc list instances | head -1`) is no error of the
    user's or the file system's: the rest of the output is dropped without a word and the
    exit code is 141, as for the shell's own tools that SIGPIPE kills (Python ignores
    SIGPIPE, so the write fails instead). Standard output then points at /dev/null, so
    that the interpreter's last flush of what is still buffered does not fail again
    (Python's docs, "Note on SIGPIPE")."""
    errors = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
    try:
        code = action()
        sys.stdout.flush()  # a closed pipe found here, not in the interpreter's last flush
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_BROKEN_PIPE
    except CatalogInvalid as invalid:
        for problem in invalid.problems:
            errors.print(problem.render(), markup=False)
        errors.print(f"{len(invalid.problems)} problem(s) found.", markup=False)
        code = 2
    except UsageError as usage:
        errors.print(f"error: {usage.message}", markup=False)
        if usage.hint:
            errors.print(f"  hint: {usage.hint}", markup=False)
        code = 2
    except OSError as error:
        # the file system refused a path the user gave (a name too long, a folder where a
        # file should be, a full disk): the stages name the paths they know; this is the
        # last line, so that no command ends in a traceback on its environment
        where = f": {error.filename}" if error.filename else ""
        errors.print(f"error: {error.strerror or error}{where}", markup=False)
        code = 2
    raise typer.Exit(code)


def _root(root: Path | None) -> Path:
    if root is not None and not root.is_dir():
        raise UsageError(f"--root {root} is not a folder")
    return find_root(root if root is not None else Path.cwd())


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"gitopsc {version()}")
        raise typer.Exit(0)


@app.callback()
def _options(
    version_: Annotated[
        bool | None,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print gitopsc's version and exit.",
        ),
    ] = None,
) -> None:
    """The options before any command: --version, and typer's shell completion."""


@app.command()
def validate(
    root: RootOption = None,
    env: EnvOption = None,
    format_: Annotated[
        ValidateFormat,
        typer.Option(
            "--format", "-f", help="text, or json: the problems with file, line and column."
        ),
    ] = ValidateFormat.text,
) -> None:
    """Load, validate and resolve the catalog; exit 0 when it is valid, 2 when not."""
    _guarded(lambda: _command("validate").run(_root(root), env, format_.value, _stdout()))


@app.command("list")
def list_(
    kind: Annotated[Kind, typer.Argument(help="services, customers, environments or instances.")],
    root: RootOption = None,
    env: EnvOption = None,
    format_: FormatOption = Format.table,
    _output: RenamedOutputOption = None,
) -> None:
    """List what the catalog defines."""
    _guarded(
        lambda: _command("listing").run(_root(root), kind.value, env, format_.value, _stdout())
    )


@app.command()
def explain(
    instance: Annotated[str, typer.Argument(help="ENV/CUSTOMER/SERVICE, or ENV/SERVICE.")],
    path: Annotated[
        str | None, typer.Option("--path", help="Only values under this dotted path.")
    ] = None,
    network: Annotated[
        bool,
        typer.Option(
            "--network",
            help="Who may reach the instance and whom it may reach, by its rendered "
            "NetworkPolicies.",
        ),
    ] = False,
    root: RootOption = None,
    format_: FormatOption = Format.table,
    _output: RenamedOutputOption = None,
) -> None:
    """Show every resolved value of an instance with the layer and file:line it came from."""
    _guarded(
        lambda: _command("explain").run(
            _root(root), instance, path, format_.value, _stdout(), network=network
        )
    )


@app.command()
def schema(
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder to write to (default: ROOT/schemas).")
    ] = None,
    root: RootOption = None,
) -> None:
    """Write the JSON Schema of each catalog file kind, for editors and CI."""
    _guarded(
        lambda: _command("schema").run(
            out if out is not None else _root(root) / "schemas", _stdout()
        )
    )


@app.command("compile")
def compile_(
    root: RootOption = None,
    env: EnvOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default: ROOT/rendered).")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if the output folder is stale.")
    ] = False,
    shard: ShardOption = None,
) -> None:
    """Compile the catalog into rendered/<env>/ (manifests, ArgoCD, tfvars, inventory)."""
    _guarded(lambda: _command("compile").run(_root(root), env, out, check, _stdout(), shard))


@app.command("slo-tests")
def slo_tests(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder to write to (its own: not the repository, nor rendered/).",
            file_okay=False,
        ),
    ],
    env: EnvOption = None,
    root: RootOption = None,
) -> None:
    """Write each rendered PrometheusRule and its SLO burn-rate unit tests for promtool
    (`promtool check rules`, `promtool test rules`)."""
    _guarded(lambda: _command("slo_tests").run(_root(root), env, out, _stdout()))


@app.command()
def publish(
    env: Annotated[str, typer.Option("--env", "-e", help="The environment to publish.")],
    branch: Annotated[
        str | None,
        typer.Option(
            "--branch", "-b", help="Hydrated branch (default: the environment's argocd.branch)."
        ),
    ] = None,
    push: Annotated[
        str | None,
        typer.Option(
            "--push", metavar="REMOTE", help="Build on REMOTE's branch and push the result."
        ),
    ] = None,
    allow_dirty: Annotated[
        bool,
        typer.Option("--allow-dirty", help="Publish even with uncommitted catalog changes."),
    ] = False,
    root: RootOption = None,
) -> None:
    """Commit an environment's compiled output to a hydrated branch, only when it changed."""
    _guarded(
        lambda: _command("publish").run(_root(root), env, branch, push, allow_dirty, _stdout())
    )


@app.command("check")
def check_(
    root: RootOption = None,
    env: EnvOption = None,
    format_: Annotated[
        list[str] | None,
        typer.Option(
            "--format",
            "-f",
            help="text, json, junit, codequality, sarif or markdown; repeat for several.",
        ),
    ] = None,
    output: Annotated[
        list[Path] | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="File for the --format at the same position."
        ),
    ] = None,
    date: Annotated[
        str | None,
        typer.Option("--date", help="Judge expiry and offboarding dates as of YYYY-MM-DD."),
    ] = None,
    list_: Annotated[
        bool, typer.Option("--list", help="List every check with its severity and status.")
    ] = False,
    affected_base: Annotated[
        str | None,
        typer.Option(
            "--affected-base",
            metavar="REF",
            help="Schemas and checkov only on what changed since REF (the rest on all).",
        ),
    ] = None,
    catalog_only: Annotated[
        bool,
        typer.Option(
            "--catalog-only",
            help="Only the findings tied to no environment (what --env shards leave out).",
        ),
    ] = False,
    shard: ShardOption = None,
) -> None:
    """Run every policy and check on the catalog and its compiled output; exit 1 on failure."""
    if list_:
        _guarded(lambda: _command("check").list_checks(_root(root), _stdout()))
    _guarded(
        lambda: _command("check").run(
            _root(root),
            env,
            format_ or [],
            output or [],
            _date(date),
            _stdout(),
            affected_base,
            catalog_only,
            shard,
        )
    )


BaseOption = Annotated[
    str, typer.Option("--base", help="Revision to compare with (branch, tag or commit).")
]


@app.command("diff")
def diff_(
    base: BaseOption,
    root: RootOption = None,
    env: EnvOption = None,
    format_: Annotated[
        str, typer.Option("--format", "-f", help="text, markdown (an MR comment) or json.")
    ] = "text",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write to FILE instead of stdout."),
    ] = None,
    max_bytes: Annotated[
        int,
        typer.Option(
            "--max-bytes", min=1024, help="markdown: cap the size, counting what is left out."
        ),
    ] = 60_000,
    shard: ShardOption = None,
) -> None:
    """Show how the rendered output changes against a base revision, object by object."""
    _guarded(
        lambda: _command("diff").run(
            _root(root), base, env, format_, output, max_bytes, _stdout(), shard
        )
    )


@app.command()
def affected(
    base: BaseOption,
    root: RootOption = None,
    env: EnvOption = None,
    format_: FormatOption = Format.table,
    _output: RenamedOutputOption = None,
) -> None:
    """List the environments, customers, services and instances a change touches."""
    _guarded(lambda: _command("affected").run(_root(root), base, env, format_.value, _stdout()))


def _date(text: str | None) -> datetime.date:
    if text is None:
        return datetime.datetime.now(datetime.UTC).date()
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--date {text} is not a date", "write it as YYYY-MM-DD") from None


def main() -> None:
    pipeline.tune_gc()
    app(prog_name="gitopsc")


if __name__ == "__main__":
    sys.exit(main())
