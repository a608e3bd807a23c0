"""JSON Schemas: generated from the models, committed, accepted by every example file."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from compiler.catalog.loader import parse_text
from compiler.commands.schema import catalog_schemas
from tests.conftest import REPO, reference, run_cli

EXAMPLE_FILES = sorted(
    [*REPO.glob("catalog/**/*.yaml"), *REPO.glob("environments/*/environment.yaml")]
)


def test_committed_schemas_are_up_to_date():
    for name, text in catalog_schemas().items():
        assert (REPO / "schemas" / name).read_text(encoding="utf-8") == text, (
            f"schemas/{name} is stale: run `gitopsc schema`"
        )


def test_schema_command_writes_every_schema(tmp_path: Path):
    result = run_cli("schema", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(catalog_schemas())


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_example_file_has_a_modeline_and_passes_its_schema(path: Path):
    text = path.read_text(encoding="utf-8")
    first = next(line for line in text.splitlines() if line.startswith("# yaml-language-server:"))
    schema_path = (path.parent / first.split("$schema=", 1)[1].strip()).resolve()
    assert schema_path.exists(), first
    schema = json.loads(schema_path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    document, problems = parse_text(path.name, text)
    assert problems == []
    jsonschema.Draft202012Validator(schema).validate(document.data)


def test_schema_rejects_unknown_keys_like_the_validator():
    schema = json.loads(catalog_schemas()["service.schema.json"])
    validator = jsonschema.Draft202012Validator(schema)
    service = {
        "name": "x",
        "owner": "t",
        "runtime": "vm",
        "scope": "customer",
        "defaults": {"imgae": "nginx:1"},
    }
    assert any("imgae" in error.message for error in validator.iter_errors(service))
    service["defaults"] = {"resources": {"limits": {"cpu": 1}}}  # partial layer, number quantity
    assert list(validator.iter_errors(service)) == []


def test_the_pipeline_file_validates_against_gitlabs_ci_schema():
    import yaml

    schema_path = reference("gitlab/ci.json")
    validator = jsonschema.Draft7Validator(json.loads(schema_path.read_text()))
    pipeline = yaml.safe_load((REPO / ".gitlab-ci.yml").read_text())
    assert [error.message for error in validator.iter_errors(pipeline)] == []
    assert list(validator.iter_errors({**pipeline, "compile": {"stage": "compile", "scrpt": []}}))
