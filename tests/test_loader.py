"""Loader: YAML 1.2 core typing, positions for every node, and hostile input refused."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from compiler.catalog.loader import MAX_FILE_BYTES, MAX_TEXT, load_document, parse_text


def test_plain_scalars_follow_yaml_1_2_core_schema():
    doc, problems = parse_text(
        "x.yaml",
        "a: yes\nb: on\nc: 0o17\nd: 0x1f\ne: 1e3\nf: ~\ng: 2026-01-01\nh: 012\ni: '1'\nj: True\n",
    )
    assert problems == []
    assert doc.data == {
        "a": "yes",
        "b": "on",
        "c": 15,
        "d": 31,
        "e": 1000.0,
        "f": None,
        "g": "2026-01-01",
        "h": 12,
        "i": "1",
        "j": True,
    }


def test_every_node_has_a_position_keys_point_at_the_key():
    doc, _ = parse_text("x.yaml", "top:\n  list:\n    - a\n    - {b: 1}\n")
    assert doc.marks[("top",)] == (1, 1)
    assert doc.marks[("top", "list")] == (2, 3)
    assert doc.marks[("top", "list", 1, "b")] == (4, 8)
    assert str(doc.locate(("top", "list", 1, "missing"))) == "x.yaml:4:7"  # nearest ancestor
    assert str(doc.locate(("nothing", "here"))) == "x.yaml:1:1"


def test_aliases_are_expanded_when_small():
    doc, problems = parse_text("x.yaml", "a: &r {cpu: 1}\nb: *r\n")
    assert problems == [] and doc.data["b"] == {"cpu": 1}


def test_alias_bomb_is_refused_without_expanding():
    levels = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        levels.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    start = time.perf_counter()
    doc, problems = parse_text("bomb.yaml", "\n".join(levels) + "\n")
    elapsed = time.perf_counter() - start
    assert doc is None and "alias bomb" in problems[0].message
    assert elapsed < 5  # 10^12 nodes if it were expanded; a generous bound, not a benchmark


def test_expanded_text_is_bounded_exactly_and_refused_at_the_alias():
    """16 keys of 3 characters and 16 uses of one string: exactly MAX_TEXT characters
    pass, one more per use does not, at the key of the last alias (line 16). Few nodes,
    so only the text limit can see it."""
    for length, refused in ((MAX_TEXT - 48) // 16, False), ((MAX_TEXT - 48) // 16 + 1, True):
        text = f'a00: &s "{"x" * length}"\n' + "".join(f"a{i:02}: *s\n" for i in range(1, 16))
        doc, problems = parse_text("x.yaml", text)
        if not refused:
            assert problems == [] and len(doc.data["a15"]) == length
            continue
        assert doc is None
        assert [(p.location.line, p.location.column) for p in problems] == [(16, 1)]
        assert f"more than {MAX_TEXT} characters of text" in problems[0].message


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a: 1\nb: 2\na: 3\n", 3, "duplicate key 'a'"),
        ("x: &x {a: 1}\ny:\n  <<: *x\n", 3, "merge keys"),
        ("a: !!python/object:os.system x\n", 1, "tag !!python/object:os.system is not allowed"),
        ("a:\n\tb: 1\n", 2, "invalid YAML"),
        ("a: 1\n---\nb: 2\n", 2, "invalid YAML"),
        ("a: &a [*a]\n", 1, "recursive alias"),
        ("a: " + "9" * 50 + "\n", 1, "more than 40 digits"),
        ("? [a]\n: b\n", 1, "mapping keys must be plain strings"),
        ("- " * 100_000 + "x\n", 1, "nesting deeper"),
        ("a: \x07\n", 1, "control characters"),
        ("a: 1\nb: .inf\n", 2, "not a finite number"),
        ("a: 1\nb: 1e400\n", 2, "not a finite number"),  # too large for a float: infinite
        ("a: [-1e400]\n", 1, "not a finite number"),
        ("a: !!float 1e999\n", 1, "not a finite number"),
    ],
)
def test_bad_yaml_is_a_located_problem(text, line, message):
    doc, problems = parse_text("bad.yaml", text)
    assert doc is None
    assert problems[0].location.file == "bad.yaml"
    assert problems[0].location.line == line
    assert message in problems[0].message


def test_oversized_file_is_refused_before_reading(tmp_path: Path):
    (tmp_path / "big.yaml").write_bytes(b"a: " + b"x" * MAX_FILE_BYTES + b"\n")
    doc, problems = load_document(tmp_path, "big.yaml")
    assert doc is None and "limit" in problems[0].message


def test_non_utf8_names_the_line_of_the_bad_byte(tmp_path: Path):
    (tmp_path / "latin.yaml").write_bytes(b"a: 1\nb: caf\xe9\n")
    doc, problems = load_document(tmp_path, "latin.yaml")
    assert doc is None
    assert (problems[0].location.line, problems[0].location.column) == (2, 7)
    assert "UTF-8" in problems[0].message


def test_utf8_bom_is_accepted(tmp_path: Path):
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbfa: 1\n")
    doc, problems = load_document(tmp_path, "bom.yaml")
    assert problems == [] and doc.data == {"a": 1}
