"""The command line as a user drives it: exit codes, output shapes, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.catalog.layout import find_root
from compiler.errors import UsageError
from tests.conftest import REPO, run_cli


def test_validate_the_example(example: Path):
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 0, result.stderr
    assert "catalog valid: 14 services, 6 customers" in result.stdout


def test_validate_one_environment(example: Path):
    result = run_cli("validate", "--env", "prod", "--root", str(example))
    assert result.exit_code == 0 and "(prod)" in result.stdout


def test_unknown_environment_is_a_usage_error_with_a_suggestion(example: Path):
    result = run_cli("validate", "--env", "prd", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None
    assert "unknown environment 'prd'" in result.stderr and "did you mean 'prod'" in result.stderr


def test_all_problems_are_reported_sorted_with_locations(example: Path):
    svc = example / "catalog/services/rspamd.yaml"
    svc.write_text(svc.read_text().replace("owner: mail-ops", "owner: mail-opz"))
    cust = example / "catalog/customers/acme.yaml"
    cust.write_text(cust.read_text().replace("plan: business", "plan: busines"))
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None
    lines = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert lines == sorted(lines)
    assert lines[0].startswith("catalog/customers/acme.yaml:4:")
    assert "unknown plan 'busines'" in lines[0]
    assert lines[1].startswith("catalog/services/rspamd.yaml:4:")
    assert "did you mean 'business'?" in result.stderr
    assert "2 problem(s) found" in result.stderr


def test_missing_repository_is_a_usage_error(tmp_path: Path):
    result = run_cli("validate", "--root", str(tmp_path))
    assert result.exit_code == 2 and "no gitopsc repository" in result.stderr


def test_root_is_found_from_a_subfolder(example: Path):
    assert find_root(example / "catalog" / "services") == example.resolve()
    with pytest.raises(UsageError):
        find_root(example.parent)


@pytest.mark.parametrize("kind", ["services", "customers", "environments", "instances"])
def test_list_json(example: Path, kind: str):
    result = run_cli("list", kind, "--format", "json", "--root", str(example))
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    key = "id" if kind == "instances" else "name"
    assert [row[key] for row in rows] == sorted(row[key] for row in rows)
    assert len(rows) == {"services": 14, "customers": 6, "environments": 3, "instances": 70}[kind]


def test_list_instances_filters_by_environment(example: Path):
    result = run_cli("list", "instances", "--env", "dev", "-f", "json", "--root", str(example))
    rows = json.loads(result.stdout)
    assert rows and {row["environment"] for row in rows} == {"dev"}
    sygnal = next(row for row in rows if row["id"] == "dev/sygnal")
    assert sygnal["customer"] is None and sygnal["namespace"] == "platform"


def test_list_table_has_a_row_per_customer(example: Path):
    result = run_cli("list", "customers", "--root", str(example))
    assert result.exit_code == 0
    for name in ("acme", "globex", "helvetia-bank", "initech", "umbrella", "alpenverein"):
        assert name in result.stdout


def test_explain_names_layer_file_and_line(example: Path):
    result = run_cli("explain", "prod/acme/synapse", "-f", "json", "--root", str(example))
    assert result.exit_code == 0, result.stderr
    rows = {row["path"]: row for row in json.loads(result.stdout)["values"]}
    assert rows["replicas"]["value"] == 3
    assert rows["replicas"]["layer"] == "customer environment override"
    file, line, _ = rows["replicas"]["file"].split(":")
    assert "replicas: 3" in (example / file).read_text().splitlines()[int(line) - 1]
    assert rows["config.SYNAPSE_SERVER_NAME"]["template"] == "${customer.domain}"
    assert rows["ingress.tls"]["layer"] == "built-in default"


def test_explain_path_filter_and_table(example: Path):
    result = run_cli("explain", "prod/sygnal", "--path", "resources", "--root", str(example))
    assert result.exit_code == 0, result.stderr
    assert "resources.limits.memory" in result.stdout and "image" not in result.stdout
    assert "environment override" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["explain", "prod/acme/synaps"], "did you mean 'prod/acme/synapse'"),
        (["explain", "prod"], "is not an instance id"),
        (["explain", "prd/acme/synapse"], "unknown environment 'prd'"),
        (["explain", "prod/acme/synapse", "--path", "resorces"], "did you mean 'resources'"),
    ],
)
def test_explain_usage_errors(example: Path, args: list[str], message: str):
    result = run_cli(*args, "--root", str(example))
    assert result.exit_code == 2 and result.exception is None
    assert message in result.stderr


def test_bad_option_value_exits_2(example: Path):
    result = run_cli("list", "widgets", "--root", str(example))
    assert result.exit_code == 2


def test_list_output_is_byte_identical_across_hash_seeds(example: Path):
    """Separate processes with different hash seeds must print the same bytes."""
    outputs = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "compiler.cli",
                "list",
                "instances",
                "-f",
                "json",
                "--root",
                str(example),
            ],
            capture_output=True,
            check=True,
            env=env,
            cwd=REPO,
        )
        outputs.add(completed.stdout)
    assert len(outputs) == 1


def test_a_location_at_line_100_is_printed_as_written(example: Path):
    """`:100:` is an emoji code to rich: errors are printed with emoji off, so a problem
    at line 100 reads `file:100:col`, not a picture (found by the mutation test)."""
    postgres = example / "catalog/services/postgres.yaml"
    lines = postgres.read_text().split("\n")
    owner = next(i for i, line in enumerate(lines) if line.startswith("owner:"))
    lines[owner] = "owner: 42"  # a wrong type, reported at this line
    padding = ["# padding"] * (99 - owner)
    postgres.write_text("\n".join(padding + lines))
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2
    assert "catalog/services/postgres.yaml:100:" in result.stderr, result.stderr
