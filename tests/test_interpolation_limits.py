"""Interpolation is bounded (issue 12, point 3): references to references cannot build
strings without end or nest without end, and are refused before the memory is spent.
Nor can copies of one long value, made by whole references or by YAML aliases, make one
file's output grow without end.

The bombs run in a subprocess under an address-space limit: without the limits the
41-line doubling chain took 21 GiB before the kernel killed it, so a regression shows
up here as a MemoryError or a timeout, not as a machine that stops answering.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compiler import pipeline
from compiler.catalog.interpolate import MAX_DEPTH, MAX_INSTANCE, MAX_LENGTH, interpolate
from compiler.catalog.loader import MAX_TEXT
from compiler.errors import CatalogInvalid
from tests.conftest import REPO, copy_example

SERVICE = "catalog/services/sygnal.yaml"  # environment-scoped: one instance per environment
ANCHOR = "    SYGNAL_LOG_LEVEL: INFO\n"
FIRST_LINE = 21  # the line of the first value added after ANCHOR
ADDRESS_SPACE = 1536 * 1024 * 1024


def _ref(name: str) -> str:
    return "${values.config." + name + "}"


def _doubling(count: int, prefix: str = "C") -> list[str]:
    """`C0: C1 C1`, ..., `C<count-1>: ab`: C0 is 2**count characters long."""
    lines = [f'    {prefix}{i}: "{_ref(f"{prefix}{i + 1}") * 2}"\n' for i in range(count - 1)]
    return [*lines, f"    {prefix}{count - 1}: ab\n"]


def _chain(count: int, prefix: str = "D") -> list[str]:
    """`D0: ${D1}`, ..., `D<count-2>: ${D<count-1>}`, `D<count-1>: end`: count - 1 references."""
    lines = [f'    {prefix}{i}: "{_ref(f"{prefix}{i + 1}")}"\n' for i in range(count - 1)]
    return [*lines, f"    {prefix}{count - 1}: end\n"]


def _repository(root: Path, lines: list[str]) -> Path:
    copy_example(root)
    path = root / SERVICE
    text = path.read_text()
    assert text.count(ANCHOR) == 1 and text.splitlines().index(ANCHOR.rstrip()) == FIRST_LINE - 2
    path.write_text(text.replace(ANCHOR, ANCHOR + "".join(lines)))
    return root


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _bounded(*args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """`gitopsc ARGS` in a process with a capped address space: it must refuse the bomb
    with exit 2, a located first line, no MemoryError or traceback, in under 30 s."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "compiler.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_memory,
        cwd=REPO,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr
    assert elapsed < 30, f"took {elapsed:.1f}s"
    return done, done.stderr.splitlines()[0]


@pytest.mark.parametrize(
    ("lines", "line", "message"),
    [
        # the issue's reproduction: 41 values, C0 would be 2**41 characters; C0's chain
        # is 41 deep, so the depth limit refuses it before any string is built
        (_doubling(41), FIRST_LINE, f"references nest deeper than {MAX_DEPTH} levels"),
        # 30 deep passes the depth limit; C13 is the first string over 64 KiB (2**17)
        (_doubling(30), FIRST_LINE + 13, f"longer than {MAX_LENGTH} characters"),
    ],
    ids=["doubling-41-deep", "doubling-30-deep"],
)
def test_a_doubling_bomb_is_refused_quickly_in_bounded_memory(lines, line, message, tmp_path):
    root = _repository(tmp_path / "repo", lines)
    done, first = _bounded("validate", "--root", str(root))
    assert first.startswith(f"{SERVICE}:{line}:") and message in first, done.stderr


BIG = 60_000  # characters of the one literal that the copy bombs copy
COPIES = 15_000  # each copy written out: 900 MB of output, beyond ADDRESS_SPACE once parsed
CUSTOMER = "catalog/customers/mallory.yaml"
FIRST_COPY_LINE = 12  # the line of A00001, the first copy


def _copy_bomb(root: Path, copy: str) -> Path:
    """A customer file of 405 KB (aliases) or 690 KB (references), within the file
    limit: `A00000` holds BIG characters, `A00001` ... each copies it, written as `copy`.
    Keys sort in file order, which is the order interpolation walks them in."""
    copy_example(root)
    lines = [
        "name: mallory\nplan: starter\nresidency: eu\ndomains: [mallory.example]\n",
        "environments:\n  dev:\n    services:\n      postgres:\n      synapse:\n",
        f'        config:\n          A00000: &big "{"x" * BIG}"\n',
        *(f"          A{i:05}: {copy}\n" for i in range(1, COPIES + 1)),
    ]
    (root / CUSTOMER).write_text("".join(lines))
    return root


