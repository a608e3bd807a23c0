"""A cluster's `kubernetes_version` must be one gitopsc has schemas for (issue 16, item
6): before, "1.99" was checked against the newest schemas and "1.3" (an unquoted 1.30)
against the oldest, silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.catalog import versions
from compiler.check.schemas import schema_version
from tests.conftest import run_cli


@pytest.mark.parametrize(
    ("version", "hint"),
    [
        ("1.99", "a newer gitopsc (its kubernetes-validate) knows newer versions"),
        ("1.3", 'YAML reads an unquoted 1.30 as 1.3; write "1.30"'),
        ("1.24", "the APIs of a cluster this old are not known to gitopsc"),
    ],
)
def test_an_unknown_kubernetes_version_is_a_located_error(example: Path, version: str, hint: str):
    env = example / "environments/prod/environment.yaml"
    text = env.read_text()
    assert 'kubernetes_version: "1.30"' in text
    env.write_text(text.replace('kubernetes_version: "1.30"', f'kubernetes_version: "{version}"'))
    line = env.read_text().splitlines().index(f'    kubernetes_version: "{version}"') + 1
    result = run_cli("validate", "--root", str(example))
    assert result.exception is None and result.exit_code == 2
    known = versions.kubernetes_versions()
    assert (
        f"environments/prod/environment.yaml:{line}:5: error: kubernetes_version '{version}' "
        f"is not a version gitopsc can check: it has the schemas of {known[0]} to {known[-1]}"
    ) in result.stderr
    assert f"hint: {hint}" in result.stderr


def test_every_known_version_has_its_own_schemas():
    """What validation accepts is exactly what the schema check has: no version it lets
    through falls back to another version's schemas."""
    known = versions.kubernetes_versions()
    assert "1.30" in known and "1.31" in known
    assert [schema_version(v).rsplit(".", 1)[0] for v in known] == list(known)


def test_the_versions_read_off_the_schema_folders_are_kubernetes_validates_own():
    """`kubernetes_versions` reads kubernetes-validate's schema folders without importing
    it (a faster start): it must find exactly the minor versions the library lists."""
    from kubernetes_validate import utils as kv_utils

    listed = {".".join(v.split(".")[:2]) for v in kv_utils.all_versions()}
    assert set(versions.kubernetes_versions()) == listed and len(listed) >= 10
