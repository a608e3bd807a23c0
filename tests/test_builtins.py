"""Every built-in check against its passing and failing cases, kept as data beside the
tests (sqlfluff's rule cases as YAML): tests/fixtures/builtins/<id>/<case>.yaml, one
parametrized runner. See tests/fixtures/builtins/README.md for the format."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jsonpatch
import pytest
import yaml

from compiler import pipeline
from compiler.check.builtins import BUILTINS, EnvironmentInput, argo_objects, markdown
from compiler.check.findings import Finding
from compiler.render import render_environment
from tests.conftest import REPO, commit_example, copy_example

FIXTURES = REPO / "tests/fixtures/builtins"
CASES = sorted(FIXTURES.glob("*/*.yaml"))
DATE = datetime.date(2026, 11, 23)
_CASE_KEYS = {"shows", "env", "date", "edits", "without", "placed", "changed", "rendered", "expect"}
_DIRECT = {"rendered", "without", "placed", "changed"}  # the keys of a direct case


def _load(case: Path) -> dict[str, Any]:
    spec = yaml.safe_load(case.read_text())
    unknown = set(spec) - _CASE_KEYS
    assert not unknown, f"{case}: unknown keys {sorted(unknown)}; allowed {sorted(_CASE_KEYS)}"
    assert spec.get("shows"), f"{case}: say what the case shows"
    return spec


def _edit(root: Path, edits: list[dict[str, Any]]) -> None:
    """Text edits to the copy of the example; a `replace` that matches nothing is a
    broken fixture, not a passing case."""
    for edit in edits:
        path = root / edit["file"]
        if edit.get("delete"):
            path.unlink()
        elif "write" in edit:
            path.write_text(edit["write"])
        elif "append" in edit:
            path.write_text(path.read_text() + edit["append"])
        else:
            text = path.read_text()
            assert edit["replace"] in text, f"{edit['file']}: {edit['replace']!r} not found"
            path.write_text(text.replace(edit["replace"], edit["with"], 1))


def _as_row(finding: Finding) -> dict[str, Any]:
    row = {f.name: getattr(finding, f.name) for f in dataclasses.fields(finding)}
    location = row.pop("location")
    row["file"] = location.file if location else None
    row["line"] = location.line if location else None
    return row


def _direct(root: Path, spec: dict[str, Any], check_id: str, today: datetime.date) -> list:
    """Run one environment-, catalog- or ArgoCD-scoped built-in on a validated catalog,
    instances and rendered files with parts taken away or changed: what a catalog edit
    cannot produce, because validation refuses it first (an unknown owner team, two
    customers with one domain) or because gitopsc never renders it (a missing
    default-deny policy, two Applications of one name). An ArgoCD-scoped case without
    `env` renders every environment (one ArgoCD may read several)."""
    builtin = BUILTINS[check_id]
    env = spec.get("env")
    assert env or builtin.scope == "argocd", f"{check_id}: a direct case names its env"
    resolved = pipeline.run(root, [env] if env else None)
    catalog = _changed(resolved.catalog, spec.get("changed", {}))
    without = spec.get("without", {})
    if without.get("teams"):
        teams = {k: v for k, v in catalog.teams.items() if k not in without["teams"]}
        catalog = dataclasses.replace(catalog, teams=MappingProxyType(teams))
    if builtin.scope == "argocd":
        objects = []
        for name in [env] if env else sorted(catalog.environments):
            in_env = [i for i in resolved.instances.values() if i.environment == name]
            files = _rendered(catalog, name, in_env, spec)
            objects += argo_objects(catalog, name, files)
        return list(builtin.check(catalog, objects))
    instances = [
        _placed(catalog, i, spec.get("placed", {}).get(i.id))
        for i in resolved.instances.values()
        if i.environment == env and i.id not in without.get("instances", ())
    ]
    if builtin.scope == "catalog":
        return list(builtin.check(catalog, today))
    assert builtin.scope == "environment", f"{check_id}: direct cases need a check function"
    files = _rendered(catalog, env, instances, spec)
    return list(builtin.check(EnvironmentInput(catalog, env, instances, files, today)))


def _rendered(catalog: Any, env: str, instances: list, spec: dict[str, Any]) -> list:
    """The environment's rendered files, changed as `rendered:` says (a change to a
    path of another environment is left to that environment's call)."""
    files, problems = render_environment(catalog, catalog.environments[env], instances, "rendered")
    assert not problems
    by_path = {f.path: f for f in files}
    for change in spec.get("rendered", ()):
        if not change["path"].startswith(f"{env}/"):
            continue
        assert change["path"] in by_path, f"no rendered file {change['path']}"
        if change.get("remove"):
            del by_path[change["path"]]
        else:
            file = by_path[change["path"]]
            data = jsonpatch.apply_patch(file.data, change["json_patch"])
            by_path[change["path"]] = dataclasses.replace(file, data=data)
    return list(by_path.values())


