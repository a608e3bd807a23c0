"""The parse cache (compiler/pipeline/parse_cache.py): a Document read back from it is
the one the loader builds from the same bytes, value for value and type for type; a
changed file is parsed again; an entry that is not whole and ours is never believed; a
file that does not load is never kept; without a cache folder nothing is written."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.catalog import Document, catalog_files, load_document
from compiler.check import validator_cache
from compiler.pipeline import parse_cache
from compiler.pipeline.parse_cache import load_documents
from tests.conftest import REPO, commit_example, run_cli

FIXTURES = REPO / "tests" / "fixtures"
EXAMPLES = int(os.environ.get("GITOPSC_HYPOTHESIS_EXAMPLES", "300"))


def identical(a: Any, b: Any, where: str = "") -> None:
    """`a` and `b` are equal *and* of the same types throughout: an int that came back
    a float, a tuple that came back a list, a key order that changed or a -0.0 that
    came back 0.0 fails here, where `==` would pass it."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, Document):
        for name in ("file", "data", "marks", "numbers"):
            identical(getattr(a, name), getattr(b, name), f"{where}.{name}")
    elif isinstance(a, dict):
        assert len(a) == len(b), f"{where}: {len(a)} keys != {len(b)}"
        for (key_a, value_a), (key_b, value_b) in zip(a.items(), b.items(), strict=True):
            identical(key_a, key_b, f"{where} key")
            identical(value_a, value_b, f"{where}[{key_a!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), f"{where}: {len(a)} items != {len(b)}"
        for index, (item_a, item_b) in enumerate(zip(a, b, strict=True)):
            identical(item_a, item_b, f"{where}[{index}]")
    elif isinstance(a, float):
        assert repr(a) == repr(b), f"{where}: {a!r} != {b!r}"  # -0.0, inf, nan
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_the_identical_helper_catches_what_equality_misses():
    for a, b in [
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
        ([1], [1.0]),
        ((1, 2), [1, 2]),
        (-0.0, 0.0),
        ({("a", 0): (1, 2)}, {("a", 0): [1, 2]}),
        ({("a", 0): 1}, {("a", "0"): 1}),
        (True, 1),
    ]:
        with pytest.raises(AssertionError):
            identical(a, b)


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files the loader really parses (not read back from the cache)."""
    parsed: list[str] = []
    real = parse_cache.parse_text

    def counted(relative: str, text: str):
        parsed.append(relative)
        return real(relative, text)

    monkeypatch.setattr(parse_cache, "parse_text", counted)
    return parsed


def entries(cache: Path) -> list[Path]:
    return sorted((cache / "results" / parse_cache.KIND).rglob("*.json"))


def kept_files(entry: Path) -> dict[str, Any]:
    return json.loads(entry.read_bytes()[32:])  # past the HMAC


def _every_yaml_file() -> list[str]:
    """The example catalog's files and every YAML file of the test corpora (hostile,
    invalid, ...), relative to the repository: valid and broken alike."""
    files, _ = catalog_files(REPO)
    found = [file.relative for file in files]
    for path in sorted(FIXTURES.rglob("*")):
        if path.suffix in (".yaml", ".yml") and (path.is_file() or path.is_symlink()):
            found.append(path.relative_to(REPO).as_posix())
    return found


def test_every_example_and_corpus_file_reads_back_identical(private_cache: Path, parses: list[str]):
    files = _every_yaml_file()
    assert len(files) > 600
    cold = [load_document(REPO, relative) for relative in files]
    first = load_documents(REPO, files, "corpus")
    failed = [relative for relative, (document, _) in zip(files, cold, strict=True) if not document]
    assert failed, "the corpora hold files that do not load; they must be among these"
    reached = list(parses)  # all but those refused before parsing (size, UTF-8, links)
    assert set(files) - set(reached) <= set(failed)
    parses.clear()
    cached = load_documents(REPO, files, "corpus")
    assert parses == [relative for relative in reached if relative in failed]
    for relative, want, got_first, got in zip(files, cold, first, cached, strict=True):
        identical(want[0], got_first[0], relative)
        identical(want[0], got[0], relative)
        assert want[1] == got[1], relative  # problems: same words, same positions
    (entry,) = entries(private_cache)
    assert sorted(kept_files(entry)) == sorted(set(files) - set(failed))


def test_a_document_read_back_is_the_loaders_in_every_detail(private_cache: Path, tmp_path: Path):
    """Types JSON would lose unless they are brought back: the positions' tuple keys,
    (line, column) tuples, int keys of list items in a path, key order, big ints,
    -0.0, a float near the largest, non-BMP text, U+2028."""
    text = (
        'z: 1\nb: -0.0\na: 1.5e300\n\'0\': [18446744073709551617, "\\u2028", "\\U0001F600", 😀]\n'
        "n: {x: 0x1f, y: 1.30, '1': ~}\n"
    )
    (tmp_path / "doc.yaml").write_text(text)
    cold = load_document(tmp_path, "doc.yaml")[0]
    load_documents(tmp_path, ["doc.yaml"])
    ((cached, problems),) = load_documents(tmp_path, ["doc.yaml"])
    assert problems == []
    identical(cold, cached)
    assert list(cached.data) == ["z", "b", "a", "0", "n"]
    assert cached.data["a"] == 1.5e300 and str(cached.data["b"]) == "-0.0"
    assert cached.data["0"][0] == 2**64 + 1 and cached.data["0"][2] == "\U0001f600"
    assert cached.data["0"][1] == "\u2028" and cached.data["0"][3] == "😀"
    assert cached.marks[("0", 3)] == (4, 53) and cached.numbers[("n", "y")] == "1.30"


# Odd YAML: numbers JSON or floats could bend, text JSON escapes, keys that look like
# other types. Files the loader refuses are the corpus test's (the invalid corpus) and
# `test_refused_values_are_parsed_every_time`: here they would crowd out the rest.
PLAIN = st.sampled_from(
    [
        "1.5e300",
        "-2.5e-300",
        "-0.0",
        "0.0",
        ".5",
        "1.30",
        "18446744073709551617",
        "-99999999999999999999999999999999999999",
        "0x" + "f" * 40,
        "0o777",
        "012",
        "~",
        "null",
        "",
        "true",
        "yes",
        "😀",
        "𝄞x",
        "2026-01-01",
        '"\\U0001F600"',
        '"\\u2028"',
        '"a\\u2029b"',
        '"\\t"',
        "'1'",
        "!!str 12",
        "!!float 1",
    ]
)
# any text but control characters written raw (the YAML reader refuses them) and
# surrogates (not in a file's UTF-8)
QUOTED = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=8).map(
    lambda text: json.dumps(text, ensure_ascii=False)
)
SCALARS = PLAIN | QUOTED
KEYS = st.sampled_from(["a", "1", "0x10", "true", "null", "'~'", "😀", "-0.0"]) | QUOTED


def _flow(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_flow(item) for item in value) + "]"
    if isinstance(value, tuple):
        return "{" + ", ".join(f"{key}: {_flow(item)}" for key, item in value) + "}"
    return value


TREES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.lists(st.tuples(KEYS, children), max_size=4).map(tuple)
    ),
    max_leaves=16,
)


def _document(top: Any, block: bool) -> str:
    """A bare scalar, a list, a mapping (in block style or flow) or nothing at all."""
    if block and isinstance(top, tuple):
        return "".join(f"{key}: {_flow(item)}\n" for key, item in top)
    if block and isinstance(top, list):
        return "".join(f"- {_flow(item)}\n" for item in top)
    return _flow(top) + "\n"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(TREES, st.booleans(), st.booleans())
def test_odd_documents_read_back_identical(
    private_cache: Path, tmp_path: Path, parses: list[str], top: Any, block: bool, empty: bool
):
    text = "# nothing\n" if empty else _document(top, block)
    (tmp_path / "odd.yaml").write_text(text)
    cold = load_document(tmp_path, "odd.yaml")
    load_documents(tmp_path, ["odd.yaml"])
    parses.clear()
    ((document, problems),) = load_documents(tmp_path, ["odd.yaml"])
    assert parses == ([] if cold[0] is not None else ["odd.yaml"]), text  # a hit, if it loads
    identical(cold[0], document, text)
    assert cold[1] == problems, text


@pytest.mark.parametrize("value", [".nan", ".inf", "1e400", '"\\ud800"', '"\\x85"', "{a: 1, a: 2}"])
def test_refused_values_are_parsed_every_time(
    tmp_path: Path, private_cache: Path, parses: list[str], value: str
):
    (tmp_path / "bad.yaml").write_text(f"key: {value}\n")
    want = load_document(tmp_path, "bad.yaml")
    assert want[0] is None and want[1]
    for _ in range(2):
        parses.clear()
        assert load_documents(tmp_path, ["bad.yaml"]) == [want]
        assert parses == ["bad.yaml"]


def test_an_edited_file_is_parsed_again(example: Path, private_cache: Path, parses: list[str]):
    acme = example / "catalog/customers/acme.yaml"
    relatives = ["catalog/customers/acme.yaml", "catalog/plans.yaml"]
    load_documents(example, relatives)
    parses.clear()
    acme.write_text(
        acme.read_text().replace("SYNAPSE_MAX_UPLOAD_SIZE: 100M", "SYNAPSE_MAX_UPLOAD_SIZE: 200M")
    )
    ((document, _), _) = load_documents(example, relatives)
    assert parses == ["catalog/customers/acme.yaml"]
    assert document.data["services"]["synapse"]["config"]["SYNAPSE_MAX_UPLOAD_SIZE"] == "200M"
    parses.clear()
    ((again, _), _) = load_documents(example, relatives)  # the entry now holds the edit
    assert parses == []
    identical(document, again)


def test_a_file_that_stops_loading_reports_its_problem_and_leaves_the_entry(
    example: Path, private_cache: Path, parses: list[str]
):
    acme = example / "catalog/customers/acme.yaml"
    relatives = ["catalog/customers/acme.yaml", "catalog/plans.yaml"]
    load_documents(example, relatives)
    acme.write_text(acme.read_text() + "name: again\n")
    want = load_document(example, relatives[0])
    for _ in range(2):  # a file that does not load is never kept: parsed every time
        parses.clear()
        ((document, problems), _) = load_documents(example, relatives)
        assert document is None and parses == ["catalog/customers/acme.yaml"]
        assert problems == want[1] and "duplicate key 'name'" in problems[0].message
    (entry,) = entries(private_cache)
    assert list(kept_files(entry)) == ["catalog/plans.yaml"]


def test_a_removed_file_leaves_the_entry(example: Path, private_cache: Path):
    relatives = ["catalog/customers/acme.yaml", "catalog/plans.yaml"]
    load_documents(example, relatives)
    (entry,) = entries(private_cache)
    assert list(kept_files(entry)) == relatives
    load_documents(example, relatives[1:])
    assert list(kept_files(entry)) == relatives[1:]


def _damaged(entry: Path) -> Iterator[tuple[str, bytes]]:
    """Ways an entry is no longer what this user wrote."""
    whole = entry.read_bytes()
    signature, payload = whole[:32], whole[32:]
    forged = json.loads(payload)
    for record in forged.values():
        record[1] = {"name": "mallory"}
    forged = json.dumps(forged).encode()
    yield "truncated", whole[: len(whole) // 2]
    yield "one byte changed", whole[:-2] + bytes([whole[-2] ^ 1]) + whole[-1:]
    yield "edited, old signature", signature + forged
    yield (
        "signed by another key",
        validator_cache._signature(f"{parse_cache.KIND}/{entry.stem}", b"k" * 32, forged) + forged,
    )
    yield "empty", b""


def test_a_damaged_or_foreign_entry_is_never_believed(
    example: Path, private_cache: Path, parses: list[str]
):
    relatives = ["catalog/customers/acme.yaml", "catalog/plans.yaml"]
    want = [load_document(example, relative)[0] for relative in relatives]
    load_documents(example, relatives)
    (entry,) = entries(private_cache)
    for how, damaged in list(_damaged(entry)):
        entry.write_bytes(damaged)
        parses.clear()
        got = load_documents(example, relatives)
        assert parses == relatives, how  # every file parsed again
        for document, (loaded, problems) in zip(want, got, strict=True):
            assert problems == [], how
            identical(document, loaded, how)
        assert entry.read_bytes()[32:] != damaged[32:], how  # and the entry written anew


@pytest.mark.parametrize(
    "payload",
    [
        b"[]",
        b'"x"',
        b"not json",
        b'{"catalog/plans.yaml": 1}',
        b'{"catalog/plans.yaml": ["SHA", {"a": 1}, [1], [[5, "1"]]]}',
        b'{"catalog/plans.yaml": ["SHA", {"a": 1}, [1, 1, 2, 1], [[-1, "1"]]]}',
        b'{"catalog/plans.yaml": ["SHA", {"a": 1}, [1, 1, 2, 1], [[0, 1]]]}',
        b'{"catalog/plans.yaml": ["SHA", {"a": 1}, [1, 1, 2, 1]]}',
    ],
)
def test_a_signed_entry_of_the_wrong_shape_is_a_miss_not_a_crash(
    example: Path, private_cache: Path, parses: list[str], payload: bytes
):
    relative = "catalog/plans.yaml"
    sha = hashlib.sha256((example / relative).read_bytes()).hexdigest()
    load_documents(example, [relative])
    (entry,) = entries(private_cache)
    secret = validator_cache.cache_key()
    assert secret is not None
    payload = payload.replace(b"SHA", sha.encode())
    signature = validator_cache._signature(f"{parse_cache.KIND}/{entry.stem}", secret, payload)
    entry.write_bytes(signature + payload)
    parses.clear()
    ((document, problems),) = load_documents(example, [relative])
    assert parses == [relative] and problems == []
    identical(load_document(example, relative)[0], document)


def test_text_that_is_not_utf8_is_left_out_of_the_entry(tmp_path: Path, private_cache: Path):
    """The loader never lets a lone surrogate through; were one to come, two of them
    side by side would read back from `\\u` escapes as one character. Written as UTF-8
    they cannot be written at all: that file is left out, the others kept."""
    good = Document("good.yaml", {"a": "😀"}, {(): (1, 1), ("a",): (1, 1)})
    odd = Document("odd.yaml", {"a": "\ud83d\ude00"}, {(): (1, 1), ("a",): (1, 1)})
    key = parse_cache.entry_key("surrogates")
    parse_cache._write(
        key,
        {
            "good.yaml": parse_cache.encode("1", good),
            "odd.yaml": parse_cache.encode("2", odd),
        },
    )
    kept = parse_cache._read(key)
    assert list(kept) == ["good.yaml"]
    identical(parse_cache.decode("good.yaml", "1", kept["good.yaml"]), good)


def test_positions_out_of_walk_order_are_not_kept():
    """The entry relies on the loader recording positions in the order of a walk of
    the data; a Document that does not is not kept rather than kept wrong."""
    document = Document("x.yaml", {"a": 1, "b": 2}, {(): (1, 1), ("b",): (2, 1), ("a",): (1, 1)})
    assert parse_cache.encode("sha", document) is None


def test_no_cache_folder_writes_nothing(
    example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """CI's setting (`GITOPSC_CACHE_DIR: ""`): a command writes no entry anywhere."""
    home, xdg = tmp_path / "home", tmp_path / "xdg"
    home.mkdir()
    xdg.mkdir()
    monkeypatch.setenv("GITOPSC_CACHE_DIR", "")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    validator_cache.cache_key.cache_clear()
    try:
        for _ in range(2):
            result = run_cli("validate", "--root", str(example))
            assert result.exit_code == 0, result.stderr
    finally:
        validator_cache.cache_key.cache_clear()
    assert [p for p in home.rglob("*")] == [] and [p for p in xdg.rglob("*")] == []
    assert not (tmp_path / "state").exists()


