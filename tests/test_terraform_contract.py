"""The Terraform contract (issue 15): gitopsc reads each environment's
terraform/variables.tf and refuses, located at the variable, tfvars the root module
would not take as written: an undeclared key, a required variable nobody sets, a value
of another type, an attribute a type does not declare. And the provider dimension:
every cluster, DNS record, database and bucket says which provider creates it.

Each case edits real files in a copy of the example repository and runs the CLI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from compiler.catalog import TfType, load_contract, mismatches, parse_contract
from compiler.catalog.terraform import MAX_FILE_BYTES, MAX_TYPE_DEPTH
from tests.conftest import copy_example, run_cli

PROD_TF = "environments/prod/terraform/variables.tf"
PROD_ENV = "environments/prod/environment.yaml"
TFVARS = "rendered/{env}/terraform/catalog.auto.tfvars.json"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = copy_example(tmp_path / "repo")
    config = root / "policies/config.yaml"
    text = config.read_text()
    assert "checkov: {enabled: true" in text
    config.write_text(text.replace("checkov: {enabled: true", "checkov: {enabled: false"))
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _line(path: Path, pattern: str) -> int:
    lines = path.read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if re.search(pattern, line))


def _fails_at(root: Path, located: str, *needles: str) -> None:
    """compile, compile --check and check all stop with exit 2 at `located`, every
    needle in the located line, no traceback."""
    for args in (["compile"], ["compile", "--check"], ["check", "--date", "2026-11-30"]):
        result = run_cli(*args, "--root", str(root))
        assert result.exception is None and "Traceback" not in result.stderr, result.stderr
        assert result.exit_code == 2, (args, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.startswith(located + ":")]
        assert lines, (args, located, result.stderr)
        assert any(all(n in line for n in needles) for line in lines), (args, result.stderr)


def _compiled(root: Path, env: str = "prod") -> dict[str, Any]:
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 0, result.stderr
    return json.loads((root / TFVARS.format(env=env)).read_text())


# --- the contract -----------------------------------------------------------------------


def test_a_type_change_fails_compile_and_check_at_the_attribute(repo: Path):
    """storage_gb number -> string: Terraform would convert 200 to "200" without a word;
    gitopsc says where the type and the value that breaks it are."""
    tf = repo / PROD_TF
    _edit(tf, "storage_gb        = number", "storage_gb        = string")
    line = _line(tf, r"storage_gb\s+= string")
    _fails_at(
        repo,
        f"{PROD_TF}:{line}",
        "variable 'databases'",
        ".storage_gb is a number (",
        "the type is string",
        "catalog/",  # the catalog file that made the value
    )


def test_the_value_error_names_the_tfvars_path_and_the_catalog_line(repo: Path):
    _edit(repo / PROD_TF, "versioning     = bool", "versioning     = number")
    result = run_cli("compile", "--root", str(repo))
    assert result.exit_code == 2
    # the first bucket in key order, and the line of the layer that declares the bucket
    assert 'buckets["acme-postgres-pg-wal"].versioning is a bool (false)' in result.stderr
    assert re.search(r"the value comes from catalog/services/postgres\.yaml:\d+:\d+", result.stderr)
    # one problem for the eight buckets, with a count
    assert "(and 7 more like it)" in result.stderr
    assert result.stderr.count("error:") == 1


def test_an_undeclared_tfvars_key_fails(repo: Path):
    tf = repo / PROD_TF
    text = tf.read_text()
    start = text.index('variable "clusters" {')
    end = text.index('variable "customers" {')
    tf.write_text(text[:start] + text[end:])
    _fails_at(repo, f"{PROD_TF}:1", "gitopsc writes tfvars key 'clusters'", PROD_ENV)


def test_an_attribute_the_type_does_not_declare_fails(repo: Path):
    """A module that does not declare `provider` would see every database as its
    default provider's: Terraform drops the attribute, gitopsc refuses it."""
    tf = repo / PROD_TF
    _edit(tf, "    provider          = string\n", "")
    lines = tf.read_text().splitlines()
    start = _line(tf, r'variable "databases"')
    line = next(n for n in range(start, len(lines)) if "map(object({" in lines[n - 1])
    _fails_at(repo, f"{PROD_TF}:{line}", ".provider is not an attribute of the object type")


