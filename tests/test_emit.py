"""The emitter's promise: what it writes reads back as the same values of the same types.

Rendered YAML is read by YAML 1.1 readers (PyYAML, pure or on libyaml: Ansible, AWX;
go-yaml v2) and YAML 1.2 readers (ruamel.yaml, go-yaml v3). A string that one of them
refuses, folds or takes for a number is output that lies, so every case here is read
back with each reader and compared value by value and type by type (bool is not int,
int is not float, -0.0 is not 0.0, "1e3" and "2026-12-31" stay strings).

First the bugs of issue 12 point 1, one test each; then the loader's side of it (an
escape in the catalog may not produce a control character); then a hypothesis property
over arbitrary JSON-like trees. Its number of examples is GITOPSC_HYPOTHESIS_EXAMPLES
(default 400, a few seconds), e.g.
`GITOPSC_HYPOTHESIS_EXAMPLES=10000 .venv/bin/python -m pytest -q tests/test_emit.py`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from compiler.catalog.emit import Unsafe
from compiler.catalog.loader import parse_text
from compiler.output import to_json, to_yaml

_RUAMEL = YAML(typ="safe", pure=True)
READERS: dict[str, Callable[[str], Any]] = {
    "PyYAML safe_load (YAML 1.1)": yaml.safe_load,
    "ruamel.yaml safe, pure (YAML 1.2)": _RUAMEL.load,
}
if getattr(yaml, "CSafeLoader", None) is not None:
    READERS["PyYAML CSafeLoader, libyaml (YAML 1.1)"] = lambda text: yaml.load(
        text, Loader=yaml.CSafeLoader
    )


def _same(expected: Any, actual: Any) -> bool:
    """Equal and of the same type all the way down, mapping order included; a float is
    compared bit for bit, so -0.0 must come back as -0.0."""
    if type(expected) is not type(actual):
        return False
    if isinstance(expected, dict):
        return len(expected) == len(actual) and all(
            _same(key, other) and _same(expected[key], actual[other])
            for key, other in zip(expected, actual, strict=True)
        )
    if isinstance(expected, list):
        return len(expected) == len(actual) and all(map(_same, expected, actual))
    if isinstance(expected, float):
        return expected.hex() == actual.hex()
    return expected == actual


def _reads_back(data: Any) -> str:
    """`to_yaml(data)`, after checking that every reader gets `data` back from it."""
    text = to_yaml(data)
    for name, read in READERS.items():
        try:
            actual = read(text)
        except Exception as error:  # PyYAML's and ruamel's errors have no common base
            raise AssertionError(f"{name} cannot read {text!r}: {error}") from error
        assert _same(data, actual), f"{name} reads {text!r} as {actual!r}, not {data!r}"
    return text


def _sorted_keys(data: Any) -> Any:
    """`data` with every mapping in key order, as `to_json` writes it."""
    if isinstance(data, dict):
        return {key: _sorted_keys(data[key]) for key in sorted(data)}
    if isinstance(data, list):
        return [_sorted_keys(item) for item in data]
    return data


# --- the bugs, one test each -------------------------------------------------------


@pytest.mark.parametrize(
    ("char", "escaped"),
    [
        ("\x7f", "\\u007f"),
        ("\x80", "\\u0080"),
        ("\x9f", "\\u009f"),
        ("\ufffe", "\\ufffe"),
        ("\uffff", "\\uffff"),
    ],
)
def test_characters_yaml_forbids_are_escaped_in_values_and_keys(char: str, escaped: str):
    """DEL, C1 controls, U+FFFE and U+FFFF were written raw: the file was unreadable."""
    assert to_yaml({"v": f"a{char}b"}) == f'v: "a{escaped}b"\n'
    _reads_back({"v": f"a{char}b", f"k{char}": [char]})


@pytest.mark.parametrize("char", ["\x85", "\u2028", "\u2029"])
def test_line_break_characters_keep_their_value_their_spaces_and_the_key(char: str):
    """NEL folded to a space, spaces next to LS/PS were trimmed, a key with one broke."""
    data = {"v": f"a{char}b", "w": f" {char} x {char} ", f"k {char} ": {f"{char}": 1}}
    text = _reads_back(data)
    assert char not in text


def test_float_with_exponent_has_a_dot_so_yaml_1_1_reads_a_float():
    """`1e+16` and `5e-324` were strings for PyYAML (Ansible), floats for YAML 1.2."""
    text = _reads_back({"a": 1e16, "b": 5e-324, "c": -1e22, "d": 1.5e300, "e": 1e-07})
    assert text == "a: 1.0e+16\nb: 5.0e-324\nc: -1.0e+22\nd: 1.5e+300\ne: 1.0e-07\n"


def test_other_numbers_and_booleans_keep_their_type():
    """-0.0 keeps its sign; huge ints stay ints; bools are not ints; floats that were
    already unambiguous are written as before."""
    text = _reads_back(
        {"z": -0.0, "big": 2**200, "neg": -(10**40), "t": True, "f": False, "n": None, "x": 0.5}
    )
    assert text.startswith("z: -0.0\n") and "x: 0.5\n" in text


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_numbers_are_refused_not_written(value: float):
    """The catalog refuses them and JSON cannot hold them; `NaN` was written to JSON."""
    with pytest.raises(ValueError):
        to_yaml({"v": value})
    with pytest.raises(ValueError):
        to_json({"v": value})


def test_a_lone_surrogate_is_refused():
    """No reader gets it back (UTF-8 cannot encode it; libyaml refuses its escape)."""
    with pytest.raises(ValueError, match="lone surrogate U\\+D800"):
        to_yaml({"v": "a\ud800"})


def test_keys_over_1024_characters_are_written_as_explicit_keys():
    """Implicit keys are limited to 1024 characters; PyYAML, libyaml and ruamel refused
    the file past that. `? key` has no limit, and all three read it."""
    at_limit = "k" * 1021 + ":"  # 1024 characters with its quotes: still implicit
    assert to_yaml({at_limit: 1}) == f'"{at_limit}": 1\n'
    _reads_back({at_limit: 1})
    long = "k" * 1025
    assert to_yaml({long: 1}) == f"? {long}\n: 1\n"
    quoted = "é: " * 400
    assert to_yaml({quoted: {"a": 1}}) == f'? "{quoted}"\n:\n  a: 1\n'
    _reads_back(
        {
            long: [1, {long: {}}],
            "short": {long: [], quoted: None},
            "list": [{long: {long: "v"}, "b": 2}, {quoted: [[]]}],
        }
    )


def test_ordinary_output_is_unchanged():
    """The fixes touch only what was wrong; `gitopsc compile --check` shows it on the
    committed output, this on a small object."""
    data = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "labels": {"app.kubernetes.io/name": "x"}},
        "data": {"on": "yes", "ratio": 0.25, "when": "2026-12-31", "msg": "héllo\nwörld\t"},
        "list": [{"a": 1, "b": [True, None]}, [], {}, ""],
    }
    assert to_yaml(data) == (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels:\n"
        "    app.kubernetes.io/name: x\ndata:\n"
        '  "on": "yes"\n  ratio: 0.25\n  when: "2026-12-31"\n  msg: "héllo\\nwörld\\t"\n'
        'list:\n- a: 1\n  b:\n  - true\n  - null\n- []\n- {}\n- ""\n'
    )
    _reads_back(data)


# --- the catalog's side: an escape may not produce what YAML forbids raw -------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('a: "x\\x7fy"\n', "U+007F"),
        ('a: "\\N"\n', "U+0085"),
        ('a: "\\x9b"\n', "U+009B"),
        ('a: "\\e[31m"\n', "U+001B"),
        ('a: "\\0"\n', "U+0000"),
        ('a: "\\r"\n', "U+000D"),
        ('a: "\\uFFFE"\n', "U+FFFE"),
        ('a: ["ok", "\\uffff"]\n', "U+FFFF"),
        ('"k\\x85": 1\n', "U+0085"),
    ],
)
def test_catalog_escape_may_not_produce_a_control_character(text: str, code: str):
    """Located at the scalar, so a user sees where the invisible character came from."""
    doc, problems = parse_text("bad.yaml", text)
    assert doc is None
    assert problems[0].location.line == 1
    assert "escape produces a" in problems[0].message and code in problems[0].message


def test_catalog_lone_surrogate_escape_is_refused():
    doc, problems = parse_text("bad.yaml", 'a: "\\ud800"\n')
    assert doc is None and problems[0].location.line == 1


def test_catalog_escapes_of_text_characters_are_kept():
    """Tab, newline and the characters the emitter escapes back stay allowed."""
    doc, problems = parse_text("ok.yaml", 'a: "x\\ty\\nz\\L\\P\\u00a0\\ufeff\\U0001F600"\n')
    assert not problems
    assert doc.data == {"a": "x\ty\nz\u2028\u2029\xa0\ufeff\U0001f600"}
    _reads_back(doc.data)


# --- the property ------------------------------------------------------------------

EXAMPLES = int(os.environ.get("GITOPSC_HYPOTHESIS_EXAMPLES", "400"))

# Characters that YAML forbids, folds, trims or gives a meaning, drawn more often than
# a uniform draw over Unicode would.
SPECIAL = (
    "\x00\t\n\r\x1b\x7f\x80\x85\x9f\xa0\u2028\u2029\ufeff\ufffe\uffff\U0010ffff"
    " \"'\\#:-?{}[],&*!|>%@`~=<"
)
# Whole strings that some YAML reader resolves to something other than text.
# fmt: off
WORDS = [
    "", " ", "yes", "No", "ON", "off", "y", "N", "~", "null", "Null", "NULL", "true",
    "FALSE", ".inf", "-.Inf", ".NaN", "nan", "inf", "1", "-1", "+1", "0x1f", "0o17", "0755",
    "0b101", "1_000", "1e3", "1E+3", "1.0", ".5", "5.", "1:20", "190:20:30.15",
    "2026-12-31", "2001-12-14t21:59:43.10-05:00", "<<", "=", "-", "---", "...", "? x",
    "- x", "a: b", "#x", "&a", "*a", "!!str", "%YAML", "@x", "`x", "|", ">", "a #b",
]
# fmt: on
CHARACTERS = st.characters(exclude_categories=["Cs"]) | st.sampled_from(SPECIAL)
TEXT = (
    st.text(CHARACTERS, max_size=24)
    | st.sampled_from(WORDS)
    | st.from_regex(r"[A-Za-z_/][A-Za-z0-9_./-]{0,16}", fullmatch=True)  # plain-looking
)
# Past the 1024-character limit of implicit keys, quoted or plain, now and then.
LONG_TEXT = st.builds(
    lambda unit, count: unit * count,
    st.text(CHARACTERS, min_size=1, max_size=3) | st.just("k"),
    st.integers(300, 1100),
)
INTS = st.integers() | st.integers(-(10**60), 10**60) | st.sampled_from([2**63, -(2**63) - 1])
FLOATS = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [1e16, 5e-324, -0.0, 0.0, 1e300, 1.7976931348623157e308, 2.2250738585072014e-308, 1e-7]
)
SCALARS = st.none() | st.booleans() | INTS | FLOATS | TEXT | LONG_TEXT
VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(TEXT | LONG_TEXT, children, max_size=4)
    ),
    max_leaves=24,
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(VALUES)
def test_every_value_reads_back_the_same_with_yaml_1_1_and_1_2_readers(data: Any):
    """to_yaml for PyYAML (pure and libyaml) and ruamel.yaml; to_json for JSON readers
    (what reads it: Terraform's tfvars.json, tools reading index.json)."""
    _reads_back(data)
    assert _same(_sorted_keys(data), json.loads(to_json(data)))


# Keys json.dumps accepts besides strings (it writes them as strings) and values it
# decides about itself: a str subclass, an int subclass, NaN, a tuple.
JSON_KEYS = TEXT | st.integers() | st.booleans() | st.none() | FLOATS
JSON_VALUES = st.recursive(
    SCALARS | st.builds(Unsafe, TEXT) | st.sampled_from([float("nan"), float("inf")]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(TEXT, children, max_size=4)
        | st.dictionaries(JSON_KEYS, children, max_size=3)
    ),
    max_leaves=24,
)


def _stdlib_json(data: Any) -> str | type[Exception]:
    try:
        return (
            json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
        )
    except (TypeError, ValueError) as error:
        return type(error)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(JSON_VALUES)
def test_to_json_writes_exactly_what_json_dumps_writes_or_refuses_the_same(data: Any):
    """to_json's own encoder (issue 17: the stdlib's indented one is pure Python) gives
    the bytes `json.dumps(indent=2, sort_keys=True)` gives, and refuses what it refuses
    (NaN, keys of mixed types that cannot be sorted) with the same error type."""
    expected = _stdlib_json(data)
    if isinstance(expected, str):
        assert to_json(data) == expected
    else:
        with pytest.raises(expected):
            to_json(data)


def test_to_json_of_a_cycle_is_refused_as_json_refuses_it():
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        to_json({"a": loop})


def test_a_key_cached_as_text_is_not_taken_for_an_equal_number_or_boolean():
    """The key cache is keyed by the key: 1 == True == 1.0 in Python, so only strings
    are kept, and each of these is written as itself."""
    assert to_yaml({"1": "a"}) == '"1": a\n'
    assert to_yaml({1: "a"}) == "1: a\n"
    assert to_yaml({True: "a"}) == "true: a\n"
    assert to_yaml({1.0: "a"}) == "1.0: a\n"


def test_a_multi_line_string_first_seen_as_a_key_is_still_a_literal_block_as_a_value():
    """A multi-line key is written as a JSON string; the same text as a value afterwards
    must still be a literal block (the string cache keeps no multi-line strings)."""
    assert to_yaml({"line one\nline two\n": 1}) == '"line one\\nline two\\n": 1\n'
    assert to_yaml({"k": "line one\nline two\n"}) == "k: |\n  line one\n  line two\n"