def test_an_error_from_a_cached_document_is_located_as_from_a_parsed_one(
    example: Path, private_cache: Path
):
    """The positions behind every validation error come from the entry on a warm run:
    the same file, line and column, to the byte."""
    acme = example / "catalog/customers/acme.yaml"
    acme.write_text(acme.read_text().replace("    config:\n", "    confg:\n", 1))
    cold = run_cli("validate", "--root", str(example))
    assert cold.exit_code == 2 and "catalog/customers/acme.yaml:11:5" in cold.stderr
    assert entries(private_cache)
    warm = run_cli("validate", "--root", str(example))
    assert (warm.exit_code, warm.stderr) == (cold.exit_code, cold.stderr)


def test_a_base_revision_keeps_one_entry_of_its_own(example: Path, private_cache: Path):
    """The base is extracted to a new temporary folder each run: its entry is named by
    the working tree, so repeated diffs reuse it rather than pile up entries."""
    commit_example(example)
    acme = example / "catalog/customers/acme.yaml"
    acme.write_text(acme.read_text().replace("100M", "200M"))
    outputs = []
    for _ in range(2):
        result = run_cli("diff", "--root", str(example), "--base", "main")
        assert result.exception is None and result.exit_code in (0, 1), result.stderr
        outputs.append(result.stdout)
        assert len(entries(private_cache)) == 2  # the working tree's and its base's
    assert outputs[0] == outputs[1] and "200M" in outputs[0]


def test_a_catalog_folder_whose_path_is_not_utf8_is_cached(
    tmp_path: Path, private_cache: Path, parses: list[str]
):
    """The entry is named by the folder's path, which on Linux is bytes, not always
    UTF-8: naming it must not fail."""
    root = tmp_path / os.fsdecode(b"caf\xe9")
    root.mkdir()
    (root / "a.yaml").write_text("a: 1\n")
    for _ in range(2):
        parses.clear()
        ((document, problems),) = load_documents(root, ["a.yaml"])
        assert problems == [] and document.data == {"a": 1}
    assert parses == []