def test_an_attribute_the_type_requires_and_gitopsc_does_not_write_fails(repo: Path):
    tf = repo / PROD_TF
    _edit(
        tf,
        "    provider       = string\n  }))",
        "    provider       = string\n    tier = string\n  }))",
    )
    _fails_at(repo, f"{PROD_TF}:{_line(tf, r'tier = string')}", ".tier is required by the type")
    _edit(tf, "    tier = string\n", '    tier = optional(string, "gold")\n')
    assert _compiled(repo)["buckets"]  # optional(): gitopsc need not write it


def test_a_new_required_variable_fails_unless_the_operator_sets_it(repo: Path):
    tf = repo / PROD_TF
    tf.write_text(
        tf.read_text()
        + '\nvariable "upcloud_token" {\n  type      = string\n  sensitive = true\n}\n'
    )
    line = _line(tf, r'variable "upcloud_token"')
    _fails_at(repo, f"{PROD_TF}:{line}", "variable 'upcloud_token' is required (no default)")
    env = repo / PROD_ENV
    env.write_text(env.read_text() + "terraform:\n  operator_variables: [upcloud_token]\n")
    assert "upcloud_token" not in _compiled(repo)  # the operator's, not gitopsc's


def test_an_operator_variable_must_be_declared_and_not_written_by_gitopsc(repo: Path):
    env = repo / PROD_ENV
    env.write_text(
        env.read_text() + "terraform:\n  operator_variables: [upcloud_tokn, databases]\n"
    )
    line = _line(env, r"operator_variables")
    result = run_cli("compile", "--root", str(repo))
    assert result.exit_code == 2
    assert f"{PROD_ENV}:{line}:" in result.stderr
    assert "operator variable 'upcloud_tokn' is not declared in" in result.stderr
    assert "operator variable 'databases' is written by gitopsc's tfvars" in result.stderr


def test_a_default_makes_a_variable_optional(repo: Path):
    tf = repo / PROD_TF
    tf.write_text(tf.read_text() + '\nvariable "region_hint" {\n  default = "fra1"\n}\n')
    assert "region_hint" not in _compiled(repo)


def test_a_syntax_error_in_variables_tf_is_located(repo: Path):
    tf = repo / PROD_TF
    _edit(tf, "    storage_gb        = number\n", "    storage_gb        = number\n  }}}\n")
    line = _line(tf, r"^  \}\}\}$")
    for args in (["validate"], ["compile"], ["check"]):
        result = run_cli(*args, "--root", str(repo))
        assert result.exception is None and "Traceback" not in result.stderr
        assert result.exit_code == 2, result.stderr
        assert f"{PROD_TF}:{line}:" in result.stderr and "HCL syntax error" in result.stderr


def test_a_quoted_or_unknown_type_is_located(repo: Path):
    tf = repo / PROD_TF
    _edit(tf, "  type        = string\n", '  type        = "string"\n')
    result = run_cli("validate", "--root", str(repo))
    assert result.exit_code == 2
    line = _line(tf, r'type\s+= "string"')
    assert f"{PROD_TF}:{line}:" in result.stderr
    assert "quoted type constraint" in result.stderr


def test_an_environment_without_variables_tf_has_no_contract(repo: Path):
    (repo / "environments/dev/terraform/variables.tf").unlink()
    (repo / "environments/dev/terraform").rmdir()
    assert _compiled(repo, "dev")["environment"] == "dev"  # tfvars still written


def test_a_folder_named_variables_tf_is_an_error_not_no_contract(repo: Path):
    """A folder (or a dangling link) where variables.tf belongs would switch the contract
    off without a word: it is a located error."""
    path = repo / "environments/prod/terraform/variables.tf"
    path.unlink()
    path.mkdir()
    _fails_at(repo, "environments/prod/terraform/variables.tf", "is not a file")