@pytest.mark.parametrize(
    ("copy", "line", "message"),
    [
        # whole references share the value in memory but each one is written out: the
        # 18th copy takes the instance past MAX_INSTANCE (nothing is built before it)
        (
            "${values.config.A00000}",
            FIRST_COPY_LINE - 1 + MAX_INSTANCE // BIG + 1,
            f"interpolation builds more than {MAX_INSTANCE} characters for this instance",
        ),
        # each entry is a key of 6 characters and the value: the loader refuses the alias
        # (at its key) that takes the expanded text past MAX_TEXT, before building anything
        (
            "*big",
            FIRST_COPY_LINE - 1 + MAX_TEXT // (BIG + 6),
            f"document expands to more than {MAX_TEXT} characters of text",
        ),
    ],
    ids=["whole-references", "aliases"],
)
def test_a_copy_bomb_is_refused_quickly_in_bounded_memory(copy, line, message, tmp_path):
    """Before, 3,000 copies in a 170 KB file compiled to 173 MB of output at 585 MB of
    memory; these 15,000 would not fit in ADDRESS_SPACE."""
    root = _copy_bomb(tmp_path / "repo", copy)
    out = tmp_path / "out"
    done, first = _bounded("compile", "--root", str(root), "--out", str(out))
    assert first.startswith(f"{CUSTOMER}:{line}:") and message in first, done.stderr
    assert not out.exists()


def test_whole_references_count_toward_the_instance_budget():
    """A whole reference may copy a value longer than MAX_LENGTH (it builds no string),
    but every copy counts toward MAX_INSTANCE: as many as fit, then one more is refused."""
    big = "x" * (2 * MAX_LENGTH)
    count = MAX_INSTANCE // len(big)
    values = {"big": big} | {f"r{i:02}": "${values.big}" for i in range(count)}
    result, _, errors = interpolate(values, {})
    assert errors == [] and result[f"r{count - 1:02}"] is big
    values[f"r{count:02}"] = "${values.big}"
    _, _, errors = interpolate(values, {})
    assert [(e.path, e.message) for e in errors] == [
        (
            (f"r{count:02}",),
            f"interpolation builds more than {MAX_INSTANCE} characters for this instance",
        )
    ]


def test_a_chain_of_400_references_is_a_located_error_not_a_recursion_error(tmp_path):
    """400 single references used to end in RecursionError; now the first 33 levels are
    enough to refuse it, at the value that starts the chain."""
    root = _repository(tmp_path / "repo", _chain(400, "C"))
    with pytest.raises(CatalogInvalid) as caught:
        pipeline.run(root)
    first = caught.value.problems[0]
    assert (first.location.file, first.location.line) == (SERVICE, FIRST_LINE)
    assert "values.config.C0 -> ... -> values.config.C32" in first.message


def test_chains_just_under_the_limits_resolve(tmp_path):
    """The control: a chain MAX_DEPTH strings deep, a doubling to exactly MAX_LENGTH
    characters, and as many more strings of that length as one instance may build (less
    one: the service's own templates, its host and secret keys, build a few characters)."""
    doubling = 2 * MAX_LENGTH - 4  # B0 .. B14 build 2**16 + 2**15 + ... + 4 characters
    copies = (MAX_INSTANCE - doubling) // MAX_LENGTH - 1
    lines = [
        *_chain(MAX_DEPTH + 1),  # D0 .. D31 hold references, D32 is plain
        *_doubling(16, "B"),  # B0 is 2**16 characters
        *(f'    X{i:02}: "{_ref("B1") * 2}"\n' for i in range(copies)),  # each as long as B0
    ]
    root = _repository(tmp_path / "repo", lines)
    config = pipeline.run(root).instances["prod/sygnal"].values["config"]
    assert config["D0"] == "end"
    assert len(config["B0"]) == MAX_LENGTH == 2**16
    assert all(len(config[f"X{i:02}"]) == MAX_LENGTH for i in range(copies))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"a": "x" * MAX_LENGTH + "${values.b}", "b": "y"}, "longer than"),
        (
            {f"s{i}": "${values.s" + str(i + 1) + "}" for i in range(MAX_DEPTH)} | {"s32": "${x}"},
            "nest deeper",
        ),
    ],
    ids=["length-plus-one", "depth-plus-one"],
)
def test_one_past_a_limit_is_refused(values, message):
    _, _, errors = interpolate(values, {"x": "end"})
    assert errors and message in errors[0].message


def test_what_one_instance_builds_is_bounded():
    """Each string under MAX_LENGTH, but together exactly MAX_INSTANCE, then one more."""
    count = MAX_INSTANCE // MAX_LENGTH
    values = {f"s{i:02}": "x" * (MAX_LENGTH - 1) + "${x}" for i in range(count)}
    _, _, errors = interpolate(values, {"x": "y"})
    assert errors == []
    values["t"] = "z${x}"  # two characters more (a whole reference builds nothing)
    _, _, errors = interpolate(values, {"x": "y"})
    assert [(e.path, e.message) for e in errors] == [
        (("t",), f"interpolation builds more than {MAX_INSTANCE} characters for this instance")
    ]


def test_exactly_at_the_limits_is_accepted():
    at_length = {"a": "x" * (MAX_LENGTH - 1) + "${values.b}", "b": "y"}
    result, _, errors = interpolate(at_length, {})
    assert errors == [] and len(result["a"]) == MAX_LENGTH
    at_depth = {f"s{i}": "${values.s" + str(i + 1) + "}" for i in range(MAX_DEPTH - 1)}
    at_depth["s31"] = "${x}"  # 32 strings that hold references, nested
    result, _, errors = interpolate(at_depth, {"x": "end"})
    assert errors == [] and result["s0"] == "end"
