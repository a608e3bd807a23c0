"""Hints for the two YAML mistakes a hand-edited catalog makes most: indentation, and a
version written unquoted (`1.30` is the number 1.3 to YAML). Each is a located error
from `validate` (exit 2) with a hint that says what to write instead."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli


def _validate(root: Path) -> str:
    result = run_cli("validate", "--root", str(root))
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.exception is None and "Traceback" not in result.stderr
    return result.stderr


def _replace(path: Path, old: str, new: str) -> int:
    """Edit the first `old` in the file; the 1-based line the edit starts on."""
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return text[: text.index(old)].count("\n") + 1


def test_a_key_indented_deeper_than_its_sibling_gets_an_indentation_hint(example: Path):
    service = example / "catalog/services/synapse.yaml"
    line = _replace(service, "  replicas: 1\n", "  replicas: 1\n     workers: 2\n") + 1
    stderr = _validate(example)
    assert f"catalog/services/synapse.yaml:{line}:" in stderr
    assert "mapping values are not allowed" in stderr
    assert f"hint: line {line} is indented deeper than line {line - 1} above it" in stderr


def test_a_key_dedented_out_of_its_parent_points_at_the_line_below_and_names_it(example: Path):
    """`replicas:` moved out of `defaults:` to the top level: ruamel trips on the next
    line, so the hint names the line above as the other suspect."""
    service = example / "catalog/services/synapse.yaml"
    line = _replace(service, "  replicas: 1\n", "replicas: 1\n")
    stderr = _validate(example)
    assert f"catalog/services/synapse.yaml:{line + 1}:" in stderr
    assert f"or indent line {line} under its parent" in stderr


def test_a_key_between_two_levels_gets_the_columns_of_its_siblings(example: Path):
    service = example / "catalog/services/synapse.yaml"
    line = _replace(service, "  replicas: 1\n", " replicas: 1\n")
    stderr = _validate(example)
    assert f"catalog/services/synapse.yaml:{line}:2:" in stderr
    assert f"hint: line {line} starts at column 2, in line with nothing above it" in stderr
    assert "the lines above start at column 1, 3" in stderr


def test_an_unquoted_kubernetes_version_is_quoted_back_as_written(example: Path):
    env = example / "environments/dev/environment.yaml"
    line = _replace(env, 'kubernetes_version: "1.31"', "kubernetes_version: 1.30")
    stderr = _validate(example)
    assert f"environments/dev/environment.yaml:{line}:" in stderr
    assert "kubernetes_version: expected a string, got a number (1.3)" in stderr
    assert 'hint: quote it: "1.30" (unquoted, YAML reads 1.30 as the number 1.3)' in stderr


def test_a_database_version_written_as_a_number_is_told_to_quote_it(example: Path):
    mas = example / "catalog/services/mas.yaml"
    line = _replace(mas, 'version: "16"', "version: 16")
    stderr = _validate(example)
    assert f"catalog/services/mas.yaml:{line}:" in stderr
    assert "database.version: expected a string, got an integer (16)" in stderr
    assert 'hint: quote it: "16"' in stderr


def test_a_number_where_a_name_belongs_gets_no_quoting_hint(example: Path):
    """The hint is for versions and numbers that lost digits, not for every number."""
    mas = example / "catalog/services/mas.yaml"
    _replace(mas, "owner: ", "owner: 42 #")
    stderr = _validate(example)
    assert "owner: expected a string, got an integer (42)" in stderr
    assert "quote it" not in stderr


def test_a_setting_dedented_to_the_top_level_is_told_where_it_belongs(example: Path):
    """Valid YAML, wrong level: `replicas:` moved out of `defaults:` is an unknown top-level
    key of the environment; the hint names the key it belongs under, not the whole list."""
    env = example / "environments/prod/environment.yaml"
    line = _replace(env, "defaults:\n  replicas: 2\n", "defaults:\nreplicas: 2\n") + 1
    stderr = _validate(example)
    assert f"environments/prod/environment.yaml:{line}:1: error: unknown key 'replicas'" in stderr
    assert "hint: 'replicas' is a key of defaults: indent it under 'defaults:'" in stderr


def test_a_setting_dedented_beside_its_service_gets_an_indentation_hint(example: Path):
    """`replicas: 3` one level too shallow, beside `synapse:` in a customer's `services:`,
    is read as a service named `replicas`: the wrong type is the symptom, the hint names
    the cause."""
    customer = example / "catalog/customers/acme.yaml"
    line = _replace(
        customer, "      synapse:\n        replicas: 3\n", "      synapse:\n      replicas: 3\n"
    )
    stderr = _validate(example)
    assert f"catalog/customers/acme.yaml:{line + 1}:7:" in stderr
    assert (
        "hint: 'replicas' is a key of each entry of environments.prod.services, not an "
        "entry: indent it under the entry above it"
    ) in stderr


def test_a_mapping_setting_dedented_beside_its_service_is_no_unknown_service(example: Path):
    """`config:` (a mapping, so the type fits) dedented beside `synapse:` is taken for a
    service named `config`; the hint says it is a setting, not a misspelt service."""
    customer = example / "catalog/customers/acme.yaml"
    line = _replace(
        customer,
        "      synapse:\n        replicas: 3\n",
        "      synapse:\n      config:\n        LOG_LEVEL: debug\n",
    )
    stderr = _validate(example)
    assert f"catalog/customers/acme.yaml:{line + 1}:7:" in stderr
    assert "names unknown service 'config'" in stderr
    assert (
        "hint: 'config' is a key of a service's settings, not a service: indent it under the "
        "service above it"
    ) in stderr


def test_a_tab_in_the_indentation_gets_the_tab_hint(example: Path):
    """ruamel says "found a tab character that violates indentation": the hint was
    empty, since only a literal tab in the message was recognised."""
    customer = example / "catalog/customers/acme.yaml"
    line = _replace(customer, "plan: business\n", "plan: business\n\tstatus: active\n") + 1
    stderr = _validate(example)
    assert f"catalog/customers/acme.yaml:{line}:" in stderr
    assert "hint: YAML indentation must use spaces, not tabs" in stderr