def test_the_example_passes_and_every_declared_variable_is_written(repo: Path):
    for env in ("dev", "staging", "prod"):
        contract, problems = load_contract(repo, env)
        assert contract is not None and problems == []
        values = _compiled(repo, env)
        assert set(values) == set(contract.variables)
        found = [
            m
            for name, v in contract.variables.items()
            for m in mismatches(values[name], v.type, (name,))
        ]
        assert found == []


# --- hostile files ----------------------------------------------------------------------


def test_a_huge_variables_tf_is_refused_unread(repo: Path):
    tf = repo / PROD_TF
    tf.write_text(tf.read_text() + "#" * MAX_FILE_BYTES + "\n")
    result = run_cli("validate", "--root", str(repo))
    assert result.exit_code == 2 and f"{PROD_TF}:1:" in result.stderr
    assert "larger than" in result.stderr


def test_a_variables_tf_that_links_out_of_the_repository_is_refused(repo: Path, tmp_path: Path):
    outside = tmp_path / "elsewhere.tf"
    outside.write_text('variable "environment" {\n  type = string\n}\n')
    (repo / PROD_TF).unlink()
    (repo / PROD_TF).symlink_to(outside)
    result = run_cli("validate", "--root", str(repo))
    assert result.exit_code == 2
    assert f"{PROD_TF}:1:1: error: file is a link that leads out of the repository" in result.stderr


def test_a_deeply_nested_type_is_an_error_not_a_crash(repo: Path):
    tf = repo / PROD_TF
    depth = 20_000
    tf.write_text(
        tf.read_text()
        + '\nvariable "deep" {\n  type = '
        + "list(" * depth
        + "string"
        + ")" * depth
        + "\n}\n"
    )
    result = run_cli("validate", "--root", str(repo))
    assert result.exception is None and result.exit_code == 2, result.stderr
    assert f"nested deeper than {MAX_TYPE_DEPTH} levels" in result.stderr
    line = _line(tf, r'variable "deep"') + 1
    assert f"{PROD_TF}:{line}:" in result.stderr


# --- type constraints, as Terraform writes them ------------------------------------------


def _type(text: str) -> TfType:
    contract, problems = parse_contract("x.tf", f'variable "v" {{\n  type = {text}\n}}\n')
    assert problems == [] and contract is not None, problems
    return contract.variables["v"].type


TYPE_CASES = [
    # Terraform's shorthand: a bare collection keyword holds any element type
    ("list", ["a", 1], True),
    ("map", {"a": {"b": 1}}, True),
    ("map", ["a"], False),
    # (type, value, fits)
    ("string", "x", True),
    ("string", 1, False),  # Terraform would convert; the contract does not
    ("number", 1.5, True),
    ("number", True, False),
    ("bool", "true", False),
    ("any", {"a": [1, "x"]}, True),
    ("list(string)", ["a", "b"], True),
    ("list(string)", ["a", 1], False),
    ("set(number)", [1, 2], True),
    ("set(number)", {"a": 1}, False),
    ("map(bool)", {"a": True, "b": None}, True),  # null fits any type
    ("map(bool)", ["a"], False),
    ("tuple([string, number])", ["a", 1], True),
    ("tuple([string, number])", ["a", 1, 2], False),
    ("tuple([string, number])", [1, "a"], False),
    ("object({a = string, b = optional(number, 3)})", {"a": "x"}, True),
    ("object({a = string, b = optional(number)})", {"a": "x", "b": "3"}, False),
    ("object({a = string})", {}, False),
    ("object({a = string})", {"a": "x", "c": 1}, False),
    (
        'object({"key-with-dash" = list(object({x = bool}))})',
        {"key-with-dash": [{"x": True}]},
        True,
    ),
    ("map(object({x = map(list(number))}))", {"k": {"x": {"y": [1, "2"]}}}, False),
    ("map(object({x = map(list(number))}))", {"k": {"x": {"y": [1, 2]}}}, True),
]


