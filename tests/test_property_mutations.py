"""Random damage to the valid example catalog never crashes the compiler.

Why: the corpus (test_invalid_corpus.py) checks the mistakes we thought of; this test
makes small random edits that people and merge tools really make (a line lost, doubled or
moved, a stray character, a cut-off file, a value of another type) and checks the one
promise that holds for all of them: `validate` either accepts the result (exit 0) or
rejects it with exit code 2 and only located errors, `<path>:<line>:<col>: error: ...`,
whose path is a file of the repository and whose line is inside that file. A traceback,
or an error that points nowhere, is a bug.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO, copy_example, run_cli

FILES = sorted(
    path.relative_to(REPO).as_posix()
    for part in ("catalog", "environments")
    for path in (REPO / part).rglob("*.yaml")
)
# fmt: off
# Tokens that mean something to YAML or to gitopsc, inserted at a random place.
TOKENS = [
    ":", "-", "[", "]", "{", "}", "&a", "*a", "${", "!!str", "!!int", "#", "'", '"', "|",
    ">", ",", "%", "@", "~", "---", "? ", "<<: ", "\t", "\n", " ",
]
# Replacement values for a `key: value` line: other types, bad names, references.
VALUES = [
    "1", "-1", "1.5", "'1'", "true", "null", "[]", "{}", "[a, b]", "{a: 1}", "x", "Upper",
    "../x", "${values.x}", "${customer.domain}", "2026-12-31", ".nan", "0x1f",
]
# fmt: on
ERROR = re.compile(r"(?P<path>[^:\s][^:]*):(?P<line>[0-9]+):(?P<col>[0-9]+): error: ")
SUMMARY = re.compile(r"[0-9]+ problem\(s\) found\.")
SCALAR = re.compile(r"^(\s*(?:- )?[A-Za-z_][-\w]*:)[ \t]+\S.*$")
# Any character that UTF-8 can encode (no lone surrogates).
CHARACTERS = st.characters(exclude_categories=["Cs"])


def _mutate(data: st.DataObject, text: str) -> str:
    """One random edit of `text`; each draw is named so that a failure is readable."""
    lines = text.split("\n")
    index = data.draw(st.integers(0, len(lines) - 1), label="line")
    kind = data.draw(
        st.sampled_from(
            [
                "delete",
                "duplicate",
                "swap",
                "token",
                "character",
                "truncate",
                "retype",
                "indent",
                "dedent",
            ]
        ),
        label="mutation",
    )
    if kind == "delete":
        del lines[index]
    elif kind == "duplicate":
        lines.insert(index, lines[index])
    elif kind == "swap":
        other = data.draw(st.integers(0, len(lines) - 1), label="other line")
        lines[index], lines[other] = lines[other], lines[index]
    elif kind in ("token", "character"):
        line = lines[index]
        column = data.draw(st.integers(0, len(line)), label="column")
        insert = data.draw(st.sampled_from(TOKENS) if kind == "token" else CHARACTERS, label=kind)
        lines[index] = line[:column] + insert + line[column:]
    elif kind == "truncate":
        return text[: data.draw(st.integers(0, len(text)), label="keep characters")]
    elif kind == "retype":
        scalars = [i for i, line in enumerate(lines) if SCALAR.match(line)]
        if scalars:
            target = data.draw(st.sampled_from(scalars), label="scalar line")
            value = data.draw(st.sampled_from(VALUES), label="new value")
            lines[target] = SCALAR.sub(lambda m: f"{m.group(1)} {value}", lines[target])
    elif kind == "indent":
        lines[index] = "  " + lines[index]
    else:
        lines[index] = lines[index].removeprefix("  ")
    return "\n".join(lines)


def _line_count(path: Path) -> int:
    text = path.read_bytes().decode("utf-8", errors="replace")
    return max(text.count("\n") + 1, len(text.splitlines()))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_mutated_catalog_is_accepted_or_rejected_with_located_errors(data: st.DataObject):
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_example(Path(tmp) / "repo")
        relative = data.draw(st.sampled_from(FILES), label="file")
        path = root / relative
        text = path.read_text(encoding="utf-8")
        for _ in range(data.draw(st.integers(1, 3), label="number of mutations")):
            text = _mutate(data, text)
        path.write_bytes(text.encode("utf-8"))

        result = run_cli("validate", "--root", str(root))

        output = result.stdout + result.stderr
        assert result.exception is None, f"crashed: {result.exception!r}\n{output}"
        assert "Traceback" not in output
        assert result.exit_code in (0, 2), output
        event(f"exit code {result.exit_code}")  # see --hypothesis-show-statistics
        if result.exit_code == 0:
            return
        lines = result.stderr.splitlines()
        assert lines and SUMMARY.fullmatch(lines[-1]), result.stderr
        errors = [line for line in lines[:-1] if not line.startswith("  hint: ")]
        assert errors, result.stderr
        for line in errors:
            match = ERROR.match(line)
            assert match, f"not a located error: {line!r}\n{result.stderr}"
            where = root / match["path"]
            assert where.is_file(), f"no such file: {line!r}"
            assert 1 <= int(match["line"]) <= _line_count(where) + 1, f"line out of range: {line!r}"
            assert int(match["col"]) >= 1, line