def _changed(catalog: Any, changed: dict[str, dict[str, dict[str, Any]]]) -> Any:
    """The validated catalog with fields of its entities replaced, as `changed:` says
    (`{customers: {acme: {domains: [...]}}}`): a catalog validation would refuse."""
    for kind, entities in changed.items():
        table = dict(getattr(catalog, kind))
        for name, fields in entities.items():
            assert name in table, f"changed: no {kind} {name}"
            table[name] = table[name].model_copy(update=fields)
        catalog = dataclasses.replace(catalog, **{kind: MappingProxyType(table)})
    return catalog


def _placed(catalog: Any, instance: Any, placed: dict[str, Any] | None) -> Any:
    """An instance moved to other clusters or onto a host pool, as `placed:` says:
    a placement validation refuses (a customer outside its residency)."""
    if placed is None:
        return instance
    changes: dict[str, Any] = {}
    if "clusters" in placed:
        changes["clusters"] = tuple(placed["clusters"])
    if "host_pool" in placed:
        pools = catalog.environments[instance.environment].host_pools
        changes["hosts"] = tuple(pools[placed["host_pool"]])
    return dataclasses.replace(instance, **changes)


def _through_check(
    root: Path, spec: dict[str, Any], check_id: str, today: datetime.date, base: str | None
):
    """`gitopsc check` as a user runs it (policies, enforcement, waivers), checkov off:
    the built-ins do not depend on it, and it costs seconds a case. `base`: the
    revision the change is judged against (`--affected-base`)."""
    config = root / "policies/config.yaml"
    text = config.read_text()
    assert "checkov: {enabled: true" in text, "the example's config.yaml changed its checkov line"
    config.write_text(text.replace("checkov: {enabled: true", "checkov: {enabled: false"))
    envs = [spec["env"]] if spec.get("env") else None
    checked = pipeline.check(root, envs, today, affected_base=base)
    return [f for f in checked.findings if f.id == check_id]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.stem}" for c in CASES])
def test_builtin_case(case: Path, tmp_path: Path):
    check_id = case.parent.name
    spec = _load(case)
    root = copy_example(tmp_path / "repo")
    change = BUILTINS[check_id].scope == "base"  # judges a change: the example is its base
    if change:
        commit_example(root)
    _edit(root, spec.get("edits", []))
    today = datetime.date.fromisoformat(str(spec.get("date", DATE)))
    if _DIRECT & spec.keys():
        found = _direct(root, spec, check_id, today)
    else:
        found = _through_check(root, spec, check_id, today, "main" if change else None)
    rows = [_as_row(f) for f in found if f.id == check_id]
    expected = spec["expect"] or []

    def matches(row: dict[str, Any], want: dict[str, Any]) -> bool:
        return all(row.get(k) == v for k, v in want.items())

    unmatched = [want for want in expected if not any(matches(r, want) for r in rows)]
    unexpected = [r["message"] for r in rows if not any(matches(r, w) for w in expected)]
    assert not unmatched and not unexpected, (
        f"{spec['shows']}\nexpected but not found: {unmatched}\nfound but not expected: "
        f"{unexpected}"
    )


def test_every_builtin_has_a_passing_and_a_failing_case():
    by_id: dict[str, list[bool]] = {}
    for case in CASES:
        by_id.setdefault(case.parent.name, []).append(bool(_load(case)["expect"]))
    assert set(by_id) == set(BUILTINS), "a folder per built-in id, and no other"
    for check_id, failing in sorted(by_id.items()):
        assert any(failing) and not all(failing), f"{check_id}: needs a passing and a failing case"


def test_docs_list_the_builtins_from_the_registry():
    page = (REPO / "docs/policies.md").read_text()
    start = page.index("-->\n", page.index("<!-- builtins:")) + 4
    end = page.index("<!-- /builtins -->")
    assert page[start:end] == markdown(), "docs/policies.md: paste builtins.markdown()"


def test_each_builtin_module_says_what_it_guards_and_why():
    for builtin in BUILTINS.values():
        assert builtin.summary and len(builtin.reason.split()) >= 15, builtin.id
        assert builtin.check is not None or builtin.scope == "schemas", builtin.id