@pytest.mark.parametrize(("text", "value", "fits"), TYPE_CASES)
def test_values_against_type_constraints(text: str, value: Any, fits: bool):
    assert (list(mismatches(value, _type(text), ("v",))) == []) is fits


def test_a_mismatch_is_located_at_the_line_of_its_attribute():
    contract, _ = parse_contract(
        "x.tf",
        'variable "v" {\n  type = map(object({\n    a = string\n    b = number\n  }))\n}\n',
    )
    assert contract is not None
    found = list(mismatches({"k": {"a": "x", "b": "y"}}, contract.variables["v"].type, ("v",)))
    assert [(m.line, m.path) for m in found] == [(4, ("v", "k", "b"))]


# --- providers --------------------------------------------------------------------------


def test_providers_land_in_the_example_tfvars(repo: Path):
    prod = _compiled(repo)
    assert {k: v["provider"] for k, v in prod["clusters"].items()} == {
        "prod-fra1": "aws",
        "prod-zrh1": "upcloud",
    }
    # Swiss customers run on prod-zrh1: their databases and buckets are UpCloud's
    assert prod["databases"]["helvetia-bank-mas-db"]["provider"] == "upcloud"
    assert prod["buckets"]["alpenverein-synapse-media"]["provider"] == "upcloud"
    assert prod["buckets"]["acme-synapse-media"]["provider"] == "aws"
    # DNS zones hold every cluster's names: the environment's provider
    assert {r["provider"] for r in prod["dns_records"].values()} == {"aws"}
    assert {b["provider"] for b in prod["buckets"].values()} == {"aws", "upcloud"}


def test_provider_overrides_per_engine_dns_and_buckets(repo: Path):
    env = repo / PROD_ENV
    _edit(env, "  postgres:  # managed", "  postgres:\n    provider: exoscale  # managed")
    env.write_text(env.read_text() + "dns: {provider: cloudflare}\nbuckets: {provider: wasabi}\n")
    prod = _compiled(repo)
    engines = {v["engine"]: set() for v in prod["databases"].values()}
    for entry in prod["databases"].values():
        engines[entry["engine"]].add(entry["provider"])
    assert engines["postgres"] == {"exoscale"}
    assert {r["provider"] for r in prod["dns_records"].values()} == {"cloudflare"}
    assert {b["provider"] for b in prod["buckets"].values()} == {"wasabi"}
    assert prod["clusters"]["prod-zrh1"]["provider"] == "upcloud"  # clusters keep theirs


def test_an_environment_without_providers_writes_null(repo: Path):
    for env in ("dev",):
        _edit(repo / f"environments/{env}/environment.yaml", "provider: aws\n", "")
    dev = _compiled(repo, "dev")
    assert {c["provider"] for c in dev["clusters"].values()} == {None}
    assert {b["provider"] for b in dev["buckets"].values()} == {None}
    assert {r["provider"] for r in dev["dns_records"].values()} == {None}


def test_a_provider_override_needs_the_environment_default(repo: Path):
    env = repo / PROD_ENV
    _edit(env, "provider: aws  #", "#")
    line = _line(env, r"provider: upcloud")
    result = run_cli("validate", "--root", str(repo))
    assert result.exit_code == 2
    assert f"{PROD_ENV}:{line}:" in result.stderr
    assert "cluster 'prod-zrh1' names a provider, but environment 'prod' has no `provider`" in (
        result.stderr
    )


@pytest.mark.parametrize("bad", ["AWS", "aws/eu", "-aws", "a" * 40, '"aws\\" || true"'])
def test_a_provider_name_is_a_plain_token(repo: Path, bad: str):
    env = repo / PROD_ENV
    _edit(env, "    provider: upcloud", f"    provider: {bad}")
    result = run_cli("validate", "--root", str(repo))
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert f"{PROD_ENV}:{_line(env, r'^    provider: ')}:" in result.stderr
    assert "a provider name such as 'aws' or 'upcloud'" in result.stderr


def test_a_misspelt_provider_key_gets_did_you_mean(repo: Path):
    env = repo / PROD_ENV
    _edit(env, "    provider: upcloud", "    providr: upcloud")
    result = run_cli("validate", "--root", str(repo))
    assert result.exit_code == 2 and "did you mean 'provider'" in result.stderr


# --- Terraform itself ---------------------------------------------------------------------

needs_terraform = pytest.mark.skipif(
    shutil.which("terraform") is None, reason="terraform is not installed"
)


def _plan(module: Path) -> subprocess.CompletedProcess[str]:
    """`terraform plan` of a module of variables only: no provider, no network; it
    succeeds exactly when Terraform takes the tfvars beside it."""
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_DATA_DIR": str(module / ".terraform")}
    for args in (["init", "-input=false", "-backend=false"], ["plan", "-input=false"]):
        done = subprocess.run(
            ["terraform", f"-chdir={module}", *args, "-no-color"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            return done
    return done


def _module(root: Path, env: str, target: Path) -> Path:
    target.mkdir(parents=True)
    shutil.copyfile(root / f"environments/{env}/terraform/variables.tf", target / "variables.tf")
    shutil.copyfile(root / TFVARS.format(env=env), target / "catalog.auto.tfvars.json")
    return target


@needs_terraform
def test_terraform_takes_the_example_tfvars(repo: Path, tmp_path: Path):
    """The consumer agrees: every environment's tfvars fit its variables.tf, validation
    blocks included, as Terraform reads them."""
    for env in ("dev", "staging", "prod"):
        _compiled(repo, env)
        done = _plan(_module(repo, env, tmp_path / env))
        assert done.returncode == 0, done.stderr
        assert "No changes" in done.stdout


@needs_terraform
def test_terraform_would_drop_the_provider_that_gitopsc_refuses_to_lose(repo: Path, tmp_path: Path):
    """Why the contract is stricter than Terraform: with `provider` gone from the type
    and storage_gb a string, Terraform plans without a word (the attribute dropped, 20
    made "20"); gitopsc stops at both lines."""
    _compiled(repo)
    module = _module(repo, "prod", tmp_path / "prod")
    tf = module / "variables.tf"
    _edit(tf, "    provider          = string\n", "")
    _edit(
        tf,
        'contains(["aws", "upcloud"], v.provider)])\n    error_message = "A database',
        'true])\n    error_message = "A database',
    )
    _edit(tf, "storage_gb        = number", "storage_gb        = string")
    assert _plan(module).returncode == 0
    shutil.copyfile(tf, repo / PROD_TF)
    result = run_cli("compile", "--root", str(repo))
    assert result.exit_code == 2
    assert ".provider is not an attribute of the object type" in result.stderr
    assert ".storage_gb is a number (20), the type is string" in result.stderr


@needs_terraform
def test_terraform_refuses_what_the_example_validation_refuses(repo: Path, tmp_path: Path):
    """A provider the module does not dispatch on: the example's validation block makes
    it a plan error (gitopsc does not know the module's providers; Terraform does)."""
    _edit(repo / PROD_ENV, "provider: upcloud", "provider: hetzner")
    _compiled(repo)
    done = _plan(_module(repo, "prod", tmp_path / "prod"))
    assert done.returncode != 0
    assert "names a provider this module does not create" in done.stderr


def test_diff_holds_a_change_to_variables_tf_alone_to_the_contract(repo: Path):
    """A merge request that only changes the root module's variables.tf reaches that
    environment (its tfvars are held to the file): `diff --base` renders it and stops,
    located, instead of saying nothing differs."""
    from tests.conftest import commit_example

    commit_example(repo)
    variables = repo / "environments/prod/terraform/variables.tf"
    _edit(variables, "storage_gb", "storage_gb_typo")
    result = run_cli("diff", "--root", str(repo), "--base", "main")
    assert result.exit_code == 2 and result.exception is None, result.stdout + result.stderr
    assert "environments/prod/terraform/variables.tf:" in result.stderr
